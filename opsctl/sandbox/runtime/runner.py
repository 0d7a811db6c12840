"""The local Lambda runtime: what AWS Lambda's event source mapping pollers do, against the sandbox.

moto stores event source mappings but never runs Lambda. `run` reads every enabled mapping, loads the
function each one points at from build/functions.zip (checked against the deployed CodeSha256), and
drives the mapping with AWS's semantics, calling the handler in this process. One adapter per source
type does the polling (Kinesis: opsctl.sandbox.runtime.kinesis, SQS: opsctl.sandbox.runtime.sqs); a new
source type is a new adapter registered in SOURCE_ADAPTERS, and everything around it (functions,
checkpoints, on-failure destinations, metrics, the summary) is shared."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from opsctl.core.aws import AwsTarget
from opsctl.core.errors import OpsError
from opsctl.core.project import FUNCTIONS_ZIP, SANDBOX_DIR
from opsctl.sandbox.runtime.function import FunctionRunner, Handler, MetricSink
from opsctl.sandbox.runtime.kinesis import KinesisPoller
from opsctl.sandbox.runtime.mapping import (
    CheckpointStore,
    EventSink,
    MappingConfig,
    MappingStats,
    OnFailureSender,
    noop,
)
from opsctl.sandbox.runtime.sqs import SqsPoller

FOLLOW_SLEEP_S = 0.25  # pause between passes in --follow mode when nothing arrived
ACTIVE_STATES = {"Enabled", "Enabling", "Updating", "Creating"}


class SourcePoller(Protocol):
    """What the runtime needs from an adapter: a pass over its source, and its counters."""

    stats: MappingStats

    def poll(self, *, force_refresh: bool = False) -> bool: ...


SOURCE_ADAPTERS: dict[str, type] = {"kinesis": KinesisPoller, "sqs": SqsPoller}


@dataclass
class RunSummary:
    mappings: list[MappingStats] = field(default_factory=list)
    timed_out: bool = False
    interrupted: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "mappings": [m.to_dict() for m in self.mappings],
            "timed_out": self.timed_out,
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
        }


def list_mappings(target: AwsTarget) -> list[MappingConfig]:
    """Every enabled event source mapping of the target (every page of ListEventSourceMappings)."""
    lam = target.client("lambda")
    found, marker = [], None
    while True:
        resp = lam.list_event_source_mappings(**({"Marker": marker} if marker else {}))
        found += [
            MappingConfig.from_api(m)
            for m in resp.get("EventSourceMappings", [])
            if m.get("State", "Enabled") in ACTIVE_STATES
        ]
        marker = resp.get("NextMarker")
        if not marker:
            return found


def run(
    target: AwsTarget,
    *,
    state_dir: Path = SANDBOX_DIR,
    until_idle: bool = True,
    from_start: bool = False,
    max_seconds: float | None = None,
    on_event: EventSink = noop,
    handler_overrides: dict[str, Handler] | None = None,
    zip_path: Path = FUNCTIONS_ZIP,
    max_passes: int | None = None,
) -> RunSummary:
    """Drives every enabled event source mapping until idle (or, with until_idle=False, until max_seconds or
    Ctrl-C) and returns what happened per mapping. `handler_overrides` maps a function name to a callable run
    in place of its deployed handler (the bench runs a naive handler under the same runtime)."""
    started = time.monotonic()
    summary = RunSummary()
    runner = None
    metrics = None
    try:
        mappings = list_mappings(target)
        if not mappings:
            raise OpsError("no event source mappings in the sandbox", hint="apply the environment: `opsctl sandbox up`")
        state_dir.mkdir(parents=True, exist_ok=True)
        checkpoints = CheckpointStore(state_dir / "checkpoints.json")
        if from_start:
            checkpoints.forget()
        metrics = MetricSink(target.client("cloudwatch"))
        runner = FunctionRunner(
            target, state_dir=state_dir, zip_path=zip_path, metrics=metrics, handler_overrides=handler_overrides
        )
        on_failure = OnFailureSender(target)
        pollers: list[SourcePoller] = []
        for m in mappings:
            adapter = SOURCE_ADAPTERS.get(m.source_service)
            if adapter is None:
                on_event(
                    "skip",
                    {
                        "uuid": m.uuid,
                        "function_name": m.function_name,
                        "source": m.source_arn,
                        "reason": f"the local runtime does not drive {m.source_service or 'this'} event sources yet",
                    },
                )
                continue
            pollers.append(
                adapter(
                    m,
                    target=target,
                    runner=runner,
                    function=runner.function(m.function_arn),
                    checkpoints=checkpoints,
                    on_failure=on_failure,
                    metrics=metrics,
                    on_event=on_event,
                    until_idle=until_idle,
                )
            )
        summary.mappings = [p.stats for p in pollers]
        _drive(
            pollers,
            summary,
            started,
            until_idle=until_idle,
            max_seconds=max_seconds,
            metrics=metrics,
            runner=runner,
            max_passes=max_passes,
        )
        runner.flush_logs()
        metrics.flush()
        for name in sorted(runner.log_groups_missing):
            on_event(
                "logs",
                {
                    "function_name": name,
                    "reason": f"log group /aws/lambda/{name} does not exist: its lines stay in the state dir only",
                },
            )
    except (BotoConnectionError, BotoCoreError) as exc:
        if isinstance(exc, BotoConnectionError) or "Connect" in type(exc).__name__:
            raise OpsError(
                f"the sandbox at {target.endpoint_url or 'AWS'} does not answer ({type(exc).__name__})",
                hint="run `opsctl sandbox up`",
            ) from None
        raise
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise OpsError(
            f"{exc.operation_name} failed: {err.get('Code')}: {err.get('Message')}",
            hint="is the sandbox up to date? run `opsctl sandbox up`",
        ) from None
    finally:
        if runner is not None:
            runner.close()
        summary.seconds = time.monotonic() - started
    return summary


def _drive(
    pollers: list[SourcePoller],
    summary: RunSummary,
    started: float,
    *,
    until_idle: bool,
    max_seconds: float | None,
    metrics: MetricSink,
    runner: FunctionRunner,
    max_passes: int | None = None,
) -> None:
    """Passes over every mapping until idle, max_seconds, max_passes (a pass = at most one batch per shard or
    queue: a consumer that falls behind, as in `opsctl sandbox drill`) or Ctrl-C."""
    quiet_passes = 0
    passes = 0
    try:
        while True:
            if (max_seconds is not None and time.monotonic() - started >= max_seconds) or (
                max_passes is not None and passes >= max_passes
            ):
                summary.timed_out = True
                return
            passes += 1
            # The first quiet pass re-lists shards (a reshard may have added some); a second one is idle.
            busy = False
            for p in pollers:
                busy |= p.poll(force_refresh=quiet_passes == 1)
            # The pass's log lines go to CloudWatch Logs, whose subscription filters may put records on a
            # stream a mapping reads (the alert stream): that is more work for the next pass.
            busy |= runner.flush_logs() > 0
            metrics.maybe_flush()
            quiet_passes = 0 if busy else quiet_passes + 1
            if quiet_passes >= 2:
                if until_idle:
                    return
                quiet_passes = 1  # keep re-listing shards in follow mode
                time.sleep(FOLLOW_SLEEP_S)
    except KeyboardInterrupt:
        summary.interrupted = True
