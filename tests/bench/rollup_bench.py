"""Bench rows for rollup amplification: read capacity the rollup worker spends per device-hour, ours vs naive.

A device sends N readings an hour, one batch a second (so one rollup job per second it sends, as the ingest
function enqueues one per (device, hour) per batch). The naive worker (seed behaviour) recomputes the hour for
every job; ours runs the real `rollup.handler` behind the queue's delay (terraform: rollup_queue_delay_seconds),
which skips jobs the stored rollup already covers. DynamoDB is an in-memory fake that charges RCU as DynamoDB
does (strongly consistent: 1 RCU per 4 KB read, per page of ≤ 1 MB; BatchGetItem by each item's size), and the clock is
simulated, so the rows are exact and take seconds, not an hour."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT / "functions", ROOT):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

QUEUE_DELAY_S = 30  # terraform/modules/pipeline variable rollup_queue_delay_seconds (dev, prod)
METRICS = {"temp_c": "21.5", "humidity_pct": "40.25", "battery_v": "3.71", "rssi_dbm": "-71"}
HOUR_MS = 3_600_000


def item_bytes(item: dict) -> int:
    """An item's size as DynamoDB counts it (names in UTF-8; numbers ~1 byte per 2 digits + 1; +3 per map)."""

    def value(v: dict) -> int:
        ((kind, x),) = v.items()
        if kind == "S":
            return len(x.encode())
        if kind == "N":
            return (len(x.lstrip("-").replace(".", "")) + 1) // 2 + 1
        if kind == "M":
            return 3 + sum(len(k.encode()) + value(w) for k, w in x.items())
        return 1

    return sum(len(k.encode()) + value(v) for k, v in item.items())


class FakeDynamoDB:
    """Query (readings), BatchGetItem/PutItem (rollups) with DynamoDB's read-capacity accounting."""

    class exceptions:  # the shape of a boto3 client's exceptions attribute
        class ConditionalCheckFailedException(Exception):
            pass

    def __init__(self):
        self.readings: list[dict] = []  # ts order
        self.sizes: list[int] = []
        self.ts: list[int] = []
        self.rollups: dict[tuple, dict] = {}
        self.rcu = 0.0

    def add_reading(self, item: dict) -> None:
        self.readings.append(item)
        self.sizes.append(item_bytes(item))
        self.ts.append(int(item["ts"]["N"]))

    def query(self, **kw):
        import bisect

        values = kw["ExpressionAttributeValues"]
        lo, hi = int(values[":from"]["N"]), int(values[":to"]["N"])
        if "ExclusiveStartKey" in kw:
            lo = max(lo, int(kw["ExclusiveStartKey"]["ts"]["N"]) + 1)
        i, end = bisect.bisect_left(self.ts, lo), bisect.bisect_right(self.ts, hi)
        page, size = [], 0
        while i < end and size < 1024 * 1024:
            page.append(self.readings[i])
            size += self.sizes[i]
            i += 1
        self.rcu += math.ceil(size / 4096) if size else 0.5  # strongly consistent; an empty Query costs 0.5
        out = {"Items": page}
        if i < end:
            out["LastEvaluatedKey"] = {"ts": page[-1]["ts"]}
        return out

    def batch_get_item(self, **kw):
        """Each key read as a GetItem of its own (the whole item's size, rounded up per item; at least 1)."""
        ((table, spec),) = kw["RequestItems"].items()
        found = []
        for key in spec["Keys"]:
            item = self.rollups.get((key["device_id"]["S"], key["hour_start"]["N"]))
            self.rcu += math.ceil(item_bytes(item) / 4096) if item else 1
            if item:
                found.append(item)
        return {"Responses": {table: found}, "UnprocessedKeys": {}}

    def put_item(self, **kw):
        item = kw["Item"]
        key = (item["device_id"]["S"], item["hour_start"]["N"])
        old = self.rollups.get(key)
        if old and int(old["computed_at"]["N"]) > int(item["computed_at"]["N"]):
            raise self.exceptions.ConditionalCheckFailedException()
        self.rollups[key] = item


def _naive_rcu(readings_per_hour: int) -> float:
    """Seed behaviour: every job re-reads the hour so far (strongly consistent), however many came before."""
    ddb = FakeDynamoDB()
    for _second, ts in _sends(readings_per_hour):
        ddb.add_reading(_reading(ts))
        args = {"ExpressionAttributeValues": {":from": {"N": "0"}, ":to": {"N": str(HOUR_MS - 1)}}}
        while True:  # the hour's pages, as rollup.store.read_hour asks for them (items not decoded: RCU only)
            page = ddb.query(**args)
            if "LastEvaluatedKey" not in page:
                break
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return ddb.rcu


def _sends(readings_per_hour: int) -> list[tuple[int, int]]:
    """(second of the hour its batch is sent, ts) of each reading: spread evenly, one batch a second at most."""
    step = 3600 / readings_per_hour
    return [(int(i * step), int(i * step * 1000)) for i in range(readings_per_hour)]


def _reading(ts: int) -> dict:
    return {
        "device_id": {"S": "dev-1"},
        "ts": {"N": str(ts)},
        "metrics": {"M": {k: {"N": v} for k, v in METRICS.items()}},
        "expires_at": {"N": str(ts // 1000 + 90 * 86400)},
    }


def _ours_rcu(readings_per_hour: int) -> float:
    """The real worker, each job delivered QUEUE_DELAY_S after it was sent, on a simulated clock."""
    import rollup.handler as worker
    from common import clients
    from rollup.job import RollupJob

    ddb = FakeDynamoDB()
    now = {"s": 0.0}
    saved = (clients.client, worker.time.time, worker.metrics.emit)
    clients.client = lambda name: ddb
    worker.time.time = lambda: now["s"]
    worker.metrics.emit = lambda *a, **k: None
    try:
        jobs = []  # (delivered at, sent at)
        batches = {}
        for second, ts in _sends(readings_per_hour):
            batches.setdefault(second, []).append(ts)
        for second in sorted(batches):
            jobs.append((second + QUEUE_DELAY_S, second))
        pending = sorted(jobs)
        written = sorted(ts for tss in batches.values() for ts in tss)
        body = RollupJob("dev-1", 0).body()
        for delivered, sent in pending:
            now["s"] = delivered
            while written and written[0] <= sent * 1000:  # readings are written before their job is sent
                ddb.add_reading(_reading(written.pop(0)))
            record = {"messageId": f"m{sent}", "body": body, "attributes": {"SentTimestamp": str(sent * 1000)}}
            with _quiet():
                worker.handler({"Records": [record]}, None)
    finally:
        clients.client, worker.time.time, worker.metrics.emit = saved
    return ddb.rcu


class _quiet:
    def __enter__(self):
        import io

        self._stdout, sys.stdout = sys.stdout, io.StringIO()

    def __exit__(self, *exc):
        sys.stdout = self._stdout


def run_rollup_bench() -> list[dict]:
    rows = []
    for n in (60, 600, 3600):
        t0 = time.perf_counter()
        ours, naive = _ours_rcu(n), _naive_rcu(n)
        print(f"bench: rollup RCU for {n} readings/h in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        rows.append(
            {
                "metric": f"rollup reads per device-hour at {n} readings/h (1 batch/s)",
                "unit": "RCU",
                "ours": ours,
                "naive": naive,
                "ratio": naive / ours if ours else None,
            }
        )
    return rows


if __name__ == "__main__":
    for row in run_rollup_bench():
        print(row)
