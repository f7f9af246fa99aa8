"""``compare --cluster`` and ``--shard``: the grid's case groups run on a Dask cluster, each group whole on one
host through the same ``Scheduler`` as a local run, results streamed back as groups finish."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the engine (NumPy) loads when a grid is cut or run, not with the CLI
    from adbench.engine.cases import CaseSpec
    from adbench.engine.record import CaseResult
    from adbench.engine.settings import RunSettings
    from adbench.engine.workers import WorkerPool

# The Dask worker resource a group holds while it runs: a host that offers one slot runs one group at a
# time, so two groups never time each other's noise.
BENCH_RESOURCE = "bench"
CONNECT_TIMEOUT_S = 10.0
WORKER_WAIT_S = 30.0  # a scheduler with no worker yet: how long to wait for the first one
ADDRESS_FORMS = "local:N (a LocalCluster of N one-slot workers here), tcp://HOST:PORT or HOST:PORT"
WORKER_COMMAND = f"dask worker ADDRESS --nthreads 1 --resources {BENCH_RESOURCE}=1"


class ClusterError(RuntimeError):
    """A cluster that cannot be used: not reachable, no worker that offers the bench resource, no distributed."""


# -- the grid, cut -----------------------------------------------------------------------------------------
def group_of(spec: CaseSpec) -> tuple:
    """The case group a spec belongs to (``adbench.engine.grouping.group_key``): the unit of distribution,
    because every comparison the summary makes is within one group and must be measured on one host."""
    from adbench.engine.grouping import group_key

    return group_key(spec)


def case_groups(specs: Sequence[CaseSpec]) -> list[list[CaseSpec]]:
    """The grid's groups in the grid's order, each with its cases in their order."""
    groups: dict[tuple, list[CaseSpec]] = {}
    for spec in specs:
        groups.setdefault(group_of(spec), []).append(spec)
    return list(groups.values())


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` as (K, N) with 1 <= K <= N."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        k = n = 0
    if not 1 <= k <= n:
        raise ValueError(f"--shard takes K/N with 1 <= K <= N (the K-th of N slices of the grid), not {text!r}")
    return k, n


def shard(specs: Sequence[CaseSpec], k: int, n: int) -> list[CaseSpec]:
    """The K-th of N deterministic slices of the grid: every N-th group, starting at the K-th (the same
    grid cuts the same way on every machine, and the N slices hold every group exactly once)."""
    return [s for i, group in enumerate(case_groups(specs)) if i % n == k - 1 for s in group]


def parse_address(text: str) -> tuple[Literal["local", "remote"], int | str]:
    """("local", N) for ``local:N``, else ("remote", the scheduler's address)."""
    text = text.strip()
    if text.startswith("local:") or text == "local":
        try:
            n = int(text.partition(":")[2])
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"--cluster local:N needs N >= 1 workers, not {text!r}; forms: {ADDRESS_FORMS}")
        return "local", n
    scheme, _, rest = text.rpartition("://")
    if scheme not in ("", "tcp", "tls", "ucx", "inproc") or not rest or (scheme != "inproc" and ":" not in rest):
        raise ValueError(f"--cluster {text!r} is not a scheduler address; forms: {ADDRESS_FORMS}")
    return "remote", text if scheme else f"tcp://{text}"


def local_share_words(address: str, threads: int) -> str | None:
    """For ``local:N`` that gives its groups fewer CPUs than a local run has (a framework worker's threads
    and the engine beside them, each): why its times are not this machine's best."""
    from adbench.engine.environment import usable_cpus

    kind, where = parse_address(address)
    if kind != "local":
        return None
    n, cpus = int(where), usable_cpus()
    if n * (threads + 1) <= cpus:
        return None
    return (
        f"{address} runs {n} groups at once on {cpus} CPUs, each with {threads} framework thread(s) and its "
        f"engine beside them: they share CPUs a local run has to itself, so times run slower and noisier "
        f"than a local run's (README: Sweeps past one machine). Use it to try a cluster setup; measure "
        f"with one slot per host"
    )


# -- on a Dask worker --------------------------------------------------------------------------------------
@dataclass
class GroupOutcome:
    """What one group's run sends back: its records, and the host and run that measured them."""

    index: int
    results: list[CaseResult] = field(default_factory=list)
    host: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    builds: dict[str, Any] = field(default_factory=dict)
    noise: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)


def run_group(index: int, specs: list[CaseSpec], settings: RunSettings, slot: bool) -> GroupOutcome:
    """One group, run here by the engine exactly as a local run runs it (its own framework worker
    processes, pinning, visits and adaptive passes); ``slot``: this host runs several Dask workers (a
    LocalCluster), so each takes its own CPUs by its worker name."""
    from adbench.engine.environment import environment
    from adbench.engine.runner import Scheduler

    if slot:
        _take_slot(settings.threads)
    # The client's CPU set means nothing here: the settings take this process's.
    settings = dataclasses.replace(settings, cpus=frozenset())
    outcome = Scheduler(specs, settings, pool=_pool()).run()
    env = environment(outcome.versions, settings.threads, device=settings.device, framework_builds=outcome.builds)
    return GroupOutcome(
        index, outcome.results, env["host"], env, outcome.versions, outcome.builds, outcome.noise, outcome.budget
    )


_POOL: WorkerPool | None = None


def _pool() -> WorkerPool:
    """This Dask worker's framework worker processes, kept from one group to the next (as one local run
    keeps them across its groups): a group does not pay for starting every framework again."""
    global _POOL
    if _POOL is None:
        from adbench.engine.workers import WorkerPool

        _POOL = WorkerPool()
    return _POOL


def drain_pool() -> dict[str, int]:
    """Close this Dask worker's kept framework workers (at the end of a cluster run): how many it started
    and reused."""
    global _POOL
    pool, _POOL = _POOL, None
    if pool is None:
        return {"started": 0, "reused": 0}
    pool.close()
    return {"started": pool.started, "reused": pool.reused}


def _take_slot(threads: int) -> None:
    """This Dask worker's own ``threads`` CPUs of the machine's, by its name (0, 1, ... in a LocalCluster)."""
    from distributed import get_worker

    try:
        slot = int(get_worker().name)
    except (ValueError, TypeError):
        return
    mask = sorted(os.sched_getaffinity(0))
    start = (slot * threads) % len(mask)
    mine = {mask[(start + i) % len(mask)] for i in range(threads)}
    os.sched_setaffinity(0, mine)


# -- on the client ------------------------------------------------------------------------------------------
@dataclass
class ClusterSession:
    """A connected client (and the LocalCluster it owns, for ``local:N``)."""

    address: str
    client: Any  # a distributed.Client (mypy does not follow distributed: pyproject's overrides)
    cluster: Any = None  # a distributed.LocalCluster, for local:N

    @property
    def local(self) -> bool:
        return self.cluster is not None

    def hosts(self) -> list[str]:
        return sorted({w.get("host", "?") for w in self.client.scheduler_info()["workers"].values()})

    def close(self) -> None:
        for thing in (self.client, self.cluster):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001 (closing a cluster that is already gone)
                    pass


def connect(address: str, timeout_s: float | None = None) -> ClusterSession:
    """A client of the scheduler at ``address`` (or of a fresh ``local:N``), with a worker that offers the
    bench resource; ClusterError, before anything runs, when there is none."""
    kind, where = parse_address(address)
    timeout_s = CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ClusterError(f"--cluster needs dask.distributed ({exc}): pip install 'adbench[cluster]'") from None
    if kind == "local":
        # A lost worker's group is re-run once by the client (as for a remote cluster), not by Dask.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = LocalCluster(
                n_workers=where,
                threads_per_worker=1,
                processes=True,
                resources={BENCH_RESOURCE: 1},
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            return ClusterSession(address, Client(cluster), cluster)
    try:
        client = Client(where, timeout=timeout_s)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {where} within {timeout_s:g} s ({type(exc).__name__}: "
            f"{exc}); start one with `dask scheduler`, workers with `{WORKER_COMMAND}`, and "
            f"pass its address, or use --cluster local:N"
        ) from None
    session = ClusterSession(address, client)
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except (OSError, TimeoutError):
        session.close()
        raise ClusterError(
            f"the Dask scheduler at {where} has no worker after {WORKER_WAIT_S:g} s; start them with `{WORKER_COMMAND}`"
        ) from None
    workers = client.scheduler_info()["workers"].values()
    if not any((w.get("resources") or {}).get(BENCH_RESOURCE) for w in workers):
        session.close()
        raise ClusterError(
            f"no worker of the Dask scheduler at {where} offers the {BENCH_RESOURCE!r} resource, so "
            f"no group could be placed; start them with `{WORKER_COMMAND}`"
        )
    return session


def run_groups(
    specs: Sequence[CaseSpec], settings: RunSettings, session: ClusterSession, on_group: Callable[[GroupOutcome], None]
) -> dict[str, Any]:
    """Every group of ``specs`` on the cluster, one Dask task each holding the bench resource, with
    ``settings``' time budget shared among them as their cases are; ``on_group`` is called as each
    finishes (in the order they finish). A group whose Dask worker is lost is run once more elsewhere;
    lost twice, or failing inside, its cases are recorded as errors with the reason. An interrupt
    cancels what is left and returns. Returns what the cluster did (for the budget)."""
    from distributed import as_completed

    groups = case_groups(specs)
    total = max(1, len(specs))
    token = uuid.uuid4().hex[:8]
    started = time.monotonic()

    def submit(i: int, attempt: int) -> Any:  # a distributed.Future
        share = dataclasses.replace(settings, time_budget_s=settings.time_budget_s * len(groups[i]) / total)
        return session.client.submit(
            run_group,
            i,
            groups[i],
            share,
            session.local,
            key=f"adbench-group-{token}-{i}-{attempt}",
            resources={BENCH_RESOURCE: 1},
            pure=False,
            retries=0,
        )

    futures = {submit(i, 1): (i, 1) for i in range(len(groups))}
    pending = as_completed(list(futures))
    lost_again = rerun = 0
    try:
        for future in pending:
            i, attempt = futures.pop(future)
            try:
                out = future.result()
            except Exception as exc:  # noqa: BLE001 (a lost worker, or the group's run raised: recorded, not fatal)
                lost = _lost_worker(exc)
                if lost and attempt == 1:
                    rerun += 1
                    again = submit(i, 2)
                    futures[again] = (i, 2)
                    pending.add(again)
                    continue
                lost_again += lost
                out = failed_group(i, groups[i], settings, _failure_words(exc, lost, attempt))
            on_group(out)
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()
        raise
    return _what_it_did(session, len(groups), started, lost_again, rerun)


def _what_it_did(session: ClusterSession, groups: int, started: float, lost_twice: int, rerun: int) -> dict[str, Any]:
    """What the cluster did, for the budget: its groups and hosts, the groups run again or lost twice, and the
    framework workers its Dask workers started and reused (their pools drained now); ``started``: the
    monotonic clock when the run began."""
    pools = _drain(session)
    return {
        "address": session.address,
        "groups": groups,
        "hosts": session.hosts(),
        "wall_s": round(time.monotonic() - started, 2),
        "lost_twice": lost_twice,
        "rerun": rerun,
        "framework_workers": {
            "started": sum(p.get("started", 0) for p in pools),
            "reused": sum(p.get("reused", 0) for p in pools),
        },
    }


def _drain(session: ClusterSession) -> list[dict[str, int]]:
    """Every Dask worker's kept framework workers closed (a remote worker outlives the run)."""
    try:
        return list(session.client.run(drain_pool).values())
    except Exception:  # noqa: BLE001 (a worker gone meanwhile: its processes died with it)
        return []


def _lost_worker(exc: BaseException) -> bool:
    """Whether the task failed because its worker died or went away (not because the group raised)."""
    from distributed import KilledWorker

    try:
        from distributed.comm.core import CommClosedError
    except ImportError:  # pragma: no cover
        CommClosedError = OSError
    return isinstance(exc, (KilledWorker, CommClosedError))


def _failure_words(exc: BaseException, lost: bool, attempt: int) -> str:
    if lost:
        times = "twice" if attempt > 1 else "once, and Dask gave up on it"
        return (
            f"the Dask worker running this group was lost {times} ({type(exc).__name__}: {exc}); "
            "the group was not run again"
        )
    return f"the group's run failed on its Dask worker: {type(exc).__name__}: {exc}"


def failed_group(index: int, specs: list[CaseSpec], settings: RunSettings, reason: str) -> GroupOutcome:
    """A group that did not come back: each case an ``error`` with the reason, on no host."""
    from adbench.engine.outcome import new_result

    results = []
    for spec in specs:
        r = new_result(spec, settings.threads)
        r.host = None
        r.fail("error", reason)
        results.append(r)
    return GroupOutcome(index, results)


__all__ = [
    "BENCH_RESOURCE",
    "ClusterError",
    "ClusterSession",
    "GroupOutcome",
    "case_groups",
    "connect",
    "failed_group",
    "parse_address",
    "parse_shard",
    "run_group",
    "run_groups",
    "shard",
]
