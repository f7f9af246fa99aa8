"""Exploration: how a case's time varies on this machine, level by level (samples, visits, worker processes, time).

    python tools/variance_structure.py --workers 3 --passes 20 --out /tmp/vs.json   # measure (a few minutes)
    python tools/variance_structure.py --analyse /tmp/vs.json                        # the figures again

A stand-alone driver, independent of the engine's scheduler, so its figures can inform that
scheduler's design: it starts W worker processes per framework (pinned, like the engine's), builds
every case of the default grid in each, then visits every case many times, briefly (k calibrated
samples of the operation and 2 of f), in passes that interleave groups, worker sets and
frameworks, and keeps every sample with its start time. The analysis splits the variance of the
log times into components (samples within a visit, visits within a worker, between workers),
measures how long noise bursts last (the correlation of different cases' visit residuals against
their distance in time), and how much pairing two cases' visits in time cancels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


# -- the far end -------------------------------------------------------------------------------------
def worker_main() -> None:
    from adbench.backends import get_backend
    from adbench.engine.cases import CaseSpec, build_case, warm_up
    from adbench.engine.timing import calibrate, time_block

    out = os.fdopen(int(sys.argv[2]), "w", buffering=1)
    for name in sys.argv[3].split(","):
        b = get_backend(name)
        b.load(1)
        b.preload()
    import gc

    gc.collect()
    gc.freeze()
    out.write(json.dumps({"ready": True}) + "\n")
    kept, warmed = {}, set()
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["op"] == "build":
                spec = CaseSpec(**req["spec"])
                key = (spec.backend, spec.operation, spec.mode)
                if key not in warmed:
                    warmed.add(key)
                    try:
                        warm_up(spec)
                    except Exception:
                        pass
                _, prepared, _ = build_case(spec)
                prepared.run()
                number = req.get("number")
                f_number = req.get("f_number")
                if number is None:
                    number, per_call = calibrate(prepared.call, prepared.sync)
                    f_number, f_per = calibrate(prepared.function, prepared.sync)
                else:
                    per_call = time_block(prepared.call, prepared.sync, number)
                    f_per = time_block(prepared.function, prepared.sync, f_number)
                kept[req["id"]] = (prepared, number, f_number)
                out.write(json.dumps({"number": number, "f_number": f_number, "per_call": per_call,
                                      "f_per_call": f_per}) + "\n")
            else:
                prepared, number, f_number = kept[req["id"]]
                gc.disable()
                t, s = [], []
                for _ in range(req["k"]):
                    t.append(time.perf_counter())
                    s.append(time_block(prepared.call, prepared.sync, number))
                fs = [time_block(prepared.function, prepared.sync, f_number) for _ in range(req["kf"])]
                gc.enable()
                out.write(json.dumps({"t": t, "s": s, "f": fs}) + "\n")
        except Exception as exc:  # noqa: BLE001
            out.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")


class Proc:
    def __init__(self, backends: list[str]) -> None:
        from adbench.engine.runner import RunSettings, _preexec
        from adbench.engine.threads import worker_environment

        settings = RunSettings()
        r, w = os.pipe()
        env = worker_environment(1, compile_cache=CACHE)
        self.p = subprocess.Popen([sys.executable, __file__, "--worker", str(w), ",".join(backends)],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, pass_fds=(w,),
                                  text=True, preexec_fn=_preexec(set(settings.cpus)))
        os.close(w)
        self.r = os.fdopen(r, "r")

    def ask(self, req: dict) -> dict:
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        return json.loads(self.r.readline())

    def close(self) -> None:
        self.p.kill()
        self.p.wait()


CACHE = None


def measure(workers: int, passes: int, visit_s: float) -> dict:
    import tempfile

    from adbench.backends import get_backend
    from adbench.compare import build_grid
    from adbench.engine.cases import skip_reason
    from adbench.engine.runner import _pin_parent, RunSettings

    global CACHE
    cache = tempfile.TemporaryDirectory()
    CACHE = cache.name
    _pin_parent(RunSettings().cpus)
    specs = [s for s in build_grid() if skip_reason(s, None)[0] is None]
    frameworks = list(dict.fromkeys(get_backend(s.backend).framework for s in specs))
    backends = {fw: sorted({s.backend for s in specs if get_backend(s.backend).framework == fw}) for fw in frameworks}
    t0 = time.perf_counter()
    procs = {(fw, w): Proc(backends[fw]) for w in range(workers) for fw in frameworks}
    for p in procs.values():
        json.loads(p.r.readline())
    print(f"{len(procs)} workers ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    groups: dict[tuple, list[int]] = {}
    for i, s in enumerate(specs):
        groups.setdefault((s.problem, s.size, s.operation), []).append(i)
    cases = [{"spec": s.as_dict(), "framework": get_backend(s.backend).framework, "visits": []} for s in specs]
    t0 = time.perf_counter()
    for i, s in enumerate(specs):
        fw = cases[i]["framework"]
        first = procs[(fw, 0)].ask({"op": "build", "id": i, "spec": s.as_dict()})
        if "error" in first:
            cases[i]["error"] = first["error"]
            continue
        cases[i].update(number=first["number"], f_number=first["f_number"])
        sample_s = first["per_call"] * first["number"]
        cases[i]["k"] = int(np.clip(round(visit_s / sample_s), 2, 8))
        for w in range(1, workers):
            procs[(fw, w)].ask({"op": "build", "id": i, "spec": s.as_dict(), "number": first["number"],
                                "f_number": first["f_number"]})
    print(f"built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    t0 = time.perf_counter()
    for p in range(passes):
        order = frameworks if p % 2 == 0 else frameworks[::-1]
        wset = list(range(workers))
        wset = wset[p % workers:] + wset[: p % workers]
        for members in groups.values():
            for w in wset:
                for fw in order:
                    for i in members:
                        c = cases[i]
                        if c["framework"] != fw or "error" in c:
                            continue
                        a = procs[(fw, w)].ask({"op": "visit", "id": i, "k": c["k"], "kf": 2})
                        if "error" in a:
                            c["error"] = a["error"]
                            continue
                        c["visits"].append({"w": w, "p": p, "t": a["t"], "s": a["s"], "f": a["f"]})
        print(f"pass {p + 1}/{passes} at {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    for proc in procs.values():
        proc.close()
    cache.cleanup()
    return {"workers": workers, "passes": passes, "visit_s": visit_s, "cases": cases}


# -- analysis --------------------------------------------------------------------------------------------
def components(case: dict, stat=np.median) -> dict | None:
    """Variance components of one case's log times (one-way nested ANOVA by moments)."""
    visits = case["visits"]
    if len(visits) < 4:
        return None
    W = sorted({v["w"] for v in visits})
    within = [np.var(np.log(v["s"]), ddof=1) for v in visits if len(v["s"]) > 1]
    y = {w: np.array([np.log(stat(v["s"])) for v in visits if v["w"] == w]) for w in W}
    ms_v = np.mean([np.var(y[w], ddof=1) for w in W if len(y[w]) > 1])
    means = np.array([y[w].mean() for w in W])
    V = np.mean([len(y[w]) for w in W])
    ms_b = np.var(means, ddof=1) * V if len(W) > 1 else float("nan")
    return {"within": float(np.mean(within)), "visit": float(ms_v), "between_ms": float(ms_b),
            "worker": float(max(0.0, (ms_b - ms_v) / V)), "V": V, "k": len(visits[0]["s"])}


def analyse(data: dict) -> None:
    cases = [c for c in data["cases"] if c.get("visits")]
    print(f"{len(cases)} cases, {data['workers']} workers per framework, {data['passes']} passes, "
          f"visits of ~{data['visit_s'] * 1e3:.0f} ms")
    for name, stat in (("median", np.median), ("min", np.min), ("q25", lambda s: np.quantile(s, 0.25))):
        comp = [components(c, stat) for c in cases]
        comp = [c for c in comp if c]
        sd = lambda key: 100 * np.sqrt(np.median([c[key] for c in comp]))  # noqa: E731
        f_ratio = np.median([c["between_ms"] / c["visit"] for c in comp if c["visit"] > 0])
        print(f"per-visit {name:6}: sd of log times (median over cases): samples within a visit {sd('within'):.2f} %, "
              f"visit medians within a worker {sd('visit'):.2f} %, between workers {sd('worker'):.2f} % "
              f"(median F = MS_between/MS_visit {f_ratio:.2f}; 1 means no worker effect)")
        share = np.mean([c["worker"] / (c["worker"] + c["visit"] / c["V"]) for c in comp if c["visit"] > 0])
        print(f"   share of Var(worker mean) due to the worker level: {100 * share:.0f} %")
    # Burst time scale: residuals of visit medians (visit minus its case-and-worker mean), correlated
    # between different cases visited dt apart.
    res = []
    for ci, c in enumerate(cases):
        by_w: dict[int, list] = {}
        for v in c["visits"]:
            by_w.setdefault(v["w"], []).append(v)
        for vs in by_w.values():
            y = np.log([np.median(v["s"]) for v in vs])
            sd = y.std(ddof=1) if len(y) > 2 else 0
            if not sd:
                continue
            for v, r in zip(vs, (y - y.mean()) / sd):
                res.append((v["t"][0], ci, r))
    res.sort()
    t = np.array([r[0] for r in res])
    cid = np.array([r[1] for r in res])
    z = np.array([r[2] for r in res])
    print("correlation of two different cases' standardized visit residuals, by their distance in time:")
    edges = [0, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30]
    sums = {e: [0.0, 0] for e in edges[:-1]}
    for i in range(len(t)):
        j = i + 1
        while j < len(t) and t[j] - t[i] < edges[-1] and j < i + 4000:
            if cid[j] != cid[i]:
                dt = t[j] - t[i]
                for lo, hi in zip(edges, edges[1:]):
                    if lo <= dt < hi:
                        sums[lo][0] += z[i] * z[j]
                        sums[lo][1] += 1
                        break
            j += 1
    for lo, hi in zip(edges, edges[1:]):
        s, n = sums[lo]
        print(f"  {lo:>5} - {hi:<5} s: r = {s / n if n else float('nan'):+.3f} ({n} pairs)")
    # Pairing: for pairs of cases in one group, Var(d) against Var(a) + Var(b), d = paired log-ratio.
    groups: dict[tuple, list[dict]] = {}
    for c in cases:
        s = c["spec"]
        groups.setdefault((s["problem"], s["size"], s["operation"]), []).append(c)
    same_fw, other_fw, opf = [], [], []
    for members in groups.values():
        for i, a in enumerate(members):
            va = {(v["w"], v["p"]): np.log(np.median(v["s"])) for v in a["visits"]}
            fa = {(v["w"], v["p"]): np.log(np.median(v["f"])) for v in a["visits"]}
            keys = sorted(va)
            if len(keys) > 3:
                d = np.array([va[k] - fa[k] for k in keys])
                opf.append(np.var(d, ddof=1) / (np.var([va[k] for k in keys], ddof=1) + np.var([fa[k] for k in keys], ddof=1)))
            for b in members[i + 1:]:
                vb = {(v["w"], v["p"]): np.log(np.median(v["s"])) for v in b["visits"]}
                keys = sorted(set(va) & set(vb))
                if len(keys) < 4:
                    continue
                ya, yb = np.array([va[k] for k in keys]), np.array([vb[k] for k in keys])
                # Remove worker means: what pairing in time cancels is the visit-level noise.
                for arr, src in ((ya, va), (yb, vb)):
                    ws = np.array([k[0] for k in keys])
                    for w in set(ws):
                        arr[ws == w] -= arr[ws == w].mean()
                ratio = np.var(ya - yb, ddof=1) / (np.var(ya, ddof=1) + np.var(yb, ddof=1))
                (same_fw if a["framework"] == b["framework"] else other_fw).append(ratio)
    for name, r in (("same framework (one worker)", same_fw), ("different frameworks", other_fw),
                    ("op / f in one visit", opf)):
        if r:
            print(f"pairing, {name}: Var(paired log-ratio) / (Var a + Var b): median {np.median(r):.2f}, "
                  f"quartiles {np.quantile(r, 0.25):.2f}-{np.quantile(r, 0.75):.2f} ({len(r)} pairs)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--visit-ms", type=float, default=4.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--analyse", type=Path)
    args = parser.parse_args()
    if args.analyse:
        analyse(json.loads(args.analyse.read_text()))
        return
    data = measure(args.workers, args.passes, args.visit_ms / 1e3)
    if args.out:
        args.out.write_text(json.dumps(data))
    analyse(data)


if __name__ == "__main__":
    main()
