"""Output for people (rich tables on stdout) or scripts (one JSON document on stdout).

Progress and prose always go to stderr, so `opsctl ... --output json | jq` stays clean.

Two rules every renderer gets from here rather than re-implementing them:
- a table's identifying column (id, name, queue) is never cut: less important columns wrap, and when even
  that does not fit they are dropped with a footer naming them; piped (stdout not a terminal) the width is
  unlimited, so `opsctl monitors | grep ingest_iterator_age` finds whole ids;
- text that came from a device (ids, payload previews, reasons) is untrusted: `safe()` turns control
  characters, escape sequences and bidi overrides into visible escapes and escapes rich markup, so device
  bytes never reach the terminal as instructions."""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from rich.console import Console, ConsoleDimensions, JustifyMethod
from rich.markup import escape
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

# Piped output is for grep, cut and files: no width at all would be best, this is the closest a Console has.
UNLIMITED_WIDTH = 100_000


class _Guarded(Console):
    """A Console that never writes a raw control character of any text it prints: whatever a renderer forgot to put
    through `safe()`, an escape sequence arrives as visible `\\x1b...`. Rich's own styling and cursor control are
    added after this (styles) or are control segments (the spinner), so they are untouched. Line breaks stay: a
    device's newline is only stopped by `safe()` around its field."""

    def _render_buffer(self, buffer) -> str:
        return super()._render_buffer(
            Segment(_UNSAFE_IN_SEGMENT.sub(_visible, seg.text), seg.style, seg.control)
            if seg.control is None and _UNSAFE_IN_SEGMENT.search(seg.text)
            else seg
            for seg in buffer
        )


class _Screen(_Guarded):
    """A Console whose width is the terminal's, or unlimited when its file is not a terminal."""

    @property
    def size(self) -> ConsoleDimensions:
        dims = super().size
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(UNLIMITED_WIDTH, dims.height)
        return dims

    @size.setter
    def size(self, new_size) -> None:
        self._width, self._height = new_size


out = _Screen(highlight=False)
err = _Guarded(stderr=True, highlight=False)


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"


def _default(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


Data = TypeVar("Data")


def emit(data: Data, fmt: OutputFormat, table: Callable[[Data], None]) -> None:
    """Writes `data` as JSON, or calls `table(data)` to render it for a person."""
    if fmt == OutputFormat.json:
        print(json.dumps(data, default=_default, indent=2, sort_keys=True))
    else:
        table(data)


def note(message: str) -> None:
    """Prose for the person at the terminal (stderr)."""
    err.print(message)


# -- untrusted text --------------------------------------------------------------------------------------------

# C0 controls (ESC starts every terminal escape sequence), DEL, C1 controls (0x9b is a one-byte CSI), and the
# Unicode format characters that reorder or hide text (bidi overrides/isolates, zero-width, BOM).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


# what the console itself lets through in a segment's text: everything printable, and the line break rich wraps at
_UNSAFE_IN_SEGMENT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _visible(match: re.Match) -> str:
    ch = match.group()
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(value) -> str:
    """`value` as printable text: every control or reordering character becomes a visible `\\xNN`/`\\uNNNN`."""
    return _UNSAFE.sub(_visible, "" if value is None else str(value))


def safe(value) -> str:
    """Device-controlled text, ready to put inside rich markup: printable (see `plain`) and markup-escaped."""
    return escape(plain(value))


# -- tables ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A table column. `key`: the identifying column, never cut, wrapped or dropped. `drop`: when the terminal is
    too narrow even with wrapping, columns with a higher number go first; 0 = only when nothing else is left."""

    header: str
    key: bool = False
    drop: int = 0
    justify: JustifyMethod = "left"


_SHORT = 16  # cells up to this wide (times, counts, durations) are never wrapped
_MAX_LINES = 3  # a wrapped cell takes at most this many lines; narrower than that, a column is dropped instead
_PAD = 2  # rich's default (0, 1) padding, box=None


def _cell_width(cell: str) -> int:
    return max((Text.from_markup(line).cell_len for line in cell.split("\n")), default=0)


def _min_width(col: Col, cells: Sequence[str]) -> int:
    """The narrowest `col` may become: the key's full width; else whole short values, or a width at which
    every cell wraps into at most _MAX_LINES lines without splitting a word of up to 20 characters."""
    longest = max([_cell_width(c) for c in cells] + [len(col.header)])
    if col.key or longest <= _SHORT:
        return longest
    word = max((len(w) for c in cells for w in Text.from_markup(c).plain.split()), default=0)
    return max(len(col.header), -(-longest // _MAX_LINES), min(word, 20))


def print_table(
    columns: Sequence[Col], rows: Sequence[Sequence[str]], *, title: str | None = None, console: Console | None = None
) -> list[str]:
    """Prints `rows` (cells are rich markup; device text already through `safe`) and returns the headers dropped."""
    console = console or out
    width = console.width
    cols = list(columns)
    widths = [_min_width(c, [r[i] for r in rows]) for i, c in enumerate(cols)]
    shown = list(range(len(cols)))

    def needed() -> int:
        return sum(widths[i] + _PAD for i in shown)

    dropped: list[str] = []
    # declared order first (highest `drop` first), then the other non-key columns from the right
    order = sorted((i for i, c in enumerate(cols) if c.drop), key=lambda i: (-cols[i].drop, -i))
    order += [i for i in reversed(range(len(cols))) if not cols[i].drop and not cols[i].key]
    for i in order:
        if needed() <= width:
            break
        shown.remove(i)
        dropped.append(cols[i].header)
    t = Table(box=None, title=title, title_justify="left")
    for i in shown:
        c = cols[i]
        if c.key:
            t.add_column(c.header, no_wrap=True, min_width=widths[i], overflow="fold", justify=c.justify)
        else:
            t.add_column(c.header, overflow="fold", justify=c.justify)
    for r in rows:
        t.add_row(*(r[i] for i in shown))
    console.print(t)
    if dropped:
        console.print(
            f"[dim]({len(dropped)} column{'s' if len(dropped) > 1 else ''} hidden to fit {width} columns: "
            f"{', '.join(dropped)}; widen the terminal, pipe the output, or use --output json)[/dim]"
        )
    return dropped


def interrupted(done: str, next_step: str):
    """The one answer to Ctrl-C on long work: what was done so far, what to do next, exit 130 (128 + SIGINT)."""
    from opsctl.core.errors import OpsError

    return OpsError(f"interrupted: {done}", hint=next_step, exit_code=130)
