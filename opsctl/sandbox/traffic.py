"""Device traffic for the sandbox: realistic readings plus poison records of every kind the ingest
function must quarantine, sent with PutRecords the way a device gateway would."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PUT_RECORDS_MAX = 500  # records per PutRecords call (AWS limit)
PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024  # bytes per PutRecords call (AWS limit)
MAX_PUT_ATTEMPTS = 8
RATE_CALLS_PER_S = 10  # PutRecords calls per second when holding a --rate

# Each poison kind is named after the reason code the ingest function must give it.
POISON_KINDS = (
    "not_utf8",
    "not_json",
    "not_object",
    "missing_field",
    "bad_device_id",
    "bad_ts",
    "ts_out_of_window",
    "bad_metrics",
    "too_many_metrics",
    "non_finite_metric",
    "oversize",
)


@dataclass(frozen=True)
class Outgoing:
    partition_key: str
    data: bytes
    kind: str  # "valid" or a poison kind
    reading: dict | None = None


@dataclass
class TrafficResult:
    sent: int = 0
    valid: int = 0
    poison: dict[str, int] = field(default_factory=dict)
    throttled_retries: int = 0
    calls: int = 0  # PutRecords calls, or MQTT publishes through IoT (one a reading)
    via: str = "kinesis"  # "kinesis" (PutRecords to the stream) or "iot" (publishes to the devices' topics)
    seconds: float = 0.0
    readings: list[dict] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {
            "sent": self.sent,
            "valid": self.valid,
            "poison": dict(sorted(self.poison.items())),
            "poison_total": sum(self.poison.values()),
            "via": self.via,
            "put_records_calls": self.calls if self.via == "kinesis" else 0,
            "iot_publishes": self.calls if self.via == "iot" else 0,
            "throttled_retries": self.throttled_retries,
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.sent / self.seconds, 1) if self.seconds else None,
        }


def device_ids(devices: int) -> list[str]:
    return [f"dev-{i:04d}" for i in range(1, devices + 1)]


def readings(devices: int, records: int, *, seed: int = 7, end_ms: int | None = None) -> list[dict]:
    """`records` valid readings spread round-robin over `devices`, one second apart per device, ending now.

    With the same seed and end_ms the same readings come out, which is how a test re-sends traffic."""
    rng = random.Random(seed)
    end_ms = end_ms if end_ms is not None else int(time.time() * 1000)
    ids = device_ids(devices)
    per_device = -(-records // devices)
    out = []
    for i in range(records):
        device = ids[i % devices]
        step = i // devices
        out.append(
            {
                "device_id": device,
                "ts": end_ms - (per_device - step) * 1000,
                "metrics": {
                    "temp_c": round(rng.uniform(-10, 40), 2),
                    "humidity_pct": round(rng.uniform(10, 95), 1),
                    "battery_v": round(rng.uniform(3.0, 4.2), 3),
                    "rssi_dbm": rng.randint(-110, -40),
                },
            }
        )
    return out


def poison(count: int, *, seed: int = 7, now_ms: int | None = None) -> list[Outgoing]:
    """`count` invalid records, cycling through every poison kind."""
    rng = random.Random(seed + 1)
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    out = []
    for i in range(count):
        kind = POISON_KINDS[i % len(POISON_KINDS)]
        device = f"dev-p{i:03d}"
        good: dict[str, Any] = {
            "device_id": device,
            "ts": now_ms - rng.randint(1, 600) * 1000,
            "metrics": {"temp_c": 20.5},
        }
        if kind == "not_utf8":
            data = b"\xff\xfe" + json.dumps(good).encode()
        elif kind == "not_json":
            data = b'{"device_id": "' + device.encode() + b'", "ts": '
        elif kind == "not_object":
            data = json.dumps([good]).encode()
        elif kind == "missing_field":
            data = json.dumps({k: v for k, v in good.items() if k != "metrics"}).encode()
        elif kind == "bad_device_id":
            data = json.dumps({**good, "device_id": "dev 42/../etc"}).encode()
        elif kind == "bad_ts":
            data = json.dumps({**good, "ts": "yesterday"}).encode()
        elif kind == "ts_out_of_window":
            data = json.dumps({**good, "ts": good["ts"] // 1000}).encode()  # epoch seconds: the classic unit bug
        elif kind == "bad_metrics":
            data = json.dumps({**good, "metrics": "hot"}).encode()
        elif kind == "too_many_metrics":
            data = json.dumps({**good, "metrics": {f"m{j}": j for j in range(65)}}).encode()
        elif kind == "non_finite_metric":
            data = json.dumps({**good, "metrics": {"temp_c": float("nan")}}).encode()
        else:  # oversize: valid JSON, but over the 16 KiB a reading may take
            data = json.dumps({**good, "note": "x" * 17_000}).encode()
        out.append(Outgoing(partition_key=device, data=data, kind=kind))
    return out


def mix(valid: list[dict], bad: list[Outgoing], *, seed: int = 7) -> list[Outgoing]:
    """Valid readings in order, with the poison records scattered among them."""
    rng = random.Random(seed + 2)
    out = [
        Outgoing(
            partition_key=r["device_id"], data=json.dumps(r, separators=(",", ":")).encode(), kind="valid", reading=r
        )
        for r in valid
    ]
    for item in bad:
        out.insert(rng.randint(0, len(out)), item)
    return out


def _batches(items: list[Outgoing], max_records: int = PUT_RECORDS_MAX):
    batch: list[Outgoing]
    batch, size = [], 0
    for item in items:
        item_size = len(item.data) + len(item.partition_key)
        if batch and (len(batch) == max_records or size + item_size > PUT_RECORDS_MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


def send(
    kinesis,
    stream_name: str,
    items: list[Outgoing],
    *,
    rate: float | None = None,
    progress: Callable[[int], None] = lambda _: None,
    live: Callable[[TrafficResult, float], None] = lambda result, elapsed_s: None,
) -> TrafficResult:
    """Puts `items` on the stream with PutRecords, retrying refused entries until each is accepted.

    A shard takes 1 MiB/s and 1,000 records/s (the sandbox refuses the rest as Kinesis does, per record, with
    ProvisionedThroughputExceededException): refused entries are sent again after an exponential backoff with
    jitter, and counted in `throttled_retries`. `rate` holds records per second: calls of about a tenth of a
    second's records, each sent on schedule (so the stream sees a steady rate, not a burst of 500 then a pause).
    `live(result so far, seconds elapsed)` is called after every PutRecords. Raises only if a batch made no
    progress in MAX_PUT_ATTEMPTS attempts in a row (nothing is dropped silently)."""
    result = TrafficResult()
    start = time.monotonic()
    per_call = max(1, min(PUT_RECORDS_MAX, math.ceil(rate / RATE_CALLS_PER_S))) if rate else PUT_RECORDS_MAX
    for batch in _batches(items, per_call):
        pending, stalled = batch, 0
        while pending:
            resp = kinesis.put_records(
                StreamName=stream_name, Records=[{"Data": i.data, "PartitionKey": i.partition_key} for i in pending]
            )
            result.calls += 1
            failed = [item for item, rec in zip(pending, resp["Records"], strict=True) if rec.get("ErrorCode")]
            done = len(pending) - len(failed)
            result.sent += done
            progress(done)
            live(result, time.monotonic() - start)
            if not failed:
                break
            result.throttled_retries += len(failed)
            stalled = 0 if done else stalled + 1
            if stalled >= MAX_PUT_ATTEMPTS:
                from opsctl.core.errors import Refused

                raise Refused(
                    f"{len(failed)} records were still refused by {stream_name} after {MAX_PUT_ATTEMPTS} attempts",
                    hint="the stream is under-provisioned: slow down with {rate} or reshard",
                    arguments=["rate"],
                )
            pending = failed
            # 50-100 ms doubling to 1-2 s: past the shard's 1 s window within a few attempts.
            time.sleep(min(2.0, 0.05 * 2**stalled) * (0.5 + random.random() / 2))
        if rate:
            ahead = result.sent / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    result.seconds = time.monotonic() - start
    for item in items:
        if item.kind == "valid":
            result.valid += 1
            if item.reading is not None:
                result.readings.append(item.reading)
        else:
            result.poison[item.kind] = result.poison.get(item.kind, 0) + 1
    return result


def publish(
    iot_data,
    items: list[Outgoing],
    topic_of: Callable[[str], str],
    *,
    rate: float | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> TrafficResult:
    """Publishes each reading with the IoT data plane to its device's topic (`topic_of(device_id)`), as a device
    connected with its own certificate would; the rules engine takes it from there (QoS 1, one message each)."""
    result = TrafficResult(via="iot")
    started = time.monotonic()
    for i, item in enumerate(items):
        if rate:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        iot_data.publish(topic=topic_of(item.partition_key), qos=1, payload=item.data)
        result.sent += 1
        result.calls += 1
        if item.kind == "valid":
            result.valid += 1
            if item.reading is not None:
                result.readings.append(item.reading)
        else:
            result.poison[item.kind] = result.poison.get(item.kind, 0) + 1
        progress(1)
    result.seconds = time.monotonic() - started
    return result
