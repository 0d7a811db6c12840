"""The report for people and scripts: Markdown, JSON, or one self-contained HTML file with inline SVG charts
(no scripts, no stylesheets or fonts from elsewhere: it opens from an e-mail attachment or a bucket)."""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re

from capacity_report.prices import MAX_PRICE_AGE_DAYS

# Control characters (ESC starts terminal escape sequences; someone may `cat` the file) and the Unicode characters
# that reorder or hide text: shown as visible \xNN / \uNNNN, like opsctl's terminal output, then HTML-escaped.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escape(value, quote: bool = True) -> str:
    """Text for the page: visible where it holds control or reordering characters, HTML-escaped."""
    shown = _UNSAFE.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", str(value)
    )
    return html.escape(shown, quote)


FORMATS = ("md", "json", "html")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def render(report: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"
    if fmt == "md":
        return to_markdown(report)
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")


def _money(v) -> str:
    return "n/a" if v is None else f"{v:,.2f}"


def _n(v) -> str:
    return "n/a" if v is None else f"{v:g}"


def table_rows(report: dict) -> list[list[str]]:
    """One row per table/index and dimension: what a person compares at a glance."""
    rows = []
    for t in report["tables"]:
        for d, x in t["dimensions"].items():
            a = x["autoscaling"]
            rows.append(
                [
                    t["resource"],
                    d,
                    t["billing_mode"],
                    _n(x["provisioned"]),
                    _n(x["peak_per_s"]),
                    _n(x["avg_per_s"]),
                    _n(x["peak_utilization_pct"]),
                    _n(x["throttled"]),
                    f"{a['min']}–{a['max']} @ {_n(a['target_pct'])}%" if a else "none",
                    str(t["decrease_quota"]["left_today"]),
                    _money(x["monthly_on_demand"]),
                    _money(x["monthly_provisioned_needed"]),
                    f"{x['break_even_utilization_pct']}%",
                    str(x["needed"]),
                ]
            )
    return rows


TABLE_HEADER = [
    "resource",
    "dim",
    "billing",
    "provisioned",
    "peak/s",
    "avg/s",
    "peak util %",
    "throttled",
    "auto scaling",
    "decreases left today",
    "on-demand $/mo",
    "provisioned $/mo (needed)",
    "break-even util",
    "needed",
]


def to_markdown(r: dict) -> str:
    out = [
        f"# Capacity report: {r['environment']}",
        "",
        f"Window {r['window']['start']} to {r['window']['end']} ({r['window']['seconds'] // 3600} h). "
        f"Prices: {r['prices']['region']}, {r['prices']['date']} ({r['prices']['file']}).",
        "",
    ]
    out += (
        ["## Recommendations", ""]
        + ([f"- {x}" for x in r["recommendations"]] or ["- none: keep everything as it is"])
        + [""]
    )
    if r["warnings"]:
        out += ["## Warnings", ""] + [f"- {w}" for w in r["warnings"]] + [""]
    if r["tables"]:
        out += ["## DynamoDB", "", "| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
        out += ["| " + " | ".join(row) + " |" for row in table_rows(r)] + [""]
        for t in r["tables"]:
            for reason in t["reasons"]:
                out.append(f"- {t['resource']}: {reason}")
        out.append("")
    s = r["stream"]
    if s:
        rec = s["recommendation"]
        out += [
            "## Kinesis and Lambda",
            "",
            f"- stream {s['resource']} ({s['mode']}): {s['open_shards']} open shards, {s['records_in_window']:,} "
            "records in the window, "
            f"busiest minute {rec['max_records_per_s']} rec/s and {rec['max_bytes_per_s']:,} B/s = "
            f"{s['peak_utilization_pct']}% of write capacity; "
            f"recommended {rec['target']} shards at {rec['headroom']:.0%} headroom (consumers need "
            f"≥{rec['consumer_floor']})",
        ]
        for c in s["consumers"]:
            out.append(
                f"- consumer {c['resource']}: max iterator age {_n(c['max_iterator_age_ms'])} ms, "
                f"batch {c['batch_size']}, parallelization {c['parallelization_factor']}"
            )
        for f in (r["lambda"] or {}).get("functions", []):
            out.append(
                f"- concurrency {f['function_name']}: needs {f['needed_now']} now, "
                f"{f['needed_at_recommended_shards']} at {rec['target']} shards; "
                f"reserved {_n(f['reserved'])}, account {_n(f['account_limit'])}"
            )
        out.append("")
    if r["queues"]:
        out += (
            ["## Queues", ""]
            + [
                f"- {q['resource']} ({q['label']}): {q['visible']} waiting, {q['in_flight']} in flight, "
                f"max {q['max_visible_in_window']} in the window"
                for q in r["queues"]
            ]
            + [""]
        )
    if r["notes"]:
        out += ["## Not read", ""] + [f"- {n}" for n in r["notes"]] + [""]
    return "\n".join(out)


# --- HTML with inline SVG -----------------------------------------------------------------------------

# Prices older than this many days get a warning at the top of the report: AWS changes prices a few times a year.
PRICES_STALE_AFTER_DAYS = MAX_PRICE_AGE_DAYS  # one threshold for the report's warning and the page's (days)
# A limit line is drawn to scale only while the data reaches at least this share of it; below that the limit
# would flatten the data to the baseline, so it is written above the chart instead.
LIMIT_TO_SCALE_MIN_SHARE = 0.2
CHART_VIEW_W, CHART_VIEW_H = 960, 240
_PL, _PR, _PT, _PB = 76, 16, 30, 34


def _t(iso: str) -> float:
    return dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


def human(value: float, unit: str) -> str:
    """An axis or cell value in a planner's units: `48 s` not `4.812e+04 ms`, `12.5k rec/s`, `3 msgs`."""
    if unit == "ms":
        v = value / 1000
        if v < 1:
            return f"{value:,.0f} ms"
        if v < 120:
            return f"{v:,.3g} s"
        if v < 7200:
            return f"{v / 60:,.3g} min"
        return f"{v / 3600:,.3g} h"
    if unit == "bytes/s":
        for u in ("B/s", "KiB/s", "MiB/s"):
            if abs(value) < 1024 or u == "MiB/s":
                return f"{value:,.3g} {u}"
            value /= 1024
    a = abs(value)
    text = f"{value / 1e6:,.3g}M" if a >= 1e6 else f"{value / 1e3:,.3g}k" if a >= 1e4 else f"{value:,.4g}"
    return f"{text} {unit}"


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


_TIME_STEPS = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400]


def _time_ticks(t0: float, t1: float) -> list[float]:
    step = next((s for s in _TIME_STEPS if (t1 - t0) / s <= 8), _TIME_STEPS[-1])
    first = math.ceil(t0 / step) * step
    return [first + i * step for i in range(int((t1 - first) // step) + 1)]


def _time_label(t: float, span: float) -> str:
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return d.strftime("%H:%M") if span <= 86400 else d.strftime("%m-%d %H:%M")


def svg_chart(
    title: str,
    resource: str,
    window: dict,
    series: dict[str, list],
    *,
    unit: str,
    lines: dict[str, float] | None = None,
) -> str:
    """A line chart of `series` ({label: [[iso, value], ...]}) over the window: time ticks, gridlines, values in
    human units, and `lines` (limits) drawn to scale only when they do not flatten the data."""
    t0, t1 = _t(window["start"]), _t(window["end"])
    span = max(t1 - t0, 1)
    merged: dict[float, list[str]] = {}
    for label, value in (lines or {}).items():
        if value is not None:
            merged.setdefault(value, []).append(label)
    # equal limits (provisioned read = write) are one line with one label, not two labels on top of each other
    lines = {" = ".join(labels): value for value, labels in merged.items()}
    data_top = max([v for pts in series.values() for _, v in pts] + [0.0])
    to_scale = {k: v for k, v in lines.items() if data_top >= LIMIT_TO_SCALE_MIN_SHARE * v}
    off_scale = {k: v for k, v in lines.items() if k not in to_scale}
    top = max([data_top, *to_scale.values()]) * 1.1 or 1.0
    step = _nice_step(top)
    top = math.ceil(top / step) * step
    w, h = CHART_VIEW_W - _PL - _PR, CHART_VIEW_H - _PT - _PB
    e = _escape

    def x(t: float) -> float:
        return _PL + w * (t - t0) / span

    def y(v: float) -> float:
        return _PT + h - h * v / top

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {CHART_VIEW_W} {CHART_VIEW_H}" data-resource="{e(resource)}">'
        f"<title>{e(title)}</title>",
        f'<text x="{_PL}" y="18" font-size="14" font-weight="bold">{e(title)}</text>',
    ]
    v = 0.0
    while v <= top + step / 2:
        parts.append(
            f'<line class="grid" x1="{_PL}" y1="{y(v):.1f}" x2="{_PL + w}" y2="{y(v):.1f}" stroke="#e3e3e3"/>'
            f'<text x="{_PL - 6}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">{e(human(v, unit))}</text>'
        )
        v += step
    for t in _time_ticks(t0, t1):
        parts.append(
            f'<line class="grid" x1="{x(t):.1f}" y1="{_PT}" x2="{x(t):.1f}" y2="{_PT + h}" stroke="#eeeeee"/>'
            f'<text class="tick" x="{x(t):.1f}" y="{_PT + h + 16}" font-size="11" text-anchor="middle">'
            f"{e(_time_label(t, span))}</text>"
        )
    parts += [
        f'<line x1="{_PL}" y1="{_PT + h}" x2="{_PL + w}" y2="{_PT + h}" stroke="#888"/>',
        f'<line x1="{_PL}" y1="{_PT}" x2="{_PL}" y2="{_PT + h}" stroke="#888"/>',
        f'<text x="{_PL + w}" y="{CHART_VIEW_H - 4}" font-size="11" text-anchor="end" fill="#555">time (UTC), '
        f"{e(window['start'])} to {e(window['end'])}</text>",
    ]
    for label, value in to_scale.items():
        parts.append(
            f'<line class="limit" x1="{_PL}" y1="{y(value):.1f}" x2="{_PL + w}" y2="{y(value):.1f}" stroke="#b00" '
            f'stroke-dasharray="6 4"/><text x="{_PL + w - 4}" y="{y(value) - 4:.1f}" font-size="11" '
            f'text-anchor="end" fill="#b00">{e(label)} {e(human(value, unit))}</text>'
        )
    for i, (label, value) in enumerate(off_scale.items()):
        share = 100 * data_top / value if value else 0
        peak = (
            ""
            if not data_top
            else f" (the data peaks at {share:.2g}% of it)"
            if share >= 1
            else " (the data peaks below 1% of it)"
        )
        parts.append(
            f'<text class="limit-off-scale" x="{_PL + w}" y="{_PT - 4 + 12 * i}" font-size="11" text-anchor="end" '
            f'fill="#b00">{e(label)} {e(human(value, unit))}: off the scale{peak}</text>'
        )
    drawn = 0
    for i, (label, pts) in enumerate(series.items()):
        # one group per series (its legend and its line), so a reader or a test can tell which series has data
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f'<g class="series" data-series="{e(label)}">')
        parts.append(f'<text x="{_PL + 8 + 170 * i}" y="{_PT + 14}" font-size="11" fill="{colour}">{e(label)}</text>')
        if len(pts) == 1:
            parts.append(f'<circle cx="{x(_t(pts[0][0])):.1f}" cy="{y(pts[0][1]):.1f}" r="3" fill="{colour}"/>')
        elif pts:
            points = " ".join(f"{x(_t(t)):.1f},{y(v):.1f}" for t, v in pts)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{points}"/>')
        parts.append("</g>")
        drawn += len(pts)
    if not drawn:
        parts.append(
            f'<text x="{_PL + w / 2:.0f}" y="{_PT + h / 2:.0f}" font-size="13" text-anchor="middle" fill="#888">'
            "no datapoints in the window</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def charts(r: dict) -> list[tuple[str, str]]:
    """(resource, svg) for every resource in the report: utilisation, lag or queue depth over the window."""
    out = []
    for t in r["tables"]:
        d = t["dimensions"]
        lines = {f"provisioned {k}": d[k]["provisioned"] for k in ("read", "write")}
        out.append(
            (
                t["resource"],
                svg_chart(
                    f"{t['resource']}: consumed capacity",
                    t["resource"],
                    r["window"],
                    {"read units/s": t["series"]["read"], "write units/s": t["series"]["write"]},
                    unit="units/s",
                    lines=lines,
                ),
            )
        )
    s = r["stream"]
    if s:
        out.append(
            (
                s["resource"],
                svg_chart(
                    f"{s['resource']}: incoming records",
                    s["resource"],
                    r["window"],
                    {"records/s": s["series"]["records_per_s"]},
                    unit="rec/s",
                    lines={"shard write limit": s["capacity_records_per_s"]},
                ),
            )
        )
        for c in s["consumers"]:
            out.append(
                (
                    c["resource"],
                    svg_chart(
                        f"{c['resource']}: lag (iterator age)",
                        c["resource"],
                        r["window"],
                        {"iterator age": c["series"]["iterator_age_ms"]},
                        unit="ms",
                    ),
                )
            )
    for q in r["queues"]:
        out.append(
            (
                q["resource"],
                svg_chart(
                    f"{q['resource']}: queue depth",
                    q["resource"],
                    r["window"],
                    {"messages visible": q["series"]["depth"]},
                    unit="msgs",
                ),
            )
        )
    return out


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;font-size:12px;margin:.5em 0 1em;max-width:100%}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right;vertical-align:top}"
    "th{background:#f3f3f3;white-space:normal}td:first-child,th:first-child{text-align:left;word-break:break-all}"
    "td.t{text-align:left}.warn{color:#b00}.stale{background:#fff3f3;border:1px solid #b00;padding:.5em}"
    "figure{margin:0 0 1.2em 0}svg.chart{width:100%;height:auto;max-width:960px;display:block}"
)


def _cost_now_and_after(t: dict) -> tuple[float | None, float | None]:
    """A table's monthly cost today and after its recommendation (USD, both at the window's average load)."""
    dims = t["dimensions"].values()
    if t["billing_mode"] == "PAY_PER_REQUEST":
        now = t["monthly_cost"]["on_demand"]
    else:
        cur = [d.get("monthly_provisioned_current") for d in dims]
        now = None if None in cur else sum(cur)
    after = {
        "keep": now,
        "switch_to_on_demand": t["monthly_cost"]["on_demand"],
    }.get(t["action"], t["monthly_cost"]["provisioned_at_needed"])
    return now, after


def recommendation_rows(r: dict) -> list[list[str]]:
    """resource, change, $/month now, after, saving: one row per recommended change."""
    rows = []
    for t in r["tables"]:
        if t["action"] == "keep":
            continue
        now, after = _cost_now_and_after(t)
        change = t["action"].replace("_", " ") + ": " + ", ".join(f"{k}={v}" for k, v in t["changes"].items())
        saving = None if now is None or after is None else now - after
        rows.append([t["resource"], change, _money(now), _money(after), _money(saving)])
    s = r["stream"]
    if s and s["recommendation"]["target"] != s["open_shards"] and s.get("monthly_cost_shards") is not None:
        per_shard = s["monthly_cost_shards"] / max(s["open_shards"], 1)
        target = s["recommendation"]["target"]
        rows.append(
            [
                s["resource"],
                f"reshard {s['open_shards']} → {target} shards (opsctl reshard --to {target})",
                _money(s["monthly_cost_shards"]),
                _money(per_shard * target),
                _money(s["monthly_cost_shards"] - per_shard * target),
            ]
        )
    return rows


def cost_rows(r: dict) -> list[list[str]]:
    """resource, billing, $/month now: every resource the report prices."""
    rows = [[t["resource"], t["billing_mode"].lower(), _money(_cost_now_and_after(t)[0])] for t in r["tables"]]
    s = r["stream"]
    if s:
        rows.append(
            [s["resource"], f"{s['mode'].lower()}, {s['open_shards']} shards", _money(s.get("monthly_cost_shards"))]
        )
    return rows


def _td(cell: str) -> str:
    # numbers line up on the right, words read from the left
    numeric = (
        cell.replace(",", "").replace(".", "").replace("%", "").replace("$", "").replace("-", "").strip().isdigit()
    )
    return f"<td>{_escape(cell)}</td>" if numeric or cell in ("n/a", "none") else f'<td class="t">{_escape(cell)}</td>'


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    e = _escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_td(str(c)) for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _prices_age_days(r: dict) -> int | None:
    try:
        priced = dt.date.fromisoformat(str(r["prices"]["date"]))
        generated = dt.datetime.strptime(r["generated_at"][:10], "%Y-%m-%d").date()
    except (KeyError, ValueError, TypeError):
        return None
    return (generated - priced).days


def to_html(r: dict) -> str:
    e = _escape
    p = r["prices"]
    body = [
        f"<h1>Capacity report: {e(r['environment'])}</h1>",
        f"<p>Window {e(r['window']['start'])} to {e(r['window']['end'])} (UTC). Prices: {e(str(p['region']))}, "
        f"as of {e(str(p['date']))} ({e(str(p['file']))}); monthly = 730 hours at the window's average load.</p>",
    ]
    age = _prices_age_days(r)
    if age is not None and age > PRICES_STALE_AFTER_DAYS:
        body.append(
            f'<p class="stale">The prices are {age} days old (from {e(str(p["date"]))}, more than '
            f"{PRICES_STALE_AFTER_DAYS} days): check the costs against the current AWS price list for "
            f"{e(str(p['region']))}.</p>"
        )
    body.append("<h2>Recommendations</h2>")
    rec_rows = recommendation_rows(r)
    if rec_rows:
        body.append(_html_table(["resource", "change", "$/month now", "$/month after", "saving $/month"], rec_rows))
    body += ["<ul>"] + (
        [f"<li>{e(x)}</li>" for x in r["recommendations"]] or ["<li>none: keep everything as it is</li>"]
    )
    body.append("</ul>")
    if r["warnings"]:
        body += ["<h2>Warnings</h2><ul>"] + [f'<li class="warn">{e(w)}</li>' for w in r["warnings"]] + ["</ul>"]
    body += ["<h2>Cost per resource</h2>", _html_table(["resource", "billing", "$/month"], cost_rows(r))]
    if r["tables"]:
        body += ["<h2>DynamoDB</h2>", _html_table(TABLE_HEADER, table_rows(r))]
        reasons = [f"<li>{e(t['resource'])}: {e(x)}</li>" for t in r["tables"] for x in t["reasons"]]
        if reasons:
            body += ["<ul>", *reasons, "</ul>"]
    s = r["stream"]
    if s:
        rec = s["recommendation"]
        body += [
            "<h2>Kinesis and Lambda</h2>",
            _html_table(
                [
                    "stream",
                    "mode",
                    "open shards",
                    "records in window",
                    "busiest minute",
                    "peak of write capacity",
                    "recommended shards",
                    "consumers need",
                ],
                [
                    [
                        s["resource"],
                        s["mode"].lower(),
                        str(s["open_shards"]),
                        f"{s['records_in_window']:,}",
                        f"{human(rec['max_records_per_s'], 'rec/s')}, {human(rec['max_bytes_per_s'], 'bytes/s')}",
                        f"{s['peak_utilization_pct']}%",
                        f"{rec['target']} (shards filled to at most {rec['headroom']:.0%} of their write limits)",
                        f"≥ {rec['consumer_floor']}",
                    ]
                ],
            ),
        ]
        for reason in rec.get("held_because") or []:
            body.append(f'<p class="warn">{e(reason)}</p>')
        if s["consumers"]:
            body.append(
                _html_table(
                    ["consumer", "max iterator age", "batch size", "parallelization"],
                    [
                        [
                            c["resource"],
                            "n/a" if c["max_iterator_age_ms"] is None else human(c["max_iterator_age_ms"], "ms"),
                            str(c["batch_size"]),
                            str(c["parallelization_factor"]),
                        ]
                        for c in s["consumers"]
                    ],
                )
            )
        functions = (r["lambda"] or {}).get("functions", [])
        if functions:
            body.append(
                _html_table(
                    ["function", "concurrency now", f"at {rec['target']} shards", "reserved", "account limit"],
                    [
                        [
                            f["function_name"],
                            str(f["needed_now"]),
                            str(f["needed_at_recommended_shards"]),
                            _n(f["reserved"]),
                            _n(f["account_limit"]),
                        ]
                        for f in functions
                    ],
                )
            )
    if r["queues"]:
        body += [
            "<h2>Queues</h2>",
            _html_table(
                ["queue", "role", "visible now", "in flight", "max visible in window"],
                [
                    [q["resource"], q["label"], str(q["visible"]), str(q["in_flight"]), str(q["max_visible_in_window"])]
                    for q in r["queues"]
                ],
            ),
        ]
    if r["notes"]:
        body += ["<h2>Not read</h2><ul>"] + [f"<li>{e(n)}</li>" for n in r["notes"]] + ["</ul>"]
    body.append("<h2>Charts</h2>")
    for resource, svg in charts(r):
        body.append(f'<figure data-resource="{e(resource)}">{svg}</figure>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Capacity report {e(r['environment'])} {e(r['generated_at'])}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
