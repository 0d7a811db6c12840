"""Replaying the batches a Kinesis event source mapping gave up on, from its on-failure queue.

Lambda's on-failure record carries no records, only where they were (docs/aws-limits.md §Lambda): a shard id and a
sequence-number range (`KinesisBatchInfo`). The records must be read back from the stream before its
retention trims them. So, for every failure record of the queue:

1. parse its KinesisBatchInfo; a message that is not one is reported and left in the queue;
2. refuse ranges whose records have expired (first arrival + the stream's retention is past, or the shard
   is gone): nothing can bring them back, and the report says how many records that is;
3. merge overlapping ranges per shard (a bisected batch is reported in overlapping pieces);
4. read each range with AT_SEQUENCE_NUMBER up to endSequenceNumber, through empty GetRecords pages, closed
   parent shards after a reshard, and moto's never-null iterator at a closed shard's end;
5. deliver the records: `invoke` the consumer with a Kinesis event of its mapping's batch size, or put them
   back on the `stream` with their partition keys;
6. delete a failure message only once every record of its range was delivered.

A crash anywhere leaves the failure message in the queue: the next run replays its range again. The
consumers are idempotent (the ingest function's writes are keyed on device and timestamp), so a record
delivered twice is harmless; a record never delivered is the one outcome this avoids."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from opsctl.core.errors import InvalidArgument, Refused
from opsctl.replay.kinesis_event import MAX_PAYLOAD_BYTES, RECORD_OVERHEAD_BYTES, KinesisRecord, kinesis_event
from opsctl.replay.sqs import DEFAULT_VISIBILITY_TIMEOUT_S, MAX_BATCH_ENTRIES, compile_filter, selected

MAX_GET_RECORDS = 10_000  # Kinesis: records per GetRecords call
MAX_PUT_RECORDS = 500  # Kinesis: records per PutRecords call
MAX_PUT_RECORDS_BYTES = 5 * 1024 * 1024  # Kinesis: bytes per PutRecords call
MAX_EMPTY_READS = 50  # empty GetRecords pages tolerated before a range counts as unreadable (AWS returns some in gaps)
READ_PAUSE_S = 0.2  # between GetRecords calls on one shard: AWS serves 5 per second per shard
MAX_DELIVERY_ATTEMPTS = 4  # tries per chunk of records (first try included) before the range counts as failed
EXPIRY_URGENT_S = 6 * 3600  # `dlq list` shows records expiring within this many seconds in red
EXPIRY_SOON_S = 24 * 3600  # ... and within this many seconds in yellow

Progress = Callable[[str, int], None]
clock = time.time  # tests move it


def _noop(kind: str, n: int) -> None:
    pass


def parse_iso(value: str | None) -> float | None:
    """Epoch seconds of `2019-11-14T00:38:06.021Z` (Lambda's on-failure timestamps); None if absent or bad."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class FailureRecord:
    """One on-failure message: where its records were, and the SQS handle to delete it by."""

    message_id: str
    receipt_handle: str
    stream_arn: str
    shard_id: str
    start: str
    end: str
    batch_size: int
    first_arrival: float | None
    condition: str | None
    body: dict

    @classmethod
    def parse(cls, message: dict) -> FailureRecord:
        """From a received SQS message; ValueError says why it is not a Kinesis on-failure record."""
        try:
            body = json.loads(message["Body"])
        except ValueError:
            raise ValueError("body is not JSON") from None
        info = body.get("KinesisBatchInfo") if isinstance(body, dict) else None
        if not isinstance(info, dict):
            raise ValueError("no KinesisBatchInfo (not a Kinesis on-failure record)")
        try:
            start, end = str(info["startSequenceNumber"]), str(info["endSequenceNumber"])
            if not (start.isdigit() and end.isdigit()) or int(start) > int(end):
                raise ValueError(f"bad sequence range {start}..{end}")
            return cls(
                message_id=message["MessageId"],
                receipt_handle=message["ReceiptHandle"],
                stream_arn=str(info["streamArn"]),
                shard_id=str(info["shardId"]),
                start=start,
                end=end,
                batch_size=int(info.get("batchSize") or 0),
                first_arrival=parse_iso(info.get("approximateArrivalOfFirstRecord")),
                condition=(body.get("requestContext") or {}).get("condition"),
                body=body,
            )
        except KeyError as exc:
            raise ValueError(f"KinesisBatchInfo lacks {exc.args[0]}") from None

    def to_dict(self) -> dict:
        return {
            "message_id": self.message_id,
            "stream_arn": self.stream_arn,
            "shard_id": self.shard_id,
            "start": self.start,
            "end": self.end,
            "batch_size": self.batch_size,
            "condition": self.condition,
            "first_arrival": None
            if self.first_arrival is None
            else dt.datetime.fromtimestamp(self.first_arrival, dt.UTC).isoformat(),
        }


@dataclass
class ReplayRange:
    """Merged, overlapping failure ranges of one shard: read once, delivered once, then their messages deleted."""

    stream_arn: str
    shard_id: str
    start: int
    end: int
    messages: list[FailureRecord] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "stream_arn": self.stream_arn,
            "shard_id": self.shard_id,
            "start": str(self.start),
            "end": str(self.end),
            "failure_messages": len(self.messages),
        }


def merge_ranges(records: list[FailureRecord]) -> list[ReplayRange]:
    """Overlapping ranges of the same shard merged (bisected batches overlap), sorted by shard and start."""
    merged: list[ReplayRange] = []
    for r in sorted(records, key=lambda r: (r.stream_arn, r.shard_id, int(r.start), int(r.end))):
        last = merged[-1] if merged else None
        if last and (last.stream_arn, last.shard_id) == (r.stream_arn, r.shard_id) and int(r.start) <= last.end:
            last.end = max(last.end, int(r.end))
            last.messages.append(r)
        else:
            merged.append(ReplayRange(r.stream_arn, r.shard_id, int(r.start), int(r.end), [r]))
    return merged


@dataclass
class StreamFacts:
    """What a stream says about how long its records live, and which shards it still has."""

    retention_hours: int
    shards: dict[str, int | None]  # shard id -> EndingSequenceNumber (None: open)

    @classmethod
    def read(cls, kinesis, stream_arn: str) -> StreamFacts:
        summary = kinesis.describe_stream_summary(StreamARN=stream_arn)["StreamDescriptionSummary"]
        shards, token = {}, None
        while True:
            resp = kinesis.list_shards(NextToken=token) if token else kinesis.list_shards(StreamARN=stream_arn)
            for s in resp.get("Shards", []):
                ending = s.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
                shards[s["ShardId"]] = int(ending) if ending is not None else None
            token = resp.get("NextToken")
            if not token:
                return cls(retention_hours=int(summary["RetentionPeriodHours"]), shards=shards)

    def seconds_left(self, record: FailureRecord, now: float) -> float | None:
        """Seconds until the first record of the range is trimmed from the stream (≤0: gone)."""
        if record.shard_id not in self.shards:
            return 0.0
        if record.first_arrival is None:
            return None
        return record.first_arrival + self.retention_hours * 3600 - now


def expiry_level(seconds_left: float | None) -> str:
    """How urgent a replay is: "expired", "urgent" (< EXPIRY_URGENT_S), "soon" (< EXPIRY_SOON_S), "ok", "unknown"."""
    if seconds_left is None:
        return "unknown"
    if seconds_left <= 0:
        return "expired"
    if seconds_left < EXPIRY_URGENT_S:
        return "urgent"
    if seconds_left < EXPIRY_SOON_S:
        return "soon"
    return "ok"


def read_range(
    kinesis,
    stream_arn: str,
    shard_id: str,
    start: int,
    end: int,
    ending_seq: int | None,
    *,
    pause_s: float = READ_PAUSE_S,
    sleep=time.sleep,
) -> tuple[list[KinesisRecord], str | None]:
    """The records of `shard_id` from `start` to `end` inclusive, and None, or what is missing.

    Stops at the first record past `end`; on a closed shard also at its EndingSequenceNumber, since moto's
    iterator never turns null there (AWS's does). Empty pages are normal in gaps of a shard and are read
    through, up to MAX_EMPTY_READS in a row."""
    try:
        iterator = kinesis.get_shard_iterator(
            StreamARN=stream_arn,
            ShardId=shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=str(start),
        )["ShardIterator"]
    except kinesis.exceptions.ResourceNotFoundException:
        return [], f"shard {shard_id} is gone from the stream"
    except kinesis.exceptions.InvalidArgumentException as exc:
        return [], f"cannot read {shard_id} at {start}: {exc.response.get('Error', {}).get('Message', '')}"
    out: list[KinesisRecord] = []
    empty = 0
    last = None
    while iterator:
        resp = kinesis.get_records(StreamARN=stream_arn, ShardIterator=iterator, Limit=MAX_GET_RECORDS)
        records = resp.get("Records", [])
        done = False
        for rec in records:
            seq = int(rec["SequenceNumber"])
            if seq > end:
                done = True
                break
            arrival = rec.get("ApproximateArrivalTimestamp")
            out.append(
                KinesisRecord(
                    rec["SequenceNumber"],
                    rec["PartitionKey"],
                    base64.b64encode(rec["Data"]).decode("ascii"),
                    arrival.timestamp() if hasattr(arrival, "timestamp") else float(arrival or 0),
                )
            )
            last = seq
        if done or (last is not None and last >= end):
            break
        if records:
            empty = 0
        else:
            empty += 1
            if ending_seq is not None and (last if last is not None else start) >= ending_seq:
                break  # a closed shard read to its end
            if empty > MAX_EMPTY_READS:
                break
        iterator = resp.get("NextShardIterator")
        if pause_s:
            sleep(pause_s)
    if not out:
        return out, f"no records between {start} and {end} in {shard_id} (trimmed by retention?)"
    if int(out[0].sequence_number) != start:
        return out, f"the first record {start} of {shard_id} is gone (trimmed by retention)"
    if int(out[-1].sequence_number) != end:
        return out, f"read up to {out[-1].sequence_number} of {shard_id}, not to {end}"
    return out, None


# -- delivery ------------------------------------------------------------------------------------------


class Delivery(Protocol):
    label: str

    def deliver(self, stream_arn: str, shard_id: str, records: list[KinesisRecord]) -> str | None:
        """Delivers every record, or returns why not."""


class StreamDelivery:
    """Puts records back on their stream with their partition keys (PutRecords ≤500 / 5 MiB, failed entries retried)."""

    label = "stream"

    def __init__(self, kinesis, sleep=time.sleep):
        self.kinesis = kinesis
        self.sleep = sleep

    def deliver(self, stream_arn: str, shard_id: str, records: list[KinesisRecord]) -> str | None:
        current: list[dict]  # one PutRecords call's entries
        chunks, current, size = [], [], 0
        for r in records:
            entry = {"Data": base64.b64decode(r.data_b64), "PartitionKey": r.partition_key}
            n = len(entry["Data"]) + len(r.partition_key.encode())
            if current and (len(current) >= MAX_PUT_RECORDS or size + n > MAX_PUT_RECORDS_BYTES):
                chunks.append(current)
                current, size = [], 0
            current.append(entry)
            size += n
        if current:
            chunks.append(current)
        for chunk in chunks:
            pending = chunk
            for attempt in range(MAX_DELIVERY_ATTEMPTS):
                resp = self.kinesis.put_records(StreamARN=stream_arn, Records=pending)
                pending = [e for e, res in zip(pending, resp["Records"], strict=True) if res.get("ErrorCode")]
                if not pending:
                    break
                self.sleep(0.1 * 2**attempt)
            if pending:
                return f"PutRecords kept failing for {len(pending)} records"
        return None


class InvokeDelivery:
    """Invokes the consumer with Kinesis events of its mapping's batch size. `invoke(event)` returns
    (function error text or None, the handler's result)."""

    label = "invoke"

    def __init__(self, invoke: Callable[[dict], tuple[str | None, object]], *, batch_size: int, role: str, region: str):
        self.invoke = invoke
        self.batch_size = max(1, batch_size)
        self.role = role
        self.region = region

    def _chunks(self, records: list[KinesisRecord]) -> list[list[KinesisRecord]]:
        chunks: list[list[KinesisRecord]]
        current: list[KinesisRecord]
        chunks, current, size = [], [], 0
        for r in records:
            n = len(r.data_b64) + RECORD_OVERHEAD_BYTES
            if current and (len(current) >= self.batch_size or size + n > MAX_PAYLOAD_BYTES):
                chunks.append(current)
                current, size = [], 0
            current.append(r)
            size += n
        if current:
            chunks.append(current)
        return chunks

    def deliver(self, stream_arn: str, shard_id: str, records: list[KinesisRecord]) -> str | None:
        for chunk in self._chunks(records):
            pending = chunk
            for _ in range(MAX_DELIVERY_ATTEMPTS):
                error, result = self.invoke(
                    kinesis_event(pending, shard_id=shard_id, source_arn=stream_arn, role=self.role, region=self.region)
                )
                if error:
                    problem = f"function error: {error}"
                    continue
                failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
                if not failures:
                    pending = []
                    break
                # As Lambda does: everything before the lowest failed record is done; retry from it.
                index = {r.sequence_number: i for i, r in enumerate(pending)}
                ids: list[Any] = [f.get("itemIdentifier") for f in failures if isinstance(f, dict)]  # unchecked yet
                if not ids or any(i not in index for i in ids):
                    problem = "malformed batchItemFailures in the function's answer"
                    continue
                pending = pending[min(index[i] for i in ids) :]
                problem = f"the function reported {len(ids)} failed records"
            if pending:
                return problem
        return None


def lambda_invoker(lambda_client, function_arn: str):
    """(invoke, role, close) that call Lambda's Invoke (RequestResponse) on real AWS."""
    role = lambda_client.get_function_configuration(FunctionName=function_arn).get("Role", "")

    def invoke(event: dict):
        resp = lambda_client.invoke(
            FunctionName=function_arn, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        payload = resp["Payload"].read()
        try:
            result = json.loads(payload) if payload else None
        except ValueError:
            result = None
        if resp.get("FunctionError"):
            message = result.get("errorMessage") if isinstance(result, dict) else payload[:200]
            return f"{resp['FunctionError']}: {message}", None
        return None, result

    return invoke, role, lambda: None


def consumer_mapping(lambda_client, stream_arn: str, queue_arn: str) -> dict | None:
    """The event source mapping on `stream_arn` whose on-failure destination is `queue_arn`."""
    marker = None
    while True:
        resp = lambda_client.list_event_source_mappings(
            EventSourceArn=stream_arn, **({"Marker": marker} if marker else {})
        )
        for m in resp.get("EventSourceMappings", []):
            if ((m.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination") == queue_arn:
                return m
        marker = resp.get("NextMarker")
        if not marker:
            return None


# -- the run -------------------------------------------------------------------------------------------


@dataclass
class KinesisReplayOptions:
    max_messages: int | None = None  # failure messages to take on, at most
    rate_per_s: float | None = None  # records delivered per second, at most
    filter_expression: str | None = None  # JMESPath over the failure message's JSON body
    backup: Path | None = None  # JSONL: each record (and its failure message id) appended before it is delivered
    dry_run: bool = False
    skip_expired: bool = False  # replay what can be, leave expired ones in the queue (otherwise: refuse)
    visibility_timeout_s: int = DEFAULT_VISIBILITY_TIMEOUT_S
    wait_time_s: int = 1
    read_pause_s: float = READ_PAUSE_S


@dataclass
class KinesisReplayReport:
    queue_url: str
    via: str | None
    dry_run: bool
    failure_messages: int = 0
    not_failure_records: list[dict] = field(default_factory=list)
    skipped: int = 0
    expired: list[dict] = field(default_factory=list)
    expired_records: int = 0
    ranges: list[dict] = field(default_factory=list)
    replayed_messages: int = 0
    records_delivered: int = 0
    failed_ranges: list[dict] = field(default_factory=list)
    soonest_expiry_s: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "queue": self.queue_url,
            "via": self.via,
            "dry_run": self.dry_run,
            "failure_messages": self.failure_messages,
            "not_failure_records": self.not_failure_records,
            "skipped": self.skipped,
            "expired": self.expired,
            "expired_records": self.expired_records,
            "ranges": self.ranges,
            "replayed_messages": self.replayed_messages,
            "records_delivered": self.records_delivered,
            "failed": len(self.failed_ranges),
            "failed_ranges": self.failed_ranges,
            "soonest_expiry_s": None if self.soonest_expiry_s is None else round(self.soonest_expiry_s),
            "seconds": round(self.seconds, 3),
            "delivery": "at-least-once: a range delivered just before a crash is delivered again by the next run; "
            "consumers are idempotent",
        }


def receive_all(sqs, queue_url: str, *, limit: int | None, visibility_timeout_s: int, wait_time_s: int) -> list[dict]:
    """Up to `limit` messages of the queue, each received once and held invisible (the caller releases them)."""
    seen: dict[str, dict] = {}
    while limit is None or len(seen) < limit:
        want = MAX_BATCH_ENTRIES if limit is None else min(MAX_BATCH_ENTRIES, limit - len(seen))
        got = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=want,
            VisibilityTimeout=visibility_timeout_s,
            WaitTimeSeconds=wait_time_s,
            AttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in got if m["MessageId"] not in seen]
        for m in got:
            seen.setdefault(m["MessageId"], m)["ReceiptHandle"] = m["ReceiptHandle"]
        if not fresh:
            break
    return list(seen.values())


def release(sqs, queue_url: str, handles: list[str]) -> None:
    """Makes messages visible again at once (best effort: otherwise they return after the visibility timeout)."""
    for i in range(0, len(handles), MAX_BATCH_ENTRIES):
        with contextlib.suppress(Exception):  # best effort: they come back on their own after the visibility timeout
            sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(j), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for j, h in enumerate(handles[i : i + MAX_BATCH_ENTRIES])
                ],
            )


def replay(
    sqs,
    kinesis,
    queue_url: str,
    options: KinesisReplayOptions,
    delivery: Delivery | None,
    *,
    progress: Progress = _noop,
) -> KinesisReplayReport:
    """Replays the failure records of `queue_url` through `delivery` (None only for a dry run)."""
    started = time.monotonic()
    report = KinesisReplayReport(queue_url=queue_url, via=delivery.label if delivery else None, dry_run=options.dry_run)
    compiled = compile_filter(options.filter_expression)
    messages = receive_all(
        sqs,
        queue_url,
        limit=options.max_messages,
        visibility_timeout_s=options.visibility_timeout_s,
        wait_time_s=options.wait_time_s,
    )
    held = {m["MessageId"]: m["ReceiptHandle"] for m in messages}
    backup = None
    try:
        records: list[FailureRecord] = []
        for m in messages:
            if not selected(compiled, m["Body"]):
                report.skipped += 1
                continue
            try:
                records.append(FailureRecord.parse(m))
            except ValueError as exc:
                report.not_failure_records.append(
                    {"message_id": m["MessageId"], "reason": str(exc), "preview": m["Body"][:80]}
                )
        report.failure_messages = len(records)
        facts = {arn: StreamFacts.read(kinesis, arn) for arn in sorted({r.stream_arn for r in records})}
        now = clock()
        live = []
        for r in records:
            left = facts[r.stream_arn].seconds_left(r, now)
            if left is not None and left <= 0:
                report.expired.append({**r.to_dict(), "expired_s_ago": round(-left)})
                report.expired_records += r.batch_size
            else:
                live.append(r)
                if left is not None:
                    report.soonest_expiry_s = (
                        left if report.soonest_expiry_s is None else min(report.soonest_expiry_s, left)
                    )
        if report.expired and not options.skip_expired and not options.dry_run:
            raise Refused(
                f"{len(report.expired)} of {len(records)} failure records name ranges already trimmed from the stream "
                f"({report.expired_records} records that nothing can bring back); nothing was replayed",
                hint="add {skip_expired} to replay the others and leave the expired ones in the queue for the "
                "post-mortem",
                arguments=["skip_expired"],
            )
        ranges = merge_ranges(live)
        report.ranges = [r.to_dict() for r in ranges]
        if options.dry_run:
            return report
        if delivery is None:
            raise InvalidArgument(
                "nothing to deliver with", hint="choose {via} invoke or {via} stream", arguments=["via"]
            )
        if options.backup is not None:
            from opsctl.replay.backup import open_backup

            backup = open_backup(options.backup)
        limiter = None
        if options.rate_per_s:
            from opsctl.replay.sqs import RateLimiter

            limiter = RateLimiter(options.rate_per_s)
        for rng in ranges:
            got, problem = read_range(
                kinesis,
                rng.stream_arn,
                rng.shard_id,
                rng.start,
                rng.end,
                facts[rng.stream_arn].shards.get(rng.shard_id),
                pause_s=options.read_pause_s,
            )
            if problem is None:
                if backup is not None:
                    ids = [m.message_id for m in rng.messages]
                    for rec in got:
                        backup.write(
                            json.dumps(
                                {
                                    "stream_arn": rng.stream_arn,
                                    "shard_id": rng.shard_id,
                                    "sequence_number": rec.sequence_number,
                                    "partition_key": rec.partition_key,
                                    "data_base64": rec.data_b64,
                                    "failure_message_ids": ids,
                                },
                                separators=(",", ":"),
                            )
                            + "\n"
                        )
                    backup.flush()
                    os.fsync(backup.fileno())
                if limiter is not None:
                    limiter.acquire(len(got))
                problem = delivery.deliver(rng.stream_arn, rng.shard_id, got)
            if problem is not None:
                report.failed_ranges.append({**rng.to_dict(), "reason": problem})
                progress("failed", len(rng.messages))
                continue
            report.records_delivered += len(got)
            handles = [m.receipt_handle for m in rng.messages]
            for i in range(0, len(handles), MAX_BATCH_ENTRIES):
                chunk = rng.messages[i : i + MAX_BATCH_ENTRIES]
                resp = sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[{"Id": str(j), "ReceiptHandle": m.receipt_handle} for j, m in enumerate(chunk)],
                )
                failed = {f["Id"] for f in resp.get("Failed", [])}
                for j, msg in enumerate(chunk):
                    if str(j) not in failed:
                        held.pop(msg.message_id, None)
                        report.replayed_messages += 1
            progress("replayed", len(rng.messages))
        return report
    finally:
        if backup is not None:
            backup.close()
        release(sqs, queue_url, list(held.values()))
        report.seconds = time.monotonic() - started
