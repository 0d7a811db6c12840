"""The metrics AWS services publish to CloudWatch and moto does not: an accumulator the sandbox's moto hooks
record into, and a flusher that writes each completed minute into moto's own CloudWatch backend.

Everything runs inside the moto server process (opsctl.sandbox.moto_main), so the flusher writes to moto's
CloudWatch backend in-process: GetMetricStatistics and GetMetricData then answer from the published minutes
exactly as they answer for PutMetricData.

Two kinds of datapoint, as AWS's services publish them:
- `record(namespace, metric, dimensions, value, unit, at=...)`: one sample per event (one request's consumed
  units, one throttled request), aggregated into the statistic set (SampleCount, Sum, Minimum, Maximum) of its
  (namespace, metric, dimensions, unit) in the whole UTC minute `at` falls in. Sum is the minute's total,
  SampleCount the number of samples, Average = Sum / SampleCount, Maximum the largest single sample (DynamoDB's
  consumed capacity: one sample per request).
- `minute_value(..., add=False|True)`: ONE datapoint per minute (SampleCount 1): a gauge whose latest sample wins
  (an SQS queue's depth), or a count whose minute total is the value (SQS's NumberOfMessagesSent).
  Samplers registered with `add_sampler` are called at every flush with the current minute's start and set the
  gauges then, so the value a minute keeps is its state at the minute's end.
- A minute is published once it is over (the flusher thread checks every FLUSH_INTERVAL_S seconds), with the
  minute's start as its timestamp. A minute in which nothing was recorded publishes nothing, as on AWS.

How tests see a minute without waiting for it to end: `flush(include_current=True)` publishes what has been
recorded so far, the current minute included. What is recorded later in the same minute is published later: a
sample as a second statistic set for the same timestamp (CloudWatch and moto aggregate every set of one period,
so Sum, SampleCount, Minimum and Maximum come out as if the minute had been published once), a minute value by
updating the datapoint already published (still one datapoint, SampleCount 1). In the moto server,
`POST /_sandbox/metrics/flush` calls it (see `install`); unit tests build a `MetricAccumulator` with their own clock
and sink.

Nothing is lost: a minute is removed from the accumulator only after the sink accepted it (a failing sink keeps
it for the next flush)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MINUTE_S = 60  # seconds: CloudWatch's resolution for AWS service metrics (1-minute periods)
FLUSH_INTERVAL_S = 1.0  # seconds between the flusher's checks for a completed minute

log = logging.getLogger(__name__)

MetricKey = tuple[str, str, str, str, tuple[tuple[str, str], ...], str]  # account, region, ns, metric, dims, unit


@dataclass
class StatisticSet:
    """One minute of one metric: what CloudWatch's StatisticValues hold."""

    sample_count: float = 0.0
    sum: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")

    def add(self, value: float) -> None:
        self.sample_count += 1
        self.sum += value
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value


@dataclass(frozen=True)
class PublishedMinute:
    """One statistic set as the sink receives it; `single` marks a minute value, which replaces any datapoint
    published before for the same metric and minute."""

    account_id: str
    region: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    unit: str
    minute: int  # epoch seconds of the minute's start (UTC)
    stats: StatisticSet
    single: bool = False


Sink = Callable[[list[PublishedMinute]], None]
Sampler = Callable[[int], None]


def default_account_id() -> str:
    try:
        from moto.core import DEFAULT_ACCOUNT_ID
    except ImportError:  # the accumulator is also usable without moto (unit tests with their own sink)
        return "123456789012"
    return DEFAULT_ACCOUNT_ID


def default_region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"


class MetricAccumulator:
    """Per-minute statistic sets, thread-safe (the moto server answers requests in threads)."""

    def __init__(self, sink: Sink | None = None, clock: Callable[[], float] = time.time):
        self.sink = sink or moto_sink
        self.clock = clock
        self.enabled = True
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time: the thread and a forced flush
        self._minutes: dict[int, dict[MetricKey, StatisticSet]] = {}
        self._values: dict[int, dict[MetricKey, float]] = {}  # one value per metric and minute
        self._samplers: list[Sampler] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def record(
        self,
        namespace: str,
        metric: str,
        dimensions: dict[str, str],
        value: float,
        unit: str,
        *,
        at: float | None = None,
        account_id: str | None = None,
        region: str | None = None,
    ) -> None:
        """Adds one sample to its minute's statistic set."""
        if not self.enabled:
            return
        minute, key = self._where(namespace, metric, dimensions, unit, at, account_id, region)
        with self._lock:
            sets = self._minutes.get(minute)
            if sets is None:
                sets = self._minutes[minute] = {}
            stats = sets.get(key)
            if stats is None:
                stats = sets[key] = StatisticSet()
            stats.add(float(value))

    def minute_value(
        self,
        namespace: str,
        metric: str,
        dimensions: dict[str, str],
        value: float,
        unit: str,
        *,
        add: bool = False,
        at: float | None = None,
        account_id: str | None = None,
        region: str | None = None,
    ) -> None:
        """Sets (or with add=True adds to) the one datapoint of its minute."""
        if not self.enabled:
            return
        minute, key = self._where(namespace, metric, dimensions, unit, at, account_id, region)
        with self._lock:
            values = self._values.get(minute)
            if values is None:
                values = self._values[minute] = {}
            values[key] = values.get(key, 0.0) + float(value) if add else float(value)

    def _where(self, namespace, metric, dimensions, unit, at, account_id, region) -> tuple[int, MetricKey]:
        when = self.clock() if at is None else at
        key = (
            account_id or default_account_id(),
            region or default_region(),
            namespace,
            metric,
            tuple(sorted(dimensions.items())),
            unit,
        )
        return self._minute_of(when), key

    def add_sampler(self, sampler: Sampler) -> None:
        """Registers a gauge sampler, called at every flush with the current minute's start."""
        with self._lock:
            if sampler not in self._samplers:
                self._samplers.append(sampler)

    def pending(self) -> dict[int, dict[MetricKey, StatisticSet]]:
        """A copy of what is recorded and not yet published (for tests and the bench)."""
        with self._lock:
            return {m: dict(sets) for m, sets in self._minutes.items()}

    def reset(self) -> None:
        """Forgets everything not yet published (moto's reset empties CloudWatch; this is its counterpart)."""
        with self._lock:
            self._minutes.clear()
            self._values.clear()

    def flush(self, *, include_current: bool = False) -> int:
        """Publishes every completed minute (and the current one if asked); returns how many sets it published."""
        with self._flush_lock:
            current = self._minute_of(self.clock())
            self._run_samplers(current)
            last = current if include_current else current - MINUTE_S
            with self._lock:
                due = sorted(m for m in self._minutes if m <= last)
                taken = {m: self._minutes.pop(m) for m in due}
                # A minute's values stay until the minute is over: later counts add to them, a later sample
                # replaces them, and each flush republishes the whole value.
                values = {m: dict(v) for m, v in self._values.items() if m <= last}
                for m in [m for m in self._values if m < current and m <= last]:
                    del self._values[m]
            batch = [
                PublishedMinute(k[0], k[1], k[2], k[3], k[4], k[5], minute, stats)
                for minute, sets in taken.items()
                for k, stats in sets.items()
            ]
            batch += [
                PublishedMinute(k[0], k[1], k[2], k[3], k[4], k[5], minute, _single(value), single=True)
                for minute, vals in values.items()
                for k, value in vals.items()
            ]
            if not batch:
                return 0
            try:
                self.sink(batch)
            except Exception:
                # Put back what the sink refused: merged with anything recorded meanwhile, nothing is lost.
                log.exception("publishing %d metric sets failed; kept for the next flush", len(batch))
                with self._lock:
                    for minute, sets in taken.items():
                        into = self._minutes.setdefault(minute, {})
                        for key, stats in sets.items():
                            _merge(into, key, stats)
                    for minute, vals in values.items():
                        into_values = self._values.setdefault(minute, {})
                        for key, value in vals.items():
                            into_values.setdefault(key, value)
                return 0
            return len(batch)

    def _run_samplers(self, minute: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            samplers = list(self._samplers)
        for sampler in samplers:
            try:
                sampler(minute)
            except Exception:
                log.exception("metric sampler %r failed for minute %d", sampler, minute)

    def start(self) -> None:
        """Starts the flusher (a daemon thread; idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-cw-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_S):
            self.flush()

    @staticmethod
    def _minute_of(when: float) -> int:
        return int(when // MINUTE_S) * MINUTE_S


def _single(value: float) -> StatisticSet:
    stats = StatisticSet()
    stats.add(value)
    return stats


def _merge(into: dict[MetricKey, StatisticSet], key: MetricKey, stats: StatisticSet) -> None:
    mine = into.get(key)
    if mine is None:
        into[key] = stats
        return
    mine.sample_count += stats.sample_count
    mine.sum += stats.sum
    mine.minimum = min(mine.minimum, stats.minimum)
    mine.maximum = max(mine.maximum, stats.maximum)


class MotoSink:
    """Writes statistic sets into moto's CloudWatch backend of their account and region, as PutMetricData's
    StatisticValues would (moto keeps naive UTC datetimes). A minute value published again updates its datapoint."""

    KEEP_S = 10 * MINUTE_S  # how long a minute value's datapoint can still be updated (seconds)

    def __init__(self):
        self._singles: dict[tuple, object] = {}

    def __call__(self, batch: list[PublishedMinute]) -> None:
        from datetime import UTC, datetime

        from moto.cloudwatch.models import MetricAggregatedDatum, cloudwatch_backends

        for item in batch:
            ident = (item.account_id, item.region, item.namespace, item.metric, item.dimensions, item.unit, item.minute)
            backend = cloudwatch_backends[item.account_id][item.region]
            if item.single:
                datum, held_by = self._singles.get(ident, (None, None))
                if datum is not None and held_by is backend:  # not if moto was reset since (a new backend)
                    datum.min, datum.max = item.stats.minimum, item.stats.maximum
                    datum.sum, datum.sample_count = item.stats.sum, item.stats.sample_count
                    continue
            datum = MetricAggregatedDatum(
                namespace=item.namespace,
                name=item.metric,
                min_stat=item.stats.minimum,
                max_stat=item.stats.maximum,
                sample_count=item.stats.sample_count,
                sum_stat=item.stats.sum,
                dimensions=[{"Name": n, "Value": v} for n, v in item.dimensions],
                timestamp=datetime.fromtimestamp(item.minute, UTC).replace(tzinfo=None),
                unit=item.unit,
            )
            backend.metric_data.append(datum)
            if item.single:
                self._singles[ident] = (datum, backend)
        if batch:
            newest = max(item.minute for item in batch)
            for ident in [i for i in self._singles if i[-1] < newest - self.KEEP_S]:
                del self._singles[ident]


moto_sink = MotoSink()


ACCUMULATOR = MetricAccumulator()


def record(
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    value: float,
    unit: str,
    *,
    at: float | None = None,
    account_id: str | None = None,
    region: str | None = None,
) -> None:
    """Adds one sample to the moto server's accumulator (see MetricAccumulator.record). Hooks inside moto
    backends pass their backend's account_id and region; without them the default account and region are used."""
    ACCUMULATOR.record(namespace, metric, dimensions, value, unit, at=at, account_id=account_id, region=region)


def minute_value(
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    value: float,
    unit: str,
    *,
    add: bool = False,
    at: float | None = None,
    account_id: str | None = None,
    region: str | None = None,
) -> None:
    """Sets (add=True: adds to) the one datapoint of its minute (see MetricAccumulator.minute_value)."""
    ACCUMULATOR.minute_value(
        namespace, metric, dimensions, value, unit, add=add, at=at, account_id=account_id, region=region
    )


def add_sampler(sampler: Sampler) -> None:
    ACCUMULATOR.add_sampler(sampler)


def flush(*, include_current: bool = False) -> int:
    return ACCUMULATOR.flush(include_current=include_current)


FLUSH_PATH = "/_sandbox/metrics/flush"  # POST: publish everything recorded so far (the current minute included)
SWITCH_PATH = "/_sandbox/metrics/enabled"  # POST body "on" or "off": the bench's metrics-off run


def _control(environ, start_response):
    """Answers the sandbox's own metric controls; None for every other request."""
    path = environ.get("PATH_INFO", "")
    if path not in (FLUSH_PATH, SWITCH_PATH) or environ.get("REQUEST_METHOD") != "POST":
        return None
    if path == FLUSH_PATH:
        body = f'{{"published": {flush(include_current=True)}}}'
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        wanted = environ["wsgi.input"].read(length).decode().strip() if length else ""
        if wanted not in ("on", "off"):
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [b'{"error": "body must be on or off"}']
        ACCUMULATOR.enabled = wanted == "on"
        body = f'{{"enabled": {"true" if ACCUMULATOR.enabled else "false"}}}'
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]


def exact_dimension_statistics() -> None:
    """Patches moto's GetMetricStatistics to match a metric's dimensions exactly, as CloudWatch does.

    CloudWatch treats each combination of dimensions as its own metric: a query with {TableName} alone does
    not see the {TableName, GlobalSecondaryIndexName} samples of the table's index (CloudWatch user guide,
    "Dimensions"; GetMetricStatistics: "you must specify the same dimensions that were used when the metrics
    were created"). moto matches any superset, which would add an index's consumed capacity to its table's.
    (moto's GetMetricData already compares the whole set.)"""
    from moto.cloudwatch.models import CloudWatchBackend

    if getattr(CloudWatchBackend, "_sandbox_exact_dimensions", False):
        return
    original = CloudWatchBackend.get_metric_statistics

    def get_metric_statistics(self, namespace, metric_name, start_time, end_time, period, stats, dimensions, unit=None):
        # (name, value) sets: moto's Dimension ordering compares a value with a name, so sorting them is unsafe
        wanted = {(d["Name"], d.get("Value")) for d in dimensions or []}
        answer = original(self, namespace, metric_name, start_time, end_time, period, stats, dimensions, unit)
        kept = []
        for statistics in answer:
            statistics.metric_data = [md for md in statistics.metric_data if _dimension_set(md) == wanted]
            if statistics.metric_data:
                kept.append(statistics)
        return kept

    CloudWatchBackend.get_metric_statistics = get_metric_statistics
    CloudWatchBackend._sandbox_exact_dimensions = True


def indexed_metric_data() -> None:
    """Patches moto's GetMetricData (MetricStat queries) to look at each query's own metric once, not at every
    datapoint of the window once per period: the same answers, without a cost that grows with everything the
    sandbox publishes (20 queries over an hour of the sandbox's metrics took 4.6 s in moto's loop).

    Same semantics as moto's loop (periods from StartTime in steps of Period, Statistics over each period's
    datapoints, ScanBy, Label, ReturnData), except that a query with dimensions must match its namespace too (moto
    compared the name only). Queries with an Expression, and invalid time ranges, go to moto's own code."""
    from datetime import timedelta

    from moto.cloudwatch.models import CloudWatchBackend, Statistics

    if getattr(CloudWatchBackend, "_sandbox_indexed_metric_data", False):
        return
    original = CloudWatchBackend.get_metric_data

    def get_metric_data(self, queries, start_time, end_time, scan_by="TimestampAscending"):
        start, end = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
        if start >= end or any("MetricStat" not in q for q in queries):
            return original(self, queries, start_time, end_time, scan_by)
        by_metric: dict[tuple[str, str], list] = {}
        for md in self.get_all_metrics():
            if start <= md.timestamp < end:
                by_metric.setdefault((md.namespace, md.name), []).append(md)
        answers = []
        for query in queries:
            stat_query = query["MetricStat"]
            metric, stat = stat_query["Metric"], stat_query["Stat"]
            period_s = int(stat_query["Period"])
            candidates = by_metric.get((metric["Namespace"], metric["MetricName"]), [])
            wanted = {(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])}
            if wanted:
                candidates = [md for md in candidates if _dimension_set(md) == wanted]
            unit = stat_query.get("Unit")
            if unit:
                candidates = [md for md in candidates if md.unit == unit]
            buckets: dict[int, list] = {}
            for md in candidates:
                buckets.setdefault(int((md.timestamp - start).total_seconds() // period_s), []).append(md)
            values, timestamps = [], []
            for k in sorted(buckets):
                stats = Statistics([stat], start + timedelta(seconds=k * period_s))
                stats.metric_data = buckets[k]
                values.append(stats.get_statistics_for_type(stat))
                timestamps.append(stats.timestamp)
            if scan_by == "TimestampDescending":
                values.reverse()
                timestamps.reverse()
            if query.get("ReturnData", True):
                answers.append(
                    {
                        "id": query["Id"],
                        "label": query.get("Label") or f"{metric['MetricName']} {stat}",
                        "values": values,
                        "timestamps": timestamps,
                        "status_code": "Complete",
                    }
                )
        return answers

    CloudWatchBackend.get_metric_data = get_metric_data
    CloudWatchBackend._sandbox_indexed_metric_data = True


def _dimension_set(datum) -> set[tuple[str, str]]:
    return {(d.name, d.value) for d in datum.dimensions}


def install() -> None:
    """Starts the flusher in the moto server process and serves the flush control (idempotent)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    exact_dimension_statistics()
    indexed_metric_data()

    if not getattr(DomainDispatcherApplication, "_sandbox_metrics", False):
        original = DomainDispatcherApplication.__call__

        def __call__(self, environ, start_response):
            answered = _control(environ, start_response)
            return answered if answered is not None else original(self, environ, start_response)

        DomainDispatcherApplication.__call__ = __call__
        DomainDispatcherApplication._sandbox_metrics = True
    ACCUMULATOR.start()
