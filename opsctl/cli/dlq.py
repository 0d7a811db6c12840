"""`opsctl dlq list` and `opsctl replay-dlq`: put failed work back during an incident, losing and duplicating nothing."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from opsctl.cli.options import OutputOpt, Settings
from opsctl.cli.render import OutputFormat, emit, err, note, out
from opsctl.core.errors import OpsError

dlq_app = typer.Typer(
    help="Dead-letter and on-failure queues of the environment: what failed, and how long until it cannot be replayed.\n\n"
    "Replay them with [bold]opsctl replay-dlq --source rollup|ingest|QUEUE[/bold].",
    no_args_is_help=True,
)


class Via(str, enum.Enum):
    invoke = "invoke"
    stream = "stream"


def _age(seconds) -> str:
    if seconds is None:
        return "n/a"
    s = int(seconds)
    if s < 0:
        return f"{_age(-s)} ago"
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


_LEVEL_STYLE = {"expired": "bold red", "urgent": "red", "soon": "yellow", "ok": "green"}


@dlq_app.command("list")
def list_(
    ctx: typer.Context,
    peek: Annotated[
        int,
        typer.Option(
            help="failure records to read per on-failure queue to find the soonest expiry (made visible again at once)",
            min=1,
            max=10_000,
        ),
    ] = 100,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Every dead-letter and on-failure queue with its depth and oldest age; for Kinesis failure records, how long until the
    records they point at expire from the stream (the most urgent fact: shown first, red within 6 h, yellow within 24 h).

    Examples:  opsctl dlq list
               opsctl --env prod dlq list --output json | jq '.queues[0]'"""
    from opsctl.replay import sources as dlq

    settings: Settings = ctx.obj
    data = dlq.list_queues(settings.stack(), peek=peek)

    def table(d):
        for q in d["queues"]:
            if q.get("kind") == dlq.KINESIS_ON_FAILURE and q.get("failure_records"):
                style = _LEVEL_STYLE.get(q["expiry_level"], "")
                left = q["soonest_expiry_s"]
                what = "already expired" if left is not None and left <= 0 else f"expire in {_age(left)}"
                out.print(
                    f"[{style}]{q['queue']}: the records of {q['failure_records']} failed batches ({q['records_referenced']} records) "
                    f"{what}[/{style}]"
                    + (f" — {q['expired_records']} records already gone" if q.get("expired_records") else "")
                    + f"; replay: opsctl replay-dlq --source {escape(str(q['replay_source']))}"
                )
        t = Table("expires in", "queue", "kind", "visible", "in flight", "oldest", "replays to", box=None)
        for q in d["queues"]:
            if "error" in q:
                t.add_row("", q["queue"], "?", f"[red]{escape(q['error'])}[/red]", "", "", "")
                continue
            level = q.get("expiry_level")
            expiry = (
                ""
                if q["kind"] != dlq.KINESIS_ON_FAILURE
                else ("-" if level == "none" else _age(q.get("soonest_expiry_s")))
            )
            style = _LEVEL_STYLE.get(level or "", "")
            kind = "on-failure" if q["kind"] == dlq.KINESIS_ON_FAILURE else "DLQ"
            t.add_row(
                f"[{style}]{expiry}[/{style}]" if style else expiry,
                q["queue"],
                kind,
                str(q["visible"]),
                str(q["in_flight"]),
                _age(q.get("oldest_age_s")),
                escape(q.get("replays_to") or "none found"),
            )
        out.print(t)
        for o in d["missing"]:
            note(f"no {o} output in environment {d['environment']!r}: that queue is not deployed there")

    emit(data, output, table)


def replay_dlq(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            "-s",
            help="rollup (the rollup DLQ), ingest (the ingest consumer's on-failure queue), "
            "or a queue's name, URL or ARN",
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option(help="SQS DLQ: replay to this queue instead of the one whose redrive policy names the DLQ"),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="list what would move (id, age, receive count, size, preview); move nothing"),
    ] = False,
    max_: Annotated[
        int | None,
        typer.Option("--max", help="move at most this many messages (failure records for Kinesis)", min=1),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(help="at most this many messages per second (records per second for Kinesis)", min=0.1),
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option("--filter", help="JMESPath over the JSON body: only messages it selects move, the rest stay"),
    ] = None,
    backup: Annotated[
        Path | None,
        typer.Option(
            help="append each message (each record for Kinesis) to this JSONL file before it is sent; created 0600 "
            "(owner only: Kinesis backups hold decrypted readings), an existing file tightened to 0600, "
            "a symlink refused",
            dir_okay=False,
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask before moving")] = False,
    native: Annotated[
        bool,
        typer.Option("--native", help="SQS DLQ: use AWS's StartMessageMoveTask (server-side, ≤500 msg/s, no filter)"),
    ] = False,
    via: Annotated[
        Via | None,
        typer.Option(
            help="Kinesis failure records: invoke the consumer with the records (default), or put them back on the stream"
        ),
    ] = None,
    skip_expired: Annotated[
        bool, typer.Option("--skip-expired", help="Kinesis: replay what can be and leave expired ranges in the queue")
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(help="SQS DLQ: parallel receive→send→delete loops (a FIFO queue always gets one)", min=1, max=32),
    ] = 4,
    visibility_timeout: Annotated[
        int,
        typer.Option(
            "--visibility-timeout",
            help="seconds a message in hand stays hidden if this run dies (it is back in the queue after that)",
            min=1,
            max=43_200,
        ),
    ] = 60,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Put failed work back: SQS dead letters to the queue that feeds the DLQ, Kinesis failure records to their consumer.

    Nothing is deleted before its copy is confirmed, so a crash loses nothing: run it again to finish.
    Delivery is at least once (a message sent just before a crash is sent again); our consumers are idempotent.

    Examples:
      opsctl replay-dlq --source rollup --dry-run
      opsctl replay-dlq --source rollup --filter "device_id == 'dev-0001'" --backup moved.jsonl --yes
      opsctl replay-dlq --source ingest --via invoke --yes
      opsctl replay-dlq --source my-queue-dlq --native --rate 100 --yes"""
    from opsctl.replay import sources as dlq

    if native and filter_:
        raise OpsError(
            "--native cannot --filter: StartMessageMoveTask moves every message of the DLQ and cannot look inside them",
            hint="drop --native to filter with the client-side mover",
        )
    if native and (backup or max_):
        raise OpsError(
            f"--native cannot {'--backup' if backup else '--max'}: StartMessageMoveTask moves messages server-side, all of them",
            hint="drop --native to use the client-side mover",
        )
    settings: Settings = ctx.obj
    custom = {} if source in dlq.NAMED_SOURCES else {"replay_source": source}
    stack = settings.stack(**custom)
    src = dlq.resolve(stack, source, to=to)
    if src.kind == dlq.SQS_DLQ:
        if via is not None or skip_expired:
            raise OpsError(
                f"{'--via' if via else '--skip-expired'} is for Kinesis failure records; {src.name} holds the messages themselves",
                hint="drop it",
            )
        _replay_sqs(
            stack,
            src,
            dry_run=dry_run,
            max_=max_,
            rate=rate,
            filter_=filter_,
            backup=backup,
            yes=yes,
            native=native,
            concurrency=concurrency,
            visibility_timeout=visibility_timeout,
            output=output,
        )
    else:
        if native:
            raise OpsError(
                f"--native cannot replay {src.name}: StartMessageMoveTask moves SQS dead letters, and a Lambda on-failure "
                "record holds no records, only where they were on the stream",
                hint="drop --native",
            )
        _replay_kinesis(
            settings,
            stack,
            src,
            via=via or Via.invoke,
            dry_run=dry_run,
            max_=max_,
            rate=rate,
            filter_=filter_,
            backup=backup,
            yes=yes,
            skip_expired=skip_expired,
            visibility_timeout=visibility_timeout,
            output=output,
        )


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not err.is_terminal:
        raise OpsError(
            "refusing to move messages without confirmation on a non-interactive terminal",
            hint="add --yes (or --dry-run to only look)",
        )
    if not typer.confirm(question, err=True):
        raise OpsError("not replayed: nothing moved")


def _bar():
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _replay_sqs(
    stack, src, *, dry_run, max_, rate, filter_, backup, yes, native, concurrency, visibility_timeout, output
) -> None:
    from opsctl.replay import sources as dlq
    from opsctl.replay import sqs as sqs_replay

    sqs = stack.target.client("sqs")
    sqs_replay.compile_filter(filter_)  # a bad expression is one line before anything is touched
    depth = sqs_replay.queue_attributes(sqs, src.url, ["ApproximateNumberOfMessages"])
    waiting = int(depth.get("ApproximateNumberOfMessages", 0))
    dest_name = src.destination_url.rstrip("/").rsplit("/", 1)[-1]
    if not dry_run:
        how = "AWS's StartMessageMoveTask" if native else "the client-side mover"
        if output == OutputFormat.table:
            out.print(
                f"plan: move {'up to ' + str(max_) if max_ else 'all'} of ~{waiting} messages from {src.name} to {dest_name} with {how}"
                + (f", only those matching {escape(repr(filter_))}" if filter_ else "")
                + (f", at most {rate:g}/s" if rate else ""),
                soft_wrap=True,
            )
        _confirm(yes, f"move messages from {src.name} to {dest_name}?")
    if native and not dry_run:
        with _bar() as bar:
            task = bar.add_task("StartMessageMoveTask", total=waiting or None)
            result = dlq.native_move(
                sqs, src, rate_per_s=rate, progress=lambda moved, total: bar.update(task, completed=moved, total=total)
            )
        emit(
            result,
            output,
            lambda d: out.print(
                f"StartMessageMoveTask {d['status']}: {d['moved']} of {d['to_move']} messages moved "
                f"from {src.name} to {dest_name}" + (f" ({d['failure_reason']})" if d.get("failure_reason") else "")
            ),
        )
        if result["status"] != "COMPLETED":
            raise typer.Exit(1)
        return
    options = sqs_replay.MoveOptions(
        max_messages=max_,
        rate_per_s=rate,
        filter_expression=filter_,
        backup=backup,
        dry_run=dry_run,
        concurrency=concurrency,
        visibility_timeout_s=visibility_timeout,
    )
    with _bar() as bar:
        task = bar.add_task("listing" if dry_run else "moving", total=min(waiting, max_) if max_ else waiting)
        report = sqs_replay.move(
            sqs,
            src.url,
            src.destination_url,
            options,
            progress=lambda kind, n: bar.advance(task, n) if kind in ("moved", "listed", "failed") else None,
        )
    data = report.to_dict()

    def table(d):
        if d["dry_run"]:
            t = Table(
                "message id", "age", "receives", "bytes", "group", "body", box=None, title=f"would move to {dest_name}"
            )
            for r in d["would_move"][:100]:
                t.add_row(
                    r["message_id"],
                    _age(r["age_s"]),
                    str(r["receive_count"]),
                    str(r["size_bytes"]),
                    r["group"] or "",
                    escape(r["preview"]),
                )
            out.print(t)
            if len(d["would_move"]) > 100:
                note(f"{len(d['would_move']) - 100} more: use --output json to see all")
            out.print(
                f"dry run: {len(d['would_move'])} would move, {d['skipped']} not selected; nothing moved, every message visible again"
            )
            return
        _summary(d, f"{src.name} → {dest_name}")
        for f in d["failures"][:20]:
            out.print(
                f"  [red]failed[/red] {f['message_id']}: {f['code']}: {escape(str(f['message']))} (stays in {src.name})"
            )
        for f in d["delete_failed"][:20]:
            out.print(
                f"  [yellow]sent but not deleted[/yellow] {f['message_id']}: {f['code']} (a rerun sends it again)"
            )

    emit(data, output, table)
    if not dry_run:
        note(
            "at-least-once: a message sent just before a crash is sent again by the next run; our consumers are idempotent"
        )
    if report.failed or report.delete_failed:
        raise typer.Exit(1)


def _summary(d: dict, route: str) -> None:
    left = d["left"]
    out.print(
        f"[bold]{route}[/bold]: moved {d['moved']}, failed {d['failed']}, skipped {d['skipped']}, "
        f"left {left['visible'] if left['visible'] is not None else '?'} (+{left['in_flight'] or 0} in flight) "
        f"in {d['seconds']:.1f} s, {d['api_calls_total']} API calls"
    )


def _replay_kinesis(
    settings, stack, src, *, via, dry_run, max_, rate, filter_, backup, yes, skip_expired, visibility_timeout, output
) -> None:
    from opsctl.replay import kinesis as kr
    from opsctl.replay import sqs as sqs_replay

    t = stack.target
    sqs, kinesis = t.client("sqs"), t.client("kinesis")
    sqs_replay.compile_filter(filter_)
    options = kr.KinesisReplayOptions(
        max_messages=max_,
        rate_per_s=rate,
        filter_expression=filter_,
        backup=backup,
        dry_run=dry_run,
        skip_expired=skip_expired,
        visibility_timeout_s=visibility_timeout,
        read_pause_s=0 if t.sandbox else kr.READ_PAUSE_S,
    )
    delivery, close = None, (lambda: None)
    if not dry_run:
        waiting = int(
            sqs_replay.queue_attributes(sqs, src.url, ["ApproximateNumberOfMessages"]).get(
                "ApproximateNumberOfMessages", 0
            )
        )
        delivery, close = _delivery(t, src, via)
        if output == OutputFormat.table:
            out.print(
                f"plan: replay ~{waiting} failure records of {src.name} "
                + (
                    f"by invoking {src.mapping['FunctionArn'].rsplit(':', 1)[-1]}"
                    if via == Via.invoke
                    else "by putting the records back on the stream"
                ),
                soft_wrap=True,
            )
        _confirm(yes, f"replay the failure records of {src.name}?")
    try:
        with _bar() as bar:
            task = bar.add_task("dry run" if dry_run else f"replaying via {via.value}", total=None)
            report = kr.replay(sqs, kinesis, src.url, options, delivery, progress=lambda kind, n: bar.advance(task, n))
    finally:
        close()
    data = report.to_dict()

    def table(d):
        if d["soonest_expiry_s"] is not None:
            level = kr.expiry_level(d["soonest_expiry_s"])
            style = _LEVEL_STYLE.get(level, "")
            out.print(f"[{style}]the soonest records expire from the stream in {_age(d['soonest_expiry_s'])}[/{style}]")
        tb = Table("shard", "start", "end", "failure records", box=None, title="ranges (overlaps merged)")
        for r in d["ranges"][:50]:
            tb.add_row(r["shard_id"], r["start"], r["end"], str(r["failure_messages"]))
        if d["ranges"]:
            out.print(tb)
        if d["dry_run"]:
            out.print(
                f"dry run: {d['failure_messages']} failure records in {len(d['ranges'])} ranges, {len(d['expired'])} expired "
                f"({d['expired_records']} records gone); nothing replayed, every message visible again"
            )
            return
        out.print(
            f"[bold]{src.name} → {d['via']}[/bold]: replayed {d['replayed_messages']} failure records ({d['records_delivered']} records), "
            f"failed {d['failed']}, skipped {d['skipped']}, expired {len(d['expired'])} ({d['expired_records']} records, left in the queue)"
        )
        for f in d["failed_ranges"][:20]:
            out.print(
                f"  [red]failed[/red] {f['shard_id']} {f['start']}..{f['end']}: {escape(f['reason'])} (its failure records stay)"
            )
        for x in d["not_failure_records"][:20]:
            out.print(
                f"  [yellow]not a failure record[/yellow] {x['message_id']}: {escape(x['reason'])} (left in the queue)"
            )

    emit(data, output, table)
    if not dry_run:
        note(
            "at-least-once: a range delivered just before a crash is delivered again by the next run; our consumers are idempotent"
        )
    if report.failed_ranges:
        raise typer.Exit(1)


def _delivery(target, src, via: Via):
    """The delivery for `via`, and what to call when done."""
    from opsctl.replay import kinesis as kr

    if via == Via.stream:
        return kr.StreamDelivery(target.client("kinesis")), (lambda: None)
    if not src.mapping:
        raise OpsError(
            f"no event source mapping sends its failures to {src.name}, so there is no consumer to invoke",
            hint="use --via stream to put the records back on their stream",
        )
    function_arn = src.mapping["FunctionArn"]
    if target.sandbox:
        from opsctl.core.project import FUNCTIONS_ZIP, SANDBOX_DIR

        invoke, role, close = kr.sandbox_invoker(target, function_arn, state_dir=SANDBOX_DIR, zip_path=FUNCTIONS_ZIP)
    else:
        invoke, role, close = kr.lambda_invoker(target.client("lambda"), function_arn)
    return kr.InvokeDelivery(
        invoke, batch_size=int(src.mapping.get("BatchSize") or 100), role=role, region=target.region
    ), close


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")
    app.command(name="replay-dlq")(replay_dlq)
