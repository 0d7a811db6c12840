"""The rollups table: one item per (device_id, hour_start), recomputed from the readings and overwritten.

Key design (docs/architecture.md): hash `device_id` (S), range `hour_start` (N, epoch ms of the UTC hour),
so a device's rollups over a time range are one Query, like its readings. Item:
`count`, `first_ts`, `last_ts` (epoch ms), `metrics` (M: name -> M{count, min, max, sum, avg}),
`computed_at` (epoch ms at which the worker began reading the readings), `expires_at` (epoch seconds, TTL).

Overwrites are conditional on `computed_at`: a rollup computed from an older read of the readings never
replaces one computed from a newer read, so two workers racing on one hour cannot leave a stale count."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

from botocore.exceptions import BotoCoreError, ClientError

from common.retry import drive, retryable
from rollup.aggregate import Aggregate
from rollup.job import HOUR_MS, RollupJob, hour_start

DEFAULT_TTL_DAYS = 400  # ROLLUP_TTL_DAYS: a rollup outlives its readings (90 days) by default
MAX_RANGE_HOURS = 24 * 366  # what query_rollups returns at most per call (one year of hours)


def read_hour(ddb, readings_table: str, job: RollupJob) -> Iterator[tuple[int, dict[str, Decimal]]]:
    """(ts, {metric: value}) of every reading of the job's device in its hour: strongly consistent Query pages."""
    args = {
        "TableName": readings_table,
        "KeyConditionExpression": "#d = :d AND #ts BETWEEN :from AND :to",
        "ExpressionAttributeNames": {"#d": "device_id", "#ts": "ts", "#m": "metrics"},
        "ExpressionAttributeValues": {
            ":d": {"S": job.device_id},
            ":from": {"N": str(job.hour_start)},
            ":to": {"N": str(job.hour_start + HOUR_MS - 1)},
        },
        "ProjectionExpression": "#ts, #m",
        "ConsistentRead": True,  # a job is enqueued right after the write it follows
    }
    while True:
        page = ddb.query(**args)
        for item in page.get("Items", []):
            yield (
                int(item["ts"]["N"]),
                {name: Decimal(v["N"]) for name, v in item.get("metrics", {}).get("M", {}).items() if "N" in v},
            )
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        args["ExclusiveStartKey"] = last


def _n(value) -> dict:
    return {"N": str(value)}


def _stats(s) -> dict:
    """One metric's stats; `sum` is left out when DynamoDB cannot store it (rollup.aggregate.storable)."""
    stats = {"count": _n(s.count), "min": _n(s.min), "max": _n(s.max), "avg": _n(s.avg)}
    if s.stored_sum is not None:
        stats["sum"] = _n(s.stored_sum)
    return stats


def to_item(job: RollupJob, agg: Aggregate, *, computed_at: int, ttl_days: int) -> dict:
    """The rollup item in DynamoDB's wire format; expires_at is epoch seconds after the hour's end."""
    item = {
        "device_id": {"S": job.device_id},
        "hour_start": _n(job.hour_start),
        "count": _n(agg.count),
        "metrics": {"M": {name: {"M": _stats(s)} for name, s in agg.metrics.items()}},
        "computed_at": _n(computed_at),
        "expires_at": _n((job.hour_start + HOUR_MS) // 1000 + ttl_days * 86_400),
    }
    if agg.dropped_metrics:
        item["dropped_metrics"] = _n(agg.dropped_metrics)
    if agg.first_ts is not None:
        item["first_ts"], item["last_ts"] = _n(agg.first_ts), _n(agg.last_ts)
    return item


BATCH_GET_MAX = 100  # keys per BatchGetItem (AWS limit, docs/aws-limits.md §DynamoDB)


def computed_at_many(
    ddb, rollups_table: str, jobs: list[RollupJob], *, remaining_ms: Callable[[], int], log
) -> dict[RollupJob, int | None]:
    """When each job's stored rollup began its read (epoch ms; None: no rollup yet), for the jobs it could learn
    it for: one strongly consistent BatchGetItem per 100 jobs instead of a GetItem each, keys DynamoDB left
    unprocessed retried while time is left (common.retry). A job missing from the answer (still unprocessed, or
    the call failed) is simply recomputed: reading its hour again is always correct, only slower. Each key costs
    what a GetItem of it would (the whole item's size: ≤ 15 RCU at the ~60 KB a device-hour item can reach), far
    less than re-reading the hour's readings; only the key and computed_at come back."""
    found: dict[RollupJob, int | None] = {}
    by_key = {(job.device_id, job.hour_start): job for job in jobs}

    class Counted:
        requests = 0
        retries = 0

    def send(chunk: list[RollupJob]) -> list[RollupJob]:
        try:
            resp = ddb.batch_get_item(
                RequestItems={
                    rollups_table: {
                        "Keys": [{"device_id": {"S": j.device_id}, "hour_start": _n(j.hour_start)} for j in chunk],
                        "ProjectionExpression": "#d, #h, #c",
                        "ExpressionAttributeNames": {"#d": "device_id", "#h": "hour_start", "#c": "computed_at"},
                        "ConsistentRead": True,  # a rollup another worker just wrote must be seen
                    }
                }
            )
        except (ClientError, BotoCoreError) as exc:
            if retryable(exc):
                return chunk
            log.error(
                "BatchGetItem of stored rollups failed; their jobs are recomputed instead of coalesced",
                error=str(exc),
                error_type=type(exc).__name__,
                jobs=len(chunk),
            )
            return []
        for item in resp.get("Responses", {}).get(rollups_table, []):
            job = by_key.get((item["device_id"]["S"], int(item["hour_start"]["N"])))
            if job is not None:
                found[job] = int(item["computed_at"]["N"]) if "computed_at" in item else None
        left = resp.get("UnprocessedKeys", {}).get(rollups_table, {}).get("Keys", [])
        unprocessed = {(k["device_id"]["S"], int(k["hour_start"]["N"])) for k in left}
        for job in chunk:
            if job not in found and (job.device_id, job.hour_start) not in unprocessed:
                found[job] = None  # read, and no rollup stored yet
        return [job for job in chunk if (job.device_id, job.hour_start) in unprocessed]

    drive(
        list(by_key.values()),
        send,
        chunk_size=BATCH_GET_MAX,
        remaining_ms=remaining_ms,
        counted=Counted(),
        on_retry=lambda again, attempt, delay_ms: None,
    )
    return found


def put_rollup(ddb, rollups_table: str, item: dict) -> bool:
    """Writes the rollup unless one computed from a newer read is already there; True if written."""
    try:
        ddb.put_item(
            TableName=rollups_table,
            Item=item,
            ConditionExpression="attribute_not_exists(#d) OR #c <= :c",
            ExpressionAttributeNames={"#d": "device_id", "#c": "computed_at"},
            ExpressionAttributeValues={":c": item["computed_at"]},
        )
    except ddb.exceptions.ConditionalCheckFailedException:
        return False
    return True


# --- reading rollups back (the read API's GET /devices/{device_id}/rollups) ------------------------------


def _number(value: str) -> int | float:
    d = Decimal(value)
    return int(d) if d == d.to_integral_value() and abs(d) < 2**63 else float(d)


def from_item(item: dict) -> dict:
    """A rollup item as a JSON-ready dict: numbers are numbers, never Decimal or strings."""
    out = {"device_id": item["device_id"]["S"], "hour_start": _number(item["hour_start"]["N"])}
    out["hour_end"] = out["hour_start"] + HOUR_MS  # exclusive
    out["count"] = _number(item["count"]["N"])
    for key in ("first_ts", "last_ts"):
        if key in item:
            out[key] = _number(item[key]["N"])
    out["metrics"] = {
        name: {"sum": None, **{k: _number(v["N"]) for k, v in stats["M"].items()}}  # no sum: beyond DynamoDB's range
        for name, stats in sorted(item.get("metrics", {}).get("M", {}).items())
    }
    if "dropped_metrics" in item:
        out["dropped_metrics"] = _number(item["dropped_metrics"]["N"])
    out["computed_at"] = _number(item["computed_at"]["N"])
    return out


def _check_range(from_ms, to_ms) -> int:
    """The first hour of [from_ms, to_ms], or ValueError for a range the read API should have refused."""
    if (
        isinstance(from_ms, bool)
        or isinstance(to_ms, bool)
        or not isinstance(from_ms, int)
        or not isinstance(to_ms, int)
    ):
        raise ValueError("from_ms and to_ms must be integers (epoch milliseconds)")
    if from_ms > to_ms:
        raise ValueError("from_ms must not be after to_ms")
    first_hour = hour_start(from_ms)
    if (to_ms - first_hour) // HOUR_MS + 1 > MAX_RANGE_HOURS:
        raise ValueError(f"the range spans more than {MAX_RANGE_HOURS} hours")
    return first_hour


def query_rollups_page(
    table_name: str,
    device_id: str,
    from_ms: int,
    to_ms: int,
    *,
    limit: int,
    after_hour: int | None = None,
    descending: bool = False,
    ddb=None,
) -> tuple[list[dict], bool]:
    """At most `limit` of the device's rollups for the hours overlapping [from_ms, to_ms], strictly after
    `after_hour` in the order asked (the last hour_start of the previous page), and whether more may follow.

    One Query of `limit + 1` items: the extra item says whether another page exists; DynamoDB's 1 MB page cap
    (a LastEvaluatedKey) also ends a page. Raises ValueError as `query_rollups` does."""
    first_hour = _check_range(from_ms, to_ms)
    lo, hi = first_hour, to_ms
    if after_hour is not None:
        lo, hi = (max(lo, after_hour + 1), hi) if not descending else (lo, min(hi, after_hour - 1))
    if lo > hi:
        return [], False
    if ddb is None:
        from common import clients

        ddb = clients.client("dynamodb")
    page = ddb.query(
        TableName=table_name,
        KeyConditionExpression="#d = :d AND #h BETWEEN :from AND :to",
        ExpressionAttributeNames={"#d": "device_id", "#h": "hour_start"},
        ExpressionAttributeValues={":d": {"S": device_id}, ":from": _n(lo), ":to": _n(hi)},
        ScanIndexForward=not descending,
        Limit=limit + 1,
    )
    raw = page.get("Items", [])
    items = [from_item(item) for item in raw[:limit]]
    return items, bool(items) and (len(raw) > limit or bool(page.get("LastEvaluatedKey")))


def query_rollups(
    table_name: str, device_id: str, from_ms: int, to_ms: int, *, ddb=None, descending: bool = False
) -> list[dict]:
    """The device's hourly rollups for every hour that overlaps [from_ms, to_ms] (epoch ms, inclusive), oldest
    first (newest first with `descending`), as JSON-ready dicts (see `from_item`). One Query (plus its pages).
    For operators' tools; the read API pages with `query_rollups_page`.

    Raises ValueError when from_ms > to_ms or the range spans more than MAX_RANGE_HOURS hours: the caller
    (the read API) validates its parameters first and answers 400; this is the last line of defence."""
    first_hour = _check_range(from_ms, to_ms)
    if ddb is None:
        from common import clients

        ddb = clients.client("dynamodb")
    args = {
        "TableName": table_name,
        "KeyConditionExpression": "#d = :d AND #h BETWEEN :from AND :to",
        "ExpressionAttributeNames": {"#d": "device_id", "#h": "hour_start"},
        "ExpressionAttributeValues": {":d": {"S": device_id}, ":from": _n(first_hour), ":to": _n(to_ms)},
        "ScanIndexForward": not descending,
    }
    out: list[dict] = []
    while True:
        page = ddb.query(**args)
        out += [from_item(item) for item in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        if not last:
            return out
        args["ExclusiveStartKey"] = last
