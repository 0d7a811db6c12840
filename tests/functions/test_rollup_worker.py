"""The rollup worker on moto's AWS with real-shaped SQS events: each job recomputes its device-hour from the
raw readings and overwrites the rollup (so repeats cannot double-count); a malformed or failing job is
reported alone by messageId, and on a real queue reaches the DLQ after maxReceiveCount receives."""

from __future__ import annotations

import json
import statistics
import time
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from common import clients
from ingest.handler import handler as ingest
from rollup import store
from rollup.handler import handler
from rollup.job import HOUR_MS, BadJob, RollupJob, jobs_for, parse

from .conftest import (
    MAX_RECEIVE_COUNT,
    ROLLUP_TABLE,
    emf,
    kinesis_event,
    output_lines,
    reading,
    sqs_event,
    sqs_record,
)

HOUR = (int(time.time() * 1000) // HOUR_MS - 3) * HOUR_MS  # three hours ago, a whole UTC hour


def job(device: str, hour: int = HOUR) -> str:
    return RollupJob(device, hour).body()


def write_readings(aws, context, docs) -> None:
    """Through the ingest handler, as in production (its jobs are left on the queue)."""
    assert ingest(kinesis_event(docs), context) == {"batchItemFailures": []}


def expected(docs, device, hour=HOUR) -> dict:
    """The aggregate this test computes from the raw readings it wrote, with plain floats."""
    mine = [d for d in docs if d["device_id"] == device and hour <= d["ts"] < hour + HOUR_MS]
    names = sorted({n for d in mine for n in d["metrics"]})
    out = {
        "count": len(mine),
        "first_ts": min(d["ts"] for d in mine),
        "last_ts": max(d["ts"] for d in mine),
        "metrics": {},
    }
    for n in names:
        values = [float(d["metrics"][n]) for d in mine if n in d["metrics"]]
        out["metrics"][n] = {
            "count": len(values),
            "min": min(values),
            "max": max(values),
            "sum": sum(values),
            "avg": statistics.fmean(values),
        }
    return out


def as_plain(item: dict) -> dict:
    return {
        "count": int(item["count"]["N"]),
        "first_ts": int(item["first_ts"]["N"]),
        "last_ts": int(item["last_ts"]["N"]),
        "metrics": {n: {k: float(v["N"]) for k, v in s["M"].items()} for n, s in item["metrics"]["M"].items()},
    }


def failures(result) -> list[str]:
    return sorted(f["itemIdentifier"] for f in result["batchItemFailures"])


@pytest.fixture
def docs():
    """Two devices, readings in two hours (and one just outside), a metric missing from some readings."""
    out = []
    for i in range(7):
        out.append(reading("dev-a", HOUR + i * 400_000, temp_c=20.5 + i * 0.3, humidity_pct=41.0 - i))
        out.append(reading("dev-b", HOUR + i * 500_000 + 7, temp_c=-3.25 * i, battery_v=3.7))
    out.append(reading("dev-a", HOUR + 1_000, temp_c=99.9))  # no humidity in this one
    out.append(reading("dev-a", HOUR + HOUR_MS, temp_c=1.0))  # the next hour
    out.append(reading("dev-a", HOUR - 1, temp_c=-50.0))  # the hour before
    return out


def test_the_rollup_equals_the_aggregate_of_the_raw_readings(aws, context, docs):
    write_readings(aws, context, docs)
    event = sqs_event([job("dev-a"), job("dev-b"), job("dev-a", HOUR + HOUR_MS)])

    assert handler(event, context) == {"batchItemFailures": []}

    rollups = aws.rollups()
    assert set(rollups) == {("dev-a", HOUR), ("dev-b", HOUR), ("dev-a", HOUR + HOUR_MS)}
    for device, hour in rollups:
        got, want = as_plain(rollups[(device, hour)]), expected(docs, device, hour)
        assert (
            got["count"] == want["count"] and got["first_ts"] == want["first_ts"] and got["last_ts"] == want["last_ts"]
        )
        assert set(got["metrics"]) == set(want["metrics"])
        for name, stats in want["metrics"].items():
            assert got["metrics"][name] == pytest.approx(stats), f"{device} {hour} {name}"
    assert rollups[("dev-a", HOUR)]["metrics"]["M"]["humidity_pct"]["M"]["count"]["N"] == "7"  # counted where present
    assert rollups[("dev-a", HOUR)]["metrics"]["M"]["temp_c"]["M"]["count"]["N"] == "8"


def test_sums_are_exact_decimals_and_expiry_is_epoch_seconds(aws, context):
    write_readings(aws, context, [reading("dev-x", HOUR + i, v=0.1) for i in range(3)])
    handler(sqs_event([job("dev-x")]), context)
    item = aws.rollups()[("dev-x", HOUR)]
    assert Decimal(item["metrics"]["M"]["v"]["M"]["sum"]["N"]) == Decimal("0.3")  # not 0.30000000000000004
    expires_at = int(item["expires_at"]["N"])
    assert expires_at == (HOUR + HOUR_MS) // 1000 + store.DEFAULT_TTL_DAYS * 86_400 and expires_at < 10**11


def test_repeating_a_job_overwrites_and_never_double_counts(aws, context, docs):
    write_readings(aws, context, docs)
    for _ in range(3):  # a retry, a replay from the DLQ, a duplicate delivery
        assert handler(sqs_event([job("dev-a")]), context) == {"batchItemFailures": []}
    assert as_plain(aws.rollups()[("dev-a", HOUR)])["count"] == expected(docs, "dev-a")["count"]

    late = reading("dev-a", HOUR + 3_000_000, temp_c=-7.0)  # a reading that arrived later: the next job sees it
    write_readings(aws, context, [late])
    handler(sqs_event([job("dev-a")]), context)
    got = as_plain(aws.rollups()[("dev-a", HOUR)])
    assert got["count"] == expected([*docs, late], "dev-a")["count"] and got["metrics"]["temp_c"]["min"] == -7.0


def test_a_malformed_job_fails_only_itself(aws, context, docs, capsys):
    write_readings(aws, context, docs)
    capsys.readouterr()  # the ingest function's own lines
    bad_bodies = [
        "not json",
        "[1, 2]",
        json.dumps({"device_id": "dev-a"}),
        json.dumps({"device_id": "dev a", "hour_start": HOUR}),
        json.dumps({"device_id": "dev-a", "hour_start": HOUR + 1}),
        json.dumps({"device_id": "dev-a", "hour_start": "1"}),
        json.dumps({"device_id": "dev-a", "hour_start": True}),
    ]
    event = sqs_event([job("dev-a"), *bad_bodies, job("dev-b")])

    result = handler(event, context)

    bad_ids = sorted(r["messageId"] for r in event["Records"][1:-1])
    assert failures(result) == bad_ids
    assert set(aws.rollups()) == {("dev-a", HOUR), ("dev-b", HOUR)}
    lines = output_lines(capsys)
    errors = [line for line in lines if line.get("level") == "ERROR" and "malformed" in line["message"]]
    assert sorted(line["message_id"] for line in errors) == bad_ids and all(
        line["receive_count"] == "1" for line in errors
    )
    m = emf(lines)
    assert (m["JobsIn"], m["JobsMalformed"], m["RollupsWritten"], m["JobsFailed"]) == (9, 7, 2, 0)


def test_duplicate_jobs_in_a_batch_are_computed_once_and_all_succeed(aws, context, docs, monkeypatch):
    write_readings(aws, context, docs)
    ddb = clients.client("dynamodb")
    real, queries = ddb.query, []
    monkeypatch.setattr(
        ddb, "query", lambda **kw: queries.append(kw["ExpressionAttributeValues"][":d"]["S"]) or real(**kw)
    )

    assert handler(sqs_event([job("dev-a"), job("dev-b"), job("dev-a"), job("dev-a")]), context) == {
        "batchItemFailures": []
    }
    assert sorted(queries) == ["dev-a", "dev-b"]


def test_a_dynamodb_error_fails_only_the_messages_of_that_job(aws, context, docs, monkeypatch, capsys):
    write_readings(aws, context, docs)
    capsys.readouterr()  # the ingest function's own lines
    ddb = clients.client("dynamodb")
    real = ddb.query

    def query(**kw):
        if kw["ExpressionAttributeValues"][":d"]["S"] == "dev-b":
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "Query")
        return real(**kw)

    monkeypatch.setattr(ddb, "query", query)
    event = sqs_event([job("dev-b"), job("dev-a"), job("dev-b")])
    result = handler(event, context)
    assert failures(result) == sorted([event["Records"][0]["messageId"], event["Records"][2]["messageId"]])
    assert set(aws.rollups()) == {("dev-a", HOUR)}
    assert emf(output_lines(capsys))["JobsFailed"] == 1


def test_a_rollup_from_an_older_read_never_replaces_a_newer_one(aws, context, docs, capsys):
    write_readings(aws, context, docs)
    capsys.readouterr()  # the ingest function's own lines
    newer = {
        "device_id": {"S": "dev-a"},
        "hour_start": {"N": str(HOUR)},
        "count": {"N": "1234"},
        "metrics": {"M": {}},
        "computed_at": {"N": str(int(time.time() * 1000) + 60_000)},
        "expires_at": {"N": "1"},
    }
    aws.ddb.put_item(TableName=ROLLUP_TABLE, Item=newer)

    # Sent after that newer rollup began its read (so not coalesced): the worker reads, then loses the race.
    record = sqs_record(job("dev-a"))
    record["attributes"]["SentTimestamp"] = str(int(time.time() * 1000) + 120_000)
    assert handler({"Records": [record]}, context) == {"batchItemFailures": []}  # nothing to retry: it lost the race
    assert aws.rollups()[("dev-a", HOUR)]["count"]["N"] == "1234"
    assert emf(output_lines(capsys))["RollupsSuperseded"] == 1
    # A job sent before it is already in it: coalesced, the same outcome without the read.
    assert handler(sqs_event([job("dev-a")]), context) == {"batchItemFailures": []}
    assert aws.rollups()[("dev-a", HOUR)]["count"]["N"] == "1234"
    assert emf(output_lines(capsys))["JobsCoalesced"] == 1


def test_an_hour_without_readings_writes_nothing_and_succeeds(aws, context):
    assert handler(sqs_event([job("dev-none")]), context) == {"batchItemFailures": []}
    assert aws.rollups() == {}


def test_jobs_not_started_before_the_deadline_are_handed_back(aws, context, docs):
    write_readings(aws, context, docs)
    context.remaining_ms = 100
    event = sqs_event([job("dev-a"), job("dev-b")])
    assert failures(handler(event, context)) == sorted(r["messageId"] for r in event["Records"])
    assert aws.rollups() == {}


def test_jobs_received_most_often_go_first_when_time_is_short(aws, context, docs):
    """A job handed back near the deadline must not be the one handed back again next time (and again, into the DLQ)."""
    write_readings(aws, context, docs)

    class Shrinking:  # each look at the clock finds 400 ms less left
        aws_request_id, function_name, log_stream_name = "r", "rollup-test", "s"

        def __init__(self, ms):
            self.ms = ms

        def get_remaining_time_in_millis(self):
            self.ms -= 400
            return self.ms

    first, again = sqs_record(job("dev-a"), receive_count=1), sqs_record(job("dev-b"), receive_count=3)
    result = handler({"Records": [first, again]}, Shrinking(1_000))
    assert failures(result) == [first["messageId"]]
    assert set(aws.rollups()) == {("dev-b", HOUR)}


def test_the_whole_path_on_a_real_queue_malformed_job_reaches_the_dlq_after_max_receive_count(aws, context, docs):
    """Ingest enqueues, then a loop does what Lambda's SQS poller does (receive, invoke, delete the successes);
    a malformed message sent straight to the queue fails alone and moto redrives it after maxReceiveCount."""
    write_readings(aws, context, docs)  # its jobs are on the queue now
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody='{"device_id": "dev-a", "hour_start": "soon"}')
    receives_of_bad = 0
    for _ in range(20):
        msgs = aws.sqs.receive_message(
            QueueUrl=aws.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not msgs:
            break
        event = {
            "Records": [
                sqs_record(
                    m["Body"], message_id=m["MessageId"], receive_count=int(m["Attributes"]["ApproximateReceiveCount"])
                )
                for m in msgs
            ]
        }
        failed = set(failures(handler(event, context)))
        receives_of_bad += sum(1 for m in msgs if "soon" in m["Body"])
        done = [m for m in msgs if m["MessageId"] not in failed]
        if done:
            aws.sqs.delete_message_batch(
                QueueUrl=aws.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
    assert receives_of_bad == MAX_RECEIVE_COUNT
    (dead,) = aws.receive(aws.dlq_url)
    assert "soon" in dead["Body"]
    assert aws.receive() == []
    assert set(aws.rollups()) == {(d, h) for d, h in jobs_for((x["device_id"], x["ts"]) for x in docs)}


# --- the job format ---------------------------------------------------------------------------------------


def test_jobs_for_deduplicates_device_hours_in_first_seen_order():
    pairs = [("b", HOUR + 5), ("a", HOUR), ("b", HOUR + 10), ("a", HOUR + HOUR_MS), ("a", HOUR + 1)]
    assert jobs_for(pairs) == [RollupJob("b", HOUR), RollupJob("a", HOUR), RollupJob("a", HOUR + HOUR_MS)]


def test_a_job_body_round_trips_and_bad_ones_say_why():
    assert parse(RollupJob("dev-1", HOUR).body()) == RollupJob("dev-1", HOUR)
    for body, why in [
        ("{", "not JSON"),
        ("1", "not a JSON object"),
        ('{"hour_start": 0}', "device_id"),
        ('{"device_id": "d", "hour_start": 1.5}', "integer"),
        ('{"device_id": "d", "hour_start": -3600000}', "start of a UTC hour"),
        ("x" * 2000, "at most"),
    ]:
        with pytest.raises(BadJob, match=why):
            parse(body)


# --- reading rollups back (for the read API) --------------------------------------------------------------


def test_query_rollups_returns_json_ready_hours_overlapping_the_range(aws, context, docs):
    write_readings(aws, context, docs)
    handler(
        sqs_event([job("dev-a", HOUR - HOUR_MS), job("dev-a"), job("dev-a", HOUR + HOUR_MS), job("dev-b")]), context
    )

    got = store.query_rollups(
        ROLLUP_TABLE, "dev-a", HOUR + 10, HOUR + HOUR_MS, ddb=aws.ddb
    )  # mid-hour to the next hour's start

    assert [r["hour_start"] for r in got] == [HOUR, HOUR + HOUR_MS]
    first = got[0]
    assert json.loads(json.dumps(first)) == first  # plain JSON types only
    assert first["device_id"] == "dev-a" and first["hour_end"] == HOUR + HOUR_MS and first["count"] == 8
    assert isinstance(first["count"], int) and isinstance(first["metrics"]["temp_c"]["avg"], float)
    assert first["metrics"]["temp_c"]["max"] == pytest.approx(99.9)
    assert first["metrics"]["humidity_pct"] == pytest.approx(expected(docs, "dev-a")["metrics"]["humidity_pct"])
    assert [
        r["hour_start"]
        for r in store.query_rollups(
            ROLLUP_TABLE, "dev-a", HOUR - 5 * HOUR_MS, HOUR + 5 * HOUR_MS, ddb=aws.ddb, descending=True
        )
    ] == [HOUR + HOUR_MS, HOUR, HOUR - HOUR_MS]
    assert store.query_rollups(ROLLUP_TABLE, "dev-zzz", HOUR, HOUR + 1, ddb=aws.ddb) == []


@pytest.mark.parametrize(
    "from_ms, to_ms, why",
    [
        (HOUR + 1, HOUR, "after"),
        (0, 400 * 24 * HOUR_MS, "more than"),
        ("0", HOUR, "integers"),
        (True, HOUR, "integers"),
    ],
)
def test_query_rollups_refuses_a_bad_range(aws, from_ms, to_ms, why):
    with pytest.raises(ValueError, match=why):
        store.query_rollups(ROLLUP_TABLE, "dev-a", from_ms, to_ms, ddb=aws.ddb)


# --- aggregates DynamoDB can always store ------------------------------------------------------------------


def test_a_sum_beyond_dynamodbs_number_range_is_left_out_and_the_rest_stays_exact(aws, context):
    # Each reading is valid (9e125 < 1e126), their sum 1.8e126 is not storable: before, the job failed forever.
    write_readings(aws, context, [reading("dev-big", HOUR + i, v=9e125, w=-9e125, small=1e-130) for i in range(2)])
    assert handler(sqs_event([job("dev-big")]), context) == {"batchItemFailures": []}
    stats = aws.rollups()[("dev-big", HOUR)]["metrics"]["M"]
    assert "sum" not in stats["v"]["M"] and "sum" not in stats["w"]["M"]
    assert {k: Decimal(v["N"]) for k, v in stats["v"]["M"].items()} == {
        "count": 2,
        "min": Decimal("9e125"),
        "max": Decimal("9e125"),
        "avg": Decimal("9e125"),
    }
    assert Decimal(stats["w"]["M"]["avg"]["N"]) == Decimal("-9e125")
    assert Decimal(stats["small"]["M"]["sum"]["N"]) == Decimal("2e-130")
    (api_view,) = store.query_rollups(ROLLUP_TABLE, "dev-big", HOUR, HOUR, ddb=aws.ddb)
    assert api_view["metrics"]["v"]["sum"] is None and api_view["metrics"]["v"]["avg"] == 9e125


def test_a_vanishing_average_is_stored_as_zero_not_refused(aws, context):
    # 1e-130 (DynamoDB's smallest magnitude) and 0 average to 5e-131, which DynamoDB refuses (underflow).
    write_readings(aws, context, [reading("dev-tiny", HOUR, v=1e-130), reading("dev-tiny", HOUR + 1, v=0)])
    assert handler(sqs_event([job("dev-tiny")]), context) == {"batchItemFailures": []}
    stats = aws.rollups()[("dev-tiny", HOUR)]["metrics"]["M"]["v"]["M"]
    assert Decimal(stats["avg"]["N"]) == 0 and Decimal(stats["sum"]["N"]) == Decimal("1e-130")


def test_a_device_adding_metric_names_every_reading_keeps_its_hour_under_400_kb(aws, context):
    # 200 readings of 64 new names each: 12,800 names, a 2.3 MiB item before (DynamoDB refuses > 400 KB).
    from rollup.aggregate import MAX_METRICS_PER_HOUR

    docs = [
        reading("dev-names", HOUR + i, **{f"m{i:03d}_{n:02d}_{'x' * 56}": 1.0 / 3 + i + n for n in range(64)})
        for i in range(200)
    ]
    for at in range(0, len(docs), 50):
        write_readings(aws, context, docs[at : at + 50])
    assert handler(sqs_event([job("dev-names")]), context) == {"batchItemFailures": []}
    item = aws.rollups()[("dev-names", HOUR)]
    kept = item["metrics"]["M"]
    assert len(kept) == MAX_METRICS_PER_HOUR and int(item["dropped_metrics"]["N"]) == 200 * 64 - MAX_METRICS_PER_HOUR
    assert sorted(kept) == sorted(n for d in docs[:4] for n in d["metrics"])  # the first names seen, in time order
    assert int(item["count"]["N"]) == 200  # every reading is still counted
    assert dynamodb_item_bytes(item) < 100 * 1024  # measured: see the report


def dynamodb_item_bytes(item: dict) -> int:
    """An item's size as DynamoDB counts it: names in UTF-8, numbers ~1 byte per 2 digits + 1, +3 per M/L."""

    def value(v: dict) -> int:
        ((kind, x),) = v.items()
        if kind == "S":
            return len(x.encode())
        if kind == "N":
            digits = len(x.lstrip("-").replace(".", "").split("E")[0].split("e")[0].strip("0")) or 1
            return (digits + 1) // 2 + 1
        if kind == "M":
            return 3 + sum(len(k.encode()) + value(w) for k, w in x.items())
        return 1

    return sum(len(k.encode()) + value(v) for k, v in item.items())


# --- coalescing: a busy device's jobs do not each re-read its hour --------------------------------------------


def test_jobs_sent_before_the_stored_rollup_read_its_hour_are_done_without_re_reading_it(aws, context, monkeypatch):
    from rollup import handler as worker

    write_readings(aws, context, [reading("dev-busy", HOUR + i * 1000, v=float(i)) for i in range(20)])
    queries = []
    real_query = aws.ddb.query

    def counting_query(**kw):
        queries.append(kw["TableName"])
        return real_query(**kw)

    monkeypatch.setattr(clients.client("dynamodb"), "query", counting_query)
    sent = int(time.time() * 1000)
    first = sqs_record(job("dev-busy"))
    assert handler({"Records": [first]}, context) == {"batchItemFailures": []}
    assert len(queries) == 1
    # Nine more jobs of that hour, sent before the stored rollup began its read (e.g. held by the queue's delay):
    # each one's readings are already in it. They succeed, and nothing re-reads the hour.
    stale = [sqs_record(job("dev-busy")) for _ in range(9)]
    for r in stale:
        r["attributes"]["SentTimestamp"] = str(sent - worker.CLOCK_SKEW_MARGIN_MS - 1)
    for r in stale:
        assert handler({"Records": [r]}, context) == {"batchItemFailures": []}
    assert len(queries) == 1
    # A job sent after that read (a reading written since) is recomputed, and the late reading counted.
    write_readings(aws, context, [reading("dev-busy", HOUR + 30_000, v=100.0)])
    fresh = sqs_record(job("dev-busy"))
    fresh["attributes"]["SentTimestamp"] = str(int(time.time() * 1000) + 5_000)
    assert handler({"Records": [fresh]}, context) == {"batchItemFailures": []}
    assert len(queries) == 2 and aws.rollups()[("dev-busy", HOUR)]["count"]["N"] == "21"
    # A job without SentTimestamp (not from SQS as Lambda delivers it) is always recomputed.
    unknown = sqs_record(job("dev-busy"))
    del unknown["attributes"]["SentTimestamp"]
    handler({"Records": [unknown]}, context)
    assert len(queries) == 3


def _stale(body: str) -> dict:
    """A job's message sent well before any rollup of its hour read the readings (held by a queue delay, say)."""
    from rollup import handler as worker

    record = sqs_record(body)
    record["attributes"]["SentTimestamp"] = str(int(time.time() * 1000) - 60_000 - worker.CLOCK_SKEW_MARGIN_MS)
    return record


def _counting(ddb, monkeypatch, name: str, calls: list, wrap=None):
    real = getattr(ddb, name)

    def method(**kw):
        calls.append(kw)
        return (wrap or real)(**kw)

    monkeypatch.setattr(ddb, name, method)
    return real


def test_a_batch_learns_every_stored_rollup_in_one_batch_get_and_coalesces_what_they_already_saw(
    aws, context, monkeypatch, capsys
):
    devices = [f"dev-{i:02d}" for i in range(12)]
    write_readings(aws, context, [reading(d, HOUR + 1_000, v=1.0) for d in devices])
    assert handler(sqs_event([job(d) for d in devices[:8]]), context) == {"batchItemFailures": []}  # 8 rollups
    capsys.readouterr()
    ddb = clients.client("dynamodb")
    gets, queries = [], []
    _counting(ddb, monkeypatch, "batch_get_item", gets)
    _counting(ddb, monkeypatch, "query", queries)
    monkeypatch.setattr(ddb, "get_item", lambda **kw: pytest.fail("the worker makes no GetItem"))

    result = handler({"Records": [_stale(job(d)) for d in devices] + [_stale(job(devices[0]))]}, context)

    assert result == {"batchItemFailures": []}
    assert len(gets) == 1 and len(gets[0]["RequestItems"][ROLLUP_TABLE]["Keys"]) == 12  # one per distinct job
    assert gets[0]["RequestItems"][ROLLUP_TABLE]["ConsistentRead"] is True
    # the 8 stored rollups saw these readings; the 4 hours never rolled up are computed now
    assert sorted(q["ExpressionAttributeValues"][":d"]["S"] for q in queries) == devices[8:]
    counts = emf(output_lines(capsys))
    assert counts["JobsCoalesced"] == 8 and counts["RollupsWritten"] == 4
    assert set(aws.rollups()) == {(d, HOUR) for d in devices}


def test_keys_left_unprocessed_are_asked_again_and_jobs_never_learned_are_recomputed(aws, context, monkeypatch):
    devices = ["dev-a", "dev-b", "dev-c"]
    write_readings(aws, context, [reading(d, HOUR + 1_000, v=1.0) for d in devices])
    assert handler(sqs_event([job(d) for d in devices]), context) == {"batchItemFailures": []}
    ddb = clients.client("dynamodb")
    real = ddb.batch_get_item
    gets, queries = [], []

    def throttled_first(**kw):
        """DynamoDB serves one key and leaves the rest unprocessed, the first time only."""
        spec = kw["RequestItems"][ROLLUP_TABLE]
        if len(gets) > 1:
            return real(**kw)
        served = real(RequestItems={ROLLUP_TABLE: {**spec, "Keys": spec["Keys"][:1]}})
        served["UnprocessedKeys"] = {ROLLUP_TABLE: {**spec, "Keys": spec["Keys"][1:]}}
        return served

    _counting(ddb, monkeypatch, "batch_get_item", gets, throttled_first)
    _counting(ddb, monkeypatch, "query", queries)
    assert handler({"Records": [_stale(job(d)) for d in devices]}, context) == {"batchItemFailures": []}
    assert [len(g["RequestItems"][ROLLUP_TABLE]["Keys"]) for g in gets] == [3, 2]
    assert queries == []  # all three learned, all three coalesced

    # Never processed (throttled until the time is up): the jobs are recomputed, nothing is lost or failed.
    gets.clear()

    def always_unprocessed(**kw):
        return {"Responses": {ROLLUP_TABLE: []}, "UnprocessedKeys": kw["RequestItems"]}

    monkeypatch.setattr(ddb, "batch_get_item", lambda **kw: gets.append(kw) or always_unprocessed(**kw))
    context.remaining_ms = 1_000  # the first call only: any wait now would eat into the safety margin
    assert handler({"Records": [_stale(job(d)) for d in devices]}, context) == {"batchItemFailures": []}
    assert len(gets) == 1
    assert sorted(q["ExpressionAttributeValues"][":d"]["S"] for q in queries) == devices


def test_a_batch_get_that_cannot_succeed_is_logged_and_its_jobs_are_recomputed(aws, context, monkeypatch, capsys):
    write_readings(aws, context, [reading("dev-a", HOUR + 1_000, v=1.0)])
    capsys.readouterr()
    ddb = clients.client("dynamodb")

    def denied(**kw):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "BatchGetItem")

    monkeypatch.setattr(ddb, "batch_get_item", denied)
    assert handler({"Records": [_stale(job("dev-a"))]}, context) == {"batchItemFailures": []}
    assert aws.rollups()[("dev-a", HOUR)]["count"]["N"] == "1"
    errors = [line for line in output_lines(capsys) if line.get("level") == "ERROR"]
    assert [e["error_type"] for e in errors] == ["ClientError"] and "recomputed" in errors[0]["message"]
