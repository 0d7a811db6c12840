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
from capacity_report.stream import MAX_SHARDS_PER_STREAM, SHARD_WRITE_BYTES_PER_S, SHARD_WRITE_RECORDS_PER_S
from capacity_report.stream import StreamRecommendation as Recommendation  # the one recommendation type

__all__ = ["MAX_SHARDS_PER_STREAM", "SHARD_WRITE_BYTES_PER_S", "SHARD_WRITE_RECORDS_PER_S", "Recommendation"]
from opsctl.core.errors import InvalidArgument, NotFound, OpsError

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
        raise NotFound("stream", stream, hint="check {env} or pass {stream}", arguments=["env", "stream"]) from None


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


# --- the whole operation, as `opsctl reshard` runs it (the CLI only renders and asks) ---------------------

MAX_TARGET = 10_000  # open shards per stream (AWS)


@dataclass(frozen=True)
class Request:
    """What a reshard was asked for: a count (`to`) or a recommendation over `window`, filling shards to at most
    `headroom` (a share, 0–1] of their write limits."""

    to: int | None = None
    recommend: bool = False
    window: str = "1h"
    headroom: float = 0.7

    def check(self) -> None:
        """Every argument, before the first AWS call."""
        if (self.to is None) == (not self.recommend):
            raise InvalidArgument(
                "give exactly one of {to} N or {recommend}",
                hint="e.g. `opsctl reshard {to} 4 {dry_run}`",
                arguments=["to", "recommend", "dry_run"],
            )
        if self.to is not None and not 1 <= self.to <= MAX_TARGET:
            raise InvalidArgument(
                f"{{to}} {self.to} is not a shard count AWS allows: a stream has at least 1 and at most "
                f"{MAX_TARGET:,} open shards",
                arguments=["to"],
            )
        if not 0 < self.headroom <= 1:
            raise InvalidArgument(
                f"{{headroom}} {self.headroom:g} is not a share of the write limits",
                hint="between 0 and 1, e.g. 0.7 = fill to 70%",
                arguments=["headroom"],
            )
        if self.recommend:
            from opsctl.core import metrics

            metrics.parse_window(self.window)


@dataclass
class Reshard:
    """One reshard: its plan (and the recommendation it came from), the steps applied so far, and the count
    recorded for Terraform. `to_dict()` is `opsctl reshard --output json` (docs/opsctl-output.md)."""

    stream: str
    plan: ReshardPlan
    recommendation: Recommendation | None = None
    applied: list[StepResult] = field(default_factory=list)
    terraform: object | None = None  # opsctl.core.tfvars.Recorded

    def to_dict(self) -> dict:
        return {
            "plan": self.plan.to_dict(),
            "recommendation": self.recommendation.to_dict() if self.recommendation else None,
            "applied": [r.__dict__ for r in self.applied],
            "terraform": self.terraform.to_dict() if self.terraform is not None else None,  # type: ignore[attr-defined]
        }


def prepare(stack, request: Request) -> Reshard:
    """The plan for `request` on the stack's stream (checked first; reads the stream and, to recommend, its metrics)."""
    request.check()
    rec = None
    target = request.to
    if request.recommend:
        from opsctl.stream import recommend as recmod

        rec = recmod.recommend(stack, window=request.window, headroom=request.headroom)
        target = rec.target
    assert target is not None  # check() made sure of one of them
    stream = stack.get("stream_name")
    return Reshard(stream=stream, plan=plan(stack.target.client("kinesis"), stream, target), recommendation=rec)


def carry_out(
    stack,
    reshard: Reshard,
    *,
    progress: Callable[[StepResult], None] = lambda _: None,
    waiting: Progress = _noop,
) -> Reshard:
    """Applies the plan step by step (each verified, each in `reshard.applied` as soon as it is), then records the
    count. Interrupted, `reshard.applied` says what was done; running the same request again plans from there."""

    def step_done(result: StepResult) -> None:
        reshard.applied.append(result)
        progress(result)

    try:
        apply(stack.target.client("kinesis"), reshard.plan, progress=step_done, waiting=waiting)
    except BaseException:
        # interrupted or refused part way: Terraform must learn the count the stream has now, or the next apply
        # would undo the steps already made
        if reshard.applied:
            record_count(stack.env, reshard, reshard.applied[-1].open_after)
        raise
    record_count(stack.env, reshard, reshard.plan.target)
    return reshard


def record_count(env: str, reshard: Reshard, count: int):
    """Writes `ingest_shard_count = count` to the environment's opsctl.auto.tfvars.json, so `terraform plan` agrees
    with the stream; the result (written, or the line to add by hand) is kept on `reshard`."""
    from opsctl.core import tfvars

    reshard.terraform = tfvars.record(env, "ingest_shard_count", count)
    return reshard.terraform
