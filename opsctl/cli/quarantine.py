"""`opsctl quarantine ...`: look at the poison records the ingest function set aside."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from opsctl.cli.options import OutputOpt, Settings
from opsctl.cli.render import OutputFormat, emit, note, out
from opsctl.core.errors import OpsError

quarantine_app = typer.Typer(
    help="Poison records the ingest function quarantined (invalid JSON, bad device ids, timestamps in seconds, ...).\n\n"
    "Nothing in the quarantine blocks a shard; it waits here, with its reason and raw data, for a person to decide.",
    no_args_is_help=True,
)


def _known_reasons() -> tuple[str, ...]:
    from opsctl.sandbox.traffic import POISON_KINDS  # each poison kind is named after its reason code

    return POISON_KINDS


@quarantine_app.command("list")
def list_(
    ctx: typer.Context,
    day: Annotated[
        str | None, typer.Option(help="only this UTC day (YYYY-MM-DD), by arrival time on the stream")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="only this reason code, e.g. ts_out_of_window")] = None,
    limit: Annotated[
        int,
        typer.Option(help="read at most this many records (a production quarantine can be large)", min=1, max=100_000),
    ] = 200,
    with_data: Annotated[
        bool, typer.Option("--with-data", help="include each record's raw data (base64) in JSON output")
    ] = False,
    quarantine_bucket: Annotated[
        str | None, typer.Option(help="bucket to read instead of the environment's output")
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Count quarantined records by reason and list them (shard, sequence number, reason, a preview of the data).

    Examples:  opsctl quarantine list --day 2026-11-24 --reason ts_out_of_window
               opsctl --env prod quarantine list --output json --with-data > poison.json"""
    from opsctl.quarantine import store as quarantine

    if reason and reason not in _known_reasons():
        raise OpsError(f"unknown reason code {reason!r}", hint="one of: " + ", ".join(_known_reasons()))
    settings: Settings = ctx.obj
    stack = settings.stack(quarantine_bucket=quarantine_bucket)
    listing = quarantine.list_records(stack, day=day, reason=reason, limit=limit, with_data=with_data)

    def table(d):
        scope = f"s3://{d['bucket']}/{d['prefix']}"
        out.print(
            f"[bold]quarantine[/bold] {escape(scope)}: {d['read']} records read"
            + (f" (stopped at --limit {limit}; more exist)" if d["truncated"] else "")
        )
        for code, n in d["by_reason"].items():
            out.print(f"  {code:20} {n}")
        t = Table("arrived (UTC)", "shard", "sequence", "reason", "data", box=None)
        for r in d["records"][:50]:
            t.add_row(
                str(r.get("approximate_arrival_timestamp", "")),
                str(r.get("shard_id")),
                "…" + str(r.get("sequence_number"))[-10:],
                escape(str(r.get("reason"))),
                escape(r.get("preview", "")[:60]),
            )
        if d["records"]:
            out.print(t)
        if len(d["records"]) > 50:
            note(f"{len(d['records']) - 50} more: use --output json to see all")

    emit(listing.to_dict(), output, table)
