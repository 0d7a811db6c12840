"""`opsctl capacity` and `opsctl report`: right-size DynamoDB, the stream and Lambda before an event, and
the report that says every morning where the pipeline stands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from opsctl.cli.options import OutputOpt
from opsctl.cli.render import OutputFormat, emit, err, note, out
from opsctl.core.errors import OpsError

PricesOpt = Annotated[
    str | None,
    typer.Option(
        "--prices",
        envvar="CAPACITY_PRICES_FILE",
        help="prices JSON (region, date, source, prices); default functions/capacity_report/prices.json",
    ),
]


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
        bool, typer.Option("--apply", help="make the recommended table changes live (plans first, asks unless --yes)")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask before applying")] = False,
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

      opsctl capacity                             # the last 7 days, every table of the environment
      opsctl capacity --window 1d --table readings --output json
      opsctl capacity --apply                     # show the plan, ask, apply, record in Terraform variables
      opsctl capacity --prepare-event --at 2026-12-24T18:00Z --expect 5000
    """
    from opsctl.capacity import planner as cap
    from opsctl.core import metrics

    if prepare_event and (at is None or expect is None):
        raise OpsError(
            "--prepare-event needs --at TIME and --expect RATE", hint="e.g. --prepare-event --at 'in 3h' --expect 2000"
        )
    if (at is not None or expect is not None) and not prepare_event:
        raise OpsError("--at and --expect go with --prepare-event")
    if prepare_event and apply_:
        raise OpsError("--prepare-event only plans; apply its steps, or drop it to --apply the recommendation")
    span = metrics.parse_window(window)
    the_prices = cap.load_prices(prices)
    stack = ctx.obj.stack()
    sc = cap.scope(stack, table, headroom=headroom, target_pct=target_pct)
    now = dt.datetime.now(dt.UTC)
    with err.status(f"reading {len(sc.tables)} table(s), the stream and its consumers over {window}"):
        report = cap.build(stack, sc, window=span, prices=the_prices, now=now)
    if prepare_event:
        when = cap.parse_at(at, now)
        data = {
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
        _show_plan(data["plan"])
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
        if not typer.confirm(f"apply {len(plan)} change(s)?", err=True):
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
        t = Table(
            "table / index",
            "dim",
            "billing",
            "prov.",
            "peak/s",
            "avg/s",
            "throttled",
            "auto scaling",
            "decr. left",
            "$/mo on-demand",
            "$/mo prov.",
            "needed",
            box=None,
            title=f"DynamoDB over {r['window']['seconds'] // 3600} h",
        )
        for x in r["tables"]:
            for d, v in x["dimensions"].items():
                a = v["autoscaling"]
                t.add_row(
                    x["resource"],
                    d,
                    x["billing_mode"].replace("PAY_PER_REQUEST", "on-demand").lower(),
                    _n(v["provisioned"]),
                    _n(v["peak_per_s"]),
                    _n(v["avg_per_s"]),
                    _n(v["throttled"]),
                    f"{a['min']}–{a['max']}@{a['target_pct']:g}%" if a else "-",
                    str(x["decrease_quota"]["left_today"]),
                    f"{v['monthly_on_demand']:.2f}",
                    f"{v['monthly_provisioned_needed']:.2f}",
                    str(v["needed"]),
                )
        out.print(t)
        be = r["tables"][0]["dimensions"]["write"]["break_even_utilization_pct"]
        out.print(f"break-even: provisioned is cheaper above {be}% average utilisation")
        for x in r["tables"]:
            for reason in x["reasons"]:
                out.print(f"{x['resource']}: {reason}")
    s = r["stream"]
    if s:
        rec = s["recommendation"]
        out.print(
            f"[bold]stream[/bold] {s['resource']}: {s['open_shards']} shards, busiest minute {rec['max_records_per_s']} rec/s "
            f"({s['peak_utilization_pct']}% of write capacity) → recommended {rec['target']} at {rec['headroom']:.0%} headroom"
        )
        for f in (r["lambda"] or {}).get("functions", []):
            out.print(
                f"[bold]lambda[/bold] {f['function_name']}: concurrency {f['needed_now']} now, {f['needed_at_recommended_shards']} at "
                f"{rec['target']} shards (reserved {f['reserved'] if f['reserved'] is not None else 'none'}, "
                f"account {f['account_limit'] if f['account_limit'] is not None else 'unknown'})"
            )
    out.print("[bold]recommendations[/bold]: " + ("none" if not r["recommendations"] else ""))
    for x in r["recommendations"]:
        out.print(f"  {x}")
    for w in r["warnings"]:
        note(f"warning: {w}")
    for n in r["notes"]:
        note(f"not read: {n}")
    note(f"prices: {r['prices']['region']} {r['prices']['date']} ({r['prices']['file']})")


def _n(v) -> str:
    return "-" if v is None else f"{v:g}"


def _show_plan(plan: list[dict]) -> None:
    if not plan:
        return
    t = Table("resource", "action", "changes", "decreases", "terraform", box=None, title="plan")
    for c in plan:
        t.add_row(
            c["resource"],
            c["action"],
            ", ".join(f"{k}={v}" for k, v in c["changes"].items()),
            str(c["decreases"]),
            c["untracked"] or ", ".join(c["tfvars"]),
        )
    out.print(t)


def _show_event(p: dict) -> None:
    out.print(
        f"[bold]prepare for {p['expect_records_per_s']:g} records/s at {p['at']}[/bold] (≈{p['avg_record_bytes']:g} B per record)"
    )
    for i, s in enumerate(p["steps"], 1):
        out.print(f"{i}. {s['what']}")
        if s["command"]:
            out.print(f"   {s['command']}")
    if p["terraform"]:
        out.print("Terraform values (opsctl.auto.tfvars.json):")
        for k, v in p["terraform"].items():
            out.print(f"  {k} = {v}")
    if p.get("cost"):
        _show_event_cost(p["cost"])
    for w in p["warnings"]:
        note(f"warning: {w}")


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
    window: Annotated[str, typer.Option(help="how far back to look: 6h, 1d, 7d")] = "1d",
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="md, json or html (one self-contained file with charts)")
    ] = "md",
    out_path: Annotated[Path | None, typer.Option("--out", help="write the report here instead of stdout")] = None,
    headroom: Annotated[float, typer.Option(help="shard headroom for the stream recommendation (0–1]")] = 0.7,
    prices: PricesOpt = None,
) -> None:
    """The capacity report: per resource utilisation, throttles, lag, queue depth, cost and recommendations.

    The same report the scheduled `capacity_report` function stores in the reports bucket every day.

    Examples:

      opsctl report                                    # Markdown on stdout, the last day
      opsctl report --format html --out build/reports/capacity.html
      opsctl --env prod report --window 7d --format json | jq .recommendations
    """
    from capacity_report import render
    from opsctl.capacity import planner as cap
    from opsctl.core import metrics

    if fmt not in render.FORMATS:
        raise OpsError(f"bad --format {fmt!r}", hint=f"use one of {', '.join(render.FORMATS)}")
    span = metrics.parse_window(window)
    the_prices = cap.load_prices(prices)
    stack = ctx.obj.stack()
    sc = cap.scope(stack, None, headroom=headroom, target_pct=None)
    with err.status(f"building the capacity report over {window}"):
        doc = cap.build(stack, sc, window=span, prices=the_prices)
    text = render.render(doc, fmt)
    if out_path is None:
        print(text, end="")
        return
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(text)
    except OSError as exc:
        raise OpsError(f"cannot write {out_path}: {exc.strerror}") from None
    note(f"wrote {out_path} ({len(text.encode()):,} bytes, {len(doc['recommendations'])} recommendation(s))")


def register(app: typer.Typer) -> None:
    app.command(name="capacity")(capacity)
    app.command(name="report")(report)
