"""CloudWatch GetMetricData in as few calls as the API allows: ≤500 queries per call, all pages.

The implementation lives in functions/capacity_report/metrics.py (the scheduled report uses it too).

Only plain MetricStat queries (no metric math, no SEARCH): the same code works on the sandbox, whose
CloudWatch (moto) has neither (docs/moto-gaps.md §CloudWatch)."""

from __future__ import annotations

import datetime as dt

from capacity_report import metrics as _shared
from capacity_report.metrics import (
    MAX_QUERIES_PER_CALL,
    MetricQuery,
    MetricResults,
    fetch,
    query_id,
    whole_minute,
)

# What the shared implementation gives opsctl (re-exported), and what this module adds to it.
__all__ = ["MAX_QUERIES_PER_CALL", "MetricQuery", "MetricResults", "fetch", "parse_window", "query_id", "whole_minute"]


def parse_window(text: str) -> dt.timedelta:
    """'15m', '1h', '90s', '2d' → timedelta; anything else is a clear error."""
    from opsctl.core.errors import InvalidArgument

    try:
        return _shared.parse_window(text)
    except ValueError:
        raise InvalidArgument(
            f"bad {{window}} {text!r}", hint="use a number and a unit: 90s, 15m, 1h, 2d", arguments=["window"]
        ) from None
