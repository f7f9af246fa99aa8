"""The one mode table (adbench.backends.modes): every backend's modes are in it, and the CLI's tables and the
report show modes in its one order."""

from __future__ import annotations

import random

import pytest

from adbench.backends import MODE_NAMES, NESTED, backend_names, get_backend, modes
from adbench.engine.results import read_results, write_results


def test_every_registered_backend_s_modes_are_in_the_table():
    for name in backend_names():
        backend = get_backend(name)
        for operation, offered in backend.operations.items():
            for mode in offered:
                assert mode in MODE_NAMES, (name, operation, mode)
                known = modes.BY_NAME[mode]
                assert known.baseline == backend.baseline, (name, mode)
                if not known.baseline and operation != NESTED:  # nested: no pass counting (see the problem)
                    assert (operation, mode) in modes.PASSES, (name, operation, mode)


def test_the_table_s_names_and_pass_counts():
    assert modes.AD_MODES == ("forward", "reverse")
    assert modes.COMPOSITIONS == (
        "forward-over-reverse",
        "reverse-over-reverse",
        "reverse-over-forward",
        "forward-over-forward",
    )
    assert modes.BASELINE_MODES == ("central", "manual")
    assert len({(m.linestyle, m.marker) for m in modes.MODES}) == len(modes.MODES)  # apart without colour
    assert modes.passes("jacobian", "forward", 100, 3) == 100
    assert modes.passes("jacobian", "reverse", 100, 3) == 3
    assert modes.passes("hessian", "reverse-over-forward", 10) == 100
    assert modes.passes("sparse-jacobian", "forward", 100, 3) is None  # colours unknown
    assert modes.passes("sparse-jacobian", "forward", 100, 3, colours=15) == 15
    assert modes.pass_exponent("jacobian", "reverse", 1.0) == 1.0
    assert modes.pass_exponent("hvp", "forward-over-forward", 0.0) == 1.0
    assert modes.pass_exponent("jvp", "central", 0.0) is None
    assert modes.mode_order(["manual", "someone-else's", "reverse", "forward-over-reverse", "forward", "reverse"]) == [
        "forward",
        "reverse",
        "forward-over-reverse",
        "manual",
        "someone-else's",
    ]


def test_compare_s_table_and_the_report_order_a_mixed_set_of_modes_the_same_way(tmp_path):
    pytest.importorskip("matplotlib")
    from adbench.rendering import FIXED_COLUMNS, comparison_table
    from adbench.report.data import ordered_series, prepare

    def row(backend, mode, operation, time):
        return {
            "problem": "loss",
            "size": 4,
            "n_inputs": 4,
            "n_outputs": 1,
            "operation": operation,
            "backend": backend,
            "mode": mode,
            "status": "ok",
            "time_s": time,
            "median_s": time,
            "threads": 1,
            "dtype": "float64",
            "noisy": False,
        }

    rows = (
        [row("jax", m, "jacobian", 1e-5 * (i + 1)) for i, m in enumerate(("forward", "reverse"))]
        + [row("jax", m, "hvp", 1e-5 * (i + 1)) for i, m in enumerate(modes.COMPOSITIONS)]
        + [row("finite-diff", "central", op, 3e-5) for op in ("jacobian", "hvp")]
        + [row("manual", "manual", op, 1e-6) for op in ("jacobian", "hvp")]
    )
    random.Random(0).shuffle(rows)  # neither order may come from the order the rows were written in
    path, _ = write_results(tmp_path / "mixed.csv", rows, {"hostname": "crafted"}, {})
    frame = read_results(path)[0]
    table = comparison_table(frame)
    cli = [c for c in table.columns if c not in FIXED_COLUMNS]
    report = list(dict.fromkeys(s.mode for s in ordered_series(prepare(frame))))
    assert cli == report == list(MODE_NAMES)
