"""What every event source mapping of the local runtime shares, whatever its source: its settings as the
Lambda API stores them, its counters, the checkpoints that survive a run, and the on-failure destination."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

EventSink = Callable[[str, dict], None]


def noop(kind: str, details: dict) -> None:
    """The default `on_event`: nobody is listening."""


@dataclass(frozen=True)
class MappingConfig:
    """An event source mapping's settings, with AWS's defaults where the API leaves a field out."""

    uuid: str
    function_arn: str
    source_arn: str
    batch_size: int
    batching_window_s: float
    starting_position: str
    starting_position_timestamp: float | None
    bisect_on_error: bool
    max_retry_attempts: int  # -1: infinite (AWS's default for streams)
    max_record_age_s: int  # -1: no limit
    report_batch_item_failures: bool
    on_failure_destination: str | None
    parallelization_factor: int
    created_at: float | None
    maximum_concurrency: int | None = None  # SQS ScalingConfig: concurrent batches Lambda may run (None: unset)

    @property
    def source_service(self) -> str:
        """ "kinesis", "sqs", "dynamodb", ... from the event source ARN."""
        return self.source_arn.split(":")[2] if self.source_arn.count(":") >= 2 else ""

    @property
    def function_name(self) -> str:
        return self.function_arn.split(":function:", 1)[-1].split(":", 1)[0]

    @classmethod
    def from_api(cls, m: dict) -> MappingConfig:
        """From one item of ListEventSourceMappings."""
        ts = m.get("StartingPositionTimestamp")
        created = m.get("LastModified")
        return cls(
            uuid=m["UUID"],
            function_arn=m["FunctionArn"],
            source_arn=m.get("EventSourceArn", ""),
            batch_size=int(m.get("BatchSize") or 100),
            batching_window_s=float(m.get("MaximumBatchingWindowInSeconds") or 0),
            starting_position=m.get("StartingPosition") or "TRIM_HORIZON",
            starting_position_timestamp=_epoch(ts),
            bisect_on_error=bool(m.get("BisectBatchOnFunctionError")),
            max_retry_attempts=int(m["MaximumRetryAttempts"]) if m.get("MaximumRetryAttempts") is not None else -1,
            max_record_age_s=int(m["MaximumRecordAgeInSeconds"])
            if m.get("MaximumRecordAgeInSeconds") is not None
            else -1,
            report_batch_item_failures="ReportBatchItemFailures" in (m.get("FunctionResponseTypes") or []),
            on_failure_destination=((m.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            or None,
            parallelization_factor=int(m.get("ParallelizationFactor") or 1),
            created_at=_epoch(created),
            maximum_concurrency=(m.get("ScalingConfig") or {}).get("MaximumConcurrency"),
        )


def _epoch(value) -> float | None:
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass
class ShardStats:
    shard_id: str
    parents: list[str] = field(default_factory=list)
    invocations: int = 0
    records_delivered: int = 0
    checkpoint: str | None = None
    closed: bool = False
    finished: bool = False


@dataclass
class MappingStats:
    """Counters of one mapping over one run, as `opsctl sandbox run` reports them."""

    uuid: str
    function_name: str
    source: str
    invocations: int = 0
    records_delivered: int = 0  # records handed to the function, re-deliveries included
    function_errors: int = 0  # invocations whose whole batch failed: exception, timeout, malformed response
    partial_failures: int = 0  # invocations that returned a non-empty batchItemFailures
    bisections: int = 0
    retries: int = 0  # re-invocations of the same records (bisections are not retries)
    on_failure_records: int = 0  # on-failure records (messages) sent to the destination
    on_failure_batch_records: int = 0  # source records those messages describe
    records_discarded_without_destination: int = 0
    records_expired_by_age: int = 0
    read_throttles: int = 0  # GetRecords calls the stream refused (the shard backed off and read again)
    shards: dict[str, ShardStats] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shards"] = [asdict(s) for s in sorted(self.shards.values(), key=lambda s: s.shard_id)]
        return d


class CheckpointStore:
    """Per mapping and shard: the last sequence number the mapping is done with, and whether a closed
    shard is finished. One JSON file, rewritten atomically after every checkpoint."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data: dict[str, dict[str, dict]] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            self.data = {}

    def get(self, uuid: str, key: str) -> dict:
        return dict(self.data.get(uuid, {}).get(key) or {})

    def put(self, uuid: str, key: str, **values) -> None:
        self.data.setdefault(uuid, {})[key] = {**self.data.get(uuid, {}).get(key, {}), **values}
        self._write()

    def forget(self) -> None:
        self.data = {}
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, separators=(",", ":")))
        tmp.replace(self.path)


class OnFailureSender:
    """Sends on-failure records to a mapping's destination: an SQS queue or an SNS topic, by ARN."""

    def __init__(self, target):
        self.target = target
        self._queue_urls: dict[str, str] = {}

    def send(self, destination_arn: str, record: dict) -> None:
        body = json.dumps(record, separators=(",", ":"))
        parts = destination_arn.split(":")
        service = parts[2] if len(parts) > 5 else ""
        if service == "sqs":
            url = self._queue_urls.get(destination_arn)
            if url is None:
                url = self.target.client("sqs").get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])[
                    "QueueUrl"
                ]
                self._queue_urls[destination_arn] = url
            self.target.client("sqs").send_message(QueueUrl=url, MessageBody=body)
        elif service == "sns":
            self.target.client("sns").publish(TopicArn=destination_arn, Message=body)
        else:
            from opsctl.core.errors import OpsError

            raise OpsError(
                f"the local runtime cannot send on-failure records to {destination_arn}",
                hint="use an SQS queue or SNS topic as the mapping's on-failure destination",
            )


def iso_millis(epoch_s: float) -> str:
    """`2019-11-14T00:38:06.021Z`, the timestamp format of Lambda's on-failure records."""
    ms = round(epoch_s * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
