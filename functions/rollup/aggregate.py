"""An hour's aggregate of one device's readings: count, and per metric count/min/max/sum/avg. Pure.

Sums are exact Decimals (DynamoDB numbers are decimal strings): up to 38 significant digits, which is
what DynamoDB can store; the average is rounded to the same precision.

Two bounds keep every aggregate storable (docs/architecture.md, "Rollups table item"):
- DynamoDB numbers lie within ±9.9999999999999999999999999999999999999E+125 (and 1E-130 is the smallest
  magnitude). Every reading is within that range, but a sum need not be (two readings of 9e125). A sum outside
  it is `None` (the item then has no `sum`; the API says `null`); count, min, max and avg, which always lie
  within the readings' range, stay exact. A magnitude below 1E-130 is stored as 0.
- One item is at most 400 KB. A device-hour keeps the first MAX_METRICS_PER_HOUR metric names (in time order,
  names of one reading in sorted order) and counts the distinct names beyond in `dropped_metrics`: at 64-byte
  names and 38-digit values an item stays under ~60 KB whatever a device sends."""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

# DynamoDB's N type holds 38 significant digits; rounding (not raising) past that is what we want here.
CONTEXT = decimal.Context(
    prec=38, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation, decimal.DivisionByZero]
)
MAX_METRICS_PER_HOUR = 256  # 4 × the 64 names one reading may carry (ingest.validate)
DYNAMODB_MAX_NUMBER = Decimal("9.9999999999999999999999999999999999999E+125")
DYNAMODB_MIN_MAGNITUDE = Decimal("1E-130")


def storable(value: Decimal) -> Decimal | None:
    """`value` as DynamoDB can store it: 38 digits, magnitudes below 1E-130 as 0, None beyond its range."""
    value = CONTEXT.plus(value)
    if abs(value) > DYNAMODB_MAX_NUMBER:
        return None
    if value and abs(value) < DYNAMODB_MIN_MAGNITUDE:
        return Decimal(0)
    return value


class MetricStats(NamedTuple):
    count: int  # type: ignore[assignment]  # the field hides tuple.count(), which nothing here calls
    min: Decimal
    max: Decimal
    sum: Decimal  # exact (38 digits); may lie outside DynamoDB's range: see `stored_sum`

    @property
    def avg(self) -> Decimal:
        return storable(CONTEXT.divide(self.sum, Decimal(self.count))) or Decimal(0)

    @property
    def stored_sum(self) -> Decimal | None:
        """The sum if DynamoDB can store it, else None."""
        return storable(self.sum)


class Aggregate(NamedTuple):
    count: int  # type: ignore[assignment]  # readings in the hour (hides tuple.count(), which nothing calls)
    first_ts: int | None  # epoch ms of the earliest and latest reading
    last_ts: int | None
    metrics: dict[str, MetricStats]
    dropped_metrics: int = 0  # distinct metric names beyond MAX_METRICS_PER_HOUR, not aggregated


def aggregate(readings: Iterable[tuple[int, dict[str, Decimal]]]) -> Aggregate:
    """The aggregate of (ts_ms, {metric: value}) readings; a metric absent from a reading is not counted there."""
    count, first, last = 0, None, None
    acc: dict[str, list] = {}  # name -> [count, min, max, sum]
    dropped: set[str] = set()
    for ts, metrics in sorted(readings, key=lambda r: r[0]):  # time order: which names are kept is deterministic
        count += 1
        first = ts if first is None or ts < first else first
        last = ts if last is None or ts > last else last
        for name in sorted(metrics):
            value = metrics[name]
            a = acc.get(name)
            if a is None:
                if len(acc) >= MAX_METRICS_PER_HOUR:
                    dropped.add(name)
                    continue
                acc[name] = [1, value, value, value]
            else:
                a[0] += 1
                a[1] = value if value < a[1] else a[1]
                a[2] = value if value > a[2] else a[2]
                a[3] = CONTEXT.add(a[3], value)
    return Aggregate(count, first, last, {name: MetricStats(*a) for name, a in sorted(acc.items())}, len(dropped))
