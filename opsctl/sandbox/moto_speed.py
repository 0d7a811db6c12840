"""How the sandbox runs moto fast enough for the design's rate, without changing what moto checks or answers.

Profiled with py-spy on a sandbox that was draining 5,000 readings (the numbers are in docs/architecture.md,
"Sandbox speed"), two of moto's code paths took most of its time, and neither was doing any checking:

- Kinesis: for every record put, moto tries to run each Kinesis event source mapping's function in Docker
  (`Stream.put_record` → `send_kinesis_message` → `LambdaFunction.invoke`), fails (there is no Docker),
  logs the error and goes on. That is two failed Docker connections per reading. In the sandbox the local
  runtime is Lambda's poller (as for SQS, see moto_main), so streams keep their mappings stored (Terraform and
  ListEventSourceMappings see them) but moto never acts on them.
- SQS: ReceiveMessage checks each message it returns against the queue's retention period by computing *all*
  of the queue's attributes, three times over (moto's `get_queue_attributes`), and each computation counts the
  queue's messages three ways: about nine passes over the whole queue per message received. With thousands of
  rollup jobs queued that was ~1 job/s. The same check here reads the queue's retention period directly: the
  same comparison, the same outcome (a message past retention is not returned).

- SQS again: every pass over a queue (the visible messages, the three approximate counts that every SendMessage
  computes) read the clock through datetime arithmetic twice per message; it now reads it once per pass.

- DynamoDB: every Query listed and sorted the whole table to pick one partition; it now looks at that partition,
  and within it only at the items its range key condition can match (a bisection of the partition's range keys).

- Kinesis again: every record put listed the shard's sequence numbers to find the last one
  (`Shard.get_max_sequence_number` is `list(keys)[-1]`), and every GetRecords walked the shard from its first
  record to find the iterator's position: both grow with the shard, so at 1,000 readings/s the server spent most
  of its time there within a minute. The last sequence number is now the dict's last key, and GetRecords finds its
  position by bisecting the shard's sequence numbers (moto numbers a shard's records 1, 2, 3, ... in the order it
  stores them, so the order is the same). The same lock also serialises puts and reads of a shard: moto's reads
  iterated the records while the server's other threads appended to them ("OrderedDict mutated during
  iteration", a 500 that stopped `opsctl sandbox run`).

- SQS once more: SendMessage computed every queue attribute (three passes over the queue) to read one.

- SQS: DeleteMessage walked the whole queue twice, building a list per message, to find the one message.

- DynamoDB again: a projection (`ProjectionExpression`) of top-level attributes turned each item into Python values
  and back; those attributes are now picked as stored.

- Every request: the server found its backend by listing moto's package directory (~150 system calls) and trying
  every backend's URL patterns, twice per request, under one server-wide lock; each host's answer is remembered.

Everything else is moto as released."""

from __future__ import annotations

import bisect
import threading


class _NeverRegistered(dict):
    """A mapping registry that stays empty: moto's own delivery loop then has nothing to run."""

    def __setitem__(self, key, value) -> None:
        pass


def disable_stream_delivery() -> None:
    """Patches moto's Kinesis Stream so no stream runs an event source mapping itself (idempotent)."""
    from moto.kinesis import models

    if getattr(models.Stream, "_sandbox_no_delivery", False):
        return
    original = models.Stream.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.lambda_event_source_mappings = _NeverRegistered()

    models.Stream.__init__ = __init__
    models.Stream._sandbox_no_delivery = True


def direct_retention_check() -> None:
    """Patches moto's per-message retention check to read the queue's retention period, not every attribute."""
    from moto.core.utils import unix_time
    from moto.sqs import models

    if getattr(models.SQSBackend, "_sandbox_direct_retention", False):
        return

    def is_message_valid_based_on_retention_period(self, queue_name: str, message) -> bool:
        queue = self.get_queue(queue_name)
        return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()

    models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
    models.SQSBackend._sandbox_direct_retention = True


def one_clock_reading_per_queue_pass() -> None:
    """Patches moto's SQS queue counts and visible-message list to read the clock once per pass over the queue.

    moto reads the clock through datetime arithmetic (`unix_time_millis`) twice per message per pass, and every
    SendMessage computes all queue attributes (three passes) to look up one of them. The comparisons are moto's
    own (visible: now > visible_at; delayed: now < delayed_until), only with one `now` per pass, from time.time,
    which is what moto's datetime arithmetic computes."""
    import time

    from moto.sqs import models

    if getattr(models.Queue, "_sandbox_one_clock", False):
        return

    def now_ms() -> float:
        return time.time() * 1000.0

    def messages(self):
        now = now_ms()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def delayed(self) -> int:
        now = now_ms()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def not_visible(self) -> int:
        now = now_ms()
        return sum(1 for m in self._messages if not now > m.visible_at)

    def visible(self) -> int:
        return len(self.messages)

    models.Queue.messages = property(messages)  # type: ignore[assignment]  # a method becomes a property
    models.Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[assignment]  # a method becomes a property
    models.Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[assignment]  # a method becomes a property
    models.Queue.approximate_number_of_messages = property(visible)  # type: ignore[assignment]  # a method becomes a property
    models.unix_time_millis = lambda dt=None: now_ms() if dt is None else _datetime_ms(dt)
    models.Queue._sandbox_one_clock = True


_PARTITION_ORDER = threading.Lock()  # the server answers requests in threads: one change at a time


class _Partition(dict):
    """One partition of a moto table (`Table.items[hash_key]`: range key -> Item) that also keeps its range keys in
    order, by the value moto compares them by (`DynamoType.cast_value`), so a Query's key condition is a bisection.

    Every way a dict can change forgets the order, except setting a value: a new key is put in its place (bisect)
    and an overwrite leaves the keys as they were. A copy (moto deep-copies tables for backups) starts without it.
    The order and the dict change together under one lock: the server answers in threads, so two clients writing
    one device put into one partition at once, and must never leave the two out of step."""

    __slots__ = ("_casts", "_keys")

    def _forget(self) -> None:
        self._casts: list | None = None
        self._keys: list = []

    def __setitem__(self, key, value) -> None:
        with _PARTITION_ORDER:
            new = key not in self
            super().__setitem__(key, value)
            casts = getattr(self, "_casts", None)
            if new and casts is not None:
                cast = key.cast_value
                i = bisect.bisect_left(casts, cast)
                casts.insert(i, cast)
                self._keys.insert(i, key)

    def __delitem__(self, key) -> None:
        with _PARTITION_ORDER:
            super().__delitem__(key)
            self._forget()

    def pop(self, *args):
        with _PARTITION_ORDER:
            self._forget()
            return super().pop(*args)

    def popitem(self):
        with _PARTITION_ORDER:
            self._forget()
            return super().popitem()

    def clear(self) -> None:
        with _PARTITION_ORDER:
            self._forget()
            super().clear()

    def update(self, *args, **kwargs) -> None:
        with _PARTITION_ORDER:
            self._forget()
            super().update(*args, **kwargs)

    def setdefault(self, key, default=None):
        with _PARTITION_ORDER:
            self._forget()
            return super().setdefault(key, default)

    def __ior__(self, other):  # type: ignore[misc]  # dict's own |=, after forgetting the order
        with _PARTITION_ORDER:
            self._forget()
            return super().__ior__(other)

    def ordered(self) -> list:
        """Every item, in range-key order."""
        with _PARTITION_ORDER:
            self._ensure_order()
            return [dict.__getitem__(self, key) for key in self._keys]

    def _ensure_order(self) -> None:
        casts = getattr(self, "_casts", None)
        if casts is None or len(casts) != len(self):
            keys = sorted(self)  # DynamoType orders by cast_value, as moto sorts a Query's results
            self._keys, self._casts = keys, [k.cast_value for k in keys]

    def in_range(self, comparison: str | None, objs: list) -> list | None:
        """The items whose range key meets the Query's key condition (moto's comparison names and operands) and
        the one on either side of them, in range-key order; None when this cannot say (no condition, or one it leaves
        to moto): moto then looks at all of them. moto still compares each item it is given with the condition."""
        with _PARTITION_ORDER:
            self._ensure_order()
            casts, all_keys = self._casts, self._keys
            assert casts is not None
            if not casts or comparison is None:
                return None
            kind = all_keys[0].type
            if kind not in ("N", "S") or any(getattr(o, "type", None) != kind for o in objs):
                return None  # binary keys, or operands of another type (moto's own comparison decides, or fails)
            values = [o.cast_value for o in objs]
            if comparison in ("EQ", "=") and len(values) == 1:
                lo, hi = bisect.bisect_left(casts, values[0]), bisect.bisect_right(casts, values[0])
            elif comparison in ("LT", "<") and len(values) == 1:
                lo, hi = 0, bisect.bisect_left(casts, values[0])
            elif comparison in ("LE", "<=") and len(values) == 1:
                lo, hi = 0, bisect.bisect_right(casts, values[0])
            elif comparison in ("GT", ">") and len(values) == 1:
                lo, hi = bisect.bisect_right(casts, values[0]), len(casts)
            elif comparison in ("GE", ">=") and len(values) == 1:
                lo, hi = bisect.bisect_left(casts, values[0]), len(casts)
            elif comparison == "BETWEEN" and len(values) == 2:
                lo, hi = bisect.bisect_left(casts, values[0]), bisect.bisect_right(casts, values[1])
            elif comparison == "BEGINS_WITH" and len(values) == 1 and kind == "S":
                lo = hi = bisect.bisect_left(casts, values[0])
                while hi < len(casts) and casts[hi].startswith(values[0]):
                    hi += 1
            else:
                return None
            # moto's own loop also looks at the item just past the matches (whichever way it walks): that item is
            # what makes it answer a LastEvaluatedKey when a page fills up exactly at the last match, so it is kept.
            lo, hi = max(lo - 1, 0), min(max(hi, lo) + 1, len(casts))
            return [dict.__getitem__(self, key) for key in all_keys[lo:hi]]


def query_reads_one_partition() -> None:
    """Patches moto's DynamoDB Query on a table (not an index) to look at the one partition it names, and within it
    at the items its range key condition can match.

    moto lists and sorts every item of the table (`Table.all_items`) for each Query, then keeps those of the
    queried hash key, then sizes and compares every one of them against the range key condition: with a day of
    readings in the table, a rollup job's Query of one device-hour cost seconds, and with a year of one device's
    hourly readings in its partition each job's Query of one hour still sized and compared 8,640 items. During a
    base-table Query, all_items here returns the partition's items whose range key meets the condition (the very
    items moto's own filter keeps, in the same order), found by bisecting the partition's range keys, which each
    partition keeps in order (`_Partition`); moto still compares, sorts, pages and sizes them itself."""
    from collections import defaultdict

    from moto.dynamodb.models import table as tables

    if getattr(tables.Table, "_sandbox_one_partition", False):
        return
    querying = threading.local()  # the moto server answers requests in threads
    original_init, original_query, original_all_items = (
        tables.Table.__init__,
        tables.Table.query,
        tables.Table.all_items,
    )

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.items = defaultdict(_Partition, self.items)

    def query(self, hash_key, *args, **kwargs):
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name is None and hash_key is not None:
            comparison = kwargs.get("range_comparison", args[0] if args else None)
            objs = kwargs.get("range_objs", args[1] if len(args) > 1 else [])
            querying.partition = (self, hash_key, comparison, list(objs or []))
        else:
            querying.partition = None
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            querying.partition = None

    def all_items(self):
        partition = getattr(querying, "partition", None)
        if partition is None or partition[0] is not self:
            return original_all_items(self)
        _, hash_key, comparison, objs = partition
        hash_set = self.items.get(hash_key)
        if hash_set is None:
            return []
        if not self.range_key_attr:
            return [hash_set]
        if isinstance(hash_set, _Partition):
            items = hash_set.in_range(comparison, objs)
            return items if items is not None else hash_set.ordered()
        return sorted(hash_set.values(), key=lambda x: x.range_key)

    tables.Table.__init__, tables.Table.query, tables.Table.all_items = __init__, query, all_items
    tables.Table._sandbox_original_query, tables.Table._sandbox_original_all_items = original_query, original_all_items
    tables.Table._sandbox_one_partition = True


def send_reads_one_attribute() -> None:
    """Patches moto's SQS SendMessage to compute the one queue attribute it reads, not all of them.

    moto's `send_message` (and the `add_message` it calls) looks up ContentBasedDeduplication in `queue.attributes`,
    which computes every attribute, the three approximate counts among them (each a pass over the queue): with
    20,000 rollup jobs queued that was most of SendMessageBatch's time. While a message is being sent, this
    thread's `queue.attributes` holds that one attribute, computed as moto computes it (FIFO queues only, "true" or
    "false"); GetQueueAttributes and everything else still see every attribute."""
    from moto.sqs import models

    if getattr(models.SQSBackend, "_sandbox_one_attribute", False):
        return
    sending = threading.local()
    original_send, original_attributes = models.SQSBackend.send_message, models.Queue.attributes

    def send_message(self, *args, **kwargs):
        depth = getattr(sending, "depth", 0)
        sending.depth = depth + 1
        try:
            return original_send(self, *args, **kwargs)
        finally:
            sending.depth = depth

    def attributes(self) -> dict:
        if not getattr(sending, "depth", 0):
            return original_attributes.fget(self)
        if not self.fifo_queue:
            return {}
        value = self.content_based_deduplication
        return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}

    models.SQSBackend.send_message = send_message
    models.Queue.attributes = property(attributes)  # type: ignore[assignment]  # a property stays a property
    models.SQSBackend._sandbox_one_attribute = True


def indexed_shard_records() -> None:
    """Patches moto's Kinesis Shard: O(1) last sequence number, GetRecords by bisection, puts and reads serialised.

    moto's `Shard.put_record` numbers a record one past the shard's last (strictly increasing in insertion
    order, the only way records enter a shard), so the sorted list of sequence numbers is the dict's key order;
    it is kept per shard and rebuilt whenever the dict it was built from is replaced or changed size. GetRecords
    returns what moto's loop returns: the records after the iterator's sequence number, in order, at most
    `limit`, with millis-behind measured from the last record returned to the shard's newest."""
    from moto.kinesis import models

    if getattr(models.Shard, "_sandbox_indexed", False):
        return
    lock = threading.RLock()  # the moto server answers requests in threads; one lock for every shard is enough

    def keys_of(shard) -> list[int]:
        records = shard.records
        index = shard.__dict__.get("_sandbox_keys")
        if index is None or index[0] is not records or len(index[1]) != len(records):
            index = (records, list(records))
            shard._sandbox_keys = index
        return index[1]

    def get_max_sequence_number(self) -> int:
        with lock:
            return next(reversed(self.records)) if self.records else 0

    def get_min_sequence_number(self) -> int:
        with lock:
            return next(iter(self.records)) if self.records else 0

    def put_record(self, partition_key: str, data: str, explicit_hash_key: str) -> str:
        with lock:
            keys = keys_of(self)
            sequence_number = (keys[-1] if keys else 0) + 1
            self.records[sequence_number] = models.Record(partition_key, data, sequence_number, explicit_hash_key)
            keys.append(sequence_number)
            return str(sequence_number)

    original_get_records = models.Shard.get_records

    def get_records(self, last_sequence_id: str, limit: int | None) -> tuple[list, int, int]:
        with lock:
            if limit is not None and limit <= 0:  # the API refuses a Limit under 1: moto's own loop, unchanged
                return original_get_records(self, last_sequence_id, limit)
            last = int(last_sequence_id)
            keys = keys_of(self)
            start = bisect.bisect_right(keys, last)
            chosen = keys[start:] if limit is None else keys[start : start + limit]
            if not chosen:
                return [], last, 0
            results = [self.records[k] for k in chosen]
            newest = self.records[keys[-1]]
            return results, chosen[-1], int((newest.created_at - results[-1].created_at) * 1000)

    models.Shard.get_max_sequence_number = get_max_sequence_number
    models.Shard.get_min_sequence_number = get_min_sequence_number
    models.Shard.put_record = put_record
    models.Shard.get_records = get_records
    models.Shard._sandbox_indexed = True


def delete_in_one_pass() -> None:
    """Patches moto's SQS Queue.delete_message to find the message in one pass over the queue (idempotent).

    moto looked for the message twice over the whole queue, building each message's list of every receipt handle it
    ever had (`Message.all_receipt_handles`) at every step: two list allocations per queued message per delete, and
    the rollup worker deletes every job it is done with (DeleteMessageBatch), so with thousands of jobs queued each
    delete walked them all twice. Same outcome: a handle the message has now or had before deletes it, a handle
    already deleted is accepted again, an unknown one is ReceiptHandleIsInvalid, the rest keep their order."""
    from moto.sqs import models
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    if getattr(models.Queue, "_sandbox_one_pass_delete", False):
        return

    def delete_message(self, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: moto accepts it again
        hits = [
            m for m in self._messages if m.receipt_handle == receipt_handle or receipt_handle in m._old_receipt_handles
        ]
        if not hits:
            raise ReceiptHandleIsInvalid()
        gone = {id(m) for m in hits}
        for m in hits:
            self.pending_messages.discard(m)
            self.deleted_messages.update(m.all_receipt_handles)
        self._messages = [m for m in self._messages if id(m) not in gone]

    models.Queue.delete_message = delete_message
    models.Queue._sandbox_one_pass_delete = True


def project_top_level_names_directly() -> None:
    """Patches moto's DynamoDB Item.project to pick the projected attributes as stored when every path of the
    projection is a top-level attribute name (`#ts, #m`), and leaves nested paths and list indexes (`a.b`, `a[0]`)
    to moto.
    The projected item holds the stored attribute values themselves, as moto's unprojected answers hold the stored
    items: projected items are answers (Query, Scan, GetItem, an index's projection), serialized and dropped.

    moto turned the whole item into Python values (numbers into Decimal, sets into Python sets), picked the paths,
    and serialized the result back into DynamoDB values: for the read API's `ProjectionExpression="#ts, #m"` that
    was 60 % of a Query of 1,000 readings. A top-level path picks an attribute whole, so its copy is the same
    answer: the same attributes with the same values (a number keeps the digits it was stored with and a set its
    order, as the unprojected item shows them; moto's round trip could write 0.00000001 back as 1E-8)."""
    from moto.dynamodb.models import dynamo_type

    if getattr(dynamo_type.Item, "_sandbox_direct_projection", False):
        return
    original = dynamo_type.Item.project

    def project(self, projection_expressions):
        names = []
        for path in projection_expressions:
            if len(path) != 1 or "[" in path[0]:
                return original(self, projection_expressions)
            names.append(path[0])
        result = dynamo_type.Item.__new__(dynamo_type.Item)
        result.hash_key, result.range_key = self.hash_key, self.range_key  # as moto's project passes them
        attrs = dynamo_type.LimitedSizeDict.__new__(dynamo_type.LimitedSizeDict)
        dict.__init__(attrs)
        for name in names:
            if name in self.attrs and name not in attrs:
                dict.__setitem__(attrs, name, self.attrs[name])  # a subset of a valid item: no re-check
        result.attrs = attrs
        return result

    dynamo_type.Item._sandbox_original_project = original
    dynamo_type.Item.project = project
    dynamo_type.Item._sandbox_direct_projection = True


_NO_BACKEND = object()
BACKENDS_REMEMBERED = 10_000  # hosts whose backend is remembered per server (S3 virtual hosts are one per bucket)


def backend_per_host_remembered() -> None:
    """Patches moto's server to remember which backend serves a Host header (idempotent).

    moto's server picks each request's backend from its Host header (`DomainDispatcherApplication.
    get_backend_for_host`) under one lock for the whole server: it lists moto's package directory (a listdir and a
    stat per package, ~150 system calls, each one a chance for another thread to take the GIL while the lock is
    held) and then tries every backend's URL patterns, and a request to 127.0.0.1 does all of it twice (its Host
    matches nothing, so moto infers a host from the signature and looks again). The answer depends on the host
    string alone: moto's packages and URL patterns do not change while it runs. So each host's answer is
    remembered, the same answer as moto's, except a host of amazonaws.com that no backend serves: moto prints a hint
    for it every time, and still does."""
    from moto.moto_server import werkzeug_app

    app_cls = werkzeug_app.DomainDispatcherApplication
    if getattr(app_cls, "_sandbox_backend_per_host", False):
        return
    original = app_cls.get_backend_for_host

    def get_backend_for_host(self, host):
        remembered = self.__dict__.setdefault("_sandbox_backends", {})
        backend = remembered.get(host, _NO_BACKEND)
        if backend is not _NO_BACKEND:
            return backend
        backend = original(self, host)
        if (backend is not None or "amazonaws.com" not in str(host)) and len(remembered) < BACKENDS_REMEMBERED:
            remembered[host] = backend
        return backend

    app_cls._sandbox_original_get_backend_for_host = original
    app_cls.get_backend_for_host = get_backend_for_host
    app_cls._sandbox_backend_per_host = True


def _datetime_ms(dt) -> float:
    from moto.core.utils import unix_time_millis

    return unix_time_millis(dt)


def apply() -> None:
    """Every patch above (idempotent)."""
    disable_stream_delivery()
    direct_retention_check()
    one_clock_reading_per_queue_pass()
    query_reads_one_partition()
    indexed_shard_records()
    send_reads_one_attribute()
    backend_per_host_remembered()
    delete_in_one_pass()
    project_top_level_names_directly()
