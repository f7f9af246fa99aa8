"""A pytest plugin for tools/test_timing.py: counts the assertions a test process executes.

Loaded with `-p assert_counter -o enable_assertion_pass_hook=true` (tools/ on the path); xdist's workers
load it too. Each process writes its counts to a JSON file in $ADBENCH_ASSERT_COUNTS at its end.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

COUNTS = {"asserts": 0, "numpy_asserts": 0}


def _counted(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        COUNTS["numpy_asserts"] += 1
        return function(*args, **kwargs)

    return wrapper


def pytest_configure(config):
    # Before any test module imports numpy.testing's functions by name.
    import numpy.testing

    for name in dir(numpy.testing):
        if name.startswith("assert_") and callable(getattr(numpy.testing, name)):
            setattr(numpy.testing, name, _counted(getattr(numpy.testing, name)))


def pytest_assertion_pass(item, lineno, orig, expl):
    COUNTS["asserts"] += 1


def pytest_unconfigure(config):
    folder = os.environ.get("ADBENCH_ASSERT_COUNTS")
    if folder:
        (Path(folder) / f"{os.getpid()}.json").write_text(json.dumps(COUNTS))
