"""The drill's claims against the monitor catalog: every catalog monitor is either exercised (with the runbook
command that brings it back) or listed as not exercised with its reason, never both, never neither."""

from __future__ import annotations

from opsctl.monitoring import thresholds
from opsctl.sandbox import drill

DEFAULT = {
    "ingest_iterator_age_warning",
    "ingest_poison_burst",
    "stream_write_throughput_exceeded",
    "table_write_throttles",
    "table_system_errors",
    "ingest_error_rate",
    "ingest_failure_queue_not_empty",
    "rollup_error_rate",
    "rollup_dlq_not_empty",
}
FULL_ONLY = {"ingest_iterator_age_critical", "stream_iterator_age"}


def test_every_catalog_monitor_is_exercised_or_has_a_reason():
    catalog = set(thresholds.monitors())
    assert catalog >= DEFAULT | FULL_ONLY
    assert set(drill.NOT_EXERCISED) == catalog - DEFAULT  # the --full ones say so in the default drill
    assert all(isinstance(why, str) and why for why in drill.NOT_EXERCISED.values())
    assert all("--full" in drill.NOT_EXERCISED[m] for m in FULL_ONLY)
    assert set(drill.BROUGHT_BACK_BY) == DEFAULT | FULL_ONLY
    assert all(cmd.startswith("opsctl ") for cmd in drill.BROUGHT_BACK_BY.values())


def test_the_default_drill_claims_its_monitors_and_full_adds_the_critical_iterator_age_ones():
    assert set(drill.exercised(full=False)) == DEFAULT
    assert set(drill.exercised(full=True)) == DEFAULT | FULL_ONLY
    assert len(drill.exercised(full=True)) == len(DEFAULT | FULL_ONLY)  # each claimed once


def test_full_says_how_long_it_takes_in_its_help_and_in_the_default_drills_output():
    from typer.testing import CliRunner

    from opsctl.cli.app import app

    minutes = f"~{drill.FULL_DRILL_MINUTES} minutes"
    help_text = " ".join(CliRunner().invoke(app, ["sandbox", "drill", "--help"], terminal_width=200).output.split())
    assert "--full" in help_text and minutes in help_text
    assert all(minutes in drill.NOT_EXERCISED[m] for m in FULL_ONLY)  # what the default drill prints for them


def test_crash_passes_follow_the_mappings_bisections_and_retries():
    # 100 → 50 → 25 → 12 → 6 → 3 → 1 (the first half of each split goes first): 6 splits, then 1 + 3 retries.
    assert drill.crash_passes(100, 3, bisect=True) == 10
    assert drill.crash_passes(100, 3, bisect=False) == 4
    assert drill.crash_passes(1, 0, bisect=True) == 1


def test_the_faults_fit_in_a_slow_minute_and_outlast_nothing():
    # The counted error fault ends with its requests or inside the minute's work, before the next slow pass (a
    # minute later), within the fault store's bounds; the crash windows are bounds the drill ends itself.
    from opsctl.sandbox import faults

    monitors = thresholds.monitors()
    period = int(monitors[drill.MONITOR]["period_seconds"])
    faults.validate("dynamodb-error", "t", drill.ERROR_FAULT_S, drill.ERROR_FAULT_REQUESTS)
    assert drill.ERROR_FAULT_S < drill.MINUTE_WORK_S < period
    faults.validate("function-crash", "fn", drill.ROLLUP_CRASH_S)
    faults.validate("function-crash", "fn", drill.CRASH_FAULT_S)
    assert drill.HOT_DEVICE_BURST > 1000  # records per second a shard takes (opsctl/sandbox/limits.py)
    # Nothing but the ingest function's writes uses the readings table in an error minute: the rollup worker (its
    # other reader in the drill) crashes before its handler runs in each of them.
    errors = int(monitors[drill.TABLE_ERRORS_MONITOR]["datapoints_to_alarm"])
    assert errors <= int(monitors[drill.ROLLUP_ERRORS_MONITOR]["datapoints_to_alarm"])
    assert monitors[drill.TABLE_ERRORS_MONITOR]["dimensions"]["Operation"] == "BatchWriteItem"


def test_the_drill_throttles_the_table_by_its_capacity_not_by_a_fault():
    import inspect

    source = inspect.getsource(drill)
    assert '"dynamodb-throttle"' not in source and not hasattr(drill, "THROTTLE_FAULT_S")
    assert drill.BROUGHT_BACK_BY[drill.TABLE_THROTTLE_MONITOR].startswith("opsctl capacity --apply --yes")


# --- the capacity that throttles every slow pass ----------------------------------------------------------------

SHARDS, BATCH = 2, 100  # terraform/envs/local: ingest_shard_count's default, ingest_batch_size
FUNCTION_BUDGET_S = 59  # the ingest function's 60 s timeout less its 1 s safety margin (functions/common/retry.py)
# seconds the first slow passes' ERROR_FAULT_REQUESTS HTTP 500s cost its first write at most: one BatchWriteItem
# whose client (functions/common/clients.py: standard mode, 3 attempts) waits at most 1 s and 2 s between them
# (botocore's bound for throttling; a 500 on DynamoDB waits 25 ms x 2^i), then the handler's first backoff (50 ms,
# functions/common/retry.py)
ERRORS_COST_S = 4


def _throttle_catalog() -> tuple[int, int]:
    m = thresholds.monitors()[drill.TABLE_THROTTLE_MONITOR]
    assert m["metric_name"] == "WriteThrottleEvents" and thresholds.threshold(m) == (0, "count")
    return int(m["period_seconds"]), int(m["datapoints_to_alarm"])


def test_the_plan_for_the_local_stack_throttles_below_one_minutes_writes_and_raises_for_the_catch_up():
    period, _ = _throttle_catalog()
    plan = drill.throttle_plan(SHARDS * BATCH * drill.WCU_PER_READING, period, incident_wcu=4_401)
    assert plan is not None
    assert plan.per_minute_wcu == 200 and plan.capacity_wcu == 3  # ceil(200 / (60 + 15)); 3 x 60 = 180 < 200
    assert plan.capacity_wcu * period < plan.per_minute_wcu
    assert 0 < plan.tail_growth_s <= drill.THROTTLE_TAIL_GROWTH_MAX_S and round(plan.tail_growth_s, 2) == 6.67
    assert plan.raised_wcu == 441  # 4,401 readings in CATCH_UP_S = 10 s
    # The first slow pass is throttled if its first writes come within this many seconds of its start (the switch is
    # a period old SWITCH_LATE_S after it): a loaded machine's process start and the HTTP 500s fit in it.
    assert plan.per_minute_wcu / plan.capacity_wcu - period + drill.SWITCH_LATE_S >= 15
    # Bigger streams throttle too; a stream whose slow pass writes under a minute of 1 WCU cannot.
    for shards in (3, 4, 8):
        p = drill.throttle_plan(shards * BATCH, period, 10)
        assert p is not None and p.capacity_wcu * period < shards * BATCH
        assert p.tail_growth_s <= drill.THROTTLE_TAIL_GROWTH_MAX_S and p.raised_wcu > p.capacity_wcu
    assert drill.throttle_plan(1 * BATCH, period, 10) is None


def _simulate(plan, period: int, minutes: int, late_s: float = 0.0) -> list[tuple[int, float]]:
    """The slow passes against the sandbox's own bucket (opsctl.sandbox.dynamodb_capacity): the switch one period
    before the first pass's writes, each pass writing per_minute_wcu items at once at the start of its minute
    (`late_s` after it) and retrying what was refused every 0.5 s, as the ingest function's backoff does. Returns
    (throttled requests, seconds the pass's writes took) per minute."""
    from opsctl.sandbox.dynamodb_capacity import ProvisionedCapacity

    now = [0.0]
    capacity = ProvisionedCapacity(clock=lambda: now[0])
    key, rate, switched = ("arn:readings", 0.0, None, "write"), float(plan.capacity_wcu), 0.0
    out = []
    for i in range(minutes):
        start = switched + period * (i + 1) + late_s * i
        now[0] = max(now[0], start)
        left, throttled = plan.per_minute_wcu, 0
        while left:
            while left and capacity.reserve(key, rate, switched, 1):
                left -= 1
            if left:
                throttled += 1
                now[0] += 0.5
        out.append((throttled, now[0] - start))
    return out


def test_every_slow_pass_of_the_alarms_minutes_is_throttled_and_its_writes_fit_the_function():
    period, minutes = _throttle_catalog()
    plan = drill.throttle_plan(SHARDS * BATCH * drill.WCU_PER_READING, period, 4_401)
    assert plan is not None
    for late_s in (0.0, 5.0, -5.0):  # a pass a few seconds later or earlier than the minute before
        passes = _simulate(plan, period, minutes, late_s)
        assert all(throttled > 0 for throttled, _ in passes), passes
        assert all(took <= FUNCTION_BUDGET_S - ERRORS_COST_S for _, took in passes), passes
        tails = [took for _, took in passes]
        assert tails == sorted(tails)  # the debt grows by about tail_growth_s a minute, never shrinks to nothing


def test_per_minute_writes_count_a_batch_from_every_shard_that_still_has_one():
    assert drill.per_minute_writes({"a": 400, "b": 400}, 100, 3) == 200
    assert drill.per_minute_writes({"a": 801}, 100, 3) == 100  # every device on one shard
    assert drill.per_minute_writes({"a": 250, "b": 400}, 100, 3) == 150  # a's third pass takes its last 50


def test_spread_devices_put_one_on_every_shard_as_kinesis_maps_them():
    import boto3
    from moto import mock_aws

    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="eu-west-1")
        kinesis.create_stream(StreamName="s", ShardCount=3)
        shards = kinesis.list_shards(StreamName="s")["Shards"]
        ranges = {
            sh["ShardId"]: (int(sh["HashKeyRange"]["StartingHashKey"]), int(sh["HashKeyRange"]["EndingHashKey"]))
            for sh in shards
        }
        names = drill.spread_devices("drill120000s", 4, ranges)
        assert len(set(names)) == 4 and all(n.startswith("drill120000s-") for n in names)
        where = [drill.shard_of(n, ranges) for n in names]
        assert set(where) == set(ranges)  # every shard has a device
        put = kinesis.put_records(StreamName="s", Records=[{"Data": b"x", "PartitionKey": n} for n in names])
        assert [r["ShardId"] for r in put["Records"]] == where  # the shard Kinesis (moto) chose
    spike = drill._readings("drill120000s", 4, 40, 1, names)
    assert {r["device_id"] for r in spike} == set(names) and len(spike) == 40  # the spike comes from those devices


def test_a_reading_is_one_write_unit():
    from decimal import Decimal

    from ingest.table import to_item
    from ingest.validate import Reading
    from opsctl.sandbox import traffic
    from opsctl.sandbox.dynamodb_capacity import item_size, write_units

    for r in traffic.readings(3, 30, seed=5):
        reading = Reading("drill235959s-0000", int(r["ts"]), {k: Decimal(str(v)) for k, v in r["metrics"].items()})
        assert write_units(item_size(to_item(reading, ttl_days=3650))) == drill.WCU_PER_READING


def test_the_drill_puts_the_table_back_as_it_found_it():
    on_demand = {"billing_mode": "PAY_PER_REQUEST", "read_capacity": 0, "write_capacity": 0}
    raised = {"billing_mode": "PROVISIONED", "read_capacity": 441, "write_capacity": 441}
    found = {"billing_mode": "PROVISIONED", "read_capacity": 5, "write_capacity": 500}
    assert drill.restore_args(on_demand, raised) == ["capacity", "--apply", "--yes", "--on-demand"]
    assert drill.restore_args(found, raised) == [
        "capacity",
        "--apply",
        "--yes",
        "--write-capacity",
        "500",
        "--read-capacity",
        "5",
    ]
    assert drill.restore_args(on_demand, dict(on_demand)) is None
