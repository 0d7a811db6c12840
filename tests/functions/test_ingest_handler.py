"""The ingest handler on moto's AWS: readings land in the table once, poison lands in the quarantine,
and whatever could not be stored comes back as batchItemFailures — never an exception."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from common import clients
from ingest.handler import handler
from ingest.table import SAFETY_MARGIN_MS
from opsctl.sandbox import traffic

from .conftest import (
    FIRST_SEQUENCE,
    PREFIX,
    SHARD,
    STREAM_ARN,
    TABLE,
    emf,
    kinesis_event,
    output_lines,
    reading,
)


def throttled(code="ProvisionedThroughputExceededException"):
    return ClientError({"Error": {"Code": code, "Message": "slow down"}}, "BatchWriteItem")


def wrap_batch_write(monkeypatch, decide):
    """Routes the handler's BatchWriteItem through `decide(call_no, real, kwargs)`; returns the requests seen."""
    ddb = clients.client("dynamodb")
    real = ddb.batch_write_item
    seen = []

    def batch_write_item(**kwargs):
        seen.append(kwargs["RequestItems"][TABLE])
        return decide(len(seen), real, kwargs)

    monkeypatch.setattr(ddb, "batch_write_item", batch_write_item)
    return seen


def key_of(request) -> tuple[str, int]:
    item = request["PutRequest"]["Item"]
    return item["device_id"]["S"], int(item["ts"]["N"])


def test_valid_readings_are_all_written_with_ttl_in_epoch_seconds(aws, context, capsys):
    docs = traffic.readings(4, 40)
    result = handler(kinesis_event(docs), context)

    assert result == {"batchItemFailures": []}
    items = aws.items()
    assert set(items) == {(d["device_id"], d["ts"]) for d in docs}
    doc = docs[7]
    item = items[(doc["device_id"], doc["ts"])]
    assert {k: float(v["N"]) for k, v in item["metrics"]["M"].items()} == pytest.approx(doc["metrics"])
    assert int(item["expires_at"]["N"]) == doc["ts"] // 1000 + 90 * 86_400
    assert aws.quarantine() == {}
    metrics = emf(output_lines(capsys))
    assert {
        k: metrics[k] for k in ("RecordsIn", "RecordsWritten", "RecordsQuarantined", "RecordsFailed", "WriteRetries")
    } == {"RecordsIn": 40, "RecordsWritten": 40, "RecordsQuarantined": 0, "RecordsFailed": 0, "WriteRetries": 0}


def test_ttl_follows_reading_ttl_days(aws, context, monkeypatch):
    monkeypatch.setenv("READING_TTL_DAYS", "7")
    doc = reading()
    handler(kinesis_event([doc]), context)
    assert int(aws.items()[(doc["device_id"], doc["ts"])]["expires_at"]["N"]) == doc["ts"] // 1000 + 7 * 86_400


def test_duplicates_in_a_batch_and_a_redelivered_batch_give_one_item_each(aws, context):
    first, second = reading("dev-a", temp_c=1.0), reading("dev-b")
    newer = {**first, "metrics": {"temp_c": 2.0}}  # same key, later in the shard: it wins
    event = kinesis_event([first, second, newer, second])

    assert handler(event, context) == {"batchItemFailures": []}
    assert handler(event, context) == {"batchItemFailures": []}  # Lambda re-delivers the whole batch

    items = aws.items()
    assert set(items) == {("dev-a", first["ts"]), ("dev-b", second["ts"])}
    assert items[("dev-a", first["ts"])]["metrics"]["M"]["temp_c"]["N"] == "2.0"


def test_every_poison_kind_is_quarantined_and_the_readings_around_it_are_written(aws, context, capsys):
    arrival = 1_763_800_000.25  # 2025-11-22 UTC
    valid = traffic.readings(3, 30)
    bad = traffic.poison(len(traffic.POISON_KINDS) * 2)
    items = traffic.mix(valid, bad)
    event = kinesis_event(items, arrival=arrival)

    result = handler(event, context)

    assert result == {"batchItemFailures": []}
    assert set(aws.items()) == {(d["device_id"], d["ts"]) for d in valid}
    # One object for the batch's poison, at a key of its first and last sequence numbers, one line per record.
    seqs = [r["kinesis"]["sequenceNumber"] for r, i in zip(event["Records"], items, strict=True) if i.kind != "valid"]
    (key,) = aws.quarantine()
    assert key == f"{PREFIX}dt=2025-11-22/{SHARD}/{seqs[0]}-{seqs[-1]}.jsonl"
    quarantined = aws.quarantined_records()
    assert Counter(q["reason_code"] for q in quarantined.values()) == Counter(i.kind for i in bad)
    for record, item in zip(event["Records"], items, strict=True):
        if item.kind == "valid":
            continue
        seq = record["kinesis"]["sequenceNumber"]
        body = quarantined[seq]
        assert body["reason_code"] == item.kind and body["reason"]
        assert body["shard_id"] == SHARD and body["sequence_number"] == seq
        assert body["partition_key"] == item.partition_key
        assert body["approximate_arrival_timestamp"] == arrival
        assert body["event_source_arn"] == STREAM_ARN
        assert body["data_base64"] == record["kinesis"]["data"]
        assert body["aws_request_id"] == context.aws_request_id and body["function_name"] == context.function_name
        assert body["quarantined_at"].endswith("Z")

    # One ERROR line for the batch, with its counts by reason (it becomes one alert group, not one per record).
    lines = output_lines(capsys)
    (error,) = [line for line in lines if line.get("level") == "ERROR"]
    assert error["reasons"] == dict(Counter(i.kind for i in bad)) and error["records"] == len(bad)
    assert error["shard_id"] == SHARD and error["object_key"] == key
    assert (error["first_sequence_number"], error["last_sequence_number"]) == (seqs[0], seqs[-1])
    m = emf(lines)
    assert (m["RecordsIn"], m["RecordsWritten"], m["RecordsQuarantined"], m["RecordsFailed"]) == (
        len(items),
        30,
        len(bad),
        0,
    )


def test_a_poison_flood_costs_one_put_and_one_error_line_per_batch(aws, context, monkeypatch, capsys):
    # A shard's 1,000 records a second, all poison: before, 1,000 PUTs and 1,000 ERROR lines (alerts) a second.
    s3 = clients.client("s3")
    puts = []
    real_put = s3.put_object
    monkeypatch.setattr(s3, "put_object", lambda **kw: puts.append(kw["Key"]) or real_put(**kw))
    event = kinesis_event([b"not json %d" % i for i in range(1000)])

    assert handler(event, context) == {"batchItemFailures": []}

    assert len(puts) == 1 and len(aws.quarantined_records()) == 1000
    errors = [line for line in output_lines(capsys) if line.get("level") == "ERROR"]
    assert len(errors) == 1 and errors[0]["reasons"] == {"not_json": 1000}


def test_a_redelivered_poison_record_overwrites_its_own_quarantine_object(aws, context):
    event = kinesis_event([b"not json"])
    handler(event, context)
    handler(event, context)
    assert len(aws.quarantine()) == 1


def test_throttling_then_success_writes_everything_and_counts_the_retry(aws, context, fake_clock, monkeypatch, capsys):
    docs = traffic.readings(2, 10)
    seen = wrap_batch_write(
        monkeypatch, lambda n, real, kw: (_ for _ in ()).throw(throttled()) if n == 1 else real(**kw)
    )

    assert handler(kinesis_event(docs), context) == {"batchItemFailures": []}

    assert set(aws.items()) == {(d["device_id"], d["ts"]) for d in docs}
    assert len(seen) == 2 and len(fake_clock) == 1
    assert emf(output_lines(capsys))["WriteRetries"] == 1


def test_throttling_injected_with_stubber_is_retried(aws, context, fake_clock, capsys):
    docs = traffic.readings(2, 10)
    ddb = clients.client("dynamodb")
    with Stubber(ddb) as stub:
        stub.add_client_error(
            "batch_write_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
        )
        stub.add_client_error("batch_write_item", service_error_code="ThrottlingException", http_status_code=400)
        stub.add_response("batch_write_item", {"UnprocessedItems": {}}, expected_params={"RequestItems": {TABLE: ANY}})
        result = handler(kinesis_event(docs), context)
        stub.assert_no_pending_responses()

    assert result == {"batchItemFailures": []}
    m = emf(output_lines(capsys))
    assert (m["WriteRetries"], m["RecordsWritten"], m["RecordsFailed"]) == (2, 10, 0)


def test_items_left_unprocessed_until_time_runs_out_are_exactly_the_failures(
    aws, context, fake_clock, monkeypatch, capsys
):
    docs = traffic.readings(5, 50)
    event = kinesis_event(docs)
    stuck = {("dev-0002", d["ts"]) for d in docs if d["device_id"] == "dev-0002"}

    def decide(n, real, kwargs):
        requests = kwargs["RequestItems"][TABLE]
        keep = [r for r in requests if key_of(r) not in stuck]
        left = [r for r in requests if key_of(r) in stuck]
        if keep:
            real(RequestItems={TABLE: keep})
        return {"UnprocessedItems": {TABLE: left} if left else {}}

    seen = wrap_batch_write(monkeypatch, decide)
    context.remaining_ms = 5_000

    result = handler(event, context)

    expected = sorted(
        r["kinesis"]["sequenceNumber"]
        for r, d in zip(event["Records"], docs, strict=True)
        if d["device_id"] == "dev-0002"
    )
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == expected
    assert set(aws.items()) == {(d["device_id"], d["ts"]) for d in docs} - stuck
    assert len(seen) > 2 and fake_clock  # it kept retrying while time was left
    assert context.remaining_ms >= SAFETY_MARGIN_MS - 1  # and stopped before eating into the safety margin
    lines = output_lines(capsys)
    m = emf(lines)
    assert (m["RecordsWritten"], m["RecordsFailed"], m["WriteRetries"]) == (40, 10, len(seen) - 2)


def test_unprocessed_items_are_retried_until_written(aws, context, fake_clock, monkeypatch):
    docs = traffic.readings(2, 20)

    def decide(n, real, kwargs):
        requests = kwargs["RequestItems"][TABLE]
        if n <= 2:  # AWS takes part of the first two requests
            real(RequestItems={TABLE: requests[:3]})
            return {"UnprocessedItems": {TABLE: requests[3:]}}
        return real(**kwargs)

    wrap_batch_write(monkeypatch, decide)
    assert handler(kinesis_event(docs), context) == {"batchItemFailures": []}
    assert len(aws.items()) == 20


def test_a_failed_quarantine_write_hands_that_record_back(aws, context, monkeypatch, capsys):
    event = kinesis_event([reading("dev-a"), b"\xff not utf8", reading("dev-b")])
    s3 = clients.client("s3")

    def put_object(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")

    monkeypatch.setattr(s3, "put_object", put_object)
    result = handler(event, context)

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["kinesis"]["sequenceNumber"]}]}
    assert len(aws.items()) == 2
    m = emf(output_lines(capsys))
    assert (m["RecordsWritten"], m["RecordsQuarantined"], m["RecordsFailed"]) == (2, 0, 1)


def test_writes_go_in_requests_of_at_most_25_without_duplicate_keys(aws, context, monkeypatch):
    docs = traffic.readings(6, 60)
    payloads = docs + docs[:15]  # the producer re-sent some
    seen = wrap_batch_write(monkeypatch, lambda n, real, kw: real(**kw))

    assert handler(kinesis_event(payloads), context) == {"batchItemFailures": []}

    assert [len(r) for r in seen] == [25, 25, 10]
    assert all(len({key_of(r) for r in request}) == len(request) for request in seen)
    assert len(aws.items()) == 60


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "AccessDeniedException", "ValidationException"])
def test_a_non_retryable_error_reports_every_affected_record_without_raising(aws, context, monkeypatch, capsys, code):
    docs = traffic.readings(2, 30)
    event = kinesis_event([*docs, b"[]"])

    def decide(n, real, kwargs):
        raise ClientError({"Error": {"Code": code, "Message": "no"}}, "BatchWriteItem")

    seen = wrap_batch_write(monkeypatch, decide)
    result = handler(event, context)

    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(
        r["kinesis"]["sequenceNumber"] for r in event["Records"][:30]
    )
    assert len(seen) == 2  # no retries of what cannot succeed
    assert len(aws.quarantine()) == 1  # the poison record was still set aside
    lines = output_lines(capsys)
    assert any(
        line["level"] == "ERROR" and line.get("error_type") == "ClientError" and code in line["error"] for line in lines
    )
    assert emf(lines)["RecordsFailed"] == 30


def test_a_missing_table_reports_failures_against_real_moto(aws, context, monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    event = kinesis_event([reading()])
    assert handler(event, context) == {"batchItemFailures": [{"itemIdentifier": str(FIRST_SEQUENCE)}]}


def test_log_lines_are_json_with_the_request_fields(aws, context, capsys):
    handler(kinesis_event([reading(), b"oops"]), context)
    lines = [line for line in output_lines(capsys) if "_aws" not in line]
    assert lines
    for line in lines:
        assert {"level", "message", "timestamp", "aws_request_id", "function_name", "log_stream"} <= set(line)
        assert line["aws_request_id"] == context.aws_request_id
        assert line["function_name"] == context.function_name
        assert line["log_stream"] == context.log_stream_name


def test_log_level_error_keeps_only_errors(aws, context, capsys, monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    handler(kinesis_event([reading(), b"oops"]), context)
    lines = [line for line in output_lines(capsys) if "_aws" not in line]
    assert [line["level"] for line in lines] == ["ERROR"]


def test_emf_line_is_one_well_formed_blob(aws, context, capsys, monkeypatch):
    monkeypatch.setenv("METRICS_NAMESPACE", "Custom/NS")
    before = int(time.time() * 1000)
    handler(kinesis_event([reading()]), context)
    m = emf(output_lines(capsys))
    directive = m["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Custom/NS" and directive["Dimensions"] == [["FunctionName"]]
    units = {d["Name"]: d["Unit"] for d in directive["Metrics"]}
    assert units == {
        "RecordsIn": "Count",
        "RecordsWritten": "Count",
        "RecordsQuarantined": "Count",
        "WriteRetries": "Count",
        "RecordsFailed": "Count",
        "RollupJobsEnqueued": "Count",
        "RollupJobsFailed": "Count",
        "BatchLatency": "Milliseconds",
    }
    assert all(name in m for name in units)
    assert m["FunctionName"] == context.function_name
    assert m["_aws"]["Timestamp"] >= before and m["BatchLatency"] >= 0


def test_an_empty_batch_succeeds_without_touching_aws(env, context, capsys):
    clients.reset()
    assert handler({"Records": []}, context) == {"batchItemFailures": []}
    assert clients._cache == {}
    assert emf(output_lines(capsys))["RecordsIn"] == 0


def test_a_payload_claiming_another_device_is_quarantined_and_never_touches_that_devices_reading(aws, context):
    # dev-0002's true reading is stored first; then a record whose partition key (the identity the IoT rule
    # set from the topic: the publishing device is dev-0001) carries a payload that claims dev-0002 at that ts.
    victim = reading("dev-0002", temp_c=21.5)
    assert handler(kinesis_event([victim]), context) == {"batchItemFailures": []}
    spoof = {**victim, "metrics": {"temp_c": 99.0}}
    event = kinesis_event([spoof], first_seq=FIRST_SEQUENCE + 10)
    event["Records"][0]["kinesis"]["partitionKey"] = "dev-0001"

    assert handler(event, context) == {"batchItemFailures": []}

    items = aws.items()
    assert set(items) == {("dev-0002", victim["ts"])}
    assert items[("dev-0002", victim["ts"])]["metrics"]["M"]["temp_c"] == {"N": "21.5"}
    (body,) = aws.quarantined_records().values()
    assert body["reason_code"] == "device_mismatch"
    assert body["partition_key"] == "dev-0001"
    assert "'dev-0002'" in body["reason"] and "'dev-0001'" in body["reason"]


def test_a_payload_whose_device_id_is_its_partition_key_is_written(aws, context):
    doc = reading("dev-0007")
    assert handler(kinesis_event([doc]), context) == {"batchItemFailures": []}
    assert set(aws.items()) == {("dev-0007", doc["ts"])}
    assert aws.quarantine() == {}
