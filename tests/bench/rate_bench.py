"""The sustained-rate row: `opsctl sandbox traffic --rate R --duration D` in a process of its own while the local
runtime follows (`opsctl sandbox run --follow`, here in-process so each invocation is timed), then the runtime until
idle; readings/s end to end = readings sent / (last rollup written - first reading sent). Every reading is then
counted in the table (one Query with Select=COUNT per device: stored once each) and every device's rollups must
add up to its readings. Ours (the deployed ingest function) and the naive handler (PutItem + SendMessage per
record) run the same traffic in the same run, each with devices of its own.

Each side (and the backlog case) starts on an idle pipeline: what an earlier row left undelivered (a cut catch-up)
is dropped first, untimed (`discard_leftovers`).

Also the backlog case of issue 18: one device's readings for 360 days, one an hour, sent in one go (8,640
readings, so 8,640 rollup jobs), then the runtime until idle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _traffic(state_dir: Path, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OPSCTL_SANDBOX_DIR": str(state_dir)}
    cmd = [sys.executable, "-m", "opsctl.cli.app", "sandbox", "traffic", "--output", "json", *args]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _count_readings(ddb, table: str, device: str) -> int:
    args = {
        "TableName": table,
        "KeyConditionExpression": "device_id = :d",
        "ExpressionAttributeValues": {":d": {"S": device}},
        "Select": "COUNT",
    }
    total = 0
    while True:
        page = ddb.query(**args)
        total += page["Count"]
        if not page.get("LastEvaluatedKey"):
            return total
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _rollup_total(ddb, table: str, device: str, from_ms: int, to_ms: int) -> int:
    from rollup.store import query_rollups

    return sum(r["count"] for r in query_rollups(table, device, from_ms, to_ms, ddb=ddb))


def check_stored(stack, readings: dict[str, list[int]]) -> tuple[int, int]:
    """(readings in the table, readings the rollups count) over the devices of `readings` (device -> its ts)."""
    ddb = stack.target.client("dynamodb")
    stored = rolled = 0
    for device, ts in readings.items():
        stored += _count_readings(ddb, stack.get("table_name"), device)
        lo, hi = min(ts), max(ts)
        for start in range(lo, hi + 1, 8_000 * 3_600_000):  # query_rollups takes at most a year per call
            rolled += _rollup_total(
                ddb, stack.get("rollup_table_name"), device, start, min(hi, start + 7_999 * 3_600_000)
            )
    return stored, rolled


def sustained(
    stack,
    state_dir: Path,
    *,
    rate: float,
    duration: float,
    devices: int,
    prefix: str,
    override=None,
    drain_s: float | None = None,
    settle_s: float | None = 120,
):
    """Readings/s end to end at `rate` for `duration` s, with the checks above; a dict of figures. The runtime's
    catching up after the traffic stops is cut at `drain_s` seconds (then fewer readings are stored and rolled up
    than sent, and the figure says so)."""
    from opsctl.sandbox.runtime import runner as runtime

    invoked: list[tuple[float, str, int]] = []

    def on_event(kind: str, details: dict) -> None:
        if kind == "invoke":
            invoked.append((time.monotonic(), details["function_name"], int(details.get("records", 0))))

    overrides = {stack.get("ingest_function_name"): override} if override else None
    # What an earlier row left on the stream and the queues (a cut catch-up) is dropped first, untimed: else this
    # side's runtime spends its minutes on them (the naive side once stored none of its own readings: all its
    # minutes went to the ours side's leftovers).
    settled = settle(stack, state_dir, max_s=settle_s)
    args = ["--rate", str(rate), "--duration", str(duration), "--devices", str(devices), "--device-prefix", prefix]
    t0 = time.monotonic()
    sender = _traffic(state_dir, args)
    runtime.run(
        stack.target,
        state_dir=state_dir,
        until_idle=False,
        max_seconds=duration,
        on_event=on_event,
        handler_overrides=overrides,
    )
    out, _ = sender.communicate(timeout=600)
    sent_s = time.monotonic() - t0
    behind = sum(n for _, fn, n in invoked if fn == stack.get("ingest_function_name"))
    drained = runtime.run(
        stack.target,
        state_dir=state_dir,
        until_idle=True,
        on_event=on_event,
        handler_overrides=overrides,
        max_seconds=drain_s,
    )
    done_s = time.monotonic() - t0
    sent = json.loads(out)["sent"]
    # traffic's readings end when it starts and go back one second per reading of a device: within the last day
    end_ms = int(time.time() * 1000)
    stored, rolled = check_stored(
        stack, {f"{prefix}{i:04d}": [end_ms - 86_400_000, end_ms] for i in range(1, devices + 1)}
    )
    return {
        "sent": sent,
        "stored": stored,
        "rolled_up": rolled,
        "ingested_while_sending": behind,
        "seconds_to_send": round(sent_s, 1),
        "seconds_to_idle": round(done_s, 1),
        "drain_cut": drained.timed_out,
        "started_idle": settled,
        "readings_per_s": end_to_end_rate(sent, stored, rolled, cut=drained.timed_out, seconds=done_s),
    }


def skip_shard(kinesis, stream_arn: str, shard_id: str, after: str | None) -> tuple[str | None, int]:
    """(the shard's last sequence number, how many records follow `after`), reading past them as a consumer would
    (from TRIM_HORIZON without `after`); the sandbox holds reads to a shard's 5/s and 2 MiB/s, as AWS does."""
    from botocore.exceptions import ClientError

    start = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after} if after else {}
    it = kinesis.get_shard_iterator(
        StreamARN=stream_arn, ShardId=shard_id, **(start or {"ShardIteratorType": "TRIM_HORIZON"})
    )["ShardIterator"]
    last, skipped = after, 0
    while it:
        try:
            page = kinesis.get_records(StreamARN=stream_arn, ShardIterator=it, Limit=2_000)
        except ClientError as e:
            if e.response["Error"]["Code"] != "ProvisionedThroughputExceededException":
                raise
            time.sleep(1.0)
            continue
        if not page["Records"]:
            break
        last = page["Records"][-1]["SequenceNumber"]
        skipped += len(page["Records"])
        it = page.get("NextShardIterator")
    return last, skipped


def _purge(sqs, url: str) -> None:
    """PurgeQueue, once more after a minute if the queue was purged less than a minute ago (as on AWS)."""
    from botocore.exceptions import ClientError

    try:
        sqs.purge_queue(QueueUrl=url)
    except ClientError as e:
        if "PurgeQueueInProgress" not in e.response["Error"]["Code"]:
            raise
        time.sleep(61)
        sqs.purge_queue(QueueUrl=url)


def discard_leftovers(stack, state_dir: Path) -> dict:
    """Drops, untimed, what an earlier row left undelivered (its catch-up cut): each Kinesis mapping's checkpoint
    moves past its shards' last record (as the runtime itself checkpoints), and the SQS queues mappings read are
    purged. The earlier row was measured at its cut; its leftovers would only eat the next row's minutes. Returns
    how many records and queued messages were dropped."""
    from opsctl.sandbox.runtime.mapping import CheckpointStore

    kinesis, sqs = stack.target.client("kinesis"), stack.target.client("sqs")
    store = CheckpointStore(state_dir / "checkpoints.json")
    dropped = {"records": 0, "messages": 0}
    for m in stack.target.client("lambda").list_event_source_mappings()["EventSourceMappings"]:
        arn = m["EventSourceArn"]
        if ":kinesis:" in arn:
            for shard in kinesis.list_shards(StreamARN=arn)["Shards"]:
                sid = shard["ShardId"]
                last, skipped = skip_shard(kinesis, arn, sid, store.get(m["UUID"], sid).get("sequence_number"))
                dropped["records"] += skipped
                if last:
                    store.put(m["UUID"], sid, sequence_number=last, finished=False)
        elif ":sqs:" in arn:
            url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            queued = sum(
                int(attrs[a])
                for a in (
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                )
            )
            if queued:
                _purge(sqs, url)
                dropped["messages"] += queued
    return dropped


def end_to_end_rate(sent: int, stored: int, rolled_up: int, *, cut: bool, seconds: float) -> float:
    """Readings/s end to end: all sent over the time to idle; when the catch-up was cut, only the readings that made
    it through to the rollups, the last stage (counting what reached the table gave 60,000 / 300 s however far
    behind the rollups were)."""
    return (min(stored, rolled_up) if cut else sent) / seconds


def settle(stack, state_dir: Path, *, max_s: float | None = None) -> bool:
    """Drops what an earlier row left (`discard_leftovers`), then runs the deployed functions until every mapping
    is idle (or `max_s` s): whether it got there."""
    from opsctl.sandbox.runtime import runner as runtime

    dropped = discard_leftovers(stack, state_dir)
    if any(dropped.values()):
        print(f"  dropped an earlier row's leftovers: {dropped}", file=sys.stderr)
    return not runtime.run(stack.target, state_dir=state_dir, until_idle=True, max_seconds=max_s).timed_out


def baseline_problem(figures: dict) -> str | None:
    """Why a side's sustained-rate figures cannot stand in a row (None: they can). A side that stored none of its
    own readings measured something else (another side's leftovers, AccessDenied retries), a side whose pipeline
    went idle short of every reading stored once and rolled up lost some, and a side that did not start on an idle
    pipeline shared its minutes with what was there."""
    if figures["sent"] and not figures["stored"]:
        return f"stored none of its {figures['sent']} readings"
    if not figures["drain_cut"] and (figures["stored"], figures["rolled_up"]) != (figures["sent"], figures["sent"]):
        return (
            f"went idle with {figures['stored']} of its {figures['sent']} readings stored and {figures['rolled_up']} "
            "rolled up"
        )
    if not figures.get("started_idle", True):
        return "did not start on an idle pipeline (an earlier row's leftovers were still being delivered)"
    return None


def sustained_row(figures: dict[str, dict], *, rate: float, duration: float, devices: int, drain_s: float) -> dict:
    """The bench row of `sustained`'s figures for "ours" and "naive": no ratio when either side cannot stand
    (`baseline_problem`), and the row's name says why."""
    ours, naive = figures["ours"], figures["naive"]

    def complete(f: dict) -> str:
        cut = f", catch-up cut at {drain_s:.0f} s" if f["drain_cut"] else ""
        return f"{f['stored']}/{f['sent']} stored, {f['rolled_up']} rolled up{cut}"

    problems = {label: baseline_problem(f) for label, f in figures.items()}
    invalid = "; ".join(f"{label} {p}" for label, p in problems.items() if p)
    return {
        "metric": f"sustained end to end at {rate:.0f}/s for {duration:.0f} s, {devices} devices: "
        "sent (or, when the catch-up is cut, rolled up) / (last rollup or cut - first send) "
        f"(goal ≥ 1,000; ours {complete(ours)}; naive {complete(naive)})"
        + (f" NOT COMPARABLE: {invalid}" if invalid else ""),
        "unit": "readings/s",
        "ours": ours["readings_per_s"],
        "naive": naive["readings_per_s"],
        "ratio": None if invalid else ours["readings_per_s"] / naive["readings_per_s"],
    }


def backlog(
    stack, state_dir: Path, *, device: str = "backlog-0001", hours: int = 8_640, max_s: float | None = None
) -> dict:
    """One device, one reading an hour for `hours` hours ending now, sent in one go, then the runtime until idle
    (cut at `max_s` seconds: then `cut` is true and the rollups count says how far it got)."""
    from opsctl.sandbox import traffic
    from opsctl.sandbox.runtime import runner as runtime

    end_ms = (int(time.time() * 1000) // 3_600_000) * 3_600_000 - 60_000
    readings = [
        {"device_id": device, "ts": end_ms - h * 3_600_000, "metrics": {"temp_c": float(h % 40)}} for h in range(hours)
    ]
    started_idle = settle(stack, state_dir, max_s=120)
    traffic.send(stack.target.client("kinesis"), stack.get("stream_name"), traffic.mix(readings, []))
    t0 = time.monotonic()
    summary = runtime.run(stack.target, state_dir=state_dir, until_idle=True, max_seconds=max_s).to_dict()
    seconds = time.monotonic() - t0
    stored, rolled = check_stored(stack, {device: [r["ts"] for r in readings]})
    return {
        "readings": hours,
        "stored": stored,
        "rolled_up": rolled,
        "seconds": round(seconds, 1),
        "cut": summary["timed_out"],
        "started_idle": started_idle,
        "rollup_invocations": sum(
            m["invocations"] for m in summary["mappings"] if m["function_name"] == stack.get("rollup_function_name")
        ),
    }
