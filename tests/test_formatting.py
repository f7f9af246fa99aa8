"""adbench.formatting: every sentence that names a winner, a tie or an open question, built once for the CLI and
the report alike."""

from __future__ import annotations

import re
from pathlib import Path

from adbench import formatting as fmt

WON = fmt.Verdict("a", 83.0, 79.0, 88.0, "paired")
TIE = fmt.Verdict("tie", 1.01, 0.99, 1.03, "paired")
OPEN = fmt.Verdict(None, 1.2, 0.9, 1.6, "paired")


def test_the_verdict_sentences():
    assert fmt.verdict_words(WON, "reverse", "forward") == "reverse 83× faster [79×, 88×]"
    assert fmt.verdict_words(TIE, "reverse", "forward") == "tie (within 5%)"
    assert fmt.verdict_words(OPEN, "reverse", "forward", subject="modes") == "modes not resolved at this noise level"
    assert fmt.versus_words(WON, "reverse", "forward", " at n = 10") == "reverse 83× faster [79×, 88×] than forward at n = 10"
    assert fmt.versus_words(TIE, "reverse", "forward", " at n = 10") == "reverse vs forward at n = 10: tie (within 5%)"
    assert fmt.unranked_words("reverse", 1e-3, "forward", 2e-3) == \
        "reverse 1 ms vs forward 2 ms: no winner named: this set records no intervals"
    assert fmt.lead_words(WON, "torch") == "83× [79×, 88×] ahead of torch"
    assert fmt.lead_words(TIE, "torch") == "tie with torch (within 5%)"
    assert fmt.lead_words(OPEN, "torch", 1.2e-3) == "not resolved against torch (1.2 ms) at this noise level"
    assert fmt.lead_words(WON, "torch", 1.2e-3, intervals=False) == f"vs torch 1.2 ms: {fmt.NO_INTERVALS}"
    assert fmt.lead_words(None, None) == "the only framework that passed"
    assert fmt.fastest_words("jax reverse", 1e-4, "2× [1.9×, 2.1×] ahead of torch reverse") == \
        "fastest backend: jax reverse 100 µs, 2× [1.9×, 2.1×] ahead of torch reverse"
    assert fmt.fastest_words("jax reverse", 1e-4) == "only backend: jax reverse 100 µs"
    assert fmt.factor_words("reverse", 83) == "reverse 83× faster"
    assert fmt.crossover_words([10, 100, 1000], "forward", "reverse", 99.6) == \
        "forward faster below n ≈ 100, reverse above (by medians)"
    assert fmt.crossover_words([10, 1000], "reverse") == "none in n = 10…1\u202f000: reverse faster throughout (by medians)"


def test_no_other_module_words_a_verdict():
    """The phrases of a verdict appear in adbench.formatting's string literals only (the CLI's and the
    report's legends and axis labels aside, which say what the words mean)."""
    root = Path(fmt.__file__).parent
    phrases = re.compile(r"not resolved at|tie \(within|ahead of|faster \[|faster below|no winner named|"
                         r"records no intervals|only backend|the only framework")
    for path in sorted(root.rglob("*.py")):
        if path.name == "formatting.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith(("#", '"""')) or not re.search(r"[\"']", stripped):
                continue
            assert not phrases.search(stripped.split("#")[0]), f"{path.relative_to(root)}:{number}: {stripped}"
