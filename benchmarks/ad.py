"""Every registered problem and size x every backend and mode: four figures per case.

- ``Jacobian.time_jacobian``: steady-state seconds per Jacobian (after trace and compile).
- ``Function.time_function``: seconds per call of f itself, the floor for time(J)/time(f).
- ``FirstCall.track_first_call``: seconds of the first Jacobian call of a freshly built case:
  trace + compile + run (see ``_common.fresh_jacobian`` for what is warmed before it).
- ``Memory.peakmem_jacobian``: the process's peak resident memory after a Jacobian (asv's peakmem
  counts the whole process: interpreter, imported frameworks, the case).

Set-up lives in ``_common``; timed calls end with the backend's sync. Importing this module
imports no AD framework: each is imported by the set-up of a case that uses it.
"""

from __future__ import annotations

from adbench.timing import first_call

from benchmarks import _common


class _Case:
    params = (_common.case_labels(), list(_common.variant_labels()))
    param_names = ("problem", "backend")
    # A slow case pays a compile, a calibration call and three samples: jax-eager's forward
    # Jacobian of loss at n = 10 000 (3 s a call here) needs more than asv's default 60 s.
    timeout = 180.0


class _Timed(_Case):
    # setup() warms the case up (first call, then calibration) and sets `number` so that a sample
    # lasts at least _common.SAMPLE_TIME, so asv's own warm-up is off. Two rounds: two processes
    # per case, interleaved, so one process's luck (placement, a noisy neighbour) counts half.
    warmup_time = 0.0
    repeat = (3, 25, 1.0)  # at least 3 samples, at most 25, stopping after about 1 s of them
    rounds = 2


class Jacobian(_Timed):
    def setup(self, problem, backend):
        self.jacobian, self.number = _common.timed_jacobian(problem, backend)

    def time_jacobian(self, problem, backend):
        self.jacobian()


class Function(_Timed):
    def setup(self, problem, backend):
        self.function, self.number = _common.timed_function(problem, backend)

    def time_function(self, problem, backend):
        self.function()


class FirstCall(_Case):
    unit = "seconds"

    def setup(self, problem, backend):
        self.prepared = _common.fresh_jacobian(problem, backend)

    def track_first_call(self, problem, backend):
        return first_call(self.prepared.jacobian, self.prepared.sync)


class Memory(_Case):
    def setup(self, problem, backend):
        prepared = _common.warm_jacobian(problem, backend)
        self.jacobian = _common.synced(prepared.jacobian, prepared.sync)

    def peakmem_jacobian(self, problem, backend):
        self.jacobian()
