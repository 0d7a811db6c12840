"""`opsctl quarantine ...`: look at the poison records the ingest function set aside."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from opsctl.cli import fmt
from opsctl.cli.options import OutputOpt, Settings
from opsctl.cli.render import Col, OutputFormat, emit, note, out, print_table, safe
from opsctl.core.errors import OpsError

quarantine_app = typer.Typer(
    help="Poison records the ingest function quarantined (invalid JSON, bad device ids, timestamps in seconds, "
    "...).\n\n"
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
        bool, typer.Option("--with-data", help="include each record's raw data (base64), in the table and in JSON")
    ] = False,
    quarantine_bucket: Annotated[
        str | None, typer.Option(help="bucket to read instead of the environment's output")
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Count quarantined records by reason and list them in arrival order (sequence number, reason code, arrival
    time, partition key, shard, a preview of the data). Device text is shown escaped, never as terminal input.

    Examples:  opsctl quarantine list --day 2026-11-24 --reason ts_out_of_window
               opsctl --env prod quarantine list --output json --with-data > poison.json"""
    from opsctl.quarantine import store as quarantine

    if reason and reason not in _known_reasons():
        raise OpsError(f"unknown reason code {reason!r}", hint="one of: " + ", ".join(_known_reasons()))
    if day is not None:
        from opsctl.quarantine import store

        store.day_prefix("", day)  # a malformed --day is one line before the first AWS call
    settings: Settings = ctx.obj
    stack = settings.stack(quarantine_bucket=quarantine_bucket)
    listing = quarantine.list_records(stack, day=day, reason=reason, limit=limit, with_data=with_data)

    data = listing.to_dict()
    data["records"] = sorted(data["records"], key=_arrival)  # time order, whatever order S3 listed the keys in
    emit(data, output, lambda d: show_quarantine(d, reason=reason, limit=limit, with_data=with_data))


def _arrival(record: dict) -> float:
    value: Any = record.get("approximate_arrival_timestamp")  # a JSON value: float() refuses what is not a number
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("inf")


def show_quarantine(d: dict, *, reason: str | None = None, limit: int | None = None, with_data: bool = False) -> None:
    scope = f"s3://{d['bucket']}/{d['prefix']}"
    counts = {reason: d["by_reason"].get(reason, 0)} if reason else d["by_reason"]
    out.print(
        f"[bold]quarantine[/bold] {safe(scope)}: {fmt.count(d['read'], 'record')} read"
        + (f", {fmt.number(d.get('matched', len(d['records'])))} with reason {safe(reason)}" if reason else "")
        + (f" (stopped at --limit {limit}; more exist)" if d["truncated"] else "")
    )
    for code, n in counts.items():
        out.print(f"  {safe(code):20} {fmt.number(n)}")
    shown = d["records"][:50]
    if shown:
        print_table(
            [
                Col("sequence number", key=True),
                Col("reason code"),
                Col("arrived (UTC)", drop=5),
                Col("partition key", drop=4),
                Col("shard", drop=3),
                Col("data (base64)" if with_data else "data", drop=2),
                Col("reason", drop=1),
            ],
            [
                [
                    safe(r.get("sequence_number")),
                    safe(r.get("reason_code")),
                    fmt.utc(r.get("approximate_arrival_timestamp")),
                    safe(r.get("partition_key")),
                    safe(r.get("shard_id")),
                    safe(r.get("data_base64") if with_data else (r.get("preview") or "")[:40]),
                    safe(r.get("reason")),
                ]
                for r in shown
            ],
        )
    if len(d["records"]) > 50:
        note(f"{len(d['records']) - 50} more: use --output json to see all")
