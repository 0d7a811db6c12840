"""CloudWatch GetMetricData in as few calls as the API allows: ≤500 queries per call, all pages.

Only plain MetricStat queries (no metric math, no SEARCH): the same code works on the sandbox, whose
CloudWatch (moto) has neither (docs/moto-gaps.md §CloudWatch). opsctl.core.metrics re-exports this module."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

MAX_QUERIES_PER_CALL = 500  # AWS: MetricDataQueries per GetMetricData request


@dataclass(frozen=True)
class MetricQuery:
    id: str  # [a-z][a-zA-Z0-9_]* (GetMetricData's rule)
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str  # Maximum, Sum, Average, ...
    period_s: int = 60

    def to_api(self) -> dict:
        return {
            "Id": self.id,
            "ReturnData": True,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
                },
                "Period": self.period_s,
                "Stat": self.stat,
            },
        }


@dataclass
class MetricResults:
    series: dict[str, list[tuple[dt.datetime, float]]] = field(default_factory=dict)
    calls: int = 0

    def values(self, qid: str) -> list[float]:
        return [v for _, v in self.series.get(qid, [])]

    def points(self, qid: str) -> list[tuple[dt.datetime, float]]:
        """(timestamp, value) pairs of `qid`, oldest first."""
        return sorted(self.series.get(qid, []), key=lambda p: p[0])

    def max(self, qid: str) -> float | None:
        vals = self.values(qid)
        return max(vals) if vals else None

    def total(self, qid: str) -> float | None:
        vals = self.values(qid)
        return sum(vals) if vals else None


def query_id(*parts: str) -> str:
    """A GetMetricData id from free text (lowercase start, only [a-zA-Z0-9_])."""
    raw = "_".join(parts)
    return "q_" + re.sub(r"[^a-zA-Z0-9_]", "_", raw)


def fetch(cloudwatch, queries: list[MetricQuery], start: dt.datetime, end: dt.datetime) -> MetricResults:
    """All datapoints of `queries` between start and end, in ceil(len/500) calls (plus any NextToken pages)."""
    results = MetricResults(series={q.id: [] for q in queries})
    # CloudWatch rounds StartTime down to the minute (periods of 60 s and more); moto does not, and an unaligned
    # start drops the first minute, so the "busiest minute" moved between two runs a minute apart
    start = whole_minute(start)
    for i in range(0, len(queries), MAX_QUERIES_PER_CALL):
        chunk = [q.to_api() for q in queries[i : i + MAX_QUERIES_PER_CALL]]
        token = None
        while True:
            kwargs = {"MetricDataQueries": chunk, "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending"}
            if token:
                kwargs["NextToken"] = token
            resp = cloudwatch.get_metric_data(**kwargs)
            results.calls += 1
            for r in resp.get("MetricDataResults", []):
                results.series.setdefault(r["Id"], []).extend(
                    zip(r.get("Timestamps", []), r.get("Values", []), strict=True)
                )
            token = resp.get("NextToken")
            if not token:
                break
    return results


def whole_minute(t: dt.datetime) -> dt.datetime:
    """`t` rounded down to its minute, as CloudWatch rounds a StartTime under 15 days old for one-minute periods."""
    return t.replace(second=0, microsecond=0)


_WINDOW = re.compile(r"^(\d+)\s*([smhd])$")
MAX_WINDOW = dt.timedelta(days=15)  # CloudWatch keeps 1-minute datapoints for 15 days


def parse_window(text: str) -> dt.timedelta:
    """'15m', '1h', '90s', '2d' → timedelta; ValueError for anything else."""
    m = _WINDOW.match(str(text).strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"bad window {text!r}: use a number and a unit: 90s, 15m, 1h, 2d")
    n, unit = int(m.group(1)), m.group(2)
    return dt.timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: n})
