"""One written form per quantity, for every table and line opsctl prints (JSON keeps the raw numbers).

durations and ages `850 ms`, `8.8 s`, `42.5 s`, `59 min 51 s`, `3 h 05 min`, `168 h 00 min`; sizes `512 B`, `1.5 KiB`;
counts and rates with thousands separators (`12,345 rec/s`); times as UTC ISO-8601 without microseconds
(`2026-12-01T21:18:18Z`); plurals right (`1 shard`, `2 shards`). Nothing here prints a Python repr."""

from __future__ import annotations

import datetime as dt

NONE = "-"  # no value (a column that does not apply)
UNKNOWN = "n/a"  # a value that exists but could not be known


def duration(seconds) -> str:
    """`seconds` (a number or None) the way a person says it; truncated, never rounded up past a threshold."""
    if seconds is None:
        return UNKNOWN
    s = float(seconds)
    if s < 0:
        return "-" + duration(-s)
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{int(s * 10) / 10:.1f} s"
    whole = int(s)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def duration_ms(ms) -> str:
    return UNKNOWN if ms is None else duration(float(ms) / 1000)


def number(value, digits: int = 1) -> str:
    """`12,345`, `12.5`, `0.25`: thousands separators, no trailing `.0`, `-` for None."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    v = float(value)
    if v == int(v):
        return f"{int(v):,}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    text = f"{v:,.{max(digits, 2 if abs(v) < 1 else digits)}f}".rstrip("0").rstrip(".")
    return text


def rate(per_s, unit: str = "rec/s") -> str:
    return NONE if per_s is None else f"{number(per_s)} {unit}"


def count(n, noun: str, plural: str | None = None) -> str:
    """`1 shard`, `2 shards`, `1,024 records`."""
    if n is None:
        return f"? {plural or noun + 's'}"
    return f"{number(n)} {noun if n == 1 else (plural or noun + 's')}"


def size(n_bytes) -> str:
    if n_bytes is None:
        return NONE
    v = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(v) < 1024 or unit == "GiB":
            return f"{int(v):,} B" if unit == "B" else f"{v:,.1f} {unit}"
        v /= 1024
    raise AssertionError("unreachable")


def utc(value) -> str:
    """UTC ISO-8601 without microseconds from a datetime, epoch seconds, epoch milliseconds or an ISO string."""
    if value in (None, ""):
        return NONE
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            from opsctl.cli.render import safe

            return safe(value)  # not a time: shown as the text it is, never as markup or terminal control
    if isinstance(value, int | float):
        seconds = float(value) / 1000 if float(value) > 1e11 else float(value)  # epoch ms are 13 digits today
        value = dt.datetime.fromtimestamp(seconds, dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def percent(value, digits: int = 0) -> str:
    return NONE if value is None else f"{float(value):.{digits}f}%"


def yes_no(value) -> str:
    return NONE if value is None else ("yes" if value else "no")


def money(usd) -> str:
    return NONE if usd is None else f"${float(usd):,.2f}"


def pairs(mapping) -> str:
    """`temp_c=21.5, hum=40` for a dict of values (never a Python repr)."""
    if not mapping:
        return NONE
    return ", ".join(f"{k}={number(v) if isinstance(v, int | float) else v}" for k, v in mapping.items())
