"""`opsctl dlq list` and `opsctl replay-dlq`: put failed work back during an incident, losing and duplicating
nothing."""

from __future__ import annotations

import enum
import functools
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from opsctl.cli import fmt
from opsctl.cli.options import OutputOpt, Settings
from opsctl.cli.render import Col, OutputFormat, emit, err, interrupted, note, out, print_table, safe
from opsctl.core.errors import OpsError

dlq_app = typer.Typer(
    help="Dead-letter and on-failure queues of the environment: what failed, and how long until it cannot be "
    "replayed.\n\n"
    "Replay them with [bold]opsctl replay-dlq --source rollup|ingest|QUEUE[/bold].",
    no_args_is_help=True,
)


class Via(str, enum.Enum):
    invoke = "invoke"
    stream = "stream"


def _age(seconds) -> str:
    return fmt.duration(seconds)


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
    """Every dead-letter and on-failure queue with its depth and oldest age; for Kinesis failure records, how long
    until the records they point at expire from the stream (the most urgent fact: shown first, red within 6 h,
    yellow within 24 h).

    Examples:  opsctl dlq list
               opsctl --env prod dlq list --output json | jq '.queues[0]'"""
    from opsctl.replay import sources as dlq

    settings: Settings = ctx.obj
    data = dlq.list_queues(settings.stack(), peek=peek)
    errors = [q for q in data["queues"] if "error" in q]
    if errors and len(errors) == len(data["queues"]):
        raise OpsError(errors[0]["error"])
    emit(data, output, show_dlq_list)
    if errors:
        raise OpsError(
            f"{fmt.count(len(errors), 'queue')} could not be read: {errors[0]['queue']}: {errors[0]['error']}"
        )


def show_dlq_list(d: dict) -> None:
    from opsctl.replay import sources as dlq

    for q in d["queues"]:
        if q.get("kind") == dlq.KINESIS_ON_FAILURE and q.get("failure_records"):
            style = _LEVEL_STYLE.get(q["expiry_level"], "")
            left = q["soonest_expiry_s"]
            what = "already expired" if left is not None and left <= 0 else f"expire in {_age(left)}"
            out.print(
                f"[{style}]{safe(q['queue'])}: the records of "
                f"{fmt.count(q['failure_records'], 'failed batch', 'failed batches')} "
                f"({fmt.count(q['records_referenced'], 'record')}) {what}[/{style}]"
                + (f" — {fmt.count(q['expired_records'], 'record')} already gone" if q.get("expired_records") else "")
                + f"; replay: opsctl replay-dlq --source {safe(q['replay_source'])}"
            )
    rows = []
    for q in d["queues"]:
        if "error" in q:
            rows.append([safe(q["queue"]), "?", "[red]unreadable[/red]", "", "", "", "", safe(q["error"])])
            continue
        level = q.get("expiry_level")
        if q["kind"] == dlq.KINESIS_ON_FAILURE:
            # the failure record only points at the stream: what expires is the records, at the stream's retention
            expiry = "-" if level == "none" else _age(q.get("soonest_expiry_s"))
        elif q.get("visible") or q.get("in_flight"):
            # a dead letter keeps its first enqueue time: it is deleted at the DLQ's retention after that
            oldest = q.get("oldest_age_s")
            expiry = "age unknown" if oldest is None else _age(max(0, q["retention_s"] - oldest))
        else:
            expiry = "-"
        style = _LEVEL_STYLE.get(level or "", "")
        oldest = q.get("oldest_age_s")
        rows.append(
            [
                safe(q["queue"]),
                "on-failure" if q["kind"] == dlq.KINESIS_ON_FAILURE else "DLQ",
                f"[{style}]{expiry}[/{style}]" if style else expiry,
                fmt.number(q["visible"]),
                fmt.number(q["in_flight"]),
                ("unknown" if q["visible"] or q["in_flight"] else "n/a") if oldest is None else _age(oldest),
                safe(q.get("replays_to") or "none found"),
                "",
            ]
        )
    print_table(
        [
            Col("queue", key=True),
            Col("kind"),
            Col("expires in"),
            Col("visible", justify="right"),
            Col("in flight", justify="right", drop=3),
            Col("oldest", drop=2),
            Col("replays to", drop=1),
            Col("error", drop=4),
        ],
        rows,
    )
    for o in d["missing"]:
        note(f"no {o} output in environment {d['environment']!r}: that queue is not deployed there")


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
        typer.Option(
            "--dry-run",
            help="list what would move (id, age, receive count, size, preview) and move nothing; SQS has no peek, so "
            "listing receives each message once (+1 receive count); --no-peek shows the depth only",
        ),
    ] = False,
    peek: Annotated[
        bool,
        typer.Option(
            "--peek/--no-peek",
            help="with --dry-run: receive the messages to list them (default), or read only the queue's depth and "
            "leave "
            "every receive count as it was",
        ),
    ] = True,
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
            help="Kinesis failure records: invoke the consumer with the records (default), or put them back on the "
            "stream"
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
    """Put failed work back: SQS dead letters to the queue that feeds the DLQ, Kinesis failure records to their
    consumer.

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
            f"--native cannot {'--backup' if backup else '--max'}: StartMessageMoveTask moves messages server-side, "
            "all of them",
            hint="drop --native to use the client-side mover",
        )
    if not peek and not dry_run:
        raise OpsError(
            "--no-peek goes with --dry-run", hint="e.g. opsctl replay-dlq --source rollup --dry-run --no-peek"
        )
    from opsctl.replay import sqs as sqs_replay

    sqs_replay.compile_filter(filter_)  # a bad expression is one line before the first AWS call
    settings: Settings = ctx.obj
    custom = {} if source in dlq.NAMED_SOURCES else {"replay_source": source}
    stack = settings.stack(**custom)
    src = dlq.resolve(stack, source, to=to)
    if dry_run and _dry_run_without_receiving(stack, src, peek=peek, filter_=filter_, output=output):
        return
    if src.kind == dlq.SQS_DLQ:
        if via is not None or skip_expired:
            raise OpsError(
                f"{'--via' if via else '--skip-expired'} is for Kinesis failure records; {src.name} holds the messages "
                "themselves",
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
                f"--native cannot replay {src.name}: StartMessageMoveTask moves SQS dead letters, and a Lambda "
                "on-failure "
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


def _dry_run_without_receiving(stack, src, *, peek: bool, filter_, output) -> bool:
    """True when the dry run was answered from the queue's attributes alone. SQS cannot show a message without
    receiving it (ReceiveMessage raises ApproximateReceiveCount; VisibilityTimeout 0 only hides that it happened),
    so a listing costs one receive per message: refused where that walks messages towards a redrive."""
    from opsctl.replay import sources as dlq
    from opsctl.replay import sqs as sqs_replay

    attrs = sqs_replay.queue_attributes(
        stack.target.client("sqs"),
        src.url,
        ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "RedrivePolicy"],
    )
    if peek:
        redrive = attrs.get("RedrivePolicy")
        if redrive:
            limit = json.loads(redrive).get("maxReceiveCount")
            raise OpsError(
                f"--dry-run lists messages by receiving each once, and {src.name} has its own redrive policy "
                f"(maxReceiveCount {limit}): every look would walk its messages towards that dead-letter queue",
                hint="use --dry-run --no-peek for the depth without receiving anything",
            )
        return False
    action = (
        f"move to {src.destination_url.rstrip('/').rsplit('/', 1)[-1]}"
        if src.kind == dlq.SQS_DLQ
        else "be replayed to their consumer"
    )
    data = {
        "dry_run": True,
        "peeked": False,
        "source": src.name,
        "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "action": action,
        "filter": filter_,
        "moved": 0,
    }
    emit(data, output, show_depth_plan)
    return True


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
    depth = sqs_replay.queue_attributes(sqs, src.url, ["ApproximateNumberOfMessages"])
    waiting = int(depth.get("ApproximateNumberOfMessages", 0))
    dest_name = src.destination_url.rstrip("/").rsplit("/", 1)[-1]
    if not dry_run:
        how = "AWS's StartMessageMoveTask" if native else "the client-side mover"
        if output == OutputFormat.table:
            out.print(
                f"plan: move {'up to ' + str(max_) if max_ else 'all'} of ~{waiting} messages from {src.name} to "
                f"{dest_name} with {how}"
                + (f", only those matching {safe(repr(filter_))}" if filter_ else "")
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
    done = {"moved": 0, "listed": 0, "failed": 0}

    def progress(kind, n):
        if kind in done:
            done[kind] += n
            bar.advance(task, n)

    with _bar() as bar:
        task = bar.add_task("listing" if dry_run else "moving", total=min(waiting, max_) if max_ else waiting)
        try:
            report = sqs_replay.move(sqs, src.url, src.destination_url, options, progress=progress)
        except KeyboardInterrupt:
            raise interrupted(
                f"{fmt.number(done['moved'])} moved to {dest_name}, {fmt.number(done['failed'])} failed, "
                f"the rest still in {src.name}"
                if not dry_run
                else f"{fmt.number(done['listed'])} listed, nothing moved",
                "messages in hand are visible again after --visibility-timeout; run the same command again to finish",
            ) from None
    data = report.to_dict()
    table = functools.partial(show_sqs_replay, source=src.name, destination=dest_name)
    emit(data, output, table)
    if not dry_run:
        note(
            "at-least-once: a message sent just before a crash is sent again by the next run; our consumers are "
            "idempotent"
        )
    if report.failed or report.delete_failed:
        raise typer.Exit(1)


def show_sqs_replay(d: dict, *, source: str, destination: str) -> None:
    if d["dry_run"]:
        rows = [
            [
                safe(r["message_id"]),
                _age(r["age_s"]),
                fmt.number(r["receive_count"]),
                fmt.size(r["size_bytes"]),
                safe(r["group"] or ""),
                safe(r["preview"][:40]) + ("…" if len(r["preview"]) > 40 else ""),
            ]
            for r in d["would_move"][:100]
        ]
        if rows:
            print_table(
                [
                    Col("message id", key=True),
                    Col("age"),
                    Col("receives", drop=3),
                    Col("size", drop=2),
                    Col("group", drop=4),
                    Col("body", drop=1),
                ],
                rows,
                title=f"would move to {safe(destination)}",
            )
        if len(d["would_move"]) > 100:
            note(f"{len(d['would_move']) - 100} more: use --output json to see all")
        out.print(
            f"dry run: {fmt.number(len(d['would_move']))} would move, {fmt.number(d['skipped'])} not selected; "
            "nothing moved, every message visible again (each received once to look at it)"
        )
        return
    _summary(d, f"{safe(source)} → {safe(destination)}")
    for f in d["failures"][:20]:
        out.print(
            f"  [red]failed[/red] {safe(f['message_id'])}: {safe(f['code'])}: {safe(f['message'])} (stays in "
            f"{safe(source)})"
        )
    for f in d["delete_failed"][:20]:
        out.print(
            f"  [yellow]sent but not deleted[/yellow] {safe(f['message_id'])}: {safe(f['code'])} (a rerun sends it "
            "again)"
        )


def show_depth_plan(d: dict) -> None:
    out.print(
        f"dry run (no peek): {fmt.count(d['visible'], 'message')} visible and {fmt.number(d['in_flight'])} "
        f"in flight in {safe(d['source'])} would {d['action']}"
        + (f", only those matching {safe(repr(d['filter']))}" if d.get("filter") else "")
        + "; nothing received, so no receive count changed (drop --no-peek to list them)"
    )


def _summary(d: dict, route: str) -> None:
    left = d["left"]
    out.print(
        f"[bold]{route}[/bold]: moved {fmt.number(d['moved'])}, failed {fmt.number(d['failed'])}, "
        f"skipped {fmt.number(d['skipped'])}, left "
        f"{fmt.number(left['visible']) if left['visible'] is not None else '?'} "
        f"(+{fmt.number(left['in_flight'] or 0)} in flight) in {fmt.duration(d['seconds'])}, "
        f"{fmt.count(d['api_calls_total'], 'API call')}"
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
            done: dict[str, int] = {}

            def progress(kind, n):
                done[kind] = done.get(kind, 0) + n
                bar.advance(task, n)

            try:
                report = kr.replay(sqs, kinesis, src.url, options, delivery, progress=progress)
            except KeyboardInterrupt:
                raise interrupted(
                    ", ".join(f"{k} {fmt.number(v)}" for k, v in done.items()) or "nothing replayed yet",
                    "failure records are deleted only after their range was delivered; run the same command again",
                ) from None
    finally:
        close()
    data = report.to_dict()
    table = functools.partial(show_kinesis_replay, source=src.name)
    emit(data, output, table)
    if not dry_run:
        note(
            "at-least-once: a range delivered just before a crash is delivered again by the next run; our consumers "
            "are idempotent"
        )
    if report.failed_ranges:
        raise typer.Exit(1)


def show_kinesis_replay(d: dict, *, source: str) -> None:
    from opsctl.replay import kinesis as kr

    if d["soonest_expiry_s"] is not None:
        style = _LEVEL_STYLE.get(kr.expiry_level(d["soonest_expiry_s"]), "")
        out.print(f"[{style}]the soonest records expire from the stream in {_age(d['soonest_expiry_s'])}[/{style}]")
    if d["ranges"]:
        print_table(
            [Col("shard", key=True), Col("start", drop=2), Col("end", drop=1), Col("failure records")],
            [
                [safe(r["shard_id"]), safe(r["start"]), safe(r["end"]), fmt.number(r["failure_messages"])]
                for r in d["ranges"][:50]
            ],
            title="ranges (overlaps merged)",
        )
    if d["dry_run"]:
        out.print(
            f"dry run: {fmt.count(d['failure_messages'], 'failure record')} in {fmt.count(len(d['ranges']), 'range')}, "
            f"{fmt.number(len(d['expired']))} expired ({fmt.count(d['expired_records'], 'record')} gone); nothing "
            "replayed, "
            "every message visible again (each received once to look at it)"
        )
        return
    out.print(
        f"[bold]{safe(source)} → {d['via']}[/bold]: replayed {fmt.count(d['replayed_messages'], 'failure record')} "
        f"({fmt.count(d['records_delivered'], 'record')}), failed {fmt.number(d['failed'])}, skipped "
        f"{fmt.number(d['skipped'])}, "
        f"expired {fmt.number(len(d['expired']))} ({fmt.count(d['expired_records'], 'record')}, left in the queue)"
    )
    for f in d["failed_ranges"][:20]:
        out.print(
            f"  [red]failed[/red] {safe(f['shard_id'])} {safe(f['start'])}..{safe(f['end'])}: {safe(f['reason'])} "
            "(its failure records stay)"
        )
    for x in d["not_failure_records"][:20]:
        out.print(
            f"  [yellow]not a failure record[/yellow] {safe(x['message_id'])}: {safe(x['reason'])} (left in the queue)"
        )


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
        from opsctl.sandbox.runtime.invoker import sandbox_invoker

        invoke, role, close = sandbox_invoker(target, function_arn, state_dir=SANDBOX_DIR, zip_path=FUNCTIONS_ZIP)
    else:
        invoke, role, close = kr.lambda_invoker(target.client("lambda"), function_arn)
    return kr.InvokeDelivery(
        invoke, batch_size=int(src.mapping.get("BatchSize") or 100), role=role, region=target.region
    ), close


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")
    app.command(name="replay-dlq")(replay_dlq)
