"""Text that fits the terminal: its width, wrapped paragraphs and tables (rich renders the tables)."""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Sequence
from typing import Any

DEFAULT_WIDTH = 100  # columns when the terminal's width is unknown (a pipe, a CI log)


def terminal_width() -> int:
    """The terminal's columns (``COLUMNS`` first, as shutil reads it), 100 when unknown."""
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns or DEFAULT_WIDTH


def text_table(columns: Sequence[str], rows: Sequence[Sequence[object]], width: int, right: Sequence[str] = ()) -> str:
    """A plain-text table fitting ``width`` columns: cells wrap (long words fold) rather than being cut."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True)
    for name in columns:
        table.add_column(Text(name), overflow="fold", justify="right" if name in right else "left")
    for row in rows:
        table.add_row(*(Text(str(c)) for c in row))
    return _print(table, width)


def _print(renderable: Any, width: int) -> str:
    """Render with rich into text of at most ``width`` columns, without colour or trailing spaces."""
    import io

    from rich.console import Console

    buf = io.StringIO()
    Console(
        file=buf,
        width=width,
        color_system=None,
        force_terminal=False,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=False,
    ).print(renderable)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines())


_NUMBER_AND_UNIT = re.compile(r"(\d) (s|ms|µs|ns|KiB|MiB|GiB|B)\b")


def wrap(text: str, width: int, indent: str = "") -> str:
    """One paragraph wrapped at ``width`` (a word longer than a line is broken, never dropped; a number keeps
    its unit on its line)."""
    glued = _NUMBER_AND_UNIT.sub("\\1\u00a0\\2", text)  # textwrap breaks only at ASCII whitespace
    return textwrap.fill(
        glued,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_long_words=True,
        break_on_hyphens=False,
    ).replace("\u00a0", " ")


__all__ = ["DEFAULT_WIDTH", "terminal_width", "text_table", "wrap"]
