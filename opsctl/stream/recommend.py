"""A shard count for the stream from what it carried: the busiest minute of the window against the
per-shard write limits with headroom, never below what its consumers need to keep up.

The implementation is functions/capacity_report/stream.py, shared with `opsctl capacity` and the scheduled
capacity report; this module binds it to a stack."""

from __future__ import annotations

import datetime as dt

from capacity_report import stream as streams
from capacity_report.stream import consumer_floor  # noqa: F401 - re-exported
from opsctl.core import metrics
from opsctl.core.errors import InvalidArgument
from opsctl.stream.reshard import Recommendation


def recommend(stack, *, window: str, headroom: float, now: dt.datetime | None = None) -> Recommendation:
    t = stack.target
    span = metrics.parse_window(window)
    end = now or dt.datetime.now(dt.UTC)
    if not 0 < headroom <= 1:
        raise InvalidArgument(f"{{headroom}} must be in (0, 1], got {headroom}", arguments=["headroom"])
    obs = streams.observe(
        t.client("kinesis"), t.client("lambda"), t.client("cloudwatch"), stack.get("stream_name"), end - span, end
    )
    return streams.recommend(obs, headroom)
