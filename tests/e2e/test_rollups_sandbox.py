"""End to end on the sandbox with the real Terraform: traffic → ingest → rollup jobs on the KMS-encrypted queue →
the rollup worker driven by the local runtime → rollups equal to the aggregates this test computes from the raw
readings it sent. A malformed job put straight on the queue fails alone and lands in the DLQ after the queue's
maxReceiveCount receives, while the jobs around it succeed."""

from __future__ import annotations

import json
import statistics
import time

import pytest

from opsctl.sandbox import traffic

from .sandbox_harness import opsctl

# A group of its own: pytest-xdist runs the module on one worker, so its module fixtures run once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-rollups")]

HOUR_MS = 3_600_000
DEVICES = ("roll-01", "roll-02", "roll-03")  # devices of this module only: other modules' traffic leaves them alone
HOURS = 5
PER_HOUR = 6


def _hour(ts: int) -> int:
    return ts - ts % HOUR_MS


def _readings() -> list[dict]:
    """PER_HOUR readings per device in each of the last HOURS whole hours, metric values varying."""
    base = _hour(int(time.time() * 1000)) - HOURS * HOUR_MS
    out = []
    for h in range(HOURS):
        for i in range(PER_HOUR):
            for d, device in enumerate(DEVICES):
                metrics = {"temp_c": round(15 + h * 1.7 - i * 0.45 + d, 2), "rssi_dbm": -70 + i - d}
                if i % 3:  # a metric present in only some readings
                    metrics["battery_v"] = round(3.3 + 0.05 * i, 3)
                out.append({"device_id": device, "ts": base + h * HOUR_MS + i * 500_000 + d * 17, "metrics": metrics})
    return out


def _expected(readings: list[dict]) -> dict[tuple[str, int], dict]:
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in readings:
        groups.setdefault((r["device_id"], _hour(r["ts"])), []).append(r)
    out = {}
    for key, rs in groups.items():
        names = sorted({n for r in rs for n in r["metrics"]})
        metrics = {}
        for n in names:
            values = [float(r["metrics"][n]) for r in rs if n in r["metrics"]]
            metrics[n] = {
                "count": len(values),
                "min": min(values),
                "max": max(values),
                "sum": sum(values),
                "avg": statistics.fmean(values),
            }
        out[key] = {
            "count": len(rs),
            "first_ts": min(r["ts"] for r in rs),
            "last_ts": max(r["ts"] for r in rs),
            "metrics": metrics,
        }
    return out


def _queue_depth(sandbox, url_output: str) -> tuple[int, int]:
    attrs = sandbox.client("sqs").get_queue_attributes(
        QueueUrl=sandbox.outputs[url_output],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _rollup_mapping(run: dict, sandbox) -> dict:
    (m,) = [m for m in run["mappings"] if m["function_name"] == sandbox.outputs["rollup_function_name"]]
    return m


@pytest.fixture(scope="module")
def rolled(sandbox):
    # Whatever other modules left on the stream or the queue is processed first: this run is this module's alone.
    opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json")
    readings = _readings()
    result = traffic.send(sandbox.client("kinesis"), sandbox.outputs["stream_name"], traffic.mix(readings, []))
    assert result.sent == len(readings)
    run = json.loads(opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json").stdout)
    return {"readings": readings, "run": run}


def test_rollups_equal_the_aggregates_of_the_raw_readings(sandbox, rolled):
    expected = _expected(rolled["readings"])
    assert len(expected) == len(DEVICES) * HOURS
    for device in DEVICES:
        got = json.loads(
            opsctl(
                sandbox, "sandbox", "rollups", "--device", device, "--hours", str(HOURS + 2), "--output", "json"
            ).stdout
        )
        by_hour = {r["hour_start"]: r for r in got["rollups"]}
        assert sorted(by_hour) == sorted(h for d, h in expected if d == device)
        for hour, rollup in by_hour.items():
            want = expected[(device, hour)]
            assert (rollup["count"], rollup["first_ts"], rollup["last_ts"]) == (
                want["count"],
                want["first_ts"],
                want["last_ts"],
            )
            assert set(rollup["metrics"]) == set(want["metrics"])
            for name, stats in want["metrics"].items():
                assert rollup["metrics"][name] == pytest.approx(stats), (device, hour, name)


def _worker_errors(sandbox) -> list[str]:
    """The rollup worker's error lines (timeouts, failed jobs), to say why a healthy job was dead-lettered."""
    log = sandbox.state_dir / "logs" / f"{sandbox.outputs['rollup_function_name']}.log"
    return (
        [
            line[:300]
            for line in log.read_text().splitlines()
            if '"ERROR"' in line or "[ERROR]" in line or "Task timed out" in line or "deferred" in line
        ][-10:]
        if log.exists()
        else []
    )


def test_the_queue_is_drained_nothing_dead_lettered_and_jobs_were_deduplicated(sandbox, rolled):
    assert _queue_depth(sandbox, "rollup_queue_url") == (0, 0)
    assert _queue_depth(sandbox, "rollup_dlq_url") == (0, 0), _worker_errors(sandbox)
    m = _rollup_mapping(rolled["run"], sandbox)
    # Every delivery ended in a delete (a job deferred near the worker's deadline on a busy machine is simply
    # delivered again and deleted then, so deliveries = deletes + failed deliveries).
    assert m["messages_deleted"] > 0 and m["records_delivered"] == m["messages_deleted"] + m["messages_failed"]
    # One job per (device, hour) per ingest batch: far fewer jobs than readings.
    assert m["records_delivered"] < len(rolled["readings"]) / 2


def test_the_dlq_is_found_from_the_source_queue_as_replay_tools_expect(sandbox):
    sqs = sandbox.client("sqs")
    sources = sqs.list_dead_letter_source_queues(QueueUrl=sandbox.outputs["rollup_dlq_url"])["queueUrls"]
    assert sources == [sandbox.outputs["rollup_queue_url"]]
    attrs = sqs.get_queue_attributes(QueueUrl=sandbox.outputs["rollup_queue_url"], AttributeNames=["All"])["Attributes"]
    assert json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"] == sandbox.outputs["rollup_dlq_arn"]
    assert attrs.get("KmsMasterKeyId") and int(attrs["VisibilityTimeout"]) >= 6 * 3  # local worker timeout: 3 s
    dlq = sqs.get_queue_attributes(QueueUrl=sandbox.outputs["rollup_dlq_url"], AttributeNames=["All"])["Attributes"]
    assert dlq.get("KmsMasterKeyId") and dlq["MessageRetentionPeriod"] == str(14 * 86_400)


def test_a_malformed_job_reaches_the_dlq_after_max_receive_count_while_the_others_succeed(sandbox, rolled):
    sqs = sandbox.client("sqs")
    queue = sandbox.outputs["rollup_queue_url"]
    max_receive_count = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )["maxReceiveCount"]
    # A late reading for one hour, and its job, next to a job no worker can read.
    device, hour = DEVICES[0], _hour(rolled["readings"][0]["ts"])
    late = {"device_id": device, "ts": hour + HOUR_MS - 1, "metrics": {"temp_c": -40.0}}
    traffic.send(sandbox.client("kinesis"), sandbox.outputs["stream_name"], traffic.mix([late], []))
    malformed = '{"device_id": "roll-01", "hour_start": "not a number"}'
    sqs.send_message(QueueUrl=queue, MessageBody=malformed)

    run = json.loads(opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json").stdout)

    m = _rollup_mapping(run, sandbox)
    assert m["messages_failed"] >= max_receive_count and m["messages_deleted"] >= 1  # the late reading's job succeeded
    dead = sqs.receive_message(QueueUrl=sandbox.outputs["rollup_dlq_url"], MaxNumberOfMessages=10).get("Messages", [])
    assert [d["Body"] for d in dead] == [malformed]
    assert _queue_depth(sandbox, "rollup_queue_url") == (0, 0)
    got = json.loads(
        opsctl(
            sandbox,
            "sandbox",
            "rollups",
            "--device",
            device,
            "--from",
            str(hour),
            "--to",
            str(hour),
            "--output",
            "json",
        ).stdout
    )["rollups"]
    want = _expected(rolled["readings"] + [late])[(device, hour)]
    assert got[0]["count"] == want["count"] and got[0]["metrics"]["temp_c"]["min"] == -40.0
    assert got[0]["metrics"]["temp_c"] == pytest.approx(want["metrics"]["temp_c"])
    # The worker's log names the failing message on each receive.
    log = (sandbox.state_dir / "logs" / f"{sandbox.outputs['rollup_function_name']}.log").read_text()
    errors = [json.loads(line) for line in log.splitlines() if line.startswith("{") and "malformed rollup job" in line]
    assert [e["receive_count"] for e in errors][-max_receive_count:] == [
        str(n) for n in range(1, max_receive_count + 1)
    ]


def test_inspect_shows_rollups_and_the_dlq(sandbox, rolled):
    landed = json.loads(opsctl(sandbox, "sandbox", "inspect", "--output", "json").stdout)
    assert landed["rollups"]["items"] >= len(DEVICES) * HOURS
    assert set(landed["rollup_queue"]) == {"visible", "in_flight"} and "rollup_dlq" in landed
    people = opsctl(sandbox, "sandbox", "rollups", "--device", DEVICES[1], "--hours", str(HOURS + 2)).stdout
    assert "hourly rollups of roll-02" in people and "temp_c" in people


def test_the_read_api_serves_the_same_rollups_over_http(sandbox, rolled):
    """GET /devices/{device_id}/rollups through the API Gateway routes Terraform created (opsctl sandbox api,
    a real HTTP request), equal to the test's own aggregates; a bad range is the API's 400."""
    expected = _expected(rolled["readings"])
    device = DEVICES[1]  # DEVICES[0] gets a late reading in the malformed-job test
    hours = sorted(h for d, h in expected if d == device)
    path = f"/devices/{device}/rollups?from={hours[0]}&to={hours[-1] + HOUR_MS - 1}"
    opsctl(sandbox, "sandbox", "user", "add", "roll-op", "--operator")
    ok = opsctl(sandbox, "sandbox", "api", "--user", "roll-op", "--get", path, "--output", "json")
    (answer,) = json.loads(ok.stdout)["answers"]
    assert answer["status"] == 200 and answer["body"]["count"] == len(hours)
    for item in answer["body"]["items"]:
        want = expected[(device, item["hour_start"])]
        assert item["count"] == want["count"]
        for name, stats in want["metrics"].items():
            assert item["metrics"][name] == pytest.approx(stats), (item["hour_start"], name)
    bad = opsctl(
        sandbox, "sandbox", "api", "--user", "roll-op", "--get", f"/devices/{device}/rollups?from=20&to=10", check=False
    )
    assert bad.returncode == 1 and "bad_range" in bad.stdout and "Traceback" not in bad.stderr
