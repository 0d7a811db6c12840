"""A shard count for the stream from what it carried: the busiest minute of the window against the
per-shard write limits with headroom, never below what its consumers need to keep up."""

from __future__ import annotations

import datetime as dt
import math

from opsctl import metrics
from opsctl.iterator_age import consumers_of
from opsctl.reshard import Recommendation, open_shards, recommend_shards


def consumer_floor(peak_records_per_s: float, avg_duration_ms: float | None, batch_size: int, parallelization: int) -> int:
    """Shards a consumer needs: one execution handles ≈ batch_size records per Duration; a shard runs `parallelization` of them."""
    if not avg_duration_ms or peak_records_per_s <= 0:
        return 1
    concurrency = math.ceil(peak_records_per_s * (avg_duration_ms / 1000.0) / max(batch_size, 1))
    return max(1, math.ceil(concurrency / max(parallelization, 1)))


def recommend(stack, *, window: str, headroom: float, now: dt.datetime | None = None) -> Recommendation:
    t = stack.target
    stream = stack.get("stream_name")
    kinesis, cw = t.client("kinesis"), t.client("cloudwatch")
    span = metrics.parse_window(window)
    end = now or dt.datetime.now(dt.timezone.utc)
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    consumers = consumers_of(t.client("lambda"), arn)
    sdim = (("StreamName", stream),)
    queries = [metrics.MetricQuery("bytes", "AWS/Kinesis", "IncomingBytes", sdim, "Sum"),
               metrics.MetricQuery("records", "AWS/Kinesis", "IncomingRecords", sdim, "Sum")]
    queries += [metrics.MetricQuery(f"dur_{i}", "AWS/Lambda", "Duration", (("FunctionName", c.function_name),), "Average")
                for i, c in enumerate(consumers)]
    res = metrics.fetch(cw, queries, end - span, end)
    max_bytes, max_records = res.max("bytes") or 0.0, res.max("records") or 0.0
    floors = [consumer_floor(max_records / 60, res.max(f"dur_{i}"), c.batch_size, c.parallelization_factor) for i, c in enumerate(consumers)]
    floor = max(floors, default=1)
    target, by_bytes, by_records = recommend_shards(max_bytes_per_min=max_bytes, max_records_per_min=max_records,
                                                    headroom=headroom, consumer_floor=floor)
    return Recommendation(current=len(open_shards(kinesis, stream)), target=target, max_bytes_per_s=max_bytes / 60,
                          max_records_per_s=max_records / 60, headroom=headroom, by_bytes=by_bytes, by_records=by_records,
                          consumer_floor=floor, parallelization={c.function_name: c.parallelization_factor for c in consumers},
                          implied_concurrency={c.function_name: target * c.parallelization_factor for c in consumers})
