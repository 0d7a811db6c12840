"""What every event source mapping poller (Kinesis, SQS) is built from: the mapping, the function it invokes,
and where it reports (metrics, progress events, counters). Each source opens its own AWS side in `_open`."""

from __future__ import annotations

from typing import ClassVar

from opsctl.sandbox.runtime.function import DeployedFunction, FunctionRunner, MetricSink
from opsctl.sandbox.runtime.mapping import CheckpointStore, EventSink, MappingConfig, MappingStats, OnFailureSender


class MappingPoller:
    """One event source mapping, driven by `poll()` (in the subclass); `stats` are its counters for the run."""

    stats_type: ClassVar[type[MappingStats]] = MappingStats

    def __init__(
        self,
        mapping: MappingConfig,
        *,
        target,
        runner: FunctionRunner,
        function: DeployedFunction,
        checkpoints: CheckpointStore,
        on_failure: OnFailureSender,
        metrics: MetricSink,
        on_event: EventSink,
        until_idle: bool,
    ):
        self.mapping = mapping
        self.region = target.region
        self.runner = runner
        self.function = function
        self.checkpoints = checkpoints
        self.on_failure = on_failure
        self.metrics = metrics
        self.on_event = on_event
        self.until_idle = until_idle
        self.stats = self.stats_type(uuid=mapping.uuid, function_name=function.name, source=mapping.source_arn)
        self._open(target)

    def _open(self, target) -> None:
        """The source's own clients and state (called once, at the end of construction)."""
        raise NotImplementedError
