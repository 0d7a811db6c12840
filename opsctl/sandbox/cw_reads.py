"""How the sandbox's CloudWatch (moto) answers metric reads, in the moto server process (installed by moto_main).

Two patches, both about reads; nothing here writes a datapoint of its own:

- Reads see everything served so far. The sandbox publishes its AWS service metrics a minute at a time, once the
  minute is over (opsctl.sandbox.cw_metrics). A reader that comes right after the traffic (`make demo`'s report,
  `opsctl capacity`, `opsctl monitors`, the scheduled report function) then found the minute of the traffic still
  unpublished: the report's DynamoDB and stream charts said "no datapoints in the window". So every
  GetMetricData and GetMetricStatistics first publishes the current minute so far (what `POST
  /_sandbox/metrics/flush` does); traffic later in the same minute adds to it (cw_metrics explains how), so a
  minute read early and again at its end holds the same statistics as a minute published once.
- Percentile statistics (`p99`, `p99.9`, ...). moto answers None for any extended statistic, so the catalog's
  `api_p99_latency` could never be judged. CloudWatch computes a percentile from the raw values of the period
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html); the sandbox does
  the same from the raw values it holds (PutMetricData `Value`s, e.g. `opsctl sandbox api`'s per-request
  `AWS/ApiGateway Latency`), by nearest rank: the smallest value with at least p % of the values at or below it.
  A period that holds only statistic sets has no percentile, and GetMetricData leaves it out (moto answered a
  None that broke the response): a statistic set does not keep its values.
"""

from __future__ import annotations

import math
import re

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,2})?|100)$")


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank p-th percentile of `values` (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def percentile_statistics() -> None:
    """Patches moto's Statistics so `pNN[.NN]` is computed from the period's raw values (idempotent)."""
    from moto.cloudwatch.models import MetricDatum, Statistics

    if getattr(Statistics, "_sandbox_percentiles", False):
        return
    original = Statistics.get_statistics_for_type

    def get_statistics_for_type(self, stat: str):
        m = _PERCENTILE.match(stat)
        if m is None:
            return original(self, stat)
        raw = [float(d.value) for d in self.metric_data or [] if isinstance(d, MetricDatum)]
        return percentile(raw, float(m.group(1)))

    Statistics.get_statistics_for_type = get_statistics_for_type
    Statistics._sandbox_percentiles = True


def flush_before_reads() -> None:
    """Patches moto's GetMetricData and GetMetricStatistics to publish the current minute first (idempotent).
    Install after every other patch of those two methods (cw_metrics.install): this one wraps whatever is there."""
    from moto.cloudwatch.models import CloudWatchBackend

    from opsctl.sandbox import cw_metrics

    if getattr(CloudWatchBackend, "_sandbox_flush_before_reads", False):
        return
    metric_data, statistics = CloudWatchBackend.get_metric_data, CloudWatchBackend.get_metric_statistics

    def get_metric_data(self, *args, **kwargs):
        cw_metrics.flush(include_current=True)
        answers = metric_data(self, *args, **kwargs)
        for answer in answers:  # a period without a value for the statistic (a percentile of statistic sets only)
            if any(v is None for v in answer.get("values", [])):  # has no datapoint, as CloudWatch answers
                kept = [(t, v) for t, v in zip(answer["timestamps"], answer["values"], strict=True) if v is not None]
                answer["timestamps"], answer["values"] = [t for t, _ in kept], [v for _, v in kept]
        return answers

    def get_metric_statistics(self, *args, **kwargs):
        cw_metrics.flush(include_current=True)
        return statistics(self, *args, **kwargs)

    CloudWatchBackend.get_metric_data = get_metric_data
    CloudWatchBackend.get_metric_statistics = get_metric_statistics
    CloudWatchBackend._sandbox_flush_before_reads = True


def install() -> None:
    percentile_statistics()
    flush_before_reads()
