"""The ingest stream and its consumers: a shard count from the busiest minute, and the Lambda concurrency
that count implies. The one implementation behind `opsctl reshard --recommend`, `opsctl capacity` and the
scheduled report (opsctl.stream.reshard and opsctl.stream.recommend import it)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from capacity_report import metrics

MAX_SHARDS_PER_STREAM = 10_000  # AWS: shards per stream (UpdateShardCount)
SHARD_WRITE_BYTES_PER_S = 1024 * 1024  # AWS: bytes/s a shard accepts
SHARD_WRITE_RECORDS_PER_S = 1000  # AWS: records/s a shard accepts
# A consumer whose latest IteratorAge is at least this many milliseconds is behind: fewer shards would mean
# fewer concurrent batches while it catches up, so a recommendation never goes below the open count then.
# One minute, the ingest_iterator_age_warning threshold of terraform/catalog/monitors.json.
BEHIND_ITERATOR_AGE_MS = 60_000


def recommend_shards(
    *, max_bytes_per_min: float, max_records_per_min: float, headroom: float, consumer_floor: int = 1
) -> tuple[int, int, int]:
    """(target, by_bytes, by_records): shards to carry the busiest minute at `headroom` (0–1) of per-shard write limits.

    Never below `consumer_floor` (what the consumers need to keep up at their parallelization factor)."""
    if not 0 < headroom <= 1:
        raise ValueError(f"--headroom must be in (0, 1], got {headroom}")
    by_bytes = math.ceil(max_bytes_per_min / 60 / (SHARD_WRITE_BYTES_PER_S * headroom))
    by_records = math.ceil(max_records_per_min / 60 / (SHARD_WRITE_RECORDS_PER_S * headroom))
    target = max(1, by_bytes, by_records, consumer_floor)
    return min(target, MAX_SHARDS_PER_STREAM), by_bytes, by_records


def consumer_floor(
    peak_records_per_s: float, avg_duration_ms: float | None, batch_size: int, parallelization: int
) -> int:
    """Shards a consumer needs: one execution handles ≈ batch_size records per Duration; a shard runs
    `parallelization` of them."""
    if not avg_duration_ms or peak_records_per_s <= 0:
        return 1
    concurrency = math.ceil(peak_records_per_s * (avg_duration_ms / 1000.0) / max(batch_size, 1))
    return max(1, math.ceil(concurrency / max(parallelization, 1)))


@dataclass(frozen=True)
class StreamConsumer:
    function_name: str
    batch_size: int
    parallelization_factor: int


def stream_consumers(lambda_client, stream_arn: str) -> list[StreamConsumer]:
    """The Lambda event source mappings reading `stream_arn` (all pages)."""
    found, marker = [], None
    while True:
        resp = lambda_client.list_event_source_mappings(
            EventSourceArn=stream_arn, **({"Marker": marker} if marker else {})
        )
        for m in resp.get("EventSourceMappings", []):
            if m.get("EventSourceArn") != stream_arn:
                continue
            found.append(
                StreamConsumer(
                    function_name=m["FunctionArn"].split(":function:")[-1].split(":")[0],
                    batch_size=int(m.get("BatchSize", 100)),
                    parallelization_factor=int(m.get("ParallelizationFactor", 1)),
                )
            )
        marker = resp.get("NextMarker")
        if not marker:
            return found


def open_shard_count(kinesis, stream: str) -> int:
    """Open shards from `list_shards` (no EndingSequenceNumber), all pages: the count moto and AWS agree on."""
    count, token = 0, None
    while True:
        resp = kinesis.list_shards(NextToken=token) if token else kinesis.list_shards(StreamName=stream)
        count += sum(1 for s in resp["Shards"] if "EndingSequenceNumber" not in s["SequenceNumberRange"])
        token = resp.get("NextToken")
        if not token:
            return count


@dataclass
class StreamObservation:
    """What the stream carried in a window and what its consumers took per batch."""

    stream: str
    arn: str
    mode: str
    open_shards: int
    consumers: list[StreamConsumer]
    max_bytes_per_min: float
    max_records_per_min: float
    total_records: float
    total_bytes: float
    durations_ms: dict[str, float | None]
    series: dict[str, list[tuple[dt.datetime, float]]] = field(default_factory=dict)


def observe(kinesis, lambda_client, cloudwatch, stream: str, start: dt.datetime, end: dt.datetime) -> StreamObservation:
    """Incoming bytes and records per minute, consumers' Duration and IteratorAge (lag), in one GetMetricData pass."""
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    arn = summary["StreamARN"]
    consumers = stream_consumers(lambda_client, arn)
    sdim = (("StreamName", stream),)
    queries = [
        metrics.MetricQuery("bytes", "AWS/Kinesis", "IncomingBytes", sdim, "Sum"),
        metrics.MetricQuery("records", "AWS/Kinesis", "IncomingRecords", sdim, "Sum"),
    ]
    for i, c in enumerate(consumers):
        fdim = (("FunctionName", c.function_name),)
        queries += [
            metrics.MetricQuery(f"dur_{i}", "AWS/Lambda", "Duration", fdim, "Average"),
            metrics.MetricQuery(f"age_{i}", "AWS/Lambda", "IteratorAge", fdim, "Maximum"),
        ]
    res = metrics.fetch(cloudwatch, queries, start, end)
    series = {"records_per_s": [(t, v / 60) for t, v in res.points("records")]}
    for i, c in enumerate(consumers):
        series[f"iterator_age_ms:{c.function_name}"] = res.points(f"age_{i}")
    return StreamObservation(
        stream=stream,
        arn=arn,
        mode=summary.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED"),
        open_shards=open_shard_count(kinesis, stream),
        consumers=consumers,
        max_bytes_per_min=res.max("bytes") or 0.0,
        max_records_per_min=res.max("records") or 0.0,
        total_records=res.total("records") or 0.0,
        total_bytes=res.total("bytes") or 0.0,
        durations_ms={c.function_name: res.max(f"dur_{i}") for i, c in enumerate(consumers)},
        series=series,
    )


@dataclass
class StreamRecommendation:
    current: int
    target: int
    max_bytes_per_s: float
    max_records_per_s: float
    headroom: float
    by_bytes: int
    by_records: int
    consumer_floor: int
    parallelization: dict[str, int]
    implied_concurrency: dict[str, int]
    # consumers behind at the end of the window, latest IteratorAge in ms, and why the target was held
    behind_ms: dict[str, float] = field(default_factory=dict)
    held_because: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def recommend(obs: StreamObservation, headroom: float) -> StreamRecommendation:
    """A shard count for the busiest minute at `headroom`, never below what the consumers need."""
    floors = [
        consumer_floor(
            obs.max_records_per_min / 60, obs.durations_ms.get(c.function_name), c.batch_size, c.parallelization_factor
        )
        for c in obs.consumers
    ]
    floor = max(floors, default=1)
    target, by_bytes, by_records = recommend_shards(
        max_bytes_per_min=obs.max_bytes_per_min,
        max_records_per_min=obs.max_records_per_min,
        headroom=headroom,
        consumer_floor=floor,
    )
    behind = {}
    for c in obs.consumers:
        points = obs.series.get(f"iterator_age_ms:{c.function_name}") or []
        if points and max(points)[1] >= BEHIND_ITERATOR_AGE_MS:  # the latest datapoint, by timestamp
            behind[c.function_name] = max(points)[1]
    held = []
    if behind and target < obs.open_shards:
        held = [
            f"{fn} is {age / 1000:,.0f} s behind (IteratorAge ≥ {BEHIND_ITERATOR_AGE_MS / 1000:,.0f} s): "
            f"keeping {obs.open_shards} shards instead of {target} until it has caught up"
            for fn, age in sorted(behind.items())
        ]
        target = obs.open_shards
    return StreamRecommendation(
        current=obs.open_shards,
        target=target,
        max_bytes_per_s=obs.max_bytes_per_min / 60,
        max_records_per_s=obs.max_records_per_min / 60,
        headroom=headroom,
        by_bytes=by_bytes,
        by_records=by_records,
        consumer_floor=floor,
        parallelization={c.function_name: c.parallelization_factor for c in obs.consumers},
        implied_concurrency={c.function_name: target * c.parallelization_factor for c in obs.consumers},
        behind_ms=behind,
        held_because=held,
    )


# --- Lambda concurrency ---------------------------------------------------------------------------------


def lambda_concurrency(
    lambda_client, consumers: list[StreamConsumer], shards_now: int, shards_recommended: int
) -> dict:
    """Per consumer: concurrency needed (shards × parallelization factor) against its reserved concurrency and
    the account's; None where the API does not say (moto implements no GetAccountSettings)."""
    account = unreserved = None
    try:
        settings = lambda_client.get_account_settings()
        account = settings.get("AccountLimit", {}).get("ConcurrentExecutions")
        unreserved = settings.get("AccountLimit", {}).get("UnreservedConcurrentExecutions")
    except Exception:  # noqa: BLE001 - an unanswered optional fact (404 on moto, AccessDenied) is reported as unknown
        pass
    rows = []
    for c in consumers:
        try:
            reserved = lambda_client.get_function_concurrency(FunctionName=c.function_name).get(
                "ReservedConcurrentExecutions"
            )
        except Exception:  # noqa: BLE001 - same: unknown, not fatal
            reserved = None
        need_now, need_rec = shards_now * c.parallelization_factor, shards_recommended * c.parallelization_factor
        limit = reserved if reserved is not None else unreserved
        warnings = []
        if limit is not None and need_rec > limit:
            which = "reserved concurrency" if reserved is not None else "the account's unreserved concurrency"
            warnings.append(
                f"{c.function_name} needs {need_rec} concurrent executions at {shards_recommended} shards "
                f"× parallelization {c.parallelization_factor}, over {which} ({limit}): shards would wait"
            )
        rows.append(
            {
                "function_name": c.function_name,
                "parallelization_factor": c.parallelization_factor,
                "needed_now": need_now,
                "needed_at_recommended_shards": need_rec,
                "reserved": reserved,
                "account_limit": account,
                "account_unreserved": unreserved,
                "warnings": warnings,
            }
        )
    return {"account_limit": account, "account_unreserved": unreserved, "functions": rows}
