"""DynamoDB's capacity accounting in the sandbox's moto server: what each request consumes, by DynamoDB's rounding
rules; a PROVISIONED table (and each of its GSIs) refusing what its capacity and burst cannot cover, with
ProvisionedThroughputExceededException; and the AWS/DynamoDB metrics of what was served (opsctl.sandbox.cw_metrics).

moto serves every request and reports a flat 1.0 consumed unit. Here, around moto's DynamoHandler (the same place
as opsctl.sandbox.limits), each request the functions and opsctl make is measured and admitted first:

- Item size (developer guide, "Item sizes and formats", CapacityUnitCalculations.html): the UTF-8 bytes of every
  attribute name plus its value: a string's UTF-8 bytes, a number 1 byte per two significant digits plus 1, a
  binary's raw bytes, a Boolean or null 1 byte, a list or map 3 bytes plus 1 per element plus its elements, a set
  the sum of its members.
- Writes (developer guide, "DynamoDB read and write operations", read-write-operations.html): 1 WCU per 1 KB,
  rounded up per item, at least 1. PutItem and UpdateItem: the larger of the item before and after; DeleteItem: the
  deleted item; a failed condition still consumes. BatchWriteItem: each item separately, each rounded up.
- Reads: 1 RCU per 4 KB strongly consistent, half for eventually consistent (the default), at least one such
  unit even when nothing is found. GetItem: the item. BatchGetItem: each key as a GetItem of its own, each rounded
  up; refused keys come back in UnprocessedKeys, and only when every key was refused does the call fail. Query and
  Scan: the items read (before any filter or projection, after Limit) summed, then rounded up once.
- GSIs (developer guide, "Provisioned throughput considerations for GSIs", GSI.ThroughputConsiderations.html): a
  table write that adds an item to an index is one index write of the projected entry, one that removes it is one,
  one that changes its index key is two (delete + put), one that changes only projected attributes is one, and
  none if the entry is unchanged. A Query on a GSI consumes the index's read capacity.
- Throttling: each PROVISIONED table and GSI has a bucket per direction, refilled at its provisioned units per
  second and holding at most BURST_S seconds of them (DynamoDB "retains up to 5 minutes (300 seconds) of unused
  read and write capacity": developer guide, "Burst capacity", burst-adaptive-capacity.html). A request is admitted
  when the bucket holds what it will consume (for Query, Scan and UpdateItem, whose consumption is known only after
  they ran, the minimum; the rest is debited afterwards and may leave the bucket below zero, so the next request
  waits). Where AWS does not document where the bucket starts, the sandbox starts it EMPTY when the table is
  created: a new table has its provisioned rate and no burst until it has left capacity unused (the strictest
  reading); so does a table switched from on demand to PROVISIONED, at the switch (it had no provisioned capacity
  to leave unused before; opsctl/sandbox/table_capacity.py stamps the moment). A change of a PROVISIONED table's
  capacity keeps its bucket, at most BURST_S seconds of the new rate. A refused BatchWriteItem item comes back in
  UnprocessedItems; only when every item was refused does the call fail with ProvisionedThroughputExceededException
  (API reference, BatchWriteItem).
- An on-demand (PAY_PER_REQUEST) table is measured and never throttled: a new on-demand table serves up to 4,000
  writes and 12,000 reads per second (developer guide, "On-demand capacity mode"), more than this server can
  answer on its machine (docs/architecture.md, "Metrics the sandbox publishes").
- Application Auto Scaling: moto stores scalable targets and policies but never runs them, and the local
  environment creates none (moto cannot serve aws_appautoscaling_target's tags). The sandbox throttles at the
  table's current provisioned capacity; a stored target changes nothing until something calls UpdateTable.

Not covered (our functions and opsctl do not call them): TransactWriteItems, TransactGetItems, PartiQL. They are
served by moto as released, unmeasured."""

from __future__ import annotations

import base64
import math
import threading
import time
from typing import Any

from opsctl.sandbox import cw_metrics

NAMESPACE = "AWS/DynamoDB"
WRITE_UNIT_BYTES = 1024  # bytes per write capacity unit (1 KB)
READ_UNIT_BYTES = 4096  # bytes per read capacity unit, strongly consistent (4 KB)
EVENTUAL_FACTOR = 0.5  # an eventually consistent read costs half
BURST_S = 300  # seconds of unused provisioned capacity a table or GSI keeps (DynamoDB burst capacity)
THROTTLED_MESSAGE = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)
READ_OPERATIONS = ("GetItem", "BatchGetItem", "Query", "Scan")
WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")


# --- sizes and units ---------------------------------------------------------------------------------------------


def number_size(text: str) -> int:
    """Bytes DynamoDB counts for a number: 1 per two significant digits (leading and trailing zeros trimmed), plus 1."""
    # String work, not Decimal: this runs for every number of every item the sandbox serves.
    mantissa = str(text).lower().partition("e")[0]
    digits = mantissa.replace("-", "").replace("+", "").replace(".", "").strip("0")
    return (max(1, len(digits)) + 1) // 2 + 1


def _binary_size(value) -> int:
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    try:
        return len(base64.b64decode(value))
    except (ValueError, TypeError):
        return len(str(value).encode())


def _typed(value) -> tuple[str, Any]:
    """(type, value) of a wire-format attribute value ({"S": "x"}) or a moto DynamoType."""
    if isinstance(value, dict):
        ((kind, inner),) = value.items()
        return kind, inner
    return value.type, value.value


def value_size(value) -> int:
    """Bytes of one attribute value, by DynamoDB's rules (without the attribute's name)."""
    kind, inner = _typed(value)

    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return _binary_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode()) for v in inner)
    if kind == "NS":
        return sum(number_size(v) for v in inner)
    if kind == "BS":
        return sum(_binary_size(v) for v in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())
    return len(str(inner).encode())


def item_size(attributes: dict | None) -> int:
    """Bytes of an item (attribute names plus values), from wire format or a moto Item's attrs; 0 for no item."""
    if not attributes:
        return 0
    return sum(len(name.encode()) + value_size(v) for name, v in attributes.items())


def write_units(size: int) -> int:
    """WCUs of writing one item of `size` bytes: rounded up to the next 1 KB, at least 1."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool) -> float:
    """RCUs of reading `size` bytes in one operation: rounded up to the next 4 KB, at least one unit."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units * EVENTUAL_FACTOR


# --- burst buckets -------------------------------------------------------------------------------------------------


class CapacityBucket:
    """Unused provisioned capacity of one table or GSI in one direction (units)."""

    __slots__ = ("tokens", "updated")

    def __init__(self, since: float):
        self.tokens = 0.0  # starts empty at the table's creation: see the module docstring
        self.updated = since

    def refill(self, rate: float, now: float) -> float:
        if now > self.updated:
            self.tokens = min(rate * BURST_S, self.tokens + rate * (now - self.updated))
            self.updated = now
        return self.tokens


class ProvisionedCapacity:
    """Every bucket of the server, keyed by table ARN, creation time, index and direction (thread-safe)."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self._buckets: dict[tuple, CapacityBucket] = {}
        self._lock = threading.Lock()

    def reserve(self, key: tuple, rate: float, since: float, units: float) -> bool:
        """Takes `units` from the bucket if it holds them; False (nothing taken) if it does not."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = CapacityBucket(since)
            if bucket.refill(rate, self.clock()) < units:
                return False
            bucket.tokens -= units
            return True

    def settle(self, key: tuple, units: float) -> None:
        """Takes `units` more (negative: gives back) once a request's real consumption is known."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is not None:
                bucket.tokens -= units

    def tokens(self, key: tuple, rate: float, since: float) -> float:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = CapacityBucket(since)
            return bucket.refill(rate, self.clock())


CAPACITY = ProvisionedCapacity()


# --- the parts of a table a request touches --------------------------------------------------------------------


class Part:
    """A table or one of its GSIs, as a capacity account: its bucket keys and metric dimensions."""

    __slots__ = ("dimensions", "index", "provisioned", "rates", "since", "table_arn")

    def __init__(self, table, index=None):
        self.index = index
        self.table_arn = table.table_arn
        self.since = table.created_at.timestamp() if table.created_at.tzinfo else _naive_utc(table.created_at)
        self.since = getattr(table, "sandbox_provisioned_at", None) or self.since  # switched from on demand: then
        self.provisioned = getattr(table, "billing_mode", "PROVISIONED") != "PAY_PER_REQUEST"
        throughput = (index.throughput if index is not None else table.throughput) or {}
        self.rates = {
            "read": float(throughput.get("ReadCapacityUnits") or 0),
            "write": float(throughput.get("WriteCapacityUnits") or 0),
        }
        self.dimensions = {"TableName": table.name}
        if index is not None:
            self.dimensions["GlobalSecondaryIndexName"] = index.name

    def key(self, direction: str) -> tuple:
        return (self.table_arn, self.since, self.index.name if self.index is not None else None, direction)

    def reserve(self, direction: str, units: float, capacity: ProvisionedCapacity) -> bool:
        if not self.provisioned:
            return True
        return capacity.reserve(self.key(direction), self.rates[direction], self.since, units)

    def settle(self, direction: str, units: float, capacity: ProvisionedCapacity) -> None:
        if self.provisioned and units:
            capacity.settle(self.key(direction), units)


def _naive_utc(moment) -> float:
    from datetime import UTC

    return moment.replace(tzinfo=UTC).timestamp()


def _existing(table, key_source: dict):
    """The stored moto Item with the key of `key_source` (a Key or a whole Item in wire format), or None."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = key_source.get(table.hash_key_attr)
    if hash_value is None:
        return None
    partition = table.items.get(DynamoType(hash_value))
    if partition is None:
        return None
    if not table.range_key_attr:
        return partition
    range_value = key_source.get(table.range_key_attr)
    return None if range_value is None else partition.get(DynamoType(range_value))


def _index_entry(index, item):
    """(index key, projected attrs) of a moto Item in a GSI, or None if the item is not in the index."""
    if item is None:
        return None
    names = [k["AttributeName"] for k in index.schema]
    if any(n not in item.attrs for n in names):
        return None
    # A snapshot in wire format: moto updates items in place, and an ALL projection is the item itself.
    projected = {name: value.to_json() for name, value in index.project(item).attrs.items()}
    return tuple(repr(projected.get(n) or item.attrs[n].to_json()) for n in names), projected


def index_write_units(before, after) -> int:
    """Index writes (WCUs) a table write causes in one GSI, from the entry before and after (or None)."""
    if before is None and after is None:
        return 0
    if before is None:
        return write_units(item_size(after[1]))
    if after is None:
        return write_units(item_size(before[1]))
    if before[0] != after[0]:
        return write_units(item_size(before[1])) + write_units(item_size(after[1]))
    if before[1] == after[1]:
        return 0
    return write_units(max(item_size(before[1]), item_size(after[1])))


# --- metrics ------------------------------------------------------------------------------------------------------


class _Served:
    """Which (table, operation) pairs served requests in each minute: their throttle and error counts are then
    published too (0 when none), so a monitor judges real data. A minute without requests publishes nothing."""

    def __init__(self):
        self._seen: set[tuple] = set()
        self._minute = None
        self._lock = threading.Lock()

    def first(self, key: tuple, now: float) -> bool:
        minute = int(now // 60)
        with self._lock:
            if minute != self._minute:
                self._seen.clear()
                self._minute = minute
            if key in self._seen:
                return False
            self._seen.add(key)
            return True


_SERVED = _Served()


class Metrics:
    """The AWS/DynamoDB samples of one request."""

    def __init__(self, handler, operation: str):
        self.operation = operation
        self.account_id = handler.current_account
        self.region = handler.region
        self.now = time.time()

    def _record(self, metric: str, dimensions: dict, value: float) -> None:
        cw_metrics.record(
            NAMESPACE, metric, dimensions, value, "Count", at=self.now, account_id=self.account_id, region=self.region
        )

    def served(self, table_name: str, parts: list[Part], direction: str) -> None:
        if not _SERVED.first((self.account_id, self.region, table_name, self.operation), self.now):
            return
        per_request = {"TableName": table_name, "Operation": self.operation}
        self._record("ThrottledRequests", per_request, 0)
        self._record("SystemErrors", per_request, 0)
        events = "ReadThrottleEvents" if direction == "read" else "WriteThrottleEvents"
        for part in parts:
            self._record(events, part.dimensions, 0)

    def consumed(self, part: Part, direction: str, units: float) -> None:
        metric = "ConsumedReadCapacityUnits" if direction == "read" else "ConsumedWriteCapacityUnits"
        self._record(metric, part.dimensions, units)

    def throttled(self, part: Part, direction: str, events: int = 1) -> None:
        metric = "ReadThrottleEvents" if direction == "read" else "WriteThrottleEvents"
        self._record(metric, part.dimensions, events)

    def throttled_request(self, table_name: str) -> None:
        self._record("ThrottledRequests", {"TableName": table_name, "Operation": self.operation}, 1)

    def system_error(self, table_name: str) -> None:
        self._record("SystemErrors", {"TableName": table_name, "Operation": self.operation}, 1)


def _throttled_error():
    from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException

    return DynamodbException(ERROR_TYPE_PREFIX + "ProvisionedThroughputExceededException", THROTTLED_MESSAGE)


def _is_system_error(exc: Exception) -> bool:
    """True for what moto answers with HTTP 5xx: anything that is not one of its 4xx errors."""
    from moto.core.exceptions import JsonRESTError

    return not isinstance(exc, JsonRESTError) or int(getattr(exc, "code", 400)) >= 500


# --- reads measured at moto's table level ---------------------------------------------------------------------

_reading = threading.local()  # bytes read by the Query or Scan this thread is serving


def _measure_reads(original, projection_arg: str):
    """Wraps Table.query / Table.scan: runs moto's own read without filter and projection, counts the bytes of what
    it read, then filters and projects exactly as moto does (moto's own code, in the same order)."""
    import inspect

    signature = inspect.signature(original)

    def method(self, *args, **kwargs):
        if _unmeasured(self):
            return original(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        arguments = bound.arguments
        filter_expression, projection = arguments.get("filter_expression"), arguments.get(projection_arg)
        arguments["filter_expression"], arguments[projection_arg] = None, None
        extra = arguments.pop("filter_kwargs", None) or {}
        call = {k: v for k, v in arguments.items() if k != "self"}
        results, scanned_count, last_key = original(self, **call, **extra)
        _reading.bytes = getattr(_reading, "bytes", 0) + sum(item_size(r.attrs) for r in results)
        if filter_expression is not None:
            results = [item for item in results if filter_expression.expr(item)]
        if projection:
            results = [r.project(projection) for r in results]
        return results, scanned_count, last_key

    return method


# --- the handler hooks --------------------------------------------------------------------------------------------


def _table(handler, name):
    return handler.dynamodb_backend.get_table(name)


def _unmeasured(table) -> bool:
    """With metrics switched off (the bench's baseline), an on-demand table is served by moto as released: nothing
    to throttle, nothing to publish. A PROVISIONED table is still measured: its throttling needs the units."""
    return not cw_metrics.ACCUMULATOR.enabled and getattr(table, "billing_mode", "") == "PAY_PER_REQUEST"


def _parts(table, index_name: str | None = None) -> list[Part]:
    if index_name is None:
        return [Part(table)]
    index = next((i for i in table.global_indexes if i.name == index_name), None)
    return [Part(table, index)] if index is not None else [Part(table)]  # an LSI reads the table's capacity


def _with_consumed(result, request: dict, table_name: str, per_part: list[tuple[Part, float]], direction: str):
    """ConsumedCapacity with the real units when the request asked for it (moto reports a flat 1.0)."""
    wanted = request.get("ReturnConsumedCapacity", "NONE")
    if wanted not in ("TOTAL", "INDEXES") or not isinstance(getattr(result, "result", None), dict):
        return result
    total = sum(units for _, units in per_part)
    unit_field = "ReadCapacityUnits" if direction == "read" else "WriteCapacityUnits"
    consumed: dict[str, Any] = {"TableName": table_name, "CapacityUnits": total, unit_field: total}
    if wanted == "INDEXES":
        for part, units in per_part:
            entry = {"CapacityUnits": units, unit_field: units}
            if part.index is None:
                consumed["Table"] = entry
            else:
                consumed.setdefault("GlobalSecondaryIndexes", {})[part.index.name] = entry
    result.result["ConsumedCapacity"] = consumed
    return result


def _guarded(operation: str, run):
    """Counts moto's own failures of an operation as SystemErrors (HTTP 5xx) of its table."""

    def method(self):
        try:
            return run(self)
        except Exception as exc:
            if _is_system_error(exc):
                body = self.body or {}
                name = body.get("TableName") or next(iter(body.get("RequestItems") or {}), None)
                if name:
                    Metrics(self, operation).system_error(str(name).rsplit("/", 1)[-1])
            raise

    return method


def _single_write(operation: str, original, capacity: ProvisionedCapacity):
    """PutItem, UpdateItem, DeleteItem: admit, run, settle, record."""
    from moto.dynamodb.exceptions import ConditionalCheckFailed

    def run(self):
        body = self.body
        table = _table(self, body["TableName"])
        if _unmeasured(table):
            return original(self)
        key_source = body.get("Item") if operation == "PutItem" else body.get("Key") or {}
        before = _existing(table, key_source)
        before_size = item_size(before.attrs) if before is not None else 0
        parts = [Part(table)] + [Part(table, ix) for ix in table.global_indexes]
        before_entries = [_index_entry(p.index, before) if p.index is not None else None for p in parts]
        # What the write will consume, where it is known before it runs (PutItem, DeleteItem); for UpdateItem the
        # new item is known only afterwards: the item before (at least 1) for the table, 0 (a bucket not in debt)
        # for each index, settled once it ran.
        if operation == "PutItem":
            put = _wire_item(body.get("Item") or {}, table) if len(parts) > 1 else None
            estimates = [float(write_units(max(before_size, item_size(body.get("Item")))))] + [
                float(index_write_units(e, _index_entry(p.index, put)))
                for p, e in zip(parts[1:], before_entries[1:], strict=True)
            ]
        elif operation == "DeleteItem":
            estimates = [float(write_units(before_size))] + [
                float(index_write_units(e, None)) for e in before_entries[1:]
            ]
        else:
            estimates = [float(write_units(before_size))] + [0.0] * (len(parts) - 1)
        metrics = Metrics(self, operation)
        metrics.served(table.name, parts, "write")
        reserved: list[tuple[Part, float]] = []
        for part, units in zip(parts, estimates, strict=True):
            if part.reserve("write", units, capacity):
                reserved.append((part, units))
                continue
            for done, taken in reserved:
                done.settle("write", -taken, capacity)
            metrics.throttled(part, "write")
            metrics.throttled_request(table.name)
            raise _throttled_error()
        failed = None
        try:
            result = original(self)
        except ConditionalCheckFailed as exc:
            failed = exc  # a failed condition consumes capacity all the same (the item was read to check it)
            result = None
        except Exception:
            for part, taken in reserved:
                part.settle("write", -taken, capacity)
            raise
        after = None if failed is not None or operation == "DeleteItem" else _existing(table, key_source)
        after_size = item_size(after.attrs) if after is not None else 0
        per_part: list[tuple[Part, float]] = []
        for i, (part, taken) in enumerate(reserved):
            if part.index is None:
                units = float(write_units(max(before_size, after_size)))
            elif failed is not None:
                units = 0.0
            else:
                units = float(index_write_units(before_entries[i], _index_entry(part.index, after)))
            part.settle("write", units - taken, capacity)
            if part.index is None or units:
                metrics.consumed(part, "write", units)
                per_part.append((part, units))
        if failed is not None:
            raise failed
        return _with_consumed(result, body, table.name, per_part, "write")

    return _guarded(operation, run)


def _serve_accepted(self, original, requested: dict, accepted: dict, *, undo):
    """moto serves the admitted part of a batch request (RequestItems = `accepted`, put back afterwards); nothing
    admitted is ProvisionedThroughputExceededException, as AWS answers a batch it could not serve at all; `undo`
    gives back what was reserved when moto fails."""
    if not accepted:
        raise _throttled_error()
    self.body["RequestItems"] = accepted
    try:
        return original(self)
    except Exception:
        undo()
        raise
    finally:
        self.body["RequestItems"] = requested


def _batch_write(original, capacity: ProvisionedCapacity):
    """BatchWriteItem: each item admitted on its own; refused items come back in UnprocessedItems, and only a
    request whose every item was refused fails with ProvisionedThroughputExceededException."""

    def run(self):
        body = self.body
        requested = body.get("RequestItems") or {}
        if all(_unmeasured(_table(self, name)) for name in requested):
            return original(self)
        accepted: dict[str, list] = {}
        unprocessed: dict[str, list] = {}
        plans = []  # (table, parts, metrics rows per accepted item)
        metrics = Metrics(self, "BatchWriteItem")
        for table_name, requests in requested.items():
            table = _table(self, table_name)
            parts = [Part(table)] + [Part(table, ix) for ix in table.global_indexes]
            metrics.served(table.name, parts, "write")
            refused_any = False
            for request in requests:
                put = request.get("PutRequest")
                key_source = put.get("Item") if put else (request.get("DeleteRequest") or {}).get("Key") or {}
                before = _existing(table, key_source)
                before_size = item_size(before.attrs) if before is not None else 0
                table_units = write_units(max(before_size, item_size(put.get("Item")) if put else 0))
                wanted = [float(table_units)]
                if len(parts) > 1:  # GSI entries only where there are GSIs: this runs for every item written
                    after_item = _wire_item(put.get("Item"), table) if put else None
                    wanted += [
                        float(index_write_units(_index_entry(p.index, before), _index_entry(p.index, after_item)))
                        for p in parts[1:]
                    ]
                taken = []
                refused_part = None
                for part, units in zip(parts, wanted, strict=True):
                    if units and not part.reserve("write", units, capacity):
                        refused_part = part
                        break
                    taken.append((part, units))
                if refused_part is not None:
                    for part, units in taken:
                        part.settle("write", -units, capacity)
                    metrics.throttled(refused_part, "write")
                    refused_any = True
                    unprocessed.setdefault(table_name, []).append(request)
                    continue
                accepted.setdefault(table_name, []).append(request)
                plans.append((table_name, taken))
            if refused_any:
                metrics.throttled_request(table.name)

        def undo() -> None:
            for _, taken in plans:
                for part, units in taken:
                    part.settle("write", -units, capacity)

        result = _serve_accepted(self, original, requested, accepted, undo=undo)
        totals: dict[str, dict[int, tuple[Part, float]]] = {}
        for table_name, taken in plans:
            for part, units in taken:
                slot = totals.setdefault(table_name, {})
                key = id(part.index) if part.index is not None else 0
                prev = slot.get(key)
                slot[key] = (part, (prev[1] if prev else 0.0) + units)
        consumed_rows = []
        for table_name, slot in totals.items():
            per_part = []
            for part, units in slot.values():
                if part.index is None or units:
                    metrics.consumed(part, "write", units)
                    per_part.append((part, units))
            consumed_rows.append((table_name, per_part))
        response = result.result if isinstance(getattr(result, "result", None), dict) else None
        if response is not None:
            response["UnprocessedItems"] = unprocessed
            wanted = body.get("ReturnConsumedCapacity", "NONE")
            if wanted in ("TOTAL", "INDEXES"):
                response["ConsumedCapacity"] = [
                    {
                        "TableName": _table(self, name).name,
                        "CapacityUnits": sum(u for _, u in per_part),
                        "WriteCapacityUnits": sum(u for _, u in per_part),
                    }
                    for name, per_part in consumed_rows
                ]
            else:
                response.pop("ConsumedCapacity", None)
        return result

    return _guarded("BatchWriteItem", run)


def _batch_read(original, capacity: ProvisionedCapacity):
    """BatchGetItem: each key is read as a GetItem of its own (its item's size rounded up to the next 4 KB, at least
    one unit even when nothing is found; half that eventually consistent) and admitted on its own; refused keys come
    back in UnprocessedKeys, and only a request whose every key was refused fails with
    ProvisionedThroughputExceededException (API reference, BatchGetItem)."""

    def run(self):
        body = self.body
        requested = body.get("RequestItems") or {}
        if all(_unmeasured(_table(self, name)) for name in requested):
            return original(self)
        accepted: dict[str, dict] = {}
        unprocessed: dict[str, dict] = {}
        plans: list[tuple[str, Part, float]] = []  # (table name in the request, part, units) per accepted key
        metrics = Metrics(self, "BatchGetItem")
        for table_name, spec in requested.items():
            table = _table(self, table_name)
            part = Part(table)
            consistent = bool(spec.get("ConsistentRead"))
            metrics.served(table.name, [part], "read")
            refused_any = False
            for key in spec.get("Keys") or []:
                found = _existing(table, key)
                units = read_units(item_size(found.attrs) if found is not None else 0, consistent=consistent)
                if not part.reserve("read", units, capacity):
                    metrics.throttled(part, "read")
                    refused_any = True
                    unprocessed.setdefault(table_name, {**spec, "Keys": []})["Keys"].append(key)
                    continue
                accepted.setdefault(table_name, {**spec, "Keys": []})["Keys"].append(key)
                plans.append((table_name, part, units))
            if refused_any:
                metrics.throttled_request(table.name)

        def undo() -> None:
            for _, part, units in plans:
                part.settle("read", -units, capacity)

        result = _serve_accepted(self, original, requested, accepted, undo=undo)
        totals: dict[str, tuple[Part, float]] = {}
        for table_name, part, units in plans:
            previous = totals.get(table_name)
            totals[table_name] = (part, (previous[1] if previous else 0.0) + units)
        for part, units in totals.values():
            metrics.consumed(part, "read", units)
        response = result.result if isinstance(getattr(result, "result", None), dict) else None
        if response is not None:
            mine = response.get("UnprocessedKeys") or {}  # moto's own: past its 16 MB answer
            for table_name, spec in unprocessed.items():
                mine.setdefault(table_name, {**spec, "Keys": []})["Keys"].extend(spec["Keys"])
            response["UnprocessedKeys"] = mine
            if body.get("ReturnConsumedCapacity", "NONE") in ("TOTAL", "INDEXES"):
                response["ConsumedCapacity"] = [
                    {"TableName": part.dimensions["TableName"], "CapacityUnits": units, "ReadCapacityUnits": units}
                    for part, units in totals.values()
                ]
            else:
                response.pop("ConsumedCapacity", None)
        return result

    return _guarded("BatchGetItem", run)


def _wire_item(attributes: dict, table):
    """A moto Item built from a wire-format item (what a put would store), for index projections."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    hash_value = attributes.get(table.hash_key_attr)
    range_value = attributes.get(table.range_key_attr) if table.range_key_attr else None
    return Item(
        DynamoType(hash_value) if hash_value else None,  # type: ignore[arg-type]  # moto accepts a key-less item
        DynamoType(range_value) if range_value else None,
        attributes,
    )


def _read(operation: str, original, capacity: ProvisionedCapacity):
    """GetItem, Query, Scan: admit at least the minimum, run, debit what the read really consumed."""

    def run(self):
        body = self.body
        table = _table(self, body["TableName"])
        if _unmeasured(table):
            return original(self)
        consistent = bool(body.get("ConsistentRead"))
        (part,) = _parts(table, body.get("IndexName"))
        metrics = Metrics(self, operation)
        metrics.served(table.name, [part], "read")
        if operation == "GetItem":
            found = _existing(table, body.get("Key") or {})
            estimate = read_units(item_size(found.attrs) if found is not None else 0, consistent=consistent)
        else:
            estimate = read_units(0, consistent=consistent)
        if not part.reserve("read", estimate, capacity):
            metrics.throttled(part, "read")
            metrics.throttled_request(table.name)
            raise _throttled_error()
        _reading.bytes = 0
        try:
            result = original(self)
        except Exception:
            part.settle("read", -estimate, capacity)
            raise
        finally:
            read_bytes = getattr(_reading, "bytes", 0)
            _reading.bytes = 0
        units = estimate if operation == "GetItem" else read_units(read_bytes, consistent=consistent)
        part.settle("read", units - estimate, capacity)
        metrics.consumed(part, "read", units)
        return _with_consumed(result, body, table.name, [(part, units)], "read")

    return _guarded(operation, run)


def install(capacity: ProvisionedCapacity = CAPACITY) -> None:
    """Patches moto's DynamoDB (once per process): consumed capacity measured, PROVISIONED capacity enforced,
    AWS/DynamoDB metrics recorded. Install before opsctl.sandbox.limits and moto_speed, so that their checks
    run first (a request DynamoDB refuses as invalid consumes nothing) and their speed-ups stay outermost."""
    from moto.dynamodb.models import table as tables
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, "_sandbox_capacity", False):
        return
    tables.Table.query = _measure_reads(tables.Table.query, "projection_expressions")
    tables.Table.scan = _measure_reads(tables.Table.scan, "projection_expression")
    for operation, attr in (("PutItem", "put_item"), ("UpdateItem", "update_item"), ("DeleteItem", "delete_item")):
        setattr(DynamoHandler, attr, _single_write(operation, getattr(DynamoHandler, attr), capacity))
    DynamoHandler.batch_write_item = _batch_write(DynamoHandler.batch_write_item, capacity)
    DynamoHandler.batch_get_item = _batch_read(DynamoHandler.batch_get_item, capacity)
    for operation, attr in (("GetItem", "get_item"), ("Query", "query"), ("Scan", "scan")):
        setattr(DynamoHandler, attr, _read(operation, getattr(DynamoHandler, attr), capacity))
    DynamoHandler._sandbox_capacity = True
