"""The tier's cases (``_common``: the plain ``compare`` grid by default, ``ADBENCH_ASV_TIER=all`` the whole
registry), each one asv parameter, its key: four figures per case.

- ``Derivative.time_derivative``: steady-state seconds per call of the operation (after trace and compile),
  the call its framework's users write (``jax.jit(jax.grad(f))`` for a scalar f's reverse mode): each
  benchmark's source in asv lists them (``_common.with_calls``).
- ``Function.time_function``: seconds per call of f itself, per backend, the floor for time(op)/time(f).
- ``FirstCall.track_first_call``: seconds of the first call of a freshly built case: trace + compile
  + run (see ``_common.fresh_case`` for what is warmed before it).
- ``Memory.track_peak_memory``: bytes of resident memory one call takes above the level before it
  (the worker's VmHWM, reset first, as ``adbench compare`` measures it; a framework's own counter on
  a GPU), not asv's whole-process peakmem, which is mostly the imported frameworks.

Set-up lives in ``_common``; timed calls end with the backend's sync. Importing this module
imports no AD framework: each is imported by the set-up of a case that uses it.
"""

from __future__ import annotations

from adbench.backends import get_backend
from adbench.engine import memory
from adbench.engine.timing import first_call
from benchmarks import _common


class _Case:
    # One parameter, the case's key ("loss-10000 jacobian jax-reverse cpu"): only cases that exist.
    params = (_common.case_keys(),)
    param_names = ("case",)
    # A slow case pays a compile, a calibration call and three samples.
    timeout = 180.0


class _Timed(_Case):
    # setup() warms the case up (first call, then calibration) and sets `number` so that a sample
    # lasts at least _common.SAMPLE_TIME, so asv's own warm-up is off. Two rounds: two processes
    # per case, interleaved, so one process's luck (placement, a noisy neighbour) counts half.
    warmup_time = 0.0
    repeat = (3, 15, 0.3)  # at least 3 samples, at most 15, stopping after about 0.3 s of them
    rounds = 2


class Derivative(_Timed):
    def setup(self, case):
        self.call, self.number = _common.timed_call(case)

    def time_derivative(self, case):
        """Seconds per call of the operation, after its first (compiling) call."""
        self.call()


class Function(_Timed):
    params = (list(_common.function_specs()),)  # "loss-10000 jax cpu"

    def setup(self, case):
        self.function, self.number = _common.timed_function(case)

    def time_function(self, case):
        """Seconds per call of f itself as the backend calls it: jax.jit(f) for jax, torch.compile(f) for
        torch-compile, plain f on the backend's arrays otherwise."""
        self.function()


class _Tracked(_Case):
    # A first call and a peak are worth tracking for the operations a plain `compare` runs; each
    # case costs a process (and a compile) per benchmark, so the others (all tier) are timed only.
    params = (_common.case_keys(_common.TRACKED_OPERATIONS),)


class FirstCall(_Tracked):
    unit = "seconds"

    def setup(self, case):
        self.prepared = _common.fresh_case(case)

    def track_first_call(self, case):
        """Seconds of the operation's first call on a fresh case: trace, compile and run."""
        return first_call(self.prepared.call, self.prepared.sync)


class Memory(_Tracked):
    unit = "bytes"

    def setup(self, case):
        self.prepared = _common.warm_case(case)
        self.backend = get_backend(_common.spec_for(case).backend)
        self.device = _common.spec_for(case).device

    def track_peak_memory(self, case):
        """Bytes of resident memory one call of the operation takes above the level before it."""
        device_peak = self.backend.device_peak(self.device)
        baseline = memory.reset_peak()
        first_call(self.prepared.call, self.prepared.sync)
        return device_peak() if device_peak else memory.peak_since(baseline)


_common.with_calls(Derivative.time_derivative)
_common.with_calls(FirstCall.track_first_call, _common.TRACKED_OPERATIONS)
_common.with_calls(Memory.track_peak_memory, _common.TRACKED_OPERATIONS)
