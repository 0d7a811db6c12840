"""Output for people (rich tables on stdout) or scripts (one JSON document on stdout).

Progress and prose always go to stderr, so `opsctl ... --output json | jq` stays clean."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from decimal import Decimal

from rich.console import Console

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"


def _default(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def emit(data, fmt: OutputFormat, table: Callable[[object], None]) -> None:
    """Writes `data` as JSON, or calls `table(data)` to render it for a person."""
    if fmt == OutputFormat.json:
        print(json.dumps(data, default=_default, indent=2, sort_keys=True))
    else:
        table(data)


def note(message: str) -> None:
    """Prose for the person at the terminal (stderr)."""
    err.print(message)
