"""The report for people and scripts: Markdown, JSON, or one self-contained HTML file with inline SVG charts
(no scripts, no stylesheets or fonts from elsewhere: it opens from an e-mail attachment or a bucket)."""

from __future__ import annotations

import datetime as dt
import html
import json

FORMATS = ("md", "json", "html")
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
CHART_W, CHART_H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 200, 60, 28, 24, 12


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
            f"- stream {s['resource']} ({s['mode']}): {s['open_shards']} open shards, {s['records_in_window']:,} records in the window, "
            f"busiest minute {rec['max_records_per_s']} rec/s and {rec['max_bytes_per_s']:,} B/s = {s['peak_utilization_pct']}% of write capacity; "
            f"recommended {rec['target']} shards at {rec['headroom']:.0%} headroom (consumers need ≥{rec['consumer_floor']})",
        ]
        for c in s["consumers"]:
            out.append(
                f"- consumer {c['resource']}: max iterator age {_n(c['max_iterator_age_ms'])} ms, "
                f"batch {c['batch_size']}, parallelization {c['parallelization_factor']}"
            )
        for f in (r["lambda"] or {}).get("functions", []):
            out.append(
                f"- concurrency {f['function_name']}: needs {f['needed_now']} now, {f['needed_at_recommended_shards']} at "
                f"{rec['target']} shards; reserved {_n(f['reserved'])}, account {_n(f['account_limit'])}"
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


def _t(iso: str) -> float:
    return dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


def svg_chart(
    title: str,
    resource: str,
    window: dict,
    series: dict[str, list],
    *,
    unit: str,
    lines: dict[str, float] | None = None,
) -> str:
    """A line chart of `series` ({label: [[iso, value], ...]}) over the window, with optional horizontal `lines`."""
    t0, t1 = _t(window["start"]), _t(window["end"])
    lines = {k: v for k, v in (lines or {}).items() if v is not None}
    top = max([v for pts in series.values() for _, v in pts] + list(lines.values()) + [0.0])
    top = top * 1.1 or 1.0
    w, h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B

    def xy(t: float, v: float) -> str:
        return f"{PAD_L + w * (t - t0) / max(t1 - t0, 1):.1f},{PAD_T + h - h * v / top:.1f}"

    e = html.escape
    parts = [
        f'<svg class="chart" role="img" width="{CHART_W}" height="{CHART_H}" '
        f'viewBox="0 0 {CHART_W} {CHART_H}" data-resource="{e(resource)}"><title>{e(title)}</title>',
        f'<text x="{PAD_L}" y="16" font-size="13" font-weight="bold">{e(title)}</text>',
        f'<line x1="{PAD_L}" y1="{PAD_T + h}" x2="{PAD_L + w}" y2="{PAD_T + h}" stroke="#888"/>',
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{PAD_T + h}" stroke="#888"/>',
        f'<text x="{PAD_L - 4}" y="{PAD_T + 4}" font-size="10" text-anchor="end">{top:,.4g}</text>',
        f'<text x="{PAD_L - 4}" y="{PAD_T + h}" font-size="10" text-anchor="end">0</text>',
        f'<text x="4" y="{PAD_T + h / 2:.0f}" font-size="10">{e(unit)}</text>',
        f'<text x="{PAD_L}" y="{CHART_H - 6}" font-size="10">{e(window["start"])}</text>',
        f'<text x="{PAD_L + w}" y="{CHART_H - 6}" font-size="10" text-anchor="end">{e(window["end"])}</text>',
    ]
    for i, (label, value) in enumerate(lines.items()):
        y = PAD_T + h - h * value / top
        parts.append(
            f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{PAD_L + w}" y2="{y:.1f}" stroke="#999" stroke-dasharray="4 3"/>'
            f'<text x="{PAD_L + w - 2}" y="{y - 3:.1f}" font-size="10" text-anchor="end">{e(label)} {value:,.4g}</text>'
        )
    drawn = 0
    for i, (label, pts) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        parts.append(
            f'<text x="{PAD_L + 8 + 150 * i}" y="{PAD_T + 12}" font-size="10" fill="{colour}">{e(label)}</text>'
        )
        if len(pts) == 1:
            x, y = xy(_t(pts[0][0]), pts[0][1]).split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
        elif pts:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(xy(_t(t), v) for t, v in pts)}"/>'
            )
        drawn += len(pts)
    if not drawn:
        parts.append(
            f'<text x="{PAD_L + w / 2:.0f}" y="{PAD_T + h / 2:.0f}" font-size="12" text-anchor="middle" fill="#888">'
            f"no datapoints in the window</text>"
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
                        {"iterator age ms": c["series"]["iterator_age_ms"]},
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
                    unit="messages",
                    lines={"now": q["visible"]} if q["visible"] else None,
                ),
            )
        )
    return out


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;font-size:12px}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"
    ".warn{color:#b00}figure{margin:0 0 1em 0}"
)


def to_html(r: dict) -> str:
    e = html.escape
    body = [
        f"<h1>Capacity report: {e(r['environment'])}</h1>",
        f"<p>Window {e(r['window']['start'])} to {e(r['window']['end'])}. Prices: {e(str(r['prices']['region']))}, "
        f"{e(str(r['prices']['date']))} ({e(str(r['prices']['file']))}).</p>",
        "<h2>Recommendations</h2><ul>",
    ]
    body += [f"<li>{e(x)}</li>" for x in r["recommendations"]] or ["<li>none: keep everything as it is</li>"]
    body.append("</ul>")
    if r["warnings"]:
        body += ["<h2>Warnings</h2><ul>"] + [f'<li class="warn">{e(w)}</li>' for w in r["warnings"]] + ["</ul>"]
    if r["tables"]:
        body.append("<h2>DynamoDB</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in TABLE_HEADER) + "</tr>")
        body += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in table_rows(r)]
        body.append("</table>")
    md = to_markdown(r)
    body.append("<h2>Charts</h2>")
    for resource, svg in charts(r):
        body.append(f'<figure data-resource="{e(resource)}">{svg}</figure>')
    body.append(f"<h2>Details</h2><pre>{e(md)}</pre>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Capacity report {e(r['environment'])} {e(r['generated_at'])}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
