"""The sustained-rate row: `opsctl sandbox traffic --rate R --duration D` in a process of its own while the local
runtime follows (`opsctl sandbox run --follow`, here in-process so each invocation is timed), then the runtime until
idle; readings/s end to end = readings sent / (last rollup written - first reading sent). Every reading is then
counted in the table (one Query with Select=COUNT per device: stored once each) and every device's rollups must
add up to its readings. Ours (the deployed ingest function) and the naive handler (PutItem + SendMessage per
record) run the same traffic in the same run, each with devices of its own.

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
        # a cut catch-up counts only what made it into the table (the rest is not end to end yet)
        "readings_per_s": (stored if drained.timed_out else sent) / done_s,
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
        "rollup_invocations": sum(
            m["invocations"] for m in summary["mappings"] if m["function_name"] == stack.get("rollup_function_name")
        ),
    }
