"""An hour's aggregate of one device's readings: count, and per metric count/min/max/sum/avg. Pure.

Sums are exact Decimals (DynamoDB numbers are decimal strings): up to 38 significant digits, which is
what DynamoDB can store; the average is rounded to the same precision."""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

# DynamoDB's N type holds 38 significant digits; rounding (not raising) past that is what we want here.
CONTEXT = decimal.Context(
    prec=38, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation, decimal.DivisionByZero]
)


class MetricStats(NamedTuple):
    count: int
    min: Decimal
    max: Decimal
    sum: Decimal

    @property
    def avg(self) -> Decimal:
        return CONTEXT.divide(self.sum, Decimal(self.count))


class Aggregate(NamedTuple):
    count: int  # readings in the hour
    first_ts: int | None  # epoch ms of the earliest and latest reading
    last_ts: int | None
    metrics: dict[str, MetricStats]


def aggregate(readings: Iterable[tuple[int, dict[str, Decimal]]]) -> Aggregate:
    """The aggregate of (ts_ms, {metric: value}) readings; a metric absent from a reading is not counted there."""
    count, first, last = 0, None, None
    acc: dict[str, list] = {}  # name -> [count, min, max, sum]
    for ts, metrics in readings:
        count += 1
        first = ts if first is None or ts < first else first
        last = ts if last is None or ts > last else last
        for name, value in metrics.items():
            a = acc.get(name)
            if a is None:
                acc[name] = [1, value, value, value]
            else:
                a[0] += 1
                a[1] = value if value < a[1] else a[1]
                a[2] = value if value > a[2] else a[2]
                a[3] = CONTEXT.add(a[3], value)
    return Aggregate(count, first, last, {name: MetricStats(*a) for name, a in sorted(acc.items())})
