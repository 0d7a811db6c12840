"""`opsctl capacity` and `opsctl report`: right-size DynamoDB, the stream and Lambda before an event, and
the report that says every morning where the pipeline stands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from opsctl.cli import fmt
from opsctl.cli.options import OutputOpt
from opsctl.cli.render import Col, OutputFormat, emit, err, note, out, print_table, safe
from opsctl.core.errors import OpsError

PricesOpt = Annotated[
    str | None,
    typer.Option(
        "--prices",
        envvar="CAPACITY_PRICES_FILE",
        help="prices JSON (region, date, source, prices); default functions/capacity_report/prices.json",
    ),
]


def _window(text: str) -> dt.timedelta:
    """--window as a span, refused in the user's own terms when CloudWatch cannot answer it at one-minute resolution."""
    from capacity_report.metrics import MAX_WINDOW
    from opsctl.core import metrics

    span = metrics.parse_window(text)
    if span > MAX_WINDOW:
        raise OpsError(
            f"--window {text} is longer than {MAX_WINDOW.days} days",
            hint=f"CloudWatch keeps one-minute datapoints for {MAX_WINDOW.days} days",
        )
    if span.total_seconds() < 60:
        raise OpsError(
            f"--window {text} is shorter than one minute", hint="CloudWatch's datapoints here are one minute"
        )
    return span


def _check_headroom(headroom: float) -> None:
    if not 0 < headroom <= 1:
        raise OpsError(
            f"--headroom {headroom:g} is not a share of the write limits",
            hint="between 0 and 1, e.g. 0.7 = fill to 70%",
        )


def capacity(
    ctx: typer.Context,
    window: Annotated[str, typer.Option(help="how far back to look: 6h, 1d, 7d (at most 15d: one-minute data)")] = "7d",
    table: Annotated[
        list[str] | None,
        typer.Option("--table", help="DynamoDB table to size (repeatable; default: the environment's tables)"),
    ] = None,
    headroom: Annotated[
        float, typer.Option(help="fill shards to at most this share of their write limits at the busiest minute (0–1]")
    ] = 0.7,
    target_pct: Annotated[
        float | None,
        typer.Option(
            "--target-pct",
            help="table utilisation target in percent, 20–90 (default: the auto scaling target, else 70)",
        ),
    ] = None,
    prices: PricesOpt = None,
    apply_: Annotated[
        bool,
        typer.Option("--apply", help="make the recommended table changes live (shows the plan, asks unless --yes)"),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="with --apply: show the plan of changes and change nothing")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="apply the plan without asking")] = False,
    write_capacity: Annotated[
        int | None,
        typer.Option(
            "--write-capacity",
            help="with --apply: set the readings table PROVISIONED at this many WCU instead of the recommendation",
        ),
    ] = None,
    read_capacity: Annotated[
        int | None,
        typer.Option("--read-capacity", help="with --apply: as --write-capacity, for the read capacity units"),
    ] = None,
    on_demand: Annotated[
        bool,
        typer.Option("--on-demand", help="with --apply: switch the readings table to on demand (AWS: 4 times a day)"),
    ] = False,
    prepare_event: Annotated[
        bool, typer.Option("--prepare-event", help="plan for a known peak (with --at and --expect); changes nothing")
    ] = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="with --prepare-event: when the peak starts (2026-12-24T18:00Z, or 'in 3h')"),
    ] = None,
    expect: Annotated[
        float | None, typer.Option("--expect", help="with --prepare-event: the peak's records per second")
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Capacity of DynamoDB (per table and GSI), the stream and Lambda: used vs provisioned, cost, and what to change.

    Per table and index: consumed vs provisioned read/write capacity (peak and average per second over the window),
    throttled requests, auto scaling min/max/target, decreases left today (4 a UTC day plus one an hour), the monthly
    cost on demand vs provisioned and the break-even utilisation. A recommendation never spends more decreases than
    are left. The stream gets the shard count `opsctl reshard --recommend` computes; Lambda the concurrency that count
    needs (shards × parallelization factor) against reserved and account concurrency.

    Examples:

      opsctl capacity                             # the last 7 days, every table
      opsctl capacity --window 1d --table readings --output json
      opsctl capacity --apply --dry-run           # the changes it would make
      opsctl capacity --apply --yes               # apply them, record them in Terraform variables
      opsctl capacity --apply --yes --write-capacity 50   # this capacity instead of the recommendation
      opsctl capacity --prepare-event --at 2026-12-24T18:00Z --expect 5000
    """
    from opsctl.capacity import planner as cap

    if prepare_event and (at is None or expect is None):
        raise OpsError(
            "--prepare-event needs --at TIME and --expect RATE", hint="e.g. --prepare-event --at 'in 3h' --expect 2000"
        )
    if (at is not None or expect is not None) and not prepare_event:
        raise OpsError("--at and --expect go with --prepare-event")
    if prepare_event and apply_:
        raise OpsError("--prepare-event only plans; apply its steps, or drop it to --apply the recommendation")
    if yes and not apply_:
        raise OpsError("--yes goes with --apply (without --apply, capacity changes nothing)")
    explicit = write_capacity is not None or read_capacity is not None or on_demand
    if explicit and not apply_:
        raise OpsError("--write-capacity, --read-capacity and --on-demand go with --apply")
    if on_demand and (write_capacity is not None or read_capacity is not None):
        raise OpsError("--on-demand takes no capacity: drop --write-capacity / --read-capacity, or --on-demand")
    if target_pct is not None and not 20 <= target_pct <= 90:
        raise OpsError(
            f"--target-pct {target_pct:g} must be from 20 to 90 (percent utilisation)",
            hint="the target tracking range Application Auto Scaling accepts",
        )
    if expect is not None and expect <= 0:
        raise OpsError(f"--expect {expect:g} records/s is not a rate", hint="e.g. --expect 2000")
    _check_headroom(headroom)
    span = _window(window)
    if explicit:
        # A capacity given by hand: no report to read, one change to the readings table.
        stack = ctx.obj.stack()
        change = cap.explicit_change(
            stack, table[-1] if table else None, write=write_capacity, read=read_capacity, on_demand=on_demand
        )
        _apply(
            stack,
            [change],
            {"report": None, "plan": [change.to_dict()], "applied": [], "terraform": []},
            output,
            dry_run,
            yes,
        )
        return
    cap.load_prices(prices)  # a bad --prices is one error line before any AWS call
    stack = ctx.obj.stack()
    the_prices = cap.load_prices(prices, stack.target.region)
    sc = cap.scope(stack, table, headroom=headroom, target_pct=target_pct)
    now = dt.datetime.now(dt.UTC)
    with err.status(f"reading {len(sc.tables)} table(s), the stream and its consumers over {window}"):
        report = cap.build(stack, sc, window=span, prices=the_prices, now=now)
    if prepare_event:
        assert at is not None and expect is not None  # --prepare-event without them is refused above
        when = cap.parse_at(at, now)
        data: dict[str, Any] = {
            "report": report,
            "prepare_event": cap.prepare_event(
                stack, report, at=when, expect_records_per_s=expect, headroom=headroom, now=now, prices=the_prices
            ),
        }
        emit(data, output, lambda d: _show_event(d["prepare_event"]))
        return
    plan = cap.plan_changes(stack, report) if apply_ else []
    data = {"report": report, "plan": [c.to_dict() for c in plan], "applied": [], "terraform": []}
    if not apply_:
        emit(data, output, lambda d: _show_capacity(d["report"]))
        return
    if output == OutputFormat.table:
        _show_capacity(report)
    _apply(stack, plan, data, output, dry_run, yes)


def _apply(stack, plan: list, data: dict, output: OutputFormat, dry_run: bool, yes: bool) -> None:
    """Shows the plan, asks (unless --yes), makes each change live and records it in the Terraform variables."""
    from opsctl.capacity import planner as cap

    if output == OutputFormat.table:
        _show_plan(data["plan"])
    if dry_run and plan:
        if output == OutputFormat.json:
            emit(data, output, lambda _: None)
        note(f"dry run: nothing changed; {fmt.count(len(plan), 'change')} planned (drop --dry-run to apply)")
        return
    if not plan:
        note("nothing to apply: every table fits its load")
        if output == OutputFormat.json:
            emit(data, output, lambda _: None)
        return
    if not yes:
        if not err.is_terminal:
            raise OpsError(
                "refusing to change capacity without confirmation on a non-interactive terminal",
                hint="add --yes (or drop --apply to only plan)",
            )
        if not typer.confirm(f"apply {fmt.count(len(plan), 'change')}?", err=True):
            raise OpsError("not applied: nothing changed", exit_code=1)
    from opsctl.core import tfvars

    for c in plan:
        with err.status(f"{c.resource}: {c.action}"):
            data["applied"].append(cap.apply_change(stack, c))
        note(f"{c.resource}: {c.action.replace('_', ' ')} done ({data['applied'][-1]})")
        if c.untracked:
            note(f"warning: {c.resource}: {c.untracked}")
            continue
        for name, value in c.tfvars.items():
            rec = tfvars.record(stack.env, name, value)
            data["terraform"].append(rec.to_dict())
            if rec.written:
                note(
                    f"recorded {name} = {value} in {rec.path}" + ("" if stack.env == "local" else " (commit this file)")
                )
            else:
                note(f"could not write {rec.path}: add {rec.line} to the environment's variables so Terraform agrees")
    if output == OutputFormat.json:
        emit(data, output, lambda _: None)


def _show_capacity(r: dict) -> None:
    if r["tables"]:
        rows = []
        for x in r["tables"]:
            for d, v in x["dimensions"].items():
                a = v["autoscaling"]
                rows.append(
                    [
                        safe(x["resource"]),
                        d,
                        x["billing_mode"].replace("PAY_PER_REQUEST", "on-demand").lower(),
                        fmt.number(v["provisioned"]),
                        fmt.number(v["peak_per_s"]),
                        fmt.number(v["avg_per_s"]),
                        fmt.number(v["throttled"]),
                        f"{a['min']}–{a['max']} at {a['target_pct']:g}%" if a else "-",
                        fmt.number(x["decrease_quota"]["left_today"]),
                        fmt.money(v["monthly_on_demand"]),
                        fmt.money(v["monthly_provisioned_needed"]),
                        fmt.number(v["needed"]),
                    ]
                )
        print_table(
            [
                Col("table / index", key=True),
                Col("dim"),
                Col("billing", drop=4),
                Col("prov."),
                Col("peak/s"),
                Col("avg/s", drop=5),
                Col("throttled", drop=3),
                Col("auto scaling", drop=6),
                Col("decr. left", drop=7),
                Col("on-demand /mo", drop=2),
                Col("prov. /mo", drop=1),
                Col("needed"),
            ],
            rows,
            title=f"DynamoDB over {fmt.duration(r['window']['seconds'])}",
        )
        be = r["tables"][0]["dimensions"]["write"]["break_even_utilization_pct"]
        out.print(f"break-even: provisioned is cheaper above {be}% average utilisation")
        for x in r["tables"]:
            for reason in x["reasons"]:
                out.print(f"{safe(x['resource'])}: {safe(reason)}")
    s = r["stream"]
    if s:
        rec = s["recommendation"]
        out.print(
            f"[bold]stream[/bold] {safe(s['resource'])}: {fmt.count(s['open_shards'], 'shard')}, busiest minute "
            f"{fmt.rate(rec['max_records_per_s'])} ({s['peak_utilization_pct']}% of write capacity) → recommended "
            f"{fmt.number(rec['target'])}, filling shards to at most {fmt.percent(rec['headroom'] * 100)} of their "
            "write limits"
        )
        for f in (r["lambda"] or {}).get("functions", []):
            out.print(
                f"[bold]lambda[/bold] {f['function_name']}: concurrency {f['needed_now']} now, "
                f"{f['needed_at_recommended_shards']} at "
                f"{rec['target']} shards (reserved {f['reserved'] if f['reserved'] is not None else 'none'}, "
                f"account {f['account_limit'] if f['account_limit'] is not None else 'unknown'})"
            )
    out.print("[bold]recommendations[/bold]: " + ("none" if not r["recommendations"] else ""))
    for x in r["recommendations"]:
        out.print(f"  {safe(x)}")
    for w in r["warnings"]:
        note(f"warning: {w}")
    for n in r["notes"]:
        note(f"not read: {n}")
    note(f"prices: {r['prices']['region']} {r['prices']['date']} ({r['prices']['file']})")


def _show_plan(plan: list[dict]) -> None:
    if not plan:
        return
    print_table(
        [Col("resource", key=True), Col("action"), Col("changes"), Col("decreases", drop=2), Col("terraform", drop=1)],
        [
            [
                safe(c["resource"]),
                safe(c["action"].replace("_", " ")),
                safe(fmt.pairs(c["changes"])),
                fmt.number(c["decreases"]),
                safe(c["untracked"] or ", ".join(c["tfvars"])),
            ]
            for c in plan
        ],
        title="plan",
    )


def _show_event(p: dict) -> None:
    out.print(
        f"[bold]prepare for {p['expect_records_per_s']:g} records/s at {safe(p['at'])}[/bold] "
        f"(≈{p['avg_record_bytes']:g} B per record)"
    )
    for i, s in enumerate(p["steps"], 1):
        out.print(f"{i}. {safe(s['what'])}")
        if s["command"]:
            out.print(f"   {safe(s['command'])}")
    if p["terraform"]:
        out.print("Terraform values (opsctl.auto.tfvars.json):")
        for k, v in p["terraform"].items():
            out.print(f"  {safe(k)} = {safe(v)}")
    if p.get("cost"):
        _show_event_cost(p["cost"])
    for w in p["warnings"]:
        note(f"warning: {safe(w)}")


def _quantity(q: float) -> str:
    return f"{q:,.0f}" if float(q).is_integer() else f"{q:,.4f}"


def _show_event_cost(cost: dict) -> None:
    from capacity_report.event_cost import summary_line

    for bill in (cost["ours"], cost["design"]):
        out.print(summary_line(bill), markup=False, highlight=False)
    out.print(f"  one put per record costs {cost['design_over_ours']:.1f}× ours; our items:", highlight=False)
    for i in cost["ours"]["items"]:
        out.print(
            f"  {i['service']} {i['item']}: ${i['cost']:.5f} = {_quantity(i['quantity'])} {i['unit']} × "
            f"${i['unit_price']:g} per {i['per']:,.0f}  ({i['inputs']})",
            markup=False,
            highlight=False,
        )
    out.print("  assumed: " + "; ".join(cost["assumed"]), markup=False, highlight=False)


def report(
    ctx: typer.Context,
    window: Annotated[str, typer.Option(help="how far back to look: 6h, 1d, 7d (at most 15d)")] = "1d",
    fmt_: Annotated[
        str, typer.Option("--format", "-f", help="md, json or html (one self-contained file with charts)")
    ] = "md",
    file: Annotated[
        Path | None, typer.Option("--file", help="write the report to this file instead of stdout", dir_okay=False)
    ] = None,
    old_out: Annotated[Path | None, typer.Option("--out", hidden=True)] = None,
    headroom: Annotated[
        float, typer.Option(help="fill shards to at most this share of their write limits, for the stream (0–1]")
    ] = 0.7,
    prices: PricesOpt = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """The capacity report: per resource utilisation, throttles, lag, queue depth, cost and recommendations.

    The same report the scheduled `capacity_report` function stores in the reports bucket every day. --output json
    is the report as one JSON document (the same as --format json); --file writes any format to a file.

    Examples:
      opsctl report                                    # Markdown on stdout, the last day
      opsctl report --format html --file build/reports/capacity.html
      opsctl --env prod report --window 7d --output json | jq .recommendations
    """
    from capacity_report import render
    from opsctl.capacity import planner as cap

    if old_out is not None:
        raise OpsError("--out is now --file (so it is not one letter from --output)", hint=f"use --file {old_out}")
    if fmt_ not in render.FORMATS:
        raise OpsError(f"bad --format {fmt_!r}", hint=f"use one of {', '.join(render.FORMATS)}")
    if output == OutputFormat.json:
        if fmt_ not in ("md", "json"):
            raise OpsError(f"--output json and --format {fmt_} disagree", hint="give one of them")
        fmt_ = "json"
    _check_headroom(headroom)
    span = _window(window)
    cap.load_prices(prices)  # a bad --prices is one error line before any AWS call
    stack = ctx.obj.stack()
    the_prices = cap.load_prices(prices, stack.target.region)
    sc = cap.scope(stack, None, headroom=headroom, target_pct=None)
    with err.status(f"building the capacity report over {window}"):
        doc = cap.build(stack, sc, window=span, prices=the_prices)
    text = render.render(doc, fmt_)
    if file is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
    except OSError as exc:
        raise OpsError(f"cannot write {file}: {exc.strerror}") from None
    note(f"wrote {file} ({fmt.size(len(text.encode()))}, {fmt.count(len(doc['recommendations']), 'recommendation')})")


def register(app: typer.Typer) -> None:
    app.command(name="capacity")(capacity)
    app.command(name="report")(report)
