"""`opsctl status`, `opsctl iterator-age`, `opsctl reshard`: what on-call reaches for when a stream falls behind."""

from __future__ import annotations

from typing import Annotated

import typer

from opsctl.cli import fmt
from opsctl.cli.options import OutputOpt
from opsctl.cli.render import Col, OutputFormat, emit, err, interrupted, note, out, print_table, safe
from opsctl.core.errors import OpsError


def _unreadable(d: dict) -> list[str]:
    """`part: error` for every part of the status screen that could not be read."""
    parts = [("stream", d["stream"]), ("mappings", d["mappings"]), ("table", d["table"]), ("alarms", d["alarms"])]
    parts += [(f"queue {q.get('queue') or q.get('output')}", q) for q in d["queues"]]
    return [f"{name}: {p['error']}" for name, p in parts if isinstance(p, dict) and "error" in p]


def show_status(d: dict) -> None:
    unreadable = "[red]unreadable[/red]"
    s = d["stream"]
    if "error" in s:
        out.print(f"[bold]stream[/bold]: {unreadable} ({safe(s['error'])})")
    else:
        out.print(
            f"[bold]stream[/bold] {safe(s['name'])}: {safe(s['status'])}, {safe(s['mode'])}, "
            f"{fmt.count(s['open_shards'], 'open shard')}, "
            f"retention {fmt.count(s['retention_hours'], 'hour')}, encryption {safe(s['encryption'])}"
        )
    mappings = d["mappings"] if isinstance(d["mappings"], list) else []
    if isinstance(d["mappings"], dict):
        out.print(f"[bold]mappings[/bold]: {unreadable} ({safe(d['mappings']['error'])})")
    if mappings:
        print_table(
            [
                Col("function", key=True),
                Col("state"),
                Col("batch"),
                Col("window", drop=3),
                Col("parallel", drop=2),
                Col("retries", drop=4),
                Col("max age", drop=5),
                Col("bisect", drop=6),
                Col("on failure", drop=1),
                Col("mapping", drop=7),
            ],
            [
                [
                    safe(m["function"]),
                    safe(m["state"]),
                    fmt.number(m["batch_size"]),
                    fmt.duration(m["batching_window_s"]),
                    fmt.number(m["parallelization_factor"]),
                    "forever" if m["maximum_retry_attempts"] in (None, -1) else fmt.number(m["maximum_retry_attempts"]),
                    "forever" if m["maximum_record_age_s"] in (None, -1) else fmt.duration(m["maximum_record_age_s"]),
                    fmt.yes_no(m["bisect"]),
                    safe(m["on_failure"].rsplit(":", 1)[-1]) if m["on_failure"] else "[red]none[/red]",
                    safe(m["uuid"]),
                ]
                for m in mappings
            ],
        )
    rows = []
    for x in d["queues"]:
        if "error" in x:
            rows.append([safe(x.get("queue") or x.get("output") or "?"), unreadable, "", "", "", "", safe(x["error"])])
            continue
        rows.append(
            [
                safe(x["queue"]),
                fmt.number(x["visible"]),
                fmt.number(x["in_flight"]),
                "n/a" if x["oldest_age_s"] is None else fmt.duration(x["oldest_age_s"]),
                fmt.duration(x["retention_s"]),
                "DLQ" if x.get("is_dlq") else ("yes" if x["has_dlq"] else "no"),
                "",
            ]
        )
    if rows:
        print_table(
            [
                Col("queue", key=True),
                Col("visible", justify="right"),
                Col("in flight", justify="right"),
                Col("oldest"),
                Col("retention", drop=2),
                Col("has DLQ", drop=1),
                Col("error", drop=3),
            ],
            rows,
        )
    tb = d["table"]
    if "error" in tb:
        out.print(f"[bold]table[/bold]: {unreadable} ({safe(tb['error'])})")
    else:
        cap = (
            ""
            if tb["billing_mode"] != "PROVISIONED"
            else f", {fmt.number(tb['read_capacity'])} RCU / {fmt.number(tb['write_capacity'])} WCU"
        )
        out.print(
            f"[bold]table[/bold] {safe(tb['name'])}: {safe(tb['status'])}, {safe(tb['billing_mode'])}{cap}, "
            f"~{fmt.count(tb['item_count'], 'item')}"
        )
    alarms = d["alarms"]
    if isinstance(alarms, dict):
        out.print(f"[bold]alarms[/bold]: {unreadable} ({safe(alarms['error'])})")
    elif alarms:
        out.print(f"[bold red]{fmt.count(len(alarms), 'alarm')} in ALARM[/bold red]")
        for a in alarms:
            out.print(f"  {safe(a['name'])} (since {fmt.utc(a.get('since'))}): {safe(a['reason'])}")
    else:
        out.print("[bold]alarms[/bold]: none in ALARM")


def status(ctx: typer.Context, output: OutputOpt = OutputFormat.table) -> None:
    """One screen: the stream, its event source mappings, the queues (the rollup DLQ included), the table, and alarms
    in ALARM.

    A part that cannot be read is marked unreadable and the command exits 1 with one `error:` line; when nothing
    can be read (no credentials, an unreachable endpoint) only the error line is printed.

    Examples:
      opsctl status
      opsctl --env prod status --output json | jq '.queues[] | {queue, visible, oldest_age_s}'"""
    from opsctl.monitoring import status as st

    data = st.collect(ctx.obj.stack())
    unreadable = _unreadable(data)
    readable = (
        "error" not in data["stream"]
        or "error" not in data["table"]
        or not isinstance(data["alarms"], dict)
        or any("error" not in q for q in data["queues"])
    )
    if unreadable and not readable:
        raise OpsError(unreadable[0].split(": ", 1)[1])
    emit(data, output, show_status)
    if unreadable:
        raise OpsError(
            f"status is partial: {len(unreadable)} of its parts could not be read ({unreadable[0]})", exit_code=1
        )


def iterator_age(
    ctx: typer.Context,
    window: Annotated[str, typer.Option(help="how far back to look: 90s, 15m, 1h, 2d")] = "15m",
    warn_ms: Annotated[
        int | None,
        typer.Option("--warn-ms", help="WARNING at this iterator age, milliseconds (default: the alarm's)", min=0),
    ] = None,
    crit_ms: Annotated[
        int | None,
        typer.Option("--crit-ms", help="CRITICAL at this iterator age, milliseconds (default: the alarm's)", min=0),
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """How far behind each consumer of the stream is, how long until data is lost, and whether it catches up.

    Exit status as monitoring plugins: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (metrics unreadable or no consumer).
    Thresholds default to the ones the iterator-age alarm uses (terraform/catalog/monitors.json:
    ingest_iterator_age_warning/_critical).

    Examples:
      opsctl iterator-age --window 15m
      opsctl iterator-age --window 1h --warn-ms 30000 --crit-ms 600000 --output json"""
    from opsctl.core import metrics
    from opsctl.monitoring import thresholds
    from opsctl.stream import iterator_age as ia

    span = metrics.parse_window(window)
    default_warn, default_crit = thresholds.iterator_age_ms()
    stack = ctx.obj.stack()
    t = stack.target
    report = ia.check(
        kinesis=t.client("kinesis"),
        lambda_client=t.client("lambda"),
        cloudwatch=t.client("cloudwatch"),
        stream=stack.get("stream_name"),
        window=span,
        warn_ms=default_warn if warn_ms is None else warn_ms,
        crit_ms=default_crit if crit_ms is None else crit_ms,
    )
    data = report.to_dict()
    emit(data, output, show_iterator_age)
    raise typer.Exit(int(report.level))


def show_iterator_age(d: dict) -> None:
    out.print(
        f"[bold]{safe(d['level'])}[/bold] stream {safe(d['stream'])}: GetRecords.IteratorAgeMilliseconds max "
        f"{fmt.duration_ms(d['stream_get_records_iterator_age_ms'])}, incoming "
        f"{fmt.rate(d['incoming_records_per_s'] or 0)}, "
        f"retention {fmt.count(d['retention_hours'], 'hour')} (window {fmt.duration(d['window_s'])}; "
        f"warn {fmt.duration_ms(d['thresholds_ms']['warning'])}, crit "
        f"{fmt.duration_ms(d['thresholds_ms']['critical'])})"
    )
    rows = []
    for c in d["consumers"]:
        loss = (
            "n/a"
            if c["time_to_data_loss_ms"] is None
            else f"{fmt.duration_ms(c['time_to_data_loss_ms'])} ({safe(c['data_loss_by'])})"
        )
        catch = (
            "falling behind"
            if c["falling_behind"]
            else ("n/a" if c["catch_up_s"] is None else fmt.duration(c["catch_up_s"]))
        )
        rows.append(
            [
                safe(c["function_name"]),
                safe(c["level"]),
                fmt.duration_ms(c["iterator_age_ms"]) + _reading_age(c),
                fmt.rate(c["processed_records_per_s"] or 0),
                loss,
                catch,
            ]
        )
    if rows:
        print_table(
            [
                Col("consumer", key=True),
                Col("level"),
                Col("iterator age"),
                Col("processed", drop=2),
                Col("to data loss", drop=1),
                Col("catch-up", drop=3),
            ],
            rows,
        )
    for c in d["consumers"]:
        out.print(f"{safe(c['function_name'])}: {safe(c['reason'])}")
        for item in c["lint"]:
            out.print(f"  [yellow]lint[/yellow]: {safe(item)}")
    if not d["consumers"]:
        out.print("no event source mapping reads this stream (UNKNOWN)")


def _reading_age(c: dict) -> str:
    """How old the newest datapoint is: a CloudWatch reading is never shown as if it were current."""
    age = c.get("reading_age_s")
    if age is None:
        return ""
    return f" ([yellow]{fmt.duration(age)} old, stale[/yellow])" if c.get("stale") else f" ({fmt.duration(age)} old)"


_SIGN = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": "≥",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "≤",
}


def show_monitors(d: dict) -> None:
    from opsctl.monitoring import monitors as mon

    if d["error"]:
        out.print(f"[bold red]UNKNOWN[/bold red]: {safe(d['error'])}")
        return
    rows = []
    for m in d["monitors"]:
        colour = {"ALARM": "red", "OK": "green"}.get(m["state"], "yellow")
        rows.append(
            [
                safe(m["id"]),
                f"[{colour}]{safe(m['state'])}[/{colour}]",
                safe(mon.format_value(m["value"], m["unit"])),
                f"{_SIGN[m['comparison']]} {safe(mon.format_value(m['threshold'], m['unit']))}",
                f"{m['breaching_periods']}/{m['datapoints_to_alarm']} of {m['evaluation_periods']}",
                safe(m["severity"]),
                safe(m["cloudwatch_alarm_state"] or "-"),
                safe(m["runbook"]),
            ]
        )
    print_table(
        [
            Col("monitor", key=True),
            Col("state"),
            Col("value"),
            Col("threshold"),
            Col("breaching", drop=3),
            Col("severity", drop=2),
            Col("alarm", drop=4),
            Col("runbook", drop=1),
        ],
        rows,
    )
    for m in d["monitors"]:
        if m["state"] == "ALARM":
            out.print(
                f"[bold red]ALARM[/bold red] {safe(m['id'])} ({safe(m['severity'])}): {safe(m['reason'])} "
                f"→ {safe(m['runbook'])}"
            )
    if d["not_applicable"]:
        note(f"not in this environment: {safe(', '.join(d['not_applicable']))}")
    note(
        f"{fmt.count(len(d['monitors']), 'monitor')} evaluated in "
        f"{fmt.count(d['get_metric_data_calls'], 'GetMetricData call')}"
    )


def monitors(
    ctx: typer.Context,
    monitor: Annotated[
        list[str] | None, typer.Option("--monitor", "-m", help="evaluate only this catalog id (repeatable)")
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Evaluate every catalog monitor against CloudWatch metrics, as its alarm would, and print its runbook.

    Each monitor of terraform/catalog/monitors.json whose resources the environment has: its statistic and
    period over its last evaluation_periods periods, ALARM when datapoints_to_alarm of them breach the
    threshold (unit in the catalog key), missing periods as treat_missing_data says; ratio monitors are
    100 x metric / denominator per period. Next to it, the CloudWatch alarm's own state when the alarm exists
    (on the sandbox moto never evaluates alarms, so this command is the only judge there).

    Exit status as monitoring plugins: 0 all OK, 1 a warning monitor in ALARM, 2 a critical one, 3 metrics unreadable.

    Examples:
      opsctl monitors
      opsctl monitors --monitor ingest_iterator_age_warning --output json
      opsctl --env prod monitors"""
    from opsctl.monitoring import monitors as mon

    stack = ctx.obj.stack()
    report = mon.evaluate(stack.target.client("cloudwatch"), stack.outputs, only=monitor)
    data = report.to_dict()
    emit(data, output, show_monitors)
    raise typer.Exit(report.exit_code)


def reshard(
    ctx: typer.Context,
    to: Annotated[int | None, typer.Option("--to", help="target open shard count (1–10,000)")] = None,
    recommend: Annotated[
        bool, typer.Option("--recommend", help="derive the target from the busiest minute of the window")
    ] = False,
    window: Annotated[str, typer.Option(help="with --recommend: how far back to look (90s, 15m, 1h, 2d)")] = "1h",
    headroom: Annotated[
        float, typer.Option(help="with --recommend: fill shards to at most this share of their write limits (0–1]")
    ] = 0.7,
    apply_: Annotated[
        bool, typer.Option("--apply", hidden=True, help="no longer needed: applying is the default")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the plan and change nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="apply the plan without asking")] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Change the stream's open shard count in steps AWS accepts, verify each, and record the count for Terraform.

    Plans first: each UpdateShardCount step stays within ≤2× and ≥½ of the open count, within 10,000 shards per
    stream and the account quota; AWS allows 10 calls per stream per rolling 24 h. Interrupted, run it again: it
    plans from the open count that is there. Afterwards `ingest_shard_count` is written to the environment's
    opsctl.auto.tfvars.json so `terraform plan` shows no change to the stream.

    Like every command that changes something: it shows the plan, --dry-run changes nothing, and it asks before
    applying unless --yes (with --to N and with --recommend alike).

    Examples:
      opsctl reshard --recommend --window 1h --dry-run      # the busiest minute's count, at 70% of the write limits
      opsctl reshard --to 4 --dry-run                       # the UpdateShardCount steps to 4 shards
      opsctl reshard --to 4 --yes"""
    from opsctl.stream import reshard as rs

    if apply_ and not recommend:
        raise OpsError("--apply goes with --recommend only, and is no longer needed", hint="drop it")
    request = rs.Request(to=to, recommend=recommend, window=window, headroom=headroom)
    request.check()  # every argument before the first AWS call
    settings = ctx.obj
    stack = settings.stack()
    job = rs.prepare(stack, request)
    the_plan, stream = job.plan, job.stream

    if dry_run or not the_plan.steps:
        if not the_plan.steps and not dry_run:
            rs.record_count(stack.env, job, the_plan.current)
        emit(job.to_dict(), output, show_reshard)
        if not the_plan.steps:
            note(f"nothing to do: {stream} already has {the_plan.current} open shards")
        elif dry_run:
            note("dry run: nothing changed; drop --dry-run to apply")
        if job.terraform is not None:
            _say_recorded(settings.env, job.terraform, the_plan.current)
        return
    if output == OutputFormat.table:
        show_reshard(job.to_dict())
    if not yes:
        if not err.is_terminal:
            raise OpsError(
                "refusing to reshard without confirmation on a non-interactive terminal",
                hint="add --yes (or --dry-run to only plan)",
            )
        if not typer.confirm(f"apply {fmt.count(len(the_plan.steps), 'step')} to {stream}?", err=True):
            raise OpsError("not applied: nothing changed", exit_code=1)
    with err.status("resharding") as status_line:

        def progress(r):
            note(
                f"step {r.step}/{len(the_plan.steps)}: {fmt.count(r.open_after, 'open shard')} "
                f"(verified with list_shards, {fmt.duration(r.seconds)})"
            )

        try:
            rs.carry_out(stack, job, progress=progress, waiting=status_line.update)
        except KeyboardInterrupt:
            done = len(job.applied)
            raise interrupted(
                f"{done} of {fmt.count(len(the_plan.steps), 'step')} applied and verified"
                + (f" ({fmt.count(job.applied[-1].open_after, 'open shard')} now)" if done else ""),
                "a step already sent to AWS still completes there; run the same command again: it plans from the "
                "open count",
            ) from None
    _say_recorded(settings.env, job.terraform, the_plan.target)
    if output == OutputFormat.json:
        emit(job.to_dict(), output, lambda _: None)


def show_reshard(d: dict) -> None:
    p = d["plan"]
    if d["recommendation"]:
        r = d["recommendation"]
        out.print(
            f"recommend {fmt.count(r['target'], 'shard')}: busiest minute {fmt.rate(r['max_records_per_s'])} and "
            f"{fmt.size(r['max_bytes_per_s'])}/s → {fmt.number(r['by_records'])} by records, "
            f"{fmt.number(r['by_bytes'])} "
            f"by bytes, filling shards to at most {fmt.percent(r['headroom'] * 100)} of their write limits; "
            f"consumers need ≥{fmt.number(r['consumer_floor'])}"
        )
        for reason in r.get("held_because") or []:
            out.print(f"  [yellow]held[/yellow]: {safe(reason)}")
        for fn, c in r["implied_concurrency"].items():
            out.print(
                f"  {safe(fn)}: Lambda concurrency {fmt.number(c)} at {fmt.count(r['target'], 'shard')} "
                f"× parallelization {r['parallelization'][fn]}"
            )
    out.print(
        f"stream {safe(p['stream'])}: {fmt.count(p['current_open_shards'], 'open shard')} → "
        f"{fmt.number(p['target'])} in {fmt.count(p['calls'], 'UpdateShardCount call')} "
        f"(minimum possible: {fmt.number(p['minimum_calls'])})"
    )
    if p["steps"]:
        print_table(
            [Col("step", key=True), Col("from"), Col("to"), Col("×")],
            [[str(s["step"]), fmt.number(s["from"]), fmt.number(s["to"]), f"{s['factor']}"] for s in p["steps"]],
        )
    for w in p["warnings"]:
        note(f"warning: {w}")


def _say_recorded(env: str, rec, count: int) -> None:
    if rec.written:
        note(
            f"recorded ingest_shard_count = {count} in {rec.path}: `terraform plan` shows no change to the stream"
            + ("" if env == "local" else " (commit this file)")
        )
    else:
        note(f"could not write {rec.path}: add {rec.line} to the environment's variables so Terraform agrees")


def register(app: typer.Typer) -> None:
    app.command(name="status")(status)
    app.command(name="iterator-age")(iterator_age)
    app.command(name="monitors")(monitors)
    app.command(name="reshard")(reshard)
