"""What a run returns (``RunOutcome``), and the result record each of its cases starts from (``new_result``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from adbench.backends import get_backend
from adbench.engine.cases import CaseSpec
from adbench.engine.environment import cpu_model, host_name, visible_gpus
from adbench.engine.record import CaseResult
from adbench.problems import get_problem


@dataclass
class RunOutcome:
    """What a run returns: its records, the frameworks' versions and builds, its noise, budget and analysis."""

    results: list[CaseResult] = field(default_factory=list)
    versions: dict[str, str | None] = field(default_factory=dict)
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)  # per framework: CUDA build, devices
    unavailable: dict[str, str] = field(default_factory=dict)
    interrupted: int | None = None  # the signal that stopped the run
    noise: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)  # the plan and where the time went
    analysis: Any = None  # adbench.engine.estimates.Analysis of every case that had visits
    # The sidecar's comparisons and variance, by position in ``results``.
    comparisons: list[list] = field(default_factory=list)
    variance: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [r.row() for r in self.results]


def new_result(spec: CaseSpec, threads: int) -> CaseResult:
    """The record of ``spec`` before it runs: its key (every field of the spec is a column of the same name),
    the sizes its problem knows, and the machine."""
    problem, backend = get_problem(spec.problem), get_backend(spec.backend)
    return CaseResult(
        **spec.as_dict(),
        preset=problem.presets.get(spec.size),
        n_inputs=spec.size,
        n_outputs=problem.known_n_outputs(spec.size),
        framework=backend.framework,
        threads=threads,
        host=host_name(),
        host_cpu=_cpu(),
        host_gpu=_gpus() if spec.device == "cuda" else None,
        status="ok",
    )


@functools.cache
def _cpu() -> str:
    return cpu_model()


@functools.cache
def _gpus() -> str | None:
    return ", ".join(g["name"] for g in visible_gpus()) or None
