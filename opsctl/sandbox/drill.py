"""`opsctl sandbox drill`: an incident rehearsal on the sandbox, with real metrics and the runbooks' own commands.

The story: the ingest consumer stops while devices keep sending (a traffic spike, then a poison burst behind it).
When it comes back it is slow (one batch per shard a minute, `opsctl sandbox run --max-passes 1`), so the
Lambda IteratorAge it publishes, measured from each record's real Kinesis arrival, stays over the catalog's
warning threshold for the alarm's datapoints_to_alarm minutes. In those same minutes DynamoDB has a bad spell
(`opsctl sandbox fault --requests`: HTTP 500s for a pass's first writes: `table_system_errors`) and the table,
sized for the baseline, throttles every slow pass by its own capacity (`table_write_throttles`; the ingest
function's retries ride both out): `opsctl capacity --apply --yes --write-capacity C` made it PROVISIONED below
what a pass writes (throttle_plan: a batch from every shard, more than C WCU refill in a minute) one period before
the first pass writes, so each pass finds one minute's refill in its burst bucket (a switch from on demand starts
the bucket empty; a table found PROVISIONED goes on demand first). After the detection table-throttles.md's
mitigation raises it with the same command, before the catch-up; at the end the table is put back as the drill
found it (`capacity` in the result says what it found, set, raised and left). One device sends more than its
shard's 1,000 records a second (`stream_write_throughput_exceeded`; the drill's sender retries what was refused),
and the functions' runtimes crash (`function-crash`): the rollup worker on every job it receives, the ingest
consumer on a second pass each minute, the first time for as many passes as a batch needs to be bisected down and
run out of retries. Lambda counts the Errors (`ingest_error_rate`, `rollup_error_rate`), the crashed records go to
the ingest on-failure queue (`ingest_failure_queue_not_empty`) and a job received maxReceiveCount times to the
rollup DLQ (`rollup_dlq_not_empty`), from the AWS/SQS depths the sandbox publishes.
`opsctl monitors` then shows the alarms and their runbooks; the drill runs the runbooks' commands (diagnose,
mitigate, verify); after the catch-up a poison burst arrives and is quarantined: `ingest_poison_burst`; the
failure queue and the DLQ are replayed (`opsctl replay-dlq --source ingest|rollup`).
It waits until every monitor that fired is OK again (CloudWatch needs the breaching minutes to leave the window,
so the waits of all the alarms overlap: ~9 minutes in all), and accounts for every record it sent: each valid
reading in the table, each poison record in the quarantine by reason, the failure queue and the DLQ empty.
Nothing is faked: no metric is written by the drill, no threshold is changed. `--full` lets the backlog age past
the critical threshold first (~20 minutes), which also fires `ingest_iterator_age_critical` and
`stream_iterator_age`. Every other catalog monitor is listed in the result (`not_exercised`) with the reason it
cannot be pushed over honestly in a drill."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opsctl.monitoring import thresholds
from opsctl.sandbox import traffic as gen

MONITOR = "ingest_iterator_age_warning"
CRITICAL_MONITOR = "ingest_iterator_age_critical"  # --full: the same story past the critical threshold
STREAM_AGE_MONITOR = "stream_iterator_age"  # --full: the stream's GetRecords.IteratorAgeMilliseconds, same reads
POISON_MONITOR = "ingest_poison_burst"  # RecordsQuarantined per minute: the poison burst's own alarm
WRITE_THROTTLE_MONITOR = "stream_write_throughput_exceeded"  # a hot device over its shard's 1,000 records/s
TABLE_THROTTLE_MONITOR = "table_write_throttles"  # the slow passes write more than the provisioned capacity
TABLE_ERRORS_MONITOR = "table_system_errors"  # a dynamodb-error fault during the slow passes
ERROR_RATE_MONITOR = "ingest_error_rate"  # a function-crash fault on ingest during each slow minute's first pass
FAILURE_QUEUE_MONITOR = "ingest_failure_queue_not_empty"  # the crashed batch's retries run out: on-failure queue
ROLLUP_ERRORS_MONITOR = "rollup_error_rate"  # a function-crash fault on the rollup worker in the slow minutes
ROLLUP_DLQ_MONITOR = "rollup_dlq_not_empty"  # a job crashed on maxReceiveCount receives: moved to the rollup DLQ
MARGIN_S = 5  # seconds past the threshold before the slow consumer's first pass
MINUTE_WORK_S = 50  # seconds a slow minute's burst, faults and two passes take at most (the throttle window is 20)
HOT_DEVICE_BURST = 1200  # records one device sends at once in each slow minute: more than its shard's 1,000/s
ERROR_FAULT_REQUESTS = 3  # requests on the readings table that answer HTTP 500 at the start of a slow pass (its
# first BatchWriteItem's attempts): counted, not timed, so they fail whenever the pass's first writes come (a loaded
# machine starts its process late); the ingest function's retries ride them out
ERROR_FAULT_S = 45  # seconds those requests may take to come at most (inside MINUTE_WORK_S: never the next minute's)
# The readings table is PROVISIONED below what one slow pass writes (throttle_plan): each pass of the throttle
# minutes finds less in the burst bucket than it writes, and the ingest function retries the rest as it refills.
THROTTLE_TAIL_GROWTH_MAX_S = 15  # seconds by which a slow pass's throttled tail (its writes waiting for capacity)
# may grow from one slow minute to the next: a minute refills capacity x period units, a pass writes more
SWITCH_LATE_S = 10  # seconds after the first slow pass starts that the capacity switch is a period old. Its first
# writes come a few seconds in (process start, the HTTP 500s): the bucket then holds less than a period's refill, and
# less than the pass writes as long as they come within SWITCH_LATE_S + (writes / capacity - period) s (16.7 s on the
# local stack; tests/opsctl/test_drill_catalog.py). A switch a period before the pass's start would leave ~7 s less.
CATCH_UP_S = 10  # seconds of the raised capacity that carry every reading the incident sent (the catch-up's writes)
WCU_PER_READING = 1  # a reading's item is under 1 KB: one write unit (tests/opsctl/test_drill_catalog.py checks it)
CRASH_FAULT_S = 120  # seconds the ingest crash window may last at most: the drill ends it after the crash pass
ROLLUP_CRASH_S = 180  # seconds the rollup crash window may last at most: the drill ends it after the minute's
# last pass, so every rollup receive of the minute's passes crashes however long they take, and none of the next's
FULL_DRILL_MINUTES = 20  # about how long `--full` takes: 10 minutes of backlog age, 5 slow minutes, recovery
# Every catalog monitor the drill does not push over, and why (tests/e2e/test_drill_sandbox.py checks the rest).
NOT_EXERCISED = {
    CRITICAL_MONITOR: f"600,000 ms for 5 of 5 minutes: `opsctl sandbox drill --full` (~{FULL_DRILL_MINUTES} minutes)",
    STREAM_AGE_MONITOR: "GetRecords.IteratorAgeMilliseconds over 600,000 ms for 5 of 5 minutes: "
    f"`opsctl sandbox drill --full` (~{FULL_DRILL_MINUTES} minutes)",
    "ingest_failure_queue_oldest_age": "21,600 s (6 h) of a message's age",
    "stream_read_throughput_exceeded": "one consumer per stream: the local poller backs off before the 5 reads/s "
    "would be refused in 3 minutes of 5",
    "ingest_throttles": "the local runtime runs one invocation per shard at a time: Lambda never throttles it",
    "alert_throttles": "as ingest_throttles",
    "rollup_throttles": "as ingest_throttles",
    "alert_error_rate": "the log-alert function's own failures are not the ingest incident's",
    "alert_iterator_age": "300,000 ms on the alert stream: a second 10-minute incident",
    "alert_failure_queue_not_empty": "a second consumer's give-up (the alert stream's), a second incident: the "
    "same path as ingest_failure_queue_not_empty, which the drill fires",
    "api_5xx_rate": "the read API is not part of the ingest incident",
    "api_p99_latency": "as api_5xx_rate (the sandbox computes its p99: opsctl/sandbox/cw_reads.py)",
    "rollup_queue_oldest_age": "900 s of a rollup job's age",
    "rollup_dlq_oldest_age": "345,600 s (4 days)",
    "table_read_throttles": "the ingest incident writes; reads are the read API's",
    "report_dlq_not_empty": "the report's DLQ is EventBridge Scheduler's dead-letter queue, and moto never fires "
    "schedules (the sandbox runs the report with `opsctl sandbox scheduled-report`, a direct invocation): nothing "
    "on the sandbox can put a failed scheduled invocation there",
    "report_errors": "Errors Sum per 3,600 s period: a function-crash fault on the report function and `opsctl "
    "sandbox scheduled-report` would fire it, but it clears only when that hour has left its one-period window",
    "report_not_run": "26 hours without a report",
}
# The runbook command each exercised monitor came back after (what the drill ran; the step names the runbook).
BROUGHT_BACK_BY = {
    MONITOR: "opsctl sandbox run --until-idle",
    CRITICAL_MONITOR: "opsctl sandbox run --until-idle",
    STREAM_AGE_MONITOR: "opsctl sandbox run --until-idle",
    POISON_MONITOR: "opsctl quarantine list --output json",
    WRITE_THROTTLE_MONITOR: "opsctl reshard --recommend --window 1h --dry-run",
    TABLE_THROTTLE_MONITOR: "opsctl capacity --apply --yes --write-capacity",
    TABLE_ERRORS_MONITOR: "opsctl status",
    ERROR_RATE_MONITOR: "opsctl status",
    FAILURE_QUEUE_MONITOR: "opsctl replay-dlq --source ingest --yes",
    ROLLUP_ERRORS_MONITOR: "opsctl status",
    ROLLUP_DLQ_MONITOR: "opsctl replay-dlq --source rollup --yes",
}
DEFAULT_EXERCISED = [
    MONITOR,
    POISON_MONITOR,
    WRITE_THROTTLE_MONITOR,
    TABLE_THROTTLE_MONITOR,
    TABLE_ERRORS_MONITOR,
    ERROR_RATE_MONITOR,
    FAILURE_QUEUE_MONITOR,
    ROLLUP_ERRORS_MONITOR,
    ROLLUP_DLQ_MONITOR,
]
FULL_EXERCISED = [*DEFAULT_EXERCISED, CRITICAL_MONITOR, STREAM_AGE_MONITOR]


def exercised(full: bool) -> list[str]:
    """The monitors the drill claims (and its e2e test checks): --full adds the critical iterator-age ones."""
    return list(FULL_EXERCISED if full else DEFAULT_EXERCISED)


def crash_passes(batch_size: int, max_retry_attempts: int, bisect: bool) -> int:
    """Passes of one batch per shard until a batch whose every invocation crashes has a record given up: the
    bisections down to one record (the first half of each split goes first), then its first invocation and its
    retries, as the mapping (and Lambda) does; -1 retries (infinite) never give up."""
    assert max_retry_attempts >= 0, "infinite retries: a crashed batch never reaches the on-failure destination"
    splits, n = 0, batch_size
    while bisect and n > 1:
        n //= 2
        splits += 1
    return splits + 1 + max_retry_attempts


@dataclass(frozen=True)
class ThrottlePlan:
    per_minute_wcu: int  # what one slow pass writes: a batch from every shard, WCU_PER_READING each
    capacity_wcu: int  # the write capacity the table is "sized for the baseline" at during the incident
    tail_growth_s: float  # per_minute_wcu / capacity_wcu - period: how much longer each minute's throttled tail gets
    raised_wcu: int  # what the runbook's mitigation raises it to: the incident's readings in CATCH_UP_S seconds

    def to_dict(self) -> dict:
        return {**self.__dict__, "tail_growth_s": round(self.tail_growth_s, 2)}


def throttle_plan(per_minute_wcu: int, period_s: int, incident_wcu: int) -> ThrottlePlan | None:
    """The write capacity that throttles every slow pass, and the one that carries the catch-up; None when no whole
    number of WCU does both (a slow pass writing less than `period_s` WCU: one shard of a small batch).

    Between two slow passes a bucket of C WCU refills C x period_s units; a pass writes W at once. It throttles if
    C x period_s < W, and its writes then wait (W - bucket) / C seconds for capacity, W / C - period_s seconds more
    than the last minute's: the smallest C whose growth is at most THROTTLE_TAIL_GROWTH_MAX_S."""
    capacity = max(1, math.ceil(per_minute_wcu / (period_s + THROTTLE_TAIL_GROWTH_MAX_S)))
    if capacity * period_s >= per_minute_wcu:
        return None
    from capacity_report.tables import MAX_CAPACITY_UNITS

    raised = min(MAX_CAPACITY_UNITS, max(capacity + 1, math.ceil(incident_wcu / CATCH_UP_S)))
    return ThrottlePlan(per_minute_wcu, capacity, per_minute_wcu / capacity - period_s, raised)


def restore_args(found: dict, now: dict) -> list[str] | None:
    """The `opsctl capacity` arguments that put the readings table back as the drill found it (None: it is)."""
    if now == found:
        return None
    if found["billing_mode"] == "PAY_PER_REQUEST":
        return ["capacity", "--apply", "--yes", "--on-demand"]
    return [
        "capacity",
        "--apply",
        "--yes",
        "--write-capacity",
        str(found["write_capacity"]),
        "--read-capacity",
        str(found["read_capacity"]),
    ]


def per_minute_writes(per_shard: dict[str, int], batch: int, minutes: int) -> int:
    """WCU the fewest-writing of `minutes` slow passes writes: each takes one batch from every shard's backlog."""
    return min(
        sum(min(batch, max(0, n - i * batch)) for n in per_shard.values()) * WCU_PER_READING for i in range(minutes)
    )


def shard_of(partition_key: str, ranges: dict[str, tuple[int, int]]) -> str:
    """The shard Kinesis puts a partition key in: the MD5 of the key as a 128-bit number, in the shard's hash range."""
    h = int(hashlib.md5(partition_key.encode()).hexdigest(), 16)  # Kinesis's own mapping, not security
    return next(shard for shard, (low, high) in ranges.items() if low <= h <= high)


def spread_devices(prefix: str, count: int, ranges: dict[str, tuple[int, int]]) -> list[str]:
    """`count` device ids `<prefix>-NNNN`, each picked for the shard holding the fewest so far: a spike from them
    gives every shard its share of the backlog (count >= shards: every shard one device at least)."""
    held = dict.fromkeys(ranges, 0)
    out: list[str] = []
    n = 0
    while len(out) < count:
        name = f"{prefix}-{n:04d}"
        n += 1
        shard = shard_of(name, ranges)
        if held[shard] == min(held.values()) or n > 100 * count:  # never stuck on an odd hash space
            held[shard] += 1
            out.append(name)
    return out


@dataclass
class Step:
    at_s: float
    step: str
    command: str
    outcome: str
    exit_code: int | None = None

    def to_dict(self) -> dict:
        return {
            "at_s": round(self.at_s, 1),
            "step": self.step,
            "command": self.command,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
        }


@dataclass
class Drill:
    stack: object
    progress: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)
    timeline: list[Step] = field(default_factory=list)

    def log(self, step: str, command: str, outcome: str, exit_code: int | None = None) -> None:
        s = Step(time.monotonic() - self.started, step, command, outcome, exit_code)
        self.timeline.append(s)
        self.progress(f"[{s.at_s:6.1f} s] {step}: {command} → {outcome}")

    def opsctl(
        self,
        step: str,
        *args: str,
        summarize: Callable[[subprocess.CompletedProcess], str] | None = None,
        ok_codes: tuple[int, ...] = (0,),
    ) -> subprocess.CompletedProcess:
        """Runs an opsctl command exactly as a runbook spells it (same sandbox: OPSCTL_SANDBOX_DIR is inherited)."""
        proc = subprocess.run(
            [sys.executable, "-m", "opsctl.cli.app", *args],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=900,
        )
        outcome = summarize(proc) if summarize and proc.returncode in ok_codes else f"exit {proc.returncode}"
        if proc.returncode not in ok_codes:
            tail = (proc.stderr.strip().splitlines() or [""])[-1]
            outcome += f" (unexpected: {tail})"
        self.log(step, "opsctl " + " ".join(args), outcome, proc.returncode)
        return proc

    def opsctl_started(self, *args: str) -> Callable[..., subprocess.CompletedProcess]:
        """Starts an opsctl command in the background (while the drill runs another); the returned function waits
        for it and logs it as `opsctl` does, at the time it is joined."""
        cmd = [sys.executable, "-m", "opsctl.cli.app", *args]
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))

        def join(step: str, summarize=None, ok_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
            out, errs = child.communicate(timeout=900)
            proc = subprocess.CompletedProcess(cmd, child.returncode, out, errs)
            outcome = summarize(proc) if summarize and proc.returncode in ok_codes else f"exit {proc.returncode}"
            if proc.returncode not in ok_codes:
                outcome += f" (unexpected: {(errs.strip().splitlines() or [''])[-1]})"
            self.log(step, "opsctl " + " ".join(args), outcome, proc.returncode)
            return proc

        return join


@dataclass
class Sent:
    readings: list[dict] = field(default_factory=list)
    poison: dict[tuple[str, str], str] = field(default_factory=dict)  # (shard, sequence number) → poison kind
    first_sent_at: float = 0.0


def _send(kinesis, stream: str, items: list[gen.Outgoing], sent: Sent, per_shard: dict[str, int] | None = None) -> int:
    """PutRecords (≤500 per call), remembering each poison record's shard and sequence number to find it later
    (and counting the valid ones by shard in `per_shard`); returns how many records the stream refused (and this
    sender put again)."""
    refused = 0
    for i in range(0, len(items), gen.PUT_RECORDS_MAX):
        pending, stalled = items[i : i + gen.PUT_RECORDS_MAX], 0
        while pending and stalled < gen.MAX_PUT_ATTEMPTS:  # a shard takes 1,000 records/s: retry what it refused
            resp = kinesis.put_records(
                StreamName=stream, Records=[{"Data": x.data, "PartitionKey": x.partition_key} for x in pending]
            )
            failed = []
            for item, rec in zip(pending, resp["Records"], strict=True):
                if rec.get("ErrorCode"):
                    failed.append(item)
                elif item.kind == "valid":
                    if item.reading is not None:
                        sent.readings.append(item.reading)
                    if per_shard is not None:
                        per_shard[rec["ShardId"]] = per_shard.get(rec["ShardId"], 0) + 1
                else:
                    sent.poison[(rec["ShardId"], rec["SequenceNumber"])] = item.kind
            stalled = stalled + 1 if len(failed) == len(pending) else 0
            refused += len(failed)
            pending = failed
            if pending:
                time.sleep(0.2)
        if pending:
            from opsctl.core.errors import OpsError

            raise OpsError(f"{len(pending)} drill records refused by {stream}", hint="the stream is under-provisioned")
    return refused


def _readings(prefix: str, devices: int, records: int, seed: int, names: list[str] | None = None) -> list[dict]:
    """Readings of `devices` devices named `<prefix>-NNNN`, or `names` (one per device) when given."""
    out = gen.readings(devices, records, seed=seed)
    renamed = dict(zip(gen.device_ids(devices), names, strict=True)) if names else {}
    for r in out:
        r["device_id"] = renamed.get(r["device_id"]) or f"{prefix}-{r['device_id'].removeprefix('dev-')}"
    return out


def _table_capacity(stack) -> dict:
    """The readings table's billing mode and capacity, as DescribeTable gives them."""
    t = stack.target.client("dynamodb").describe_table(TableName=stack.get("table_name"))["Table"]
    pt = t.get("ProvisionedThroughput", {})
    return {
        "billing_mode": t.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        "read_capacity": int(pt.get("ReadCapacityUnits") or 0),
        "write_capacity": int(pt.get("WriteCapacityUnits") or 0),
    }


def _monitor_states(proc: subprocess.CompletedProcess) -> dict[str, str]:
    try:
        return {m["id"]: m["state"] for m in json.loads(proc.stdout)["monitors"]}
    except (ValueError, KeyError):
        return {}


def _monitor_reasons(proc: subprocess.CompletedProcess) -> dict[str, str]:
    """Each monitor's reason as `opsctl monitors` gave it (the periods it judged): what a problem shows."""
    try:
        return {m["id"]: str(m.get("reason", "")) for m in json.loads(proc.stdout)["monitors"]}
    except (ValueError, KeyError):
        return {}


@dataclass(frozen=True)
class IngestMapping:
    shards: int  # open shards of the ingest stream
    batch: int  # the mapping's batch size
    max_retry_attempts: int  # -1: infinite
    bisect: bool


def _mapping(stack) -> IngestMapping:
    lam = stack.target.client("lambda")
    m = lam.get_event_source_mapping(UUID=stack.get("ingest_mapping_uuid"))
    shards = stack.target.client("kinesis").describe_stream_summary(StreamName=stack.get("stream_name"))[
        "StreamDescriptionSummary"
    ]["OpenShardCount"]
    retries = m.get("MaximumRetryAttempts")
    return IngestMapping(
        int(shards),
        int(m.get("BatchSize", 100)),
        -1 if retries is None else int(retries),
        bool(m.get("BisectBatchOnFunctionError")),
    )


def _depth(stack, output: str) -> int:
    """Messages in a queue (visible + in flight + delayed), by its stack output."""
    a = stack.target.client("sqs").get_queue_attributes(
        QueueUrl=stack.get(output),
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(v) for v in a.values())


def _delivered(p: subprocess.CompletedProcess) -> int:
    return sum(m.get("records_delivered", 0) for m in json.loads(p.stdout)["mappings"])


def _throttle_summary(doc: dict, table: str) -> str:
    """What `opsctl capacity --output json` says of the readings table's writes: its capacity and the throttled."""
    for t in doc["report"]["tables"]:
        if t["resource"] == table:
            w = t["dimensions"]["write"]
            return f"{table}: {w['provisioned']} WCU now; " + (
                f"{w['throttled']:g} write requests throttled in the window (ProvisionedThroughputExceededException, "
                "retried by the ingest function)"
                if w["throttled"]
                else "no write throttled in the window"
            )
    return f"{table}: not in the report"


def _wait_until(t: float) -> None:
    while (left := t - time.time()) > 0:
        time.sleep(min(left, 5))


def account(stack, sent: Sent) -> dict:
    """Where every sent record is now: valid readings in the table (one Query per device, COUNT), poison in the
    quarantine (matched by shard and sequence number, counted by reason)."""
    ddb = stack.target.client("dynamodb")
    expected: dict[str, set[int]] = {}
    for r in sent.readings:
        expected.setdefault(r["device_id"], set()).add(int(r["ts"]))
    in_table = 0
    for device, stamps in expected.items():
        found: set[int] = set()
        for page in ddb.get_paginator("query").paginate(
            TableName=stack.get("table_name"),
            KeyConditionExpression="device_id = :d",
            ExpressionAttributeValues={":d": {"S": device}},
            ProjectionExpression="ts",
        ):
            found.update(int(item["ts"]["N"]) for item in page["Items"])
        in_table += len(stamps & found)
    from opsctl.quarantine import store as quarantine

    by_reason: dict[str, int] = {}
    matched = 0
    for rec in quarantine.list_records(stack, limit=10**9).records:
        kind = sent.poison.get((str(rec.get("shard_id")), str(rec.get("sequence_number"))))
        if kind is not None:
            matched += 1
            by_reason[rec.get("reason_code", "?")] = by_reason.get(rec.get("reason_code", "?"), 0) + 1
    total = len(sent.readings) + len(sent.poison)
    return {
        "sent": total,
        "valid_sent": len(sent.readings),
        "poison_sent": len(sent.poison),
        "in_table": in_table,
        "quarantined": matched,
        "quarantined_by_reason": dict(sorted(by_reason.items())),
        "unaccounted": total - in_table - matched,
    }


def run(
    stack,
    *,
    baseline: int = 200,
    spike: int = 1500,
    poison: int = 22,
    devices: int = 10,
    seed: int = 11,
    settle_timeout_s: float | None = None,
    full: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> dict:
    """The whole rehearsal; returns the result document (timeline, monitors, accounting, ok). With `full`, the
    backlog ages past the critical iterator-age threshold first (about FULL_DRILL_MINUTES minutes in all)."""
    from opsctl.sandbox import faults

    d = Drill(stack, progress)
    catalog = thresholds.monitors()
    age_monitor = CRITICAL_MONITOR if full else MONITOR
    mon = catalog[age_monitor]
    threshold_ms, unit = thresholds.threshold(mon)
    assert unit == "ms", f"{age_monitor} threshold must be in ms"
    claimed = exercised(full)
    not_exercised = {k: v for k, v in NOT_EXERCISED.items() if k not in claimed}
    error_minutes = int(catalog[TABLE_ERRORS_MONITOR]["datapoints_to_alarm"])
    throttle_minutes = int(catalog[TABLE_THROTTLE_MONITOR]["datapoints_to_alarm"])
    hot_minutes = int(catalog[WRITE_THROTTLE_MONITOR]["datapoints_to_alarm"])
    crash_minutes = int(catalog[ERROR_RATE_MONITOR]["datapoints_to_alarm"])
    rollup_crash_minutes = int(catalog[ROLLUP_ERRORS_MONITOR]["datapoints_to_alarm"])
    ingest_fn, rollup_fn = stack.get("ingest_function_name"), stack.get("rollup_function_name")
    rollup_visibility_s = int(
        stack.target.client("sqs").get_queue_attributes(
            QueueUrl=stack.get("rollup_queue_url"), AttributeNames=["VisibilityTimeout"]
        )["Attributes"]["VisibilityTimeout"]
    )
    table = stack.get("table_name")
    endpoint = stack.target.endpoint_url
    period = int(mon["period_seconds"])
    run_id = time.strftime("%H%M%S")
    kinesis, stream = stack.target.client("kinesis"), stack.get("stream_name")
    sent = Sent()

    d.opsctl("prepare", "sandbox", "run", "--until-idle", summarize=lambda p: "earlier records delivered")
    found = _table_capacity(stack)
    if found["billing_mode"] == "PROVISIONED":
        # The burst bucket of a table PROVISIONED for a while holds 300 s of its capacity, more than the slow passes
        # write: on demand now, PROVISIONED again at the incident's capacity below, whose bucket starts at the switch.
        d.opsctl(
            "prepare",
            "capacity",
            "--apply",
            "--yes",
            "--on-demand",
            summarize=lambda p: f"readings table on demand (it was {found['write_capacity']} WCU; put back at the end)",
        )
    # (a) baseline
    _send(
        kinesis,
        stream,
        [
            gen.Outgoing(r["device_id"], json.dumps(r).encode(), "valid", r)
            for r in _readings(f"drill{run_id}b", devices, baseline, seed)
        ],
        sent,
    )
    d.log("baseline", f"PutRecords: {baseline} readings from {devices} devices", "accepted")
    d.opsctl("baseline", "sandbox", "run", "--until-idle", summarize=lambda p: "delivered")
    proc = d.opsctl(
        "baseline",
        "monitors",
        "--output",
        "json",
        ok_codes=(0, 1, 2),
        summarize=lambda p: f"{MONITOR}: {_monitor_states(p).get(MONITOR, '?')}",
    )
    before = _monitor_states(proc)

    # (b) the consumer is down while a spike with a poison burst arrives
    ingest = _mapping(stack)
    shards, batch = ingest.shards, ingest.batch
    minutes = (error_minutes, throttle_minutes, hot_minutes, crash_minutes, rollup_crash_minutes)
    passes = max(int(mon["datapoints_to_alarm"]), *minutes)
    spike = max(spike, (passes + 1) * shards * batch + 1)  # a backlog the slow passes cannot finish
    # ... on every shard: the spike comes from the same number of devices on every shard (at least `devices`), so
    # every shard has its share of it, a batch for every slow pass and one more.
    ranges = {
        sh["ShardId"]: (int(sh["HashKeyRange"]["StartingHashKey"]), int(sh["HashKeyRange"]["EndingHashKey"]))
        for sh in kinesis.list_shards(StreamName=stream)["Shards"]
        if "EndingSequenceNumber" not in sh["SequenceNumberRange"]
    }
    spike_devices = -(-devices // len(ranges)) * len(ranges)
    names = spread_devices(f"drill{run_id}s", spike_devices, ranges)
    fewest = min(sum(1 for n in names if shard_of(n, ranges) == sh) for sh in ranges)
    spike = max(spike, -(-(passes + 1) * batch * spike_devices // max(1, fewest)))
    # The first crash pass runs until one record per shard has crashed through the bisections and every retry.
    first_crash_passes = crash_passes(batch, ingest.max_retry_attempts, ingest.bisect) + 1
    items = gen.mix([r for r in _readings(f"drill{run_id}s", spike_devices, spike, seed + 1, names)], [], seed=seed)
    sent.first_sent_at = time.time()
    per_shard: dict[str, int] = {}
    _send(kinesis, stream, items, sent, per_shard)
    d.log(
        "incident",
        f"PutRecords: spike of {spike} readings while the consumer is stopped",
        f"accepted ({shards} shards, batch size {batch})",
    )
    breach_at = sent.first_sent_at + threshold_ms / 1000 + MARGIN_S
    d.log(
        "incident",
        "(no consumer)",
        f"waiting {breach_at - time.time():.0f} s: the oldest record passes the {threshold_ms:,.0f} ms threshold",
    )
    # Slow minute i is the i-th minute from the first: each starts with its hot burst, faults and pass (its
    # breaching datapoints). A minute whose crash pass runs past its end (a loaded machine) delays the next one's
    # start by as much, never by a whole minute: a 5-of-5 alarm (--full) needs every one of the minutes.
    first_minute = breach_at // period * period
    if breach_at % period > period - MINUTE_WORK_S:
        first_minute += period
    # The table was sized for the baseline: PROVISIONED below what a slow pass writes (throttle_plan). The switch
    # is made one period before the first slow pass's writes (they succeed once its HTTP 500 window has ended), so
    # that pass finds in the bucket what each later one does: one minute's refill, less than it writes.
    plan = throttle_plan(
        per_minute_writes(per_shard, batch, throttle_minutes),
        period,
        (len(items) + hot_minutes * HOT_DEVICE_BURST) * WCU_PER_READING,
    )
    incident_capacity: dict = {}
    if plan is not None:
        # The switch's period ends SWITCH_LATE_S after the first slow pass starts, never before its first writes:
        # an earlier switch would leave that pass more than a period's refill, enough for all it writes.
        _wait_until(first_minute + 1 + SWITCH_LATE_S - period)
        d.opsctl(
            "incident",
            "capacity",
            "--apply",
            "--yes",
            "--write-capacity",
            str(plan.capacity_wcu),
            "--read-capacity",
            str(plan.raised_wcu),
            summarize=lambda p: (
                f"readings table PROVISIONED at {plan.capacity_wcu} WCU: a minute refills "
                f"{plan.capacity_wcu * period} units, a slow pass writes {plan.per_minute_wcu}"
            ),
        )
        incident_capacity = {**_table_capacity(stack), "at": round(time.time(), 1)}
    _wait_until(breach_at)
    # The consumer comes back slow: one batch per shard in each of datapoints_to_alarm distinct minutes. In the
    # same minutes DynamoDB fails the readings table for a few seconds, each pass writes more than the table's
    # capacity has refilled (the ingest function's retries ride both out) and one device sends more than its shard
    # takes in a second.
    for i in range(passes):
        _wait_until(first_minute + i * period + 1)
        if i < hot_minutes:
            hot = _readings(f"drill{run_id}h{i}", 1, HOT_DEVICE_BURST, seed + 10 + i)
            refused = _send(
                kinesis, stream, [gen.Outgoing(r["device_id"], json.dumps(r).encode(), "valid", r) for r in hot], sent
            )
            d.log(
                "incident",
                f"PutRecords: one device sends {HOT_DEVICE_BURST} readings at once",
                f"{refused} refused by its shard and sent again",
            )
        if i < rollup_crash_minutes:
            # Every rollup receive of this minute's two passes crashes: a job written in the first slow minute
            # is received (and crashes) in each pass after it, maxReceiveCount times by the last minute, whose
            # next receive moves it to the DLQ; and the worker's Errors count in each of these minutes.
            faults.start_fault(endpoint, "function-crash", rollup_fn, ROLLUP_CRASH_S)
            d.log(
                "incident",
                f"opsctl sandbox fault function-crash --target {rollup_fn} --seconds {ROLLUP_CRASH_S}",
                f"{rollup_fn}: Runtime.ExitError until the minute's last pass ends",
            )
        if i < error_minutes:
            # Counted: the pass's first writes get the 500s however late its process starts. Nothing else uses the
            # readings table before them: the drill is between passes and the rollup worker (its only other
            # client) crashes before its handler runs in these minutes (error_minutes <= rollup_crash_minutes).
            faults.start_fault(endpoint, "dynamodb-error", table, ERROR_FAULT_S, requests=ERROR_FAULT_REQUESTS)
            d.log(
                "incident",
                f"opsctl sandbox fault dynamodb-error --requests {ERROR_FAULT_REQUESTS} --seconds {ERROR_FAULT_S}",
                f"{table}: HTTP 500 for the pass's first {ERROR_FAULT_REQUESTS} requests",
            )
        d.opsctl(
            "incident",
            "sandbox",
            "run",
            "--max-passes",
            "1",
            "--output",
            "json",
            summarize=lambda p: "slow consumer: " + str(_delivered(p)) + " records delivered",
        )
        if i < crash_minutes:
            # What the rollup worker received (and crashed on) is visible again at the end of its visibility
            # timeout: the second pass receives it once more.
            time.sleep(rollup_visibility_s + 1)
            # The ingest runtime crashes on the minute's second pass (Lambda counts an Error per invocation); the
            # first time for as many passes as a batch needs to be bisected down and exhaust its retries.
            faults.start_fault(endpoint, "function-crash", ingest_fn, CRASH_FAULT_S)
            d.log(
                "incident",
                f"opsctl sandbox fault function-crash --target {ingest_fn} --seconds {CRASH_FAULT_S}",
                f"{ingest_fn}: Runtime.ExitError",
            )
            n = first_crash_passes if i == 0 else 1
            d.opsctl(
                "incident",
                "sandbox",
                "run",
                "--max-passes",
                str(n),
                "--output",
                "json",
                summarize=lambda p: (
                    "crashing consumer: "
                    + str(sum(m.get("function_errors", 0) for m in json.loads(p.stdout)["mappings"]))
                    + " function errors, "
                    + str(sum(m.get("on_failure_records", 0) for m in json.loads(p.stdout)["mappings"]))
                    + " batches to an on-failure queue"
                ),
            )
            faults.end_fault(endpoint, "function-crash", ingest_fn)
            d.log("incident", f"(the crash window on {ingest_fn} ends)", "ended")
        if i < rollup_crash_minutes:
            faults.end_fault(endpoint, "function-crash", rollup_fn)
            d.log("incident", f"(the crash window on {rollup_fn} ends: the minute's passes are over)", "ended")
    # (c) what fired: read at once, in the last slow minute, before the catch-up. `opsctl monitors` judges the
    # periods up to the one holding now, so waiting for the next minute would leave the newest period empty and a
    # 5-of-5 alarm (--full's critical ones) could never be met; a metric read sees the running minute (cw_reads).
    proc = d.opsctl(
        "detect",
        "monitors",
        "--output",
        "json",
        ok_codes=(0, 1, 2),
        summarize=lambda p: (
            "ALARM: "
            + (
                ", ".join(
                    f"{m['id']} → {m['runbook']}" for m in json.loads(p.stdout)["monitors"] if m["state"] == "ALARM"
                )
                or "none"
            )
        ),
    )
    during = _monitor_states(proc)
    detect_reasons = _monitor_reasons(proc)
    fired = sorted(k for k, v in during.items() if v == "ALARM" and before.get(k) != "ALARM")
    # (d) the runbooks' steps: table-throttles.md (mitigate: the capacity back up before the catch-up writes),
    # iterator-age.md (diagnose, mitigate), poison-records.md (what was quarantined)
    raised_capacity: dict = {}
    raise_write = max(plan.raised_wcu, found["write_capacity"]) if plan else 0
    raise_read = max(plan.raised_wcu, found["read_capacity"]) if plan else 0
    raising = (
        d.opsctl_started(
            "capacity",
            "--apply",
            "--yes",
            "--write-capacity",
            str(raise_write),
            "--read-capacity",
            str(raise_read),
        )
        if plan is not None
        else None
    )
    d.opsctl(
        "runbooks/iterator-age.md: diagnose",
        "iterator-age",
        "--window",
        "15m",
        ok_codes=(0, 1, 2),
        summarize=lambda p: {0: "OK", 1: "WARNING", 2: "CRITICAL"}[p.returncode],
    )
    if raising is not None:  # (started before the diagnose: the capacity is up before the catch-up writes)
        raising(
            "runbooks/table-throttles.md: mitigate",
            summarize=lambda p: f"readings table raised to {raise_write} WCU",
        )
        raised_capacity = {**_table_capacity(stack), "at": round(time.time(), 1)}
    d.opsctl(
        "runbooks/iterator-age.md: mitigate",
        "sandbox",
        "run",
        "--until-idle",
        summarize=lambda p: "consumer at full speed: backlog drained",
    )
    # ... and, at the start of the next minute, a poison burst arrives: quarantined within that minute, it is
    # counted in one minute's RecordsQuarantined (behind the backlog, the shards' catch-up would split it).
    _wait_until((time.time() // period + 1) * period + 1)
    _send(kinesis, stream, gen.poison(poison, seed=seed), sent)
    d.log("incident", f"PutRecords: a burst of {poison} poison records", "accepted")
    d.opsctl("incident", "sandbox", "run", "--until-idle", summarize=lambda p: "the burst reached the function")
    proc = d.opsctl(
        "detect",
        "monitors",
        "--output",
        "json",
        ok_codes=(0, 1, 2),
        summarize=lambda p: f"{POISON_MONITOR}: {_monitor_states(p).get(POISON_MONITOR, '?')}",
    )
    caught_up = _monitor_states(proc)
    fired = sorted(set(fired) | {k for k, v in caught_up.items() if v == "ALARM" and before.get(k) != "ALARM"})
    during = {**during, **{k: v for k, v in caught_up.items() if v == "ALARM"}}
    d.opsctl(
        "runbooks/poison-records.md: diagnose",
        "quarantine",
        "list",
        "--output",
        "json",
        summarize=lambda p: "by reason: " + ", ".join(f"{k}={v}" for k, v in json.loads(p.stdout)["by_reason"].items()),
    )
    d.opsctl(
        "runbooks/stream-write-throttled.md: diagnose",
        "reshard",
        "--recommend",
        "--window",
        "1h",
        "--dry-run",
        ok_codes=(0, 1, 2),
        summarize=lambda p: "shard recommendation read (one hot device: more shards would not help it)",
    )
    d.opsctl(
        "runbooks/table-system-errors.md: diagnose",
        "status",
        ok_codes=(0, 1, 2),
        summarize=lambda p: f"pipeline status read; faults under way: {len(faults.list_faults(endpoint))}",
    )
    d.opsctl(
        "runbooks/function-errors.md: diagnose",
        "status",
        ok_codes=(0, 1, 2),
        summarize=lambda p: f"pipeline status read; faults under way: {len(faults.list_faults(endpoint))}",
    )
    # The crashed batches' records and the dead-lettered rollup jobs, back where they belong (dlq-replay.md).
    failed_batches = _depth(stack, "ingest_failure_queue_url")
    if failed_batches:
        d.opsctl(
            "runbooks/failure-queue.md: mitigate (dlq-replay.md)",
            "replay-dlq",
            "--source",
            "ingest",
            "--yes",
            summarize=lambda p: f"{failed_batches} failed ranges replayed",
        )
    dead_jobs = _depth(stack, "rollup_dlq_url")
    if dead_jobs:
        d.opsctl(
            "runbooks/rollup-dlq.md: mitigate (dlq-replay.md)",
            "replay-dlq",
            "--source",
            "rollup",
            "--yes",
            summarize=lambda p: f"{dead_jobs} dead-lettered rollup jobs moved back to the rollup queue",
        )
    if failed_batches or dead_jobs:
        d.opsctl(
            "runbooks/dlq-replay.md: verify",
            "sandbox",
            "run",
            "--until-idle",
            summarize=lambda p: "replayed records and jobs delivered",
        )
    # From here the drill waits for CloudWatch's windows: what it runs now costs it nothing.
    d.opsctl(
        "runbooks/table-throttles.md: verify",
        "capacity",
        "--window",
        "15m",
        "--table",
        table,
        "--output",
        "json",
        summarize=lambda p: _throttle_summary(json.loads(p.stdout), table),
    )
    # The readings table as the drill found it (a switch to on demand: AWS allows 4 in 24 hours; each drill makes one).
    restore = restore_args(found, _table_capacity(stack))
    if restore is None:
        d.log("restore", "(nothing to do)", "readings table as the drill found it")
    else:
        d.opsctl(
            "restore",
            *restore,
            ok_codes=(0, 1),
            summarize=lambda p: "readings table put back as the drill found it",
        )
    left_capacity = _table_capacity(stack)
    d.log(
        "restore",
        "DescribeTable",
        f"readings table left {left_capacity['billing_mode']}"
        + (
            f" at {left_capacity['read_capacity']} RCU / {left_capacity['write_capacity']} WCU"
            if left_capacity["billing_mode"] == "PROVISIONED"
            else ""
        ),
    )
    # (e) verify: wait until every monitor that fired is OK again (CloudWatch's window has to slide past the breach)
    timeout = settle_timeout_s if settle_timeout_s is not None else (int(mon["evaluation_periods"]) + 2) * period
    deadline = time.time() + timeout
    after = during
    while True:
        proc = d.opsctl(
            "runbooks/iterator-age.md: verify",
            "monitors",
            "--output",
            "json",
            ok_codes=(0, 1, 2),
            summarize=lambda p: ", ".join(f"{k}: {_monitor_states(p).get(k, '?')}" for k in fired) or "nothing fired",
        )
        after = _monitor_states(proc)
        if all(after.get(k) == "OK" for k in fired) or time.time() >= deadline:
            break
        time.sleep(15)
    d.opsctl(
        "runbooks/iterator-age.md: verify",
        "iterator-age",
        "--window",
        "2m",
        ok_codes=(0, 1, 2),
        summarize=lambda p: {0: "OK", 1: "WARNING", 2: "CRITICAL"}[p.returncode] + " over the last 2 minutes",
    )
    # (f) accounting
    acc = account(stack, sent)
    d.log(
        "account",
        "Query per drill device; quarantine objects by sequence number",
        f"sent {acc['sent']} = {acc['in_table']} in the table + {acc['quarantined']} quarantined"
        + (f"; {acc['unaccounted']} UNACCOUNTED" if acc["unaccounted"] else ""),
    )
    recovered = all(after.get(k) == "OK" for k in fired)
    problems = []
    if not fired:
        problems.append(f"no monitor went to ALARM ({MONITOR} was {during.get(MONITOR, '?')})")
    for k in claimed:
        if k not in fired and k != POISON_MONITOR:  # the poison monitor has its own check below
            problems.append(
                f"{k} did not go to ALARM (it was {during.get(k, '?')}: {detect_reasons.get(k) or 'no reason given'})"
            )
    report = [
        {
            "monitor": k,
            "runbook": catalog[k]["runbook"],
            "fired": k in fired,
            "cleared": k in fired and after.get(k) == "OK",
            "brought_back_by": BROUGHT_BACK_BY[k],
        }
        for k in claimed
    ]
    poison_threshold, _ = thresholds.threshold(catalog[POISON_MONITOR])
    if poison > poison_threshold and POISON_MONITOR not in fired:
        problems.append(
            f"{poison} poison records did not set off {POISON_MONITOR} (over {poison_threshold:g} a minute)"
        )
    if not recovered:
        problems.append("still in ALARM after the runbooks: " + ", ".join(k for k in fired if after.get(k) != "OK"))
    if acc["unaccounted"]:
        problems.append(f"{acc['unaccounted']} records unaccounted for")
    if plan is None:
        problems.append(
            f"no write capacity throttles a slow pass of {per_minute_writes(per_shard, batch, throttle_minutes)} WCU "
            f"in every one of {throttle_minutes} minutes: the ingest stream needs more shards or devices"
        )
    if left_capacity["billing_mode"] != found["billing_mode"]:
        problems.append(f"the readings table was left {left_capacity['billing_mode']}, found {found['billing_mode']}")
    left = {
        "ingest failure queue": _depth(stack, "ingest_failure_queue_url"),
        "rollup DLQ": _depth(stack, "rollup_dlq_url"),
    }
    acc["left_in"] = left
    for where, n in left.items():
        if n:
            problems.append(f"{n} messages still in the {where} after the replay")
    return {
        "ok": not problems,
        "problems": problems,
        "fired": fired,
        "recovered": recovered,
        "monitors": {"before": before, "during": during, "after": after},
        "accounting": acc,
        "capacity": {
            "found": found,
            "plan": plan.to_dict() if plan else None,
            "incident": incident_capacity,
            "raised": raised_capacity,
            "left": left_capacity,
        },
        "timeline": [s.to_dict() for s in d.timeline],
        "seconds": round(time.monotonic() - d.started, 1),
        "exercised": report,
        "not_exercised": not_exercised,
        "full": full,
        "device_prefix": f"drill{run_id}",
        "poison_records": [
            {"shard_id": k[0], "sequence_number": k[1], "kind": v} for k, v in sorted(sent.poison.items())
        ],
    }
