"""How far behind is each consumer of the stream, how long until data is lost, and will it catch up.

Per consumer (Kinesis event source mapping): Lambda `IteratorAge` (max over the window) next to the
stream's `GetRecords.IteratorAgeMilliseconds` (the max over all consumers, so it cannot say who is
behind); time to data loss (stream retention minus age, and the mapping's maximum record age, after
which Lambda skips records); a catch-up estimate from incoming vs processed records. One
GetMetricData call per 500 queries. Exit status follows monitoring-plugin conventions."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from opsctl.core import metrics
from opsctl.core.errors import InvalidArgument, NotFound

DEFAULT_NAMESPACE = "TelemetryPipeline"  # the ingest function's EMF namespace (docs/architecture.md)


class Level(enum.IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


SEVERITY = [Level.OK, Level.UNKNOWN, Level.WARNING, Level.CRITICAL]


@dataclass(frozen=True)
class Consumer:
    uuid: str
    function_name: str
    state: str
    batch_size: int
    parallelization_factor: int
    maximum_retry_attempts: int
    maximum_record_age_s: int
    bisect: bool
    report_batch_item_failures: bool
    on_failure_destination: str | None
    metrics_namespace: str = DEFAULT_NAMESPACE


# Lambda publishes IteratorAge every minute a mapping invokes its function: a newest datapoint older than three
# one-minute periods means the consumer has not been invoked since (stopped, or stuck on one batch).
STALE_AFTER_S = 180


@dataclass
class ConsumerAge:
    consumer: Consumer
    level: Level
    iterator_age_ms: float | None
    processed_per_s: float | None
    time_to_loss_ms: float | None
    loss_by: str | None  # "retention" or "maximum record age"
    catch_up_s: float | None
    falling_behind: bool
    lint: list[str] = field(default_factory=list)
    reason: str = ""
    latest_at: dt.datetime | None = None  # the newest IteratorAge datapoint of the window
    reading_age_s: float | None = None  # how old that datapoint is at the window's end

    @property
    def stale(self) -> bool:
        return self.reading_age_s is not None and self.reading_age_s > STALE_AFTER_S

    def to_dict(self) -> dict:
        c = self.consumer
        return {
            "latest_datapoint_at": self.latest_at.isoformat() if self.latest_at else None,
            "reading_age_s": None if self.reading_age_s is None else round(self.reading_age_s),
            "stale": self.stale,
            "function_name": c.function_name,
            "uuid": c.uuid,
            "state": c.state,
            "level": self.level.name,
            "iterator_age_ms": self.iterator_age_ms,
            "processed_records_per_s": _r(self.processed_per_s),
            "time_to_data_loss_ms": self.time_to_loss_ms,
            "data_loss_by": self.loss_by,
            "catch_up_s": _r(self.catch_up_s),
            "falling_behind": self.falling_behind,
            "parallelization_factor": c.parallelization_factor,
            "maximum_retry_attempts": c.maximum_retry_attempts,
            "maximum_record_age_s": c.maximum_record_age_s,
            "lint": self.lint,
            "reason": self.reason,
        }


@dataclass
class IteratorAgeReport:
    stream: str
    retention_hours: int
    window_s: int
    warn_ms: int
    crit_ms: int
    stream_iterator_age_ms: float | None
    incoming_per_s: float | None
    consumers: list[ConsumerAge]
    get_metric_data_calls: int
    level: Level

    def to_dict(self) -> dict:
        return {
            "stream": self.stream,
            "retention_hours": self.retention_hours,
            "window_s": self.window_s,
            "thresholds_ms": {"warning": self.warn_ms, "critical": self.crit_ms},
            "stream_get_records_iterator_age_ms": self.stream_iterator_age_ms,
            "incoming_records_per_s": _r(self.incoming_per_s),
            "consumers": [c.to_dict() for c in self.consumers],
            "get_metric_data_calls": self.get_metric_data_calls,
            "level": self.level.name,
            "exit_code": int(self.level),
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def consumers_of(lambda_client, stream_arn: str) -> list[Consumer]:
    """Every event source mapping reading `stream_arn`, with what matters for lag and loss."""
    found, marker = [], None
    while True:
        kwargs = {"EventSourceArn": stream_arn, **({"Marker": marker} if marker else {})}
        resp = lambda_client.list_event_source_mappings(**kwargs)
        for m in resp.get("EventSourceMappings", []):
            if m.get("EventSourceArn") != stream_arn:
                continue
            fn = m["FunctionArn"].split(":function:")[-1].split(":")[0]
            found.append(
                Consumer(
                    uuid=m["UUID"],
                    function_name=fn,
                    state=m.get("State", "?"),
                    batch_size=int(m.get("BatchSize", 100)),
                    parallelization_factor=int(m.get("ParallelizationFactor", 1)),
                    maximum_retry_attempts=int(m.get("MaximumRetryAttempts", -1)),
                    maximum_record_age_s=int(m.get("MaximumRecordAgeInSeconds", -1)),
                    bisect=bool(m.get("BisectBatchOnFunctionError", False)),
                    report_batch_item_failures="ReportBatchItemFailures" in (m.get("FunctionResponseTypes") or []),
                    on_failure_destination=(m.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination"),
                )
            )
        marker = resp.get("NextMarker")
        if not marker:
            return found


def lint(c: Consumer, retention_hours: int, *, falling_behind: bool) -> list[str]:
    """What about this mapping can block a shard, lose data silently, or keep it behind."""
    out = []
    if c.maximum_retry_attempts == -1 and not c.on_failure_destination:
        out.append("infinite retries and no on-failure destination: one bad record blocks its shard until it expires")
    elif c.maximum_retry_attempts == -1:
        out.append("infinite retries: a bad batch blocks its shard until the record age limit")
    if not c.on_failure_destination:
        out.append("no on-failure destination: batches that exhaust retries are dropped without a trace")
    if not c.bisect:
        out.append("no BisectBatchOnFunctionError: one bad record fails its whole batch every retry")
    if not c.report_batch_item_failures:
        out.append("no ReportBatchItemFailures: a partial failure retries the whole batch")
    retention_s = retention_hours * 3600
    if c.maximum_record_age_s == -1 or c.maximum_record_age_s >= retention_s:
        out.append(
            f"maximum record age ({'unlimited' if c.maximum_record_age_s == -1 else c.maximum_record_age_s} s) ≥ "
            "retention "
            f"({retention_s} s): records expire from the stream before Lambda gives up on them"
        )
    if falling_behind and c.parallelization_factor < 10:
        out.append(
            f"falling behind at parallelization factor {c.parallelization_factor}: raise it (up to 10) or add shards"
        )
    return out


def check(
    *,
    kinesis,
    lambda_client,
    cloudwatch,
    stream: str,
    window: dt.timedelta,
    warn_ms: int,
    crit_ms: int,
    now: dt.datetime | None = None,
) -> IteratorAgeReport:
    """The iterator-age report of every consumer of `stream`. Metrics that cannot be read give UNKNOWN, not an error."""
    if warn_ms > crit_ms:
        raise InvalidArgument(
            f"{{warn_ms}} ({warn_ms}) is above {{crit_ms}} ({crit_ms})", arguments=["warn_ms", "crit_ms"]
        )
    try:
        summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    except kinesis.exceptions.ResourceNotFoundException:
        raise NotFound("stream", stream, hint="check {env} or pass {stream}", arguments=["env", "stream"]) from None
    retention_h = int(summary["RetentionPeriodHours"])
    consumers = consumers_of(lambda_client, summary["StreamARN"])
    for i, c in enumerate(consumers):
        try:
            env = (
                lambda_client.get_function_configuration(FunctionName=c.function_name)
                .get("Environment", {})
                .get("Variables", {})
            )
            consumers[i] = Consumer(
                **{**c.__dict__, "metrics_namespace": env.get("METRICS_NAMESPACE", DEFAULT_NAMESPACE)}
            )
        except lambda_client.exceptions.ResourceNotFoundException:
            pass
    end = now or dt.datetime.now(dt.UTC)
    start = end - window
    sdim = (("StreamName", stream),)
    queries = [
        metrics.MetricQuery("stream_age", "AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", sdim, "Maximum"),
        metrics.MetricQuery("stream_in", "AWS/Kinesis", "IncomingRecords", sdim, "Sum"),
    ]
    for i, c in enumerate(consumers):
        fdim = (("FunctionName", c.function_name),)
        queries += [
            metrics.MetricQuery(f"age_{i}", "AWS/Lambda", "IteratorAge", fdim, "Maximum"),
            metrics.MetricQuery(f"done_{i}", c.metrics_namespace, "RecordsIn", fdim, "Sum"),
        ]
    window_s = int(window.total_seconds())
    try:
        res = metrics.fetch(cloudwatch, queries, start, end)
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        if not isinstance(exc, (BotoCoreError, ClientError)):
            raise
        rows = [
            ConsumerAge(
                c,
                Level.UNKNOWN,
                None,
                None,
                None,
                None,
                None,
                False,
                lint(c, retention_h, falling_behind=False),
                reason=f"metrics unreadable: {exc}",
            )
            for c in consumers
        ]
        return IteratorAgeReport(stream, retention_h, window_s, warn_ms, crit_ms, None, None, rows, 0, Level.UNKNOWN)
    incoming_total = res.total("stream_in")
    incoming = incoming_total / window_s if incoming_total is not None else None
    rows = []
    for i, c in enumerate(consumers):
        age = res.max(f"age_{i}")
        done_total = res.total(f"done_{i}")
        processed = done_total / window_s if done_total is not None else None
        falling = bool(incoming and processed is not None and processed < incoming and age and age > 0)
        loss_candidates = [(retention_h * 3600 * 1000 - (age or 0), "retention")]
        if c.maximum_record_age_s > 0:
            loss_candidates.append((c.maximum_record_age_s * 1000 - (age or 0), "maximum record age"))
        time_to_loss, loss_by = min(loss_candidates)
        catch_up = None
        if age and incoming is not None and processed is not None and processed > incoming:
            catch_up = (age / 1000.0) * incoming / (processed - incoming) if incoming else age / 1000.0
        if age is None:
            if incoming:
                level, reason = (
                    Level.UNKNOWN,
                    "records arrive but the consumer reported no IteratorAge in the window (is it invoked?)",
                )
            else:
                level, reason = Level.OK, "idle: no records arrived and none were processed in the window"
        elif age >= crit_ms:
            level, reason = Level.CRITICAL, f"iterator age {age:,.0f} ms ≥ critical {crit_ms:,} ms"
        elif age >= warn_ms:
            level, reason = Level.WARNING, f"iterator age {age:,.0f} ms ≥ warning {warn_ms:,} ms"
        else:
            level, reason = Level.OK, f"iterator age {age:,.0f} ms < warning {warn_ms:,} ms"
        if age is not None and time_to_loss <= 0:
            level, reason = Level.CRITICAL, f"records are past the {loss_by}: data is being lost"
        points = res.points(f"age_{i}")
        latest_at = points[-1][0] if points else None
        if isinstance(latest_at, dt.datetime) and latest_at.tzinfo is None:
            latest_at = latest_at.replace(tzinfo=dt.UTC)
        reading_age = (end - latest_at).total_seconds() if isinstance(latest_at, dt.datetime) else None
        if reading_age is not None and reading_age > STALE_AFTER_S:
            reason += f"; the newest datapoint is {reading_age / 60:.0f} min old (stale: no invocation since?)"
        rows.append(
            ConsumerAge(
                c,
                level,
                age,
                processed,
                time_to_loss,
                loss_by,
                catch_up,
                falling,
                lint(c, retention_h, falling_behind=falling),
                reason,
                latest_at=latest_at if isinstance(latest_at, dt.datetime) else None,
                reading_age_s=reading_age,
            )
        )
    # No consumer at all is UNKNOWN; otherwise the worst level, where a known CRITICAL/WARNING outranks UNKNOWN.
    overall = max((r.level for r in rows), key=SEVERITY.index, default=Level.UNKNOWN)
    return IteratorAgeReport(
        stream, retention_h, window_s, warn_ms, crit_ms, res.max("stream_age"), incoming, rows, res.calls, overall
    )
