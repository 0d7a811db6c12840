"""Resharding a provisioned Kinesis stream within AWS's rules: plan, check, apply step by step, verify.

AWS's UpdateShardCount (UNIFORM_SCALING) takes one target per call, at most 2x and at least 1/2 of the
current open count, at most 10 calls per rolling 24 h per stream and 10,000 shards per stream, within
the account's shard quota (docs/aws-limits.md §Kinesis). Tools that ask for the whole jump at once get refused
half way; we plan the fewest legal steps, apply them one at a time, and trust `list_shards` (not the
API's own count, which moto and AWS can report stale) to know where we are, so an interrupted run
picks up from what is there."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from capacity_report import stream as _stream
from capacity_report.stream import (  # noqa: F401 - the limits are re-exported
    MAX_SHARDS_PER_STREAM,
    SHARD_WRITE_BYTES_PER_S,
    SHARD_WRITE_RECORDS_PER_S,
    StreamRecommendation,
)
from opsctl.core.errors import OpsError

Recommendation = StreamRecommendation  # the one recommendation type

MAX_CALLS_PER_24H = 10  # AWS: UpdateShardCount calls per stream per rolling 24 h
ACTIVE_WAIT_S = 300.0  # seconds to wait for a stream to return to ACTIVE after one step

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def reshard_steps(current: int, target: int) -> list[int]:
    """The fewest UpdateShardCount targets from `current` to `target`, each within [ceil(n/2), 2n] of the last.

    Doubling (or halving) each step is optimal: no legal step moves further, so ceil(log2(ratio)) steps
    is the minimum. The last step lands exactly on `target`."""
    if current < 1 or target < 1:
        raise ValueError("shard counts start at 1")
    steps: list[int] = []
    n = current
    while n != target:
        n = min(2 * n, target) if target > n else max(math.ceil(n / 2), target)
        steps.append(n)
    return steps


def minimum_steps(current: int, target: int) -> int:
    """The lower bound on calls any tool needs (used by the bench to judge a plan)."""
    if current == target:
        return 0
    hi, lo = max(current, target), min(current, target)
    return math.ceil(math.log2(hi / lo) - 1e-12) if hi > lo else 0


@dataclass
class ReshardPlan:
    stream: str
    mode: str
    status: str
    current: int
    target: int
    steps: list[int]
    account_open_shards: int | None
    account_shard_limit: int | None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        rows, prev = [], self.current
        for i, n in enumerate(self.steps, 1):
            rows.append({"step": i, "from": prev, "to": n, "factor": round(n / prev, 3)})
            prev = n
        return {
            "stream": self.stream,
            "mode": self.mode,
            "status": self.status,
            "current_open_shards": self.current,
            "target": self.target,
            "steps": rows,
            "calls": len(self.steps),
            "minimum_calls": minimum_steps(self.current, self.target),
            "account_open_shards": self.account_open_shards,
            "account_shard_limit": self.account_shard_limit,
            "warnings": self.warnings,
        }


def open_shards(kinesis, stream: str) -> list[dict]:
    """The stream's open shards from `list_shards` (no EndingSequenceNumber), all pages."""
    shards, token = [], None
    while True:
        resp = kinesis.list_shards(NextToken=token) if token else kinesis.list_shards(StreamName=stream)
        shards += [s for s in resp["Shards"] if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
        token = resp.get("NextToken")
        if not token:
            return shards


def _summary(kinesis, stream: str) -> dict:
    try:
        return kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    except kinesis.exceptions.ResourceNotFoundException:
        raise OpsError(f"stream {stream!r} does not exist", hint="check --env or pass --stream") from None


def plan(kinesis, stream: str, target: int) -> ReshardPlan:
    """Checks that `stream` can go to `target` open shards and returns the steps, or raises OpsError saying why not."""
    if target < 1:
        raise OpsError(f"cannot reshard to {target} shards: a stream needs at least 1")
    if target > MAX_SHARDS_PER_STREAM:
        raise OpsError(f"cannot reshard to {target} shards: AWS allows at most {MAX_SHARDS_PER_STREAM:,} per stream")
    summary = _summary(kinesis, stream)
    mode = summary.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
    status = summary["StreamStatus"]
    if mode == "ON_DEMAND":
        raise OpsError(
            f"stream {stream!r} is ON_DEMAND: AWS manages its shards",
            hint="switch it to PROVISIONED in Terraform to reshard by hand",
        )
    if status != "ACTIVE":
        raise OpsError(
            f"stream {stream!r} is {status}, not ACTIVE: AWS refuses to reshard it now",
            hint="wait for ACTIVE and run again",
        )
    current = len(open_shards(kinesis, stream))
    steps = reshard_steps(current, target)
    limits = kinesis.describe_limits()
    limit = limits.get("ShardLimit")
    # The account count can lag (moto reports 0): never believe fewer than this stream holds.
    account_open = max(int(limits.get("OpenShardCount", 0)), current)
    warnings = []
    if limit is not None and steps and account_open - current + max(steps) > limit:
        raise OpsError(
            f"{target} shards would take the account to {account_open - current + max(steps)} open shards, over its "
            f"quota of {limit}",
            hint="ask AWS for a higher Kinesis shard quota first",
        )
    if len(steps) > MAX_CALLS_PER_24H:
        raise OpsError(
            f"{current} → {target} needs {len(steps)} UpdateShardCount calls; AWS allows {MAX_CALLS_PER_24H} per "
            "stream per 24 h",
            hint="reshard in two days, or split/merge shards by hand",
        )
    if steps:
        warnings.append(
            f"uses {len(steps)} of the {MAX_CALLS_PER_24H} UpdateShardCount calls AWS allows per stream per "
            "rolling 24 h (calls made earlier today count too)"
        )
    return ReshardPlan(
        stream=stream,
        mode=mode,
        status=status,
        current=current,
        target=target,
        steps=steps,
        account_open_shards=account_open,
        account_shard_limit=limit,
        warnings=warnings,
    )


def wait_active(
    kinesis, stream: str, *, timeout_s: float = ACTIVE_WAIT_S, poll_s: float = 1.0, sleep=time.sleep
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        status = _summary(kinesis, stream)["StreamStatus"]
        if status == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise OpsError(
                f"stream {stream!r} still {status} after {timeout_s:.0f} s",
                hint="run the same reshard again later: it continues from the open count",
            )
        sleep(poll_s)


@dataclass
class StepResult:
    step: int
    target: int
    open_after: int
    seconds: float


def apply(
    kinesis,
    the_plan: ReshardPlan,
    *,
    progress: Callable[[StepResult], None] = lambda _: None,
    waiting: Progress = _noop,
) -> list[StepResult]:
    """Applies the plan one UpdateShardCount at a time, verifying the open count with list_shards after each."""
    results = []
    for i, n in enumerate(the_plan.steps, 1):
        waiting(f"step {i}/{len(the_plan.steps)}: UpdateShardCount → {n}")
        t0 = time.monotonic()
        kinesis.update_shard_count(StreamName=the_plan.stream, TargetShardCount=n, ScalingType="UNIFORM_SCALING")
        wait_active(kinesis, the_plan.stream)
        got = len(open_shards(kinesis, the_plan.stream))
        if got != n:
            raise OpsError(
                f"after step {i} the stream has {got} open shards, not {n}",
                hint="run the same reshard again: it plans from the open count that is there",
            )
        result = StepResult(step=i, target=n, open_after=got, seconds=time.monotonic() - t0)
        results.append(result)
        progress(result)
    return results


# --- recommending a count (the implementation is functions/capacity_report/stream.py) -------------------


def recommend_shards(
    *, max_bytes_per_min: float, max_records_per_min: float, headroom: float, consumer_floor: int = 1
) -> tuple[int, int, int]:
    """(target, by_bytes, by_records): see capacity_report.stream.recommend_shards; a bad headroom is a user error."""
    try:
        return _stream.recommend_shards(
            max_bytes_per_min=max_bytes_per_min,
            max_records_per_min=max_records_per_min,
            headroom=headroom,
            consumer_floor=consumer_floor,
        )
    except ValueError as exc:
        raise OpsError(str(exc)) from None
