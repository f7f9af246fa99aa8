"""Every (eval, function) of gradbench's eleven evals and hello, answered by ``python -m adbench gradbench-tool``
through the real subprocess protocol on each framework, against the problems' float64 references.

    PYTHONPATH=. python tools/gradbench_check.py [--backends jax,torch] [--evals gmm,ba] [--runs 3]
                                                 [--nested both|light|gradbench] [--timeout 900]

Prints one table: a row per (eval, function, input), a column per backend, each cell the max relative error
of the answer (each part of the output apart: ba's indices do not dilute its values), ``refused: ...`` where
the registry or the backend refuses the input or the mode (said in the tool's own words, cut to fit), and a
last block with each backend's median 'evaluate' time per row (ms, with the min-max of its runs) beside its
first call. MLX runs in float32 (it refuses float64 on a CPU whose float64 sin/cos/exp are float32-accurate):
its errors are float32's. Inputs are gradbench-like (adbench.gradbench.inputs), small; a row named with a
shape gradbench uses that adbench's registry did not take before issue 28 says whether it takes it now.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adbench.gradbench import evals  # noqa: E402 (after the checkout's root joins sys.path)
from adbench.gradbench.inputs import gradbench_input  # noqa: E402
from adbench.gradbench.reference import max_relative_error, reference_output  # noqa: E402

BACKENDS = ("jax", "torch", "torch-autograd", "autograd", "tensorflow", "mlx")
# (eval, label, input shape): gradbench's smallest default workloads where they are small, else small ones.
INPUTS = [
    ("hello", "x=3", {}),
    ("ba", "N=2,M=100,P=200", {"n": 2, "m": 100, "p": 200}),
    ("ba", "N=3,M=50,P=120", {"n": 3, "m": 50, "p": 120}),  # not one of adbench's presets
    ("det", "l=5", {"ell": 5}),
    ("gmm", "D=2,K=5,N=1000", {"d": 2, "k": 5, "n": 1000}),
    ("ht", "simple c=100", {}),
    ("ht", "complicated c=100", {"complicated": True}),
    ("ht", "complicated c=192", {"complicated": True, "points": 192}),  # ADBench's hand2 size
    ("kmeans", "k=10,d=8,N=1000", {"k": 10, "d": 8, "n": 1000}),
    ("kmeans", "k=10,d=16,N=1000", {"k": 10, "d": 16, "n": 1000}),  # gradbench's default d
    ("llsq", "m=8,n=16", {"m": 8, "n": 16}),
    ("llsq", "m=8,n=17", {"m": 8, "n": 17}),  # odd n: t hits 0 at the midpoint
    ("lse", "n=1000", {"n": 1000}),
    ("lstm", "l=2,b=14,c=16", {"layers": 2, "b": 14, "c": 16}),
    ("ode", "n=16,s=10", {"n": 16, "s": 10}),
    ("particle", "w=0 light", {"light": True}),  # the registry's light step sizes (adbench's input extension)
    ("saddle", "start=(1,1) light", {"light": True}),
    ("particle", "w=0", {}),  # gradbench's step sizes: minutes per call on an eager framework
    ("saddle", "start=(1,1)", {}),
]


def ask(backend: str, messages: list[dict], timeout: float) -> tuple[dict[int, dict], str]:
    """The tool's responses by id (those it gave before a timeout too), and its stderr's tail or what stopped it."""
    text = "".join(json.dumps(m) + "\n" for m in messages)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "adbench", "gradbench-tool", "--backend", backend],
            input=text,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
        out, why = proc.stdout, proc.stderr[-300:]
    except subprocess.TimeoutExpired as exc:  # keep what it answered before the limit
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        why = f"timed out after {timeout:.0f} s"
    responses = {}
    for line in out.splitlines():
        r = json.loads(line)
        responses[r["id"]] = r
    return responses, why


def session(rows: list, runs: int) -> tuple[list[dict], list[tuple]]:
    """The messages of one session (every eval of ``rows`` defined, every function of every input evaluated)
    and its cells: (row label, module, function, input, message id)."""
    messages: list[dict] = [{"id": 0, "kind": "start"}]
    cells = []
    for module in dict.fromkeys(e for e, _, _ in rows):
        messages.append({"id": len(messages), "kind": "define", "module": module})
    for module, label, shape in rows:
        input = gradbench_input(module, min_runs=runs, **shape)
        for function in evals.EVALS[module][0]:
            cells.append((f"{module}::{function} {label}", module, function, input, len(messages)))
            messages.append(
                {"id": len(messages), "kind": "evaluate", "module": module, "function": function, "input": input}
            )
    return messages, cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--evals", default=",".join(evals.EVALS))
    parser.add_argument("--runs", type=int, default=3, help="min_runs of every evaluate message (default 3)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="seconds per session (two a backend: the nested evals apart; default 900): the rows "
        "a session did not reach say so",
    )
    parser.add_argument(
        "--nested",
        choices=("both", "light", "gradbench"),
        default="both",
        help="particle's and saddle's step sizes: the registry's light ones, gradbench's (minutes a "
        "call on an eager framework), or both rows (default)",
    )
    args = parser.parse_args()
    backends, wanted = args.backends.split(","), set(args.evals.split(","))
    skip = {"light": {False}, "gradbench": {True}, "both": set()}[args.nested]
    rows = [
        (e, label, shape)
        for e, label, shape in INPUTS
        if e in wanted and not (e in ("particle", "saddle") and shape.get("light", False) in skip)
    ]
    # Two sessions per backend: the nested evals apart, once per message (gradbench's step sizes make an eager
    # framework's call take tens of seconds), so that their time limit never costs the other rows.
    nested = ("particle", "saddle")
    sessions = [
        session([r for r in rows if r[0] not in nested], args.runs),
        session([r for r in rows if r[0] in nested], 1),
    ]
    cells = [cell for _, group in sessions for cell in group]
    references = {}
    for name, module, function, input, _ in cells:
        try:
            references[name] = reference_output(module, function, input)
        except Exception as exc:  # noqa: BLE001 (the registry refuses the input: the row says so)
            references[name] = exc
    results, times, notes = {}, {}, []
    for backend, (messages, group) in ((b, s) for b in backends for s in sessions if s[1]):
        print(f"running {backend} ({len(group)} functions) ...", file=sys.stderr, flush=True)
        responses, stderr = ask(backend, messages, args.timeout)
        start = responses.get(0, {})
        config = start.get("config", {})
        if "unavailable" in config or not start:
            notes.append(f"{backend}: {config.get('unavailable') or 'no answer: ' + stderr}")
        elif group is sessions[0][1] or not sessions[0][1]:
            notes.append(
                f"{backend}: {config.get('framework')} {config.get('version')}, {config.get('dtype')}, "
                f"{config.get('threads')} thread(s)"
            )
        for name, _, _, _, id in group:
            r = responses.get(id)
            ref = references[name]
            if r is None:
                results[name, backend] = f"no answer ({stderr.strip().splitlines()[-1] if stderr.strip() else ''})"
            elif not r["success"]:
                results[name, backend] = "refused: " + r["error"].split(": ", 1)[-1].splitlines()[0]
            elif isinstance(ref, Exception):
                results[name, backend] = f"no reference: {ref}"
            else:
                results[name, backend] = f"{max_relative_error(r['output'], ref):.1e}"
                runs = [t["nanoseconds"] / 1e6 for t in r["timings"] if t["name"] == "evaluate"]
                first = [t["nanoseconds"] / 1e6 for t in r["timings"] if t["name"] == "first_call"]
                times[name, backend] = (statistics.median(runs), min(runs), max(runs), first[0])
    width = shutil.get_terminal_size((100, 24)).columns
    first_w = max(len(name) for name, *_ in cells)
    col_w = max(9, (width - first_w - 2) // max(1, len(backends)) - 1)

    def line(head: str, values: list[str]) -> str:
        return f"{head:<{first_w}}  " + " ".join(f"{v[:col_w]:>{col_w}}" for v in values)

    print("max relative error against the float64 reference (MLX: float32)")
    print(line("eval::function input", backends))
    for name, *_ in cells:
        print(line(name, [results[name, b] for b in backends]))
    print("\nmedian 'evaluate' time per run in ms, and the runs' max/min (their spread)")
    for name, *_ in cells:
        print(line(name, [f"{t[0]:.3g} x{t[2] / t[1]:.1f}" if (t := times.get((name, b))) else "-" for b in backends]))
    print("\nfirst call (first_call: trace, compile on a JIT backend, run) in ms")
    for name, *_ in cells:
        print(line(name, [f"{t[3]:.4g}" if (t := times.get((name, b))) else "-" for b in backends]))
    refusals: dict[str, list[str]] = {}  # a refusal's words -> the backends that said them
    for name, *_ in cells:
        for b in backends:
            if results[name, b].startswith("refused") and b not in refusals.setdefault(results[name, b], []):
                refusals[results[name, b]].append(b)
    if refusals:
        print("\nrefusals in full:")
        for text, who in refusals.items():
            print(f"  {', '.join(who)}: {text}")
    print("\n" + "\n".join(notes))
    bad = [
        k
        for k, v in results.items()
        if not v.startswith(("refused", "no answer"))
        and v != "no reference"
        and not v.startswith("no reference")
        and float(v) > (1e-3 if k[1] == "mlx" else 1e-8)
    ]
    if bad:
        print(f"\nabove the correctness gate's tolerance: {', '.join(f'{n} on {b}' for n, b in bad)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
