"""Known framework defects, kept in one table and matched to result rows by the framework's version.

A result row that a known defect explains is a *finding* about that framework (named with its version and
the upstream issue), not a failure of the run: ``adbench compare`` shows it prominently and, unless asked
(``--fail-on ...,known``), does not fail on it. A defect matches only the versions it names, so a fixed
release stops matching and its rows are judged like any other again.

Adding an entry: reproduce the defect outside adbench first (a few lines against the framework alone), then
declare what it matches as narrowly as the reproduction allows."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:  # a frame comes with the results: importing the table of defects stays light
    import pandas as pd


@dataclass(frozen=True)
class KnownDefect:
    """One framework defect: which versions have it, which result rows it explains, and where it is reported.

    ``matches`` maps a result column (backend, problem, operation, mode, dtype, status, device) to the values
    it may take; a column left out matches anything. ``versions`` is a PEP 440 specifier set on the
    framework's version as the row records it (``framework_version``)."""

    framework: str
    versions: str
    matches: Mapping[str, tuple[str, ...]]
    upstream: str
    summary: str
    reproduced: str = ""  # how it was confirmed outside adbench (a script, a test)
    key: str = field(default="")

    def applies_to(self, version: str | None) -> bool:
        """Whether ``version`` is one of the affected releases (a local suffix such as +cpu is ignored)."""
        if not version:
            return False
        try:
            release = Version(str(version))
        except InvalidVersion:
            return False
        return SpecifierSet(self.versions).contains(Version(release.public), prereleases=True)

    def explains(self, row: Mapping[str, Any]) -> bool:
        """Whether this defect explains a result row (a dict or a pandas row of the result record)."""
        if str(row.get("framework")) != self.framework or not self.applies_to(row.get("framework_version")):
            return False
        return all(str(row.get(column)) in allowed for column, allowed in self.matches.items())

    @property
    def title(self) -> str:
        """'jax 0.10.2: jit(jacrev) wrong in float32 ... (jax-ml/jax#39103)'."""
        return f"{self.framework} {self.versions.lstrip('=')}: {self.summary} ({self.upstream})"


KNOWN_DEFECTS: tuple[KnownDefect, ...] = (
    KnownDefect(
        key="jax-jit-jacrev-float32-rows",
        framework="jax",
        # 0.10.1 is right in the upstream report's bisection; no release is known fixed for this case yet.
        versions="==0.10.2",
        matches={
            "backend": ("jax",),
            "problem": ("ba",),
            "operation": ("jacobian", "sparse-jacobian"),
            "mode": ("reverse",),
            "dtype": ("float32",),
            "device": ("cpu",),
            "status": ("wrong",),
        },
        upstream="jax-ml/jax#39103",
        summary="jax.jit(jax.jacrev(f)) is wrong in float32 on the CPU for f(r) = r·sin(|r|) row by row "
        "past ~60 rows (ba's Rodrigues rotation); eager, jacfwd and float64 are right",
        reproduced="tests/test_sparse.py::test_jax_jit_jacrev_float32_rows_bug (xfail until fixed); "
        "the same release's CPU regression of vmapped products with a reduction under jit is "
        "jax-ml/jax#39103 (0.10.1 right, 0.10.2 wrong)",
    ),
)


def explaining(row: Mapping[str, Any], defects: tuple[KnownDefect, ...] | None = None) -> KnownDefect | None:
    """The first known defect that explains ``row``, or None (``defects``: the table, by default)."""
    for defect in KNOWN_DEFECTS if defects is None else defects:
        if defect.explains(row):
            return defect
    return None


def known_defects(frame: pd.DataFrame) -> dict[Hashable, KnownDefect]:
    """Row index -> the known framework defect that explains that row, for the rows that are not ok."""
    if not len(frame):
        return {}
    return {
        index: defect
        for index, row in frame[frame["status"] != "ok"].iterrows()
        if (defect := explaining(row)) is not None
    }


__all__ = ["KNOWN_DEFECTS", "KnownDefect", "explaining", "known_defects"]
