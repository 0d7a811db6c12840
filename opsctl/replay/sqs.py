"""Moving dead letters back to the queue that feeds the DLQ, without losing, mangling or reordering them.

The client-side mover: receive ≤10 → (backup) → send a batch with the body, every message attribute
(String, Number, Binary and custom types such as Number.float), the FIFO group id and a dedup id →
delete **only** the entries SendMessageBatch reports as successful. A failed entry stays in the DLQ and
is reported; a crash at any point leaves each message in the DLQ, in the destination, or (between send
and delete) in both: at-least-once, never lost. Our consumers are idempotent, so a repeat is harmless.

Messages this run looks at but does not move (filtered out, failed, listed by --dry-run) are held
invisible while the run lasts, so it never sees one twice, and made visible again at once when it ends.

Why not lumigo-cli's way (docs/aws-limits.md §Prior art): it deletes the whole received batch after a partly failed
send (loses messages), copies only String attributes and drops FIFO group ids."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from opsctl.core.errors import InvalidArgument, OpsError

MAX_BATCH_ENTRIES = 10  # SQS: entries per SendMessageBatch / DeleteMessageBatch / ReceiveMessage
MAX_BATCH_BYTES = 256 * 1024  # SQS: total payload of one SendMessageBatch request, bytes
FIFO_DEDUP_INTERVAL_S = 300  # SQS: a FIFO queue drops a message whose dedup id it saw in the last 5 minutes
DEFAULT_VISIBILITY_TIMEOUT_S = 60  # how long a received message stays hidden if we crash before deleting it, seconds
EMPTY_RECEIVES_CONFIRMED = 3  # empty receives in a row, each checked against the queue's visible count, before the end
DEFAULT_WAIT_TIME_S = 1  # long-poll seconds per receive: an empty long poll asks every SQS server, so "empty" is true
DEFAULT_CONCURRENCY = 4  # parallel receive→send→delete loops on a standard queue (a FIFO queue gets one)
MAX_CONCURRENCY = 32
PREVIEW_CHARS = 80
REPLAY_DEDUP_PREFIX = "replay-"

Progress = Callable[[str, int], None]  # (what happened: moved / failed / skipped / listed, how many)


def _noop(kind: str, n: int) -> None:
    pass


@dataclass
class MoveOptions:
    max_messages: int | None = None  # move (or list) at most this many
    rate_per_s: float | None = None  # messages per second, at most
    filter_expression: str | None = None  # JMESPath over the JSON body; messages it does not select stay put
    backup: Path | None = None  # JSONL file: each moved message is appended (and flushed) before it is sent
    dry_run: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    visibility_timeout_s: int = DEFAULT_VISIBILITY_TIMEOUT_S
    wait_time_s: int = DEFAULT_WAIT_TIME_S


@dataclass
class MoveReport:
    source_url: str
    destination_url: str
    fifo: bool
    dry_run: bool
    moved: int = 0
    failed: list[dict] = field(default_factory=list)  # {message_id, code, message}: still in the DLQ
    skipped: int = 0  # not selected by --filter (or held back behind a failed message of the same FIFO group)
    delete_failed: list[dict] = field(default_factory=list)  # sent but still in the DLQ: a rerun sends them again
    listed: list[dict] = field(default_factory=list)  # --dry-run: what would move
    left_visible: int | None = None
    left_in_flight: int | None = None
    api_calls: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    interrupted: str | None = None

    def to_dict(self) -> dict:
        return {
            "source": self.source_url,
            "destination": self.destination_url,
            "fifo": self.fifo,
            "dry_run": self.dry_run,
            "moved": self.moved,
            "failed": len(self.failed),
            "failures": self.failed,
            "skipped": self.skipped,
            "delete_failed": self.delete_failed,
            "would_move": self.listed if self.dry_run else None,
            "left": {"visible": self.left_visible, "in_flight": self.left_in_flight},
            "api_calls": dict(self.api_calls),
            "api_calls_total": sum(self.api_calls.values()),
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "delivery": "at-least-once: a message sent just before a crash is sent again by the next run; consumers "
            "are idempotent",
        }


def compile_filter(expression: str | None):
    """The compiled JMESPath expression, or a clear error for a bad one."""
    if not expression:
        return None
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        raise InvalidArgument(
            f"bad {{filter}} {expression!r}: {str(exc).splitlines()[0]}",
            arguments=["filter"],
            hint="a JMESPath expression over the JSON body, e.g. \"device_id == 'dev-0001'\"",
        ) from None


def selected(compiled, body: str) -> bool:
    """Whether the filter selects a message body (a body that is not JSON is never selected)."""
    if compiled is None:
        return True
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return bool(compiled.search(doc))


def message_size(entry: dict) -> int:
    """Bytes SQS counts for one entry: body plus each attribute's name, type and value."""
    size = len(entry["MessageBody"].encode())
    for name, attr in (entry.get("MessageAttributes") or {}).items():
        size += len(name.encode()) + len(attr["DataType"].encode())
        if "BinaryValue" in attr:
            size += len(attr["BinaryValue"])
        else:
            size += len(str(attr.get("StringValue", "")).encode())
    return size


def dedup_id(message: dict, now_ms: int) -> str | None:
    """The MessageDeduplicationId to send a FIFO message with.

    The original id is kept, unless the message was first sent less than the dedup interval ago: the source
    queue would then take the copy for a duplicate of the original and drop it while reporting success
    (the DLQ would lose the message on delete). Such a message gets `replay-<its message id>`, which is
    stable, so our own resend after a crash is still deduplicated."""
    attrs = message.get("Attributes") or {}
    original = attrs.get("MessageDeduplicationId")
    sent_ms = int(attrs.get("SentTimestamp") or 0)
    if original and sent_ms and now_ms - sent_ms > FIFO_DEDUP_INTERVAL_S * 1000:
        return original
    return (REPLAY_DEDUP_PREFIX + message["MessageId"])[:128]


def send_entry(message: dict, entry_id: str, *, fifo: bool, now_ms: int) -> dict:
    """A SendMessageBatch entry carrying the message's body, every attribute and its FIFO ids."""
    entry = {"Id": entry_id, "MessageBody": message["Body"]}
    attrs = {}
    for name, attr in (message.get("MessageAttributes") or {}).items():
        copy = {"DataType": attr["DataType"]}
        if attr.get("BinaryValue") is not None:
            copy["BinaryValue"] = attr["BinaryValue"]
        else:
            copy["StringValue"] = attr.get("StringValue", "")
        attrs[name] = copy
    if attrs:
        entry["MessageAttributes"] = attrs
    trace = (message.get("Attributes") or {}).get("AWSTraceHeader")
    if trace:
        entry["MessageSystemAttributes"] = {"AWSTraceHeader": {"DataType": "String", "StringValue": trace}}
    if fifo:
        entry["MessageGroupId"] = (message.get("Attributes") or {}).get("MessageGroupId") or "replay"
        entry["MessageDeduplicationId"] = dedup_id(message, now_ms)
    return entry


def split_batches(entries: list[dict]) -> list[list[dict]]:
    """Entries in order, in batches of ≤10 entries and ≤256 KiB; FIFO entries at most one per group per batch.

    One per group, because if an entry of a group fails, the entries of that group after it in the same
    batch may already be enqueued, ahead of it: order within the group would be broken for good. Batches
    are sent one after another, so a group's messages still go out in order; a queue with many groups keeps
    full batches, a queue with one group sends one message per call (FIFO order costs that much)."""
    batches: list[list[dict]]
    current: list[dict]
    groups: set[str]
    batches, current, size, groups = [], [], 0, set()
    for e in entries:
        s = message_size(e)
        group = e.get("MessageGroupId")
        if current and (
            len(current) >= MAX_BATCH_ENTRIES or size + s > MAX_BATCH_BYTES or (group is not None and group in groups)
        ):
            batches.append(current)
            current, size, groups = [], 0, set()
        current.append(e)
        size += s
        if group is not None:
            groups.add(group)
    if current:
        batches.append(current)
    return batches


def backup_line(message: dict, source_url: str) -> str:
    """One JSONL line: everything needed to send the message again by hand."""
    attrs = {}
    for name, a in (message.get("MessageAttributes") or {}).items():
        attrs[name] = {
            "DataType": a["DataType"],
            **(
                {"BinaryValue": base64.b64encode(a["BinaryValue"]).decode()}
                if a.get("BinaryValue") is not None
                else {"StringValue": a.get("StringValue", "")}
            ),
        }
    return (
        json.dumps(
            {
                "source": source_url,
                "message_id": message["MessageId"],
                "body": message["Body"],
                "attributes": message.get("Attributes") or {},
                "message_attributes": attrs,
                "backed_up_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            },
            separators=(",", ":"),
            sort_keys=True,
        )
        + "\n"
    )


def listing(message: dict, now_ms: int) -> dict:
    """What --dry-run shows of one message."""
    attrs = message.get("Attributes") or {}
    sent = int(attrs.get("SentTimestamp") or now_ms)
    body = message["Body"]
    return {
        "message_id": message["MessageId"],
        "age_s": round(max(0, now_ms - sent) / 1000, 1),
        "receive_count": int(attrs.get("ApproximateReceiveCount") or 0),
        "size_bytes": len(body.encode()),
        "group": attrs.get("MessageGroupId"),
        "preview": body[:PREVIEW_CHARS],
    }


class RateLimiter:
    """At most `rate` messages per second over the run, shared by every worker."""

    def __init__(self, rate: float | None, clock=time.monotonic, sleep=time.sleep):
        self.rate = rate
        self.clock, self.sleep = clock, sleep
        self._next = None
        self._lock = threading.Lock()

    def acquire(self, n: int) -> None:
        if not self.rate or n <= 0:
            return
        with self._lock:
            now = self.clock()
            start = now if self._next is None else max(now, self._next)
            self._next = start + n / self.rate
        if start > now:
            self.sleep(start - now)


class _Budget:
    """--max as a pool the workers reserve from before each receive, so no message beyond it is touched."""

    def __init__(self, limit: int | None):
        self.left = limit
        self._lock = threading.Lock()

    def take(self, want: int) -> int:
        with self._lock:
            if self.left is None:
                return want
            n = min(want, self.left)
            self.left -= n
            return n

    def give_back(self, n: int) -> None:
        if n > 0:
            with self._lock:
                if self.left is not None:
                    self.left += n


def queue_attributes(sqs, url: str, names: list[str]) -> dict:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names).get("Attributes", {})


class Mover:
    """One replay from `source_url` (the DLQ) to `destination_url`; `run()` returns the report."""

    def __init__(
        self,
        sqs,
        source_url: str,
        destination_url: str,
        options: MoveOptions,
        *,
        progress: Progress = _noop,
    ):
        self.sqs = sqs
        self.source = source_url
        self.destination = destination_url
        self.o = options
        self.progress = progress
        self.filter = compile_filter(options.filter_expression)
        self.fifo = source_url.endswith(".fifo") or destination_url.endswith(".fifo")
        self.report = MoveReport(
            source_url=source_url, destination_url=destination_url, fifo=self.fifo, dry_run=options.dry_run
        )
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._held: dict[str, str] = {}  # message id -> receipt handle of messages to make visible again at the end
        self._blocked_groups: set[str] = set()
        self._budget = _Budget(options.max_messages)
        self._rate = RateLimiter(options.rate_per_s)
        self._backup: TextIO | None = None
        self._stop = threading.Event()
        self._empty_receives = 0  # receives in a row that brought nothing new

    # -- calls, counted ---------------------------------------------------------------------------

    def _call(self, name: str, **kwargs):
        with self._lock:
            self.report.api_calls[name] += 1
        return getattr(self.sqs, name)(**kwargs)

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> MoveReport:
        started = time.monotonic()
        if self.o.backup is not None and not self.o.dry_run:
            from opsctl.replay.backup import open_backup

            self._backup = open_backup(self.o.backup)
        # A dry run lists with one receiver: concurrent receives of a standard queue can hand the same message to
        # two of them (SQS's at-least-once delivery; moto's receive has no lock at all), and every extra receive is
        # a receive count the listing added for nothing, a step towards a redrive policy's maxReceiveCount.
        workers = 1 if self.fifo or self.o.dry_run else max(1, min(self.o.concurrency, MAX_CONCURRENCY))
        errors: list[BaseException] = []
        try:
            if workers == 1:
                self._worker(errors)
            else:
                threads = [threading.Thread(target=self._worker, args=(errors,), daemon=True) for _ in range(workers)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            if errors:
                raise errors[0]
        except KeyboardInterrupt:
            self._stop.set()
            self.report.interrupted = "interrupted"
            raise
        finally:
            self._release_held()
            if self._backup is not None:
                self._backup.close()
            self.report.seconds = time.monotonic() - started
            try:
                attrs = queue_attributes(
                    self.sqs, self.source, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
                )
                self.report.left_visible = int(attrs.get("ApproximateNumberOfMessages", 0))
                self.report.left_in_flight = int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))
            except Exception:  # noqa: BLE001 - the counts are a courtesy; the report must still come back
                pass
        return self.report

    def _worker(self, errors: list) -> None:
        try:
            while not self._stop.is_set():
                if not self._one_round():
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to run(), which re-raises it after releasing what it holds
            self._stop.set()
            errors.append(exc)

    def _one_round(self) -> bool:
        """Receive one batch and deal with it; False when there is nothing (more) to do."""
        want = self._budget.take(MAX_BATCH_ENTRIES)
        if want == 0:
            return False
        resp = self._call(
            "receive_message",
            QueueUrl=self.source,
            MaxNumberOfMessages=want,
            VisibilityTimeout=self.o.visibility_timeout_s,
            WaitTimeSeconds=self.o.wait_time_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        messages = resp.get("Messages", [])
        fresh = []
        with self._lock:
            for m in messages:
                # Everything received is held until it is deleted; whatever is still held when the run ends
                # (skipped, failed, listed, or in hand at a crash) is made visible again at once.
                self._held[m["MessageId"]] = m["ReceiptHandle"]
                if m["MessageId"] not in self._seen:  # a repeat came back after its visibility timeout
                    self._seen.add(m["MessageId"])
                    fresh.append(m)
        if not fresh:
            self._budget.give_back(want)
            return self._visible_after_an_empty_receive()
        with self._lock:
            self._empty_receives = 0
        now_ms = int(time.time() * 1000)
        to_move, listed = [], 0
        for m in fresh:
            group = (m.get("Attributes") or {}).get("MessageGroupId")
            if not selected(self.filter, m["Body"]) or (group is not None and group in self._blocked_groups):
                with self._lock:
                    self.report.skipped += 1
                self.progress("skipped", 1)
            elif self.o.dry_run:
                listed += 1
                with self._lock:
                    self.report.listed.append(listing(m, now_ms))
                self.progress("listed", 1)
            else:
                to_move.append(m)
        self._budget.give_back(want - len(to_move) - listed)
        if to_move:
            self._move(to_move, now_ms)
        return True

    def _visible_after_an_empty_receive(self) -> bool:
        """Whether to receive again after a receive that brought nothing new: only if the queue still counts visible
        messages, EMPTY_RECEIVES_CONFIRMED times in a row at most. An empty long poll is normally the end, but a
        server slow to answer (moto under load) or a message just made visible can leave messages behind, and a
        replay that ends with messages still waiting looks finished to the person who ran it."""
        with self._lock:
            self._empty_receives += 1
            if self._empty_receives > EMPTY_RECEIVES_CONFIRMED:
                return False
        attrs = queue_attributes(self.sqs, self.source, ["ApproximateNumberOfMessages"])
        with self._lock:
            self.report.api_calls["get_queue_attributes"] += 1
        return int(attrs.get("ApproximateNumberOfMessages", 0)) > 0

    def _move(self, messages: list[dict], now_ms: int) -> None:
        self._rate.acquire(len(messages))
        by_id = {str(i): m for i, m in enumerate(messages)}
        if self._backup is not None:
            with self._lock:
                for m in messages:
                    self._backup.write(backup_line(m, self.source))
                self._backup.flush()
                os.fsync(self._backup.fileno())
        entries = [send_entry(m, i, fifo=self.fifo, now_ms=now_ms) for i, m in by_id.items()]
        for batch in split_batches(entries):
            if self._blocked_groups:
                held_back = [e for e in batch if e.get("MessageGroupId") in self._blocked_groups]
                batch = [e for e in batch if e.get("MessageGroupId") not in self._blocked_groups]
                with self._lock:
                    self.report.skipped += len(held_back)  # behind a failed message of their group: they stay, in order
                for _ in held_back:
                    self.progress("skipped", 1)
                if not batch:
                    continue
            resp = self._call("send_message_batch", QueueUrl=self.destination, Entries=batch)
            sent = [by_id[s["Id"]] for s in resp.get("Successful", [])]
            for f in resp.get("Failed", []):
                m = by_id[f["Id"]]
                group = (m.get("Attributes") or {}).get("MessageGroupId")
                with self._lock:
                    if group is not None:
                        self._blocked_groups.add(
                            group
                        )  # later messages of its group wait behind it: FIFO order is kept
                    self.report.failed.append(
                        {
                            "message_id": m["MessageId"],
                            "code": f.get("Code"),
                            "message": f.get("Message"),
                            "sender_fault": f.get("SenderFault"),
                        }
                    )
                self.progress("failed", 1)
            if sent:
                self._delete(sent)

    def _delete(self, sent: list[dict]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(sent)]
        resp = self._call("delete_message_batch", QueueUrl=self.source, Entries=entries)
        failed = {f["Id"]: f for f in resp.get("Failed", [])}
        done = len(sent) - len(failed)
        with self._lock:
            for i, m in enumerate(sent):
                if str(i) not in failed:
                    self._held.pop(m["MessageId"], None)
            self.report.moved += done
            for i, f in failed.items():
                self.report.delete_failed.append(
                    {"message_id": sent[int(i)]["MessageId"], "code": f.get("Code"), "message": f.get("Message")}
                )
        self.progress("moved", done)

    def _release_held(self) -> None:
        """Makes every message this run held (skipped, failed, listed) visible again at once."""
        with self._lock:
            held, self._held = list(self._held.values()), {}
        for i in range(0, len(held), MAX_BATCH_ENTRIES):
            chunk = held[i : i + MAX_BATCH_ENTRIES]
            with contextlib.suppress(Exception):  # best effort: they come back after the visibility timeout
                self._call(
                    "change_message_visibility_batch",
                    QueueUrl=self.source,
                    Entries=[{"Id": str(j), "ReceiptHandle": h, "VisibilityTimeout": 0} for j, h in enumerate(chunk)],
                )


def move(
    sqs,
    source_url: str,
    destination_url: str,
    options: MoveOptions | None = None,
    *,
    progress: Progress = _noop,
) -> MoveReport:
    """Replays the messages of `source_url` (a DLQ) to `destination_url` and returns what happened."""
    return Mover(sqs, source_url, destination_url, options or MoveOptions(), progress=progress).run()


# -- where a DLQ's messages go back to ---------------------------------------------------------------


def queue_url(sqs, name_or_url: str) -> str:
    """The URL of a queue named by URL, ARN or name; a clear error if there is no such queue."""
    value = name_or_url.strip()
    try:
        if value.startswith("arn:aws:sqs:"):
            parts = value.split(":")
            return sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        if value.startswith(("https://", "http://")):
            sqs.get_queue_attributes(QueueUrl=value, AttributeNames=["QueueArn"])
            return value
        return sqs.get_queue_url(QueueName=value)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        raise OpsError(
            f"no such queue: {value}", hint="check the name with `opsctl dlq list` (or the AWS console)"
        ) from None
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if "NonExistentQueue" in code or "QueueDoesNotExist" in code:
            raise OpsError(
                f"no such queue: {value}", hint="check the name with `opsctl dlq list` (or the AWS console)"
            ) from None
        raise


def source_queues(sqs, dlq_url: str) -> list[str]:
    """The queues whose redrive policy names `dlq_url` as their dead-letter queue (every page)."""
    urls = []
    for page in sqs.get_paginator("list_dead_letter_source_queues").paginate(QueueUrl=dlq_url):
        urls += page.get("queueUrls", [])
    return urls
