"""The ingest handler's rollup jobs on moto's SQS: one per (device, hour) the written readings touch, sent
only after the write, ≤10 per SendMessageBatch, and a job that cannot be sent hands the readings behind it
back to Lambda (which re-delivers them; the rewrite is idempotent) instead of being lost."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from common import clients
from ingest.handler import handler
from opsctl.sandbox import traffic
from rollup.job import HOUR_MS

from .conftest import TABLE, emf, kinesis_event, output_lines, reading

NOW_HOUR = (int(time.time() * 1000) // HOUR_MS) * HOUR_MS


def spread(devices: int, hours: int, per_hour: int) -> list[dict]:
    """Readings of `devices` devices over the last `hours` hours, `per_hour` each, in arrival order."""
    docs = []
    for h in range(hours, 0, -1):
        for i in range(per_hour):
            for d in range(1, devices + 1):
                docs.append(
                    reading(f"dev-{d:04d}", NOW_HOUR - h * HOUR_MS + i * 60_000 + d, temp_c=20 + i, rssi_dbm=-60 - d)
                )
    return docs


def expected_jobs(docs) -> set[tuple[str, int]]:
    return {(d["device_id"], d["ts"] - d["ts"] % HOUR_MS) for d in docs}


def jobs_on_queue(aws) -> list[tuple[str, int]]:
    return [(j["device_id"], j["hour_start"]) for j in (json.loads(m["Body"]) for m in aws.receive())]


def wrap_send_batch(monkeypatch, decide):
    """Routes SendMessageBatch through `decide(call_no, real, kwargs)`; returns the entries of every call."""
    sqs = clients.client("sqs")
    real = sqs.send_message_batch
    seen = []

    def send_message_batch(**kwargs):
        seen.append(kwargs["Entries"])
        return decide(len(seen), real, kwargs)

    monkeypatch.setattr(sqs, "send_message_batch", send_message_batch)
    return seen


def test_one_job_per_device_hour_touched_deduplicated_within_the_batch(aws, context, capsys):
    docs = spread(devices=3, hours=4, per_hour=5)  # 60 readings, 12 device-hours
    docs += docs[:7]  # the producer re-sent some

    assert handler(kinesis_event(docs), context) == {"batchItemFailures": []}

    jobs = jobs_on_queue(aws)
    assert sorted(jobs) == sorted(expected_jobs(docs)) and len(jobs) == 12  # each once
    m = emf(output_lines(capsys))
    assert (m["RollupJobsEnqueued"], m["RollupJobsFailed"]) == (12, 0)


def test_a_job_body_names_the_device_and_the_utc_hour_in_epoch_milliseconds(aws, context):
    hour = NOW_HOUR - 2 * HOUR_MS
    handler(kinesis_event([reading("dev-7", hour + 123_456)]), context)
    (message,) = aws.receive()
    assert json.loads(message["Body"]) == {"device_id": "dev-7", "hour_start": hour}
    assert hour % HOUR_MS == 0 and time.gmtime(hour / 1000).tm_min == 0 and time.gmtime(hour / 1000).tm_sec == 0


def test_jobs_are_sent_only_after_their_readings_are_in_the_table(aws, context, monkeypatch):
    docs = spread(devices=2, hours=2, per_hour=3)
    in_table_when_sent = []

    def decide(n, real, kwargs):
        keys = set(aws.items())
        for entry in kwargs["Entries"]:
            job = json.loads(entry["MessageBody"])
            in_table_when_sent.append(
                all(
                    (d["device_id"], d["ts"]) in keys
                    for d in docs
                    if (d["device_id"], d["ts"] - d["ts"] % HOUR_MS) == (job["device_id"], job["hour_start"])
                )
            )
        return real(**kwargs)

    wrap_send_batch(monkeypatch, decide)
    handler(kinesis_event(docs), context)
    assert in_table_when_sent == [True] * 4


def test_jobs_go_in_batches_of_at_most_ten(aws, context, monkeypatch):
    docs = spread(devices=23, hours=1, per_hour=2)  # 23 device-hours
    seen = wrap_send_batch(monkeypatch, lambda n, real, kw: real(**kw))

    assert handler(kinesis_event(docs), context) == {"batchItemFailures": []}

    assert [len(entries) for entries in seen] == [10, 10, 3]
    assert all(len({e["Id"] for e in entries}) == len(entries) for entries in seen)
    assert len(jobs_on_queue(aws)) == 23


def test_entries_sqs_refuses_for_a_while_are_retried_until_sent(aws, context, fake_clock, monkeypatch, capsys):
    docs = spread(devices=4, hours=1, per_hour=2)

    def decide(n, real, kwargs):
        if n == 1:  # SQS takes the first two entries and fails the rest on its side
            real(QueueUrl=kwargs["QueueUrl"], Entries=kwargs["Entries"][:2])
            return {
                "Successful": [
                    {"Id": e["Id"], "MessageId": "x", "MD5OfMessageBody": "x"} for e in kwargs["Entries"][:2]
                ],
                "Failed": [
                    {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"}
                    for e in kwargs["Entries"][2:]
                ],
            }
        return real(**kwargs)

    seen = wrap_send_batch(monkeypatch, decide)
    assert handler(kinesis_event(docs), context) == {"batchItemFailures": []}
    assert [len(s) for s in seen] == [4, 2] and len(fake_clock) == 1
    assert sorted(jobs_on_queue(aws)) == sorted(expected_jobs(docs))


def test_jobs_unsent_when_time_runs_out_hand_back_exactly_their_readings_and_a_redelivery_enqueues_them(
    aws, context, fake_clock, monkeypatch, capsys
):
    docs = spread(devices=3, hours=2, per_hour=2)
    event = kinesis_event(docs)
    stuck = "dev-0002"
    sqs_down_for = {stuck}

    def decide(n, real, kwargs):
        ok = [e for e in kwargs["Entries"] if json.loads(e["MessageBody"])["device_id"] not in sqs_down_for]
        bad = [e for e in kwargs["Entries"] if json.loads(e["MessageBody"])["device_id"] in sqs_down_for]
        if ok:
            real(QueueUrl=kwargs["QueueUrl"], Entries=ok)
        return {
            "Successful": [{"Id": e["Id"], "MessageId": "x", "MD5OfMessageBody": "x"} for e in ok],
            "Failed": [
                {"Id": e["Id"], "SenderFault": False, "Code": "ServiceUnavailable", "Message": "later"} for e in bad
            ],
        }

    seen = wrap_send_batch(monkeypatch, decide)
    context.remaining_ms = 4_000

    result = handler(event, context)

    behind_stuck = sorted(
        r["kinesis"]["sequenceNumber"] for r, d in zip(event["Records"], docs, strict=True) if d["device_id"] == stuck
    )
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == behind_stuck
    assert len(aws.items()) == len(docs)  # every reading is written all the same
    assert sorted(jobs_on_queue(aws)) == sorted(j for j in expected_jobs(docs) if j[0] != stuck)
    assert len(seen) > 2  # it retried while time was left
    m = emf(output_lines(capsys))
    assert (m["RollupJobsEnqueued"], m["RollupJobsFailed"], m["RecordsFailed"]) == (4, 2, len(behind_stuck))

    # Lambda re-delivers from the lowest failed record; SQS has recovered: nothing is duplicated, nothing lost.
    sqs_down_for.clear()
    context.remaining_ms = 60_000
    first_failed = min(
        range(len(docs)),
        key=lambda i: (
            int(event["Records"][i]["kinesis"]["sequenceNumber"])
            if event["Records"][i]["kinesis"]["sequenceNumber"] in behind_stuck
            else 10**80
        ),
    )
    assert handler({"Records": event["Records"][first_failed:]}, context) == {"batchItemFailures": []}
    assert len(aws.items()) == len(docs)
    assert {j for j in jobs_on_queue(aws) if j[0] == stuck} == {j for j in expected_jobs(docs) if j[0] == stuck}


@pytest.mark.parametrize(
    "code", ["AccessDenied", "KMS.AccessDeniedException", "AWS.SimpleQueueService.NonExistentQueue"]
)
def test_a_non_retryable_send_error_hands_back_its_readings_without_retrying(aws, context, monkeypatch, capsys, code):
    docs = spread(devices=12, hours=1, per_hour=1)  # 12 jobs: two requests
    event = kinesis_event(docs)

    def decide(n, real, kwargs):
        if n == 1:
            raise ClientError(
                {"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
                "SendMessageBatch",
            )
        return real(**kwargs)

    seen = wrap_send_batch(monkeypatch, decide)
    result = handler(event, context)

    first_ten = {json.loads(e["MessageBody"])["device_id"] for e in seen[0]}
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(
        r["kinesis"]["sequenceNumber"]
        for r, d in zip(event["Records"], docs, strict=True)
        if d["device_id"] in first_ten
    )
    assert len(seen) == 2  # no retry of what cannot succeed
    assert len(jobs_on_queue(aws)) == 2
    lines = output_lines(capsys)
    assert any(line["level"] == "ERROR" and code in line.get("error", "") for line in lines)


def test_no_job_for_a_reading_whose_write_failed(aws, context, monkeypatch):
    docs = [reading("dev-ok", NOW_HOUR - HOUR_MS), reading("dev-bad", NOW_HOUR - HOUR_MS)]
    ddb = clients.client("dynamodb")
    real = ddb.batch_write_item

    def decide(**kwargs):
        requests = kwargs["RequestItems"][TABLE]
        ok = [r for r in requests if r["PutRequest"]["Item"]["device_id"]["S"] == "dev-ok"]
        real(RequestItems={TABLE: ok})
        return {"UnprocessedItems": {TABLE: [r for r in requests if r not in ok]}}

    monkeypatch.setattr(ddb, "batch_write_item", decide)
    context.remaining_ms = 1_500  # no time to retry the unprocessed item
    result = handler(kinesis_event(docs), context)
    assert len(result["batchItemFailures"]) == 1
    assert jobs_on_queue(aws) == [("dev-ok", NOW_HOUR - HOUR_MS)]


def test_a_batch_of_poison_only_enqueues_nothing(aws, context, capsys):
    assert handler(kinesis_event([b"oops", b"[]"]), context) == {"batchItemFailures": []}
    assert aws.receive() == []
    assert emf(output_lines(capsys))["RollupJobsEnqueued"] == 0


def test_without_a_rollup_queue_no_job_is_sent(aws, context, monkeypatch):
    monkeypatch.delenv("ROLLUP_QUEUE_URL")
    assert handler(kinesis_event(traffic.readings(2, 6)), context) == {"batchItemFailures": []}
    assert aws.receive() == []
