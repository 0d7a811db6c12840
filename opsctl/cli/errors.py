"""How the CLI says a library error: each argument a library names (`{window}`) as the flag that set it.

A flag is the parameter's name with dashes (`quarantine_bucket` → `--quarantine-bucket`) unless FLAGS says
otherwise; the libraries never spell flags (opsctl/core/errors.py)."""

from __future__ import annotations

from opsctl.core.errors import OpsError

# parameter names whose flag is not simply the name with dashes
FLAGS: dict[str, str] = {
    "expect_records_per_s": "--expect",
    "table_names": "--table",
    "from_ms": "--from",
    "to_ms": "--to",
}


def flag(name: str) -> str:
    return FLAGS.get(name) or "--" + name.replace("_", "-")


def error_line(exc: OpsError) -> str:
    """The one line the CLI prints for a library error."""
    return exc.line(flag)
