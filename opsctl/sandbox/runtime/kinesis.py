"""Lambda's Kinesis poller, locally: one mapping, every shard in order, with AWS's retry semantics.

Per shard the poller keeps what Lambda keeps: a checkpoint (the last sequence number it is done with),
the records fetched but not yet batched, and the batches still being retried, front first. A shard
never moves past a batch until the batch succeeded or was handed to the on-failure destination, so a
failing batch blocks its shard and only its shard, as on AWS.

Approximations, and why:
- ParallelizationFactor is honoured sequentially: one batch per shard at a time keeps per-partition-key
  order (what the factor guarantees) and the sandbox's throughput is bounded by moto, not by Lambda.
- Retries of a failed batch happen at once, without Lambda's backoff: nothing in the sandbox gets better by
  waiting. A read the shard refuses (ProvisionedThroughputExceededException: 5 GetRecords/s or 2 MiB/s per
  shard, enforced by the sandbox's moto server) is different: waiting is what helps, so the shard backs off
  (READ_BACKOFF_FIRST_S, doubling up to READ_BACKOFF_MAX_S) and reads again from the same iterator, as Lambda's
  poller does; nothing is skipped, and other shards go on meanwhile. A shard whose last read found it drained is
  read again after DRAINED_SHARD_READ_INTERVAL_S at the earliest (4 reads a second, under the quota; Lambda
  reads an idle shard about once a second), except in the pass that can end an --until-idle run, which reads
  every shard.
- StartingPosition LATEST starts at the mapping's creation time (AT_TIMESTAMP), which is what LATEST
  meant on AWS when the mapping began polling; shards created by resharding start at TRIM_HORIZON.
- MaximumRecordAgeInSeconds is checked before every invocation: records already older than that are
  not sent to the function (AWS: "the maximum age of a record that Lambda sends to your function").
- moto never ends a closed shard with a null NextShardIterator: a closed shard is finished once every
  record up to its EndingSequenceNumber is checkpointed or a read returns nothing more. moto also keeps
  putting records into closed parents (and copies merged parents' records into the child), so a finished
  shard whose EndingSequenceNumber moves is read again; on AWS that number never moves."""

from __future__ import annotations

import base64
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from botocore.config import Config

from opsctl.replay.kinesis_event import MAX_PAYLOAD_BYTES, RECORD_OVERHEAD_BYTES, KinesisRecord, kinesis_event
from opsctl.sandbox.runtime.function import Invocation
from opsctl.sandbox.runtime.mapping import (
    ShardStats,
    iso_millis,
)
from opsctl.sandbox.runtime.poller import MappingPoller

SHARD_LIST_REFRESH_S = 1.0
READ_BACKOFF_FIRST_S = 0.2  # seconds a shard waits after its first refused read (a shard's quota is per second)
READ_BACKOFF_MAX_S = 2.0  # seconds, the longest wait between reads of a throttled shard
# seconds between reads of a shard whose last read found it drained: 4 reads a second, under the shard's quota of 5
# GetRecords a second (Lambda reads an idle shard about once a second). Without it, a run making ~6 passes a second
# read an empty shard just over its quota, and the one refused read each second kept `--until-idle` from its quiet
# pass for minutes (a refused read may hide records, so it counts as work). The pass that can end the run
# (`force_refresh`, the runner's second quiet pass) waits out the interval and reads every shard all the same.
DRAINED_SHARD_READ_INTERVAL_S = 0.25

clock = time.time  # record ages are measured with this clock (tests move it forward)


@dataclass
class Batch:
    """Records on their way to the function, with what happened to them so far."""

    records: list[KinesisRecord]
    retries: int = 0
    invokes: int = 0
    last_request_id: str | None = None
    last_function_error: bool = False
    retry_due: bool = False  # the next invocation of these records is a retry


@dataclass
class ShardReader:
    shard_id: str
    parents: list[str]
    ending_seq: int | None  # set once the shard is closed
    checkpoint: str | None
    finished: bool
    stats: ShardStats
    iterator: str | None = None
    last_fetched: str | None = None
    buffer: deque = field(default_factory=deque)
    buffered_since: float | None = None
    caught_up: bool = False  # the last read found the shard drained
    pending: deque = field(default_factory=deque)
    finished_at_ending: int | None = None  # the EndingSequenceNumber the shard was finished at
    read_backoff_s: float = 0.0  # the current wait after refused reads (0: the last read was served)
    read_again_at: float = 0.0  # monotonic time before which the shard is not read
    drained_at: float | None = None  # monotonic time of the last read that found the shard drained (None: not so)


class KinesisPoller(MappingPoller):
    """Drives one Kinesis event source mapping: `poll()` makes one pass over its shards."""

    def _open(self, target) -> None:
        self.kinesis = target.client("kinesis")
        # GetRecords on a client of its own that does not retry: a refused read backs off here, per shard (botocore
        # would sleep in place, up to 20 s, holding every other shard and mapping up).
        self.reader = target.session.create_client(
            "kinesis",
            region_name=target.region,
            endpoint_url=target.endpoint_url,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30),
        )
        self.shards: dict[str, ShardReader] = {}
        self._listed_at: float | None = None

    # -- shards ------------------------------------------------------------------------------------

    def refresh_shards(self) -> None:
        """Learns new shards (resharding) and which shards closed, from ListShards."""
        self._listed_at = time.monotonic()
        listed, token = [], None
        while True:
            resp = (
                self.kinesis.list_shards(NextToken=token)
                if token
                else self.kinesis.list_shards(StreamARN=self.mapping.source_arn)
            )
            listed += resp.get("Shards", [])
            token = resp.get("NextToken")
            if not token:
                break
        for s in listed:
            sid = s["ShardId"]
            ending = s.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
            reader = self.shards.get(sid)
            if reader is None:
                saved = self.checkpoints.get(self.mapping.uuid, sid)
                parents = [p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p]
                stats = self.stats.shards.setdefault(sid, ShardStats(shard_id=sid, parents=parents))
                reader = self.shards[sid] = ShardReader(
                    shard_id=sid,
                    parents=parents,
                    ending_seq=None,
                    checkpoint=saved.get("sequence_number"),
                    finished=bool(saved.get("finished")),
                    stats=stats,
                    finished_at_ending=saved.get("ending_sequence_number"),
                )
                stats.checkpoint, stats.finished = reader.checkpoint, reader.finished
            if ending is not None:
                reader.ending_seq = int(ending)
                reader.stats.closed = True
                if reader.finished and reader.finished_at_ending not in (None, reader.ending_seq):
                    # AWS never changes a closed shard's EndingSequenceNumber, but moto keeps routing puts to a
                    # split or merged parent (its hash range still matches first): read on, or they are lost.
                    reader.finished = reader.stats.finished = False

    def _parents_finished(self, reader: ShardReader) -> bool:
        # A parent no longer listed has aged out of the stream's retention: nothing left to wait for.
        return all(p not in self.shards or self.shards[p].finished for p in reader.parents)

    # -- one pass ----------------------------------------------------------------------------------

    def poll(self, *, force_refresh: bool = False) -> bool:
        """One pass over the shards (each: one read or one invocation at most); True if anything happened."""
        if (
            force_refresh
            or self._listed_at is None
            or (not self.until_idle and time.monotonic() - self._listed_at > SHARD_LIST_REFRESH_S)
        ):
            self.refresh_shards()
        busy = False
        finished_one = False
        backing_off: list[float] = []
        for sid in sorted(self.shards):
            reader = self.shards[sid]
            if reader.finished or not self._parents_finished(reader):
                continue
            if not reader.pending and time.monotonic() < reader.read_again_at:
                backing_off.append(reader.read_again_at)
                continue
            if not reader.pending and not reader.buffer and reader.drained_at is not None:
                wait = reader.drained_at + DRAINED_SHARD_READ_INTERVAL_S - time.monotonic()
                if wait > 0:
                    if not force_refresh:
                        continue  # found drained a moment ago: not read again yet, and not work
                    # The runner's second quiet pass (the one that ends an --until-idle run) reads every shard.
                    time.sleep(wait)
            busy |= self._step(reader)
            finished_one |= reader.finished
            if reader.read_again_at > time.monotonic():
                backing_off.append(reader.read_again_at)
        if finished_one:
            self.refresh_shards()  # children may be waiting for this parent
        if backing_off:
            # A throttled shard still has records to read: the pass is not idle. Wait for the earliest shard
            # only when nothing else moved, so a pass never spins on the clock.
            if not busy:
                time.sleep(max(0.0, min(backing_off) - time.monotonic()))
            return True
        return busy

    def _step(self, r: ShardReader) -> bool:
        if not r.pending:
            fetched = self._fill(r)
            records = self._take_batch(r)
            if records:
                r.pending.append(Batch(records))
            else:
                if self._closed_and_done(r):
                    self._finish(r)
                    return True
                return fetched > 0
        self._attempt(r, r.pending[0])
        return True

    def _closed_and_done(self, r: ShardReader) -> bool:
        if r.ending_seq is None or r.buffer or r.pending:
            return False
        if r.checkpoint is not None and int(r.checkpoint) >= r.ending_seq:
            return True
        return r.caught_up  # set by the read this very step, after the shard was known to be closed

    def _finish(self, r: ShardReader) -> None:
        r.finished = r.stats.finished = True
        r.finished_at_ending = r.ending_seq
        self.checkpoints.put(
            self.mapping.uuid,
            r.shard_id,
            sequence_number=r.checkpoint,
            finished=True,
            ending_sequence_number=r.ending_seq,
        )
        self.on_event("shard_finished", {"uuid": self.mapping.uuid, "shard_id": r.shard_id})

    # -- reading -----------------------------------------------------------------------------------

    def _iterator(self, r: ShardReader) -> str:
        args: dict[str, object] = {"StreamARN": self.mapping.source_arn, "ShardId": r.shard_id}
        after = r.last_fetched or r.checkpoint
        if after is not None:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        elif r.parents or self.mapping.starting_position == "TRIM_HORIZON":
            args.update(ShardIteratorType="TRIM_HORIZON")
        elif self.mapping.starting_position == "AT_TIMESTAMP" and self.mapping.starting_position_timestamp is not None:
            args.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=self.mapping.starting_position_timestamp)
        elif self.mapping.starting_position == "LATEST" and self.mapping.created_at is not None:
            args.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=self.mapping.created_at)
        else:
            args.update(ShardIteratorType=self.mapping.starting_position)
        return self.kinesis.get_shard_iterator(**args)["ShardIterator"]

    def _fill(self, r: ShardReader) -> int:
        """Reads the shard until a batch's worth is buffered or the shard is drained; returns records read."""
        want = self.mapping.batch_size
        got = 0
        while len(r.buffer) < want:
            if r.iterator is None:
                if r.caught_up and r.ending_seq is not None and r.last_fetched is not None:
                    break  # a closed shard read to its end (AWS gave a null iterator)
                r.iterator = self._iterator(r)
            try:
                # StreamARN too: moto's iterators made from an ARN alone do not name their stream.
                resp = self.reader.get_records(
                    StreamARN=self.mapping.source_arn,
                    ShardIterator=r.iterator,
                    Limit=min(10_000, max(1, want - len(r.buffer))),
                )
            except self.reader.exceptions.ExpiredIteratorException:
                r.iterator = None
                continue
            except self.reader.exceptions.ProvisionedThroughputExceededException:
                r.read_backoff_s = min(READ_BACKOFF_MAX_S, max(READ_BACKOFF_FIRST_S, r.read_backoff_s * 2))
                r.read_again_at = time.monotonic() + r.read_backoff_s
                self.stats.read_throttles += 1
                r.caught_up = False  # unknown: the shard was not read
                break  # the iterator stays valid: the next read starts where this one would have
            r.read_backoff_s = 0.0
            records = resp.get("Records", [])
            r.iterator = resp.get("NextShardIterator")
            for rec in records:
                arrival = rec.get("ApproximateArrivalTimestamp")
                r.buffer.append(
                    KinesisRecord(
                        rec["SequenceNumber"],
                        rec["PartitionKey"],
                        base64.b64encode(rec["Data"]).decode("ascii"),
                        arrival.timestamp() if hasattr(arrival, "timestamp") else float(arrival or clock()),
                    )
                )
            if records:
                r.last_fetched = records[-1]["SequenceNumber"]
                got += len(records)
            r.caught_up = not records or resp.get("MillisBehindLatest", 0) == 0
            r.drained_at = time.monotonic() if not records else None
            if r.iterator is None:
                r.caught_up = True
            if r.caught_up or (
                r.ending_seq is not None and r.last_fetched is not None and int(r.last_fetched) >= r.ending_seq
            ):
                break
        if got and r.buffered_since is None:
            r.buffered_since = time.monotonic()
        return got

    def _take_batch(self, r: ShardReader) -> list[KinesisRecord]:
        """The next batch from the buffer, or nothing while the batching window keeps it open."""
        if not r.buffer:
            r.buffered_since = None
            return []
        full = len(r.buffer) >= self.mapping.batch_size
        window = self.mapping.batching_window_s
        if (
            not full
            and window > 0
            and not (self.until_idle and r.caught_up)
            and r.buffered_since is not None
            and time.monotonic() - r.buffered_since < window
        ):
            return []
        batch: list[KinesisRecord]
        batch, size = [], 0
        while r.buffer and len(batch) < self.mapping.batch_size:
            rec_size = len(r.buffer[0].data_b64) + RECORD_OVERHEAD_BYTES
            if batch and size + rec_size > MAX_PAYLOAD_BYTES:
                break
            batch.append(r.buffer.popleft())
            size += rec_size
        r.buffered_since = time.monotonic() if r.buffer else None
        return batch

    # -- delivering --------------------------------------------------------------------------------

    def _event(self, r: ShardReader, records: list[KinesisRecord]) -> dict:
        return kinesis_event(
            records,
            shard_id=r.shard_id,
            source_arn=self.mapping.source_arn,
            role=self.function.role,
            region=self.region,
        )

    def _checkpoint(self, r: ShardReader, sequence_number: str) -> None:
        r.checkpoint = r.stats.checkpoint = sequence_number
        self.checkpoints.put(self.mapping.uuid, r.shard_id, sequence_number=sequence_number, finished=False)

    def _attempt(self, r: ShardReader, batch: Batch) -> None:
        m, st = self.mapping, self.stats
        if m.max_record_age_s >= 0:
            now = clock()
            expired = 0
            while expired < len(batch.records) and now - batch.records[expired].arrival > m.max_record_age_s:
                expired += 1
            if expired:
                st.records_expired_by_age += expired
                self._give_up(r, batch, batch.records[:expired], "RecordAgeExceeded")
                batch.records = batch.records[expired:]
                if not batch.records:
                    r.pending.popleft()
                    return

        records = batch.records
        if batch.retry_due:
            batch.retry_due = False
            st.retries += 1
        inv = self.runner.invoke(self.function, self._event(r, records))
        batch.invokes += 1
        batch.last_request_id = inv.request_id
        batch.last_function_error = inv.function_error
        st.invocations += 1
        st.records_delivered += len(records)
        r.stats.invocations += 1
        r.stats.records_delivered += len(records)
        self.metrics.lambda_invocation(
            self.function.name,
            duration_ms=inv.duration_ms,
            error=inv.function_error,
            iterator_age_ms=(clock() - records[-1].arrival) * 1000,
        )
        failed_from, problem = self._failed_from(inv, records)
        self.on_event(
            "invoke",
            {
                "function_name": self.function.name,
                "uuid": m.uuid,
                "shard_id": r.shard_id,
                "records": len(records),
                "first_sequence_number": records[0].sequence_number,
                "last_sequence_number": records[-1].sequence_number,
                "request_id": inv.request_id,
                "duration_ms": round(inv.duration_ms, 3),
                "iterator_age_ms": round((clock() - records[-1].arrival) * 1000),  # lag, as Lambda's metric
                "error": problem,
                "failed_from": None if failed_from is None else records[failed_from].sequence_number,
            },
        )

        if failed_from is None:  # success
            r.pending.popleft()
            self._checkpoint(r, records[-1].sequence_number)
        elif problem is None:  # partial: done up to the lowest failed record, retry from it
            st.partial_failures += 1
            if failed_from > 0:
                self._checkpoint(r, records[failed_from - 1].sequence_number)
            batch.records = records[failed_from:]
            self._retry_or_give_up(r, batch)
        else:  # the whole batch failed
            st.function_errors += 1
            if m.bisect_on_error and len(records) > 1:
                half = len(records) // 2
                st.bisections += 1
                r.pending.popleft()
                for part in (records[half:], records[:half]):
                    r.pending.appendleft(
                        Batch(
                            part,
                            retries=batch.retries,
                            invokes=batch.invokes,
                            last_request_id=batch.last_request_id,
                            last_function_error=batch.last_function_error,
                        )
                    )
            else:
                self._retry_or_give_up(r, batch)

    def _retry_or_give_up(self, r: ShardReader, batch: Batch) -> None:
        if self.mapping.max_retry_attempts < 0 or batch.retries < self.mapping.max_retry_attempts:
            batch.retries += 1
            batch.retry_due = True
            return
        r.pending.popleft()
        self._give_up(r, batch, batch.records, "RetryAttemptsExhausted")

    def _failed_from(self, inv: Invocation, records: list[KinesisRecord]) -> tuple[int | None, str | None]:
        """(index of the first record to retry or None for success, why the whole batch failed or None)."""
        if inv.function_error:
            return 0, f"{inv.error_type}: {inv.error_message}"
        if not self.mapping.report_batch_item_failures:
            return None, None
        result = inv.result
        if result is None or result == {}:
            return None, None
        if not isinstance(result, dict) or "batchItemFailures" not in result:
            return 0, 'malformed response: not a {"batchItemFailures": [...]} object'
        failures = result["batchItemFailures"]
        if failures is None or failures == []:
            return None, None
        if not isinstance(failures, list):
            return 0, "malformed response: batchItemFailures is not a list"
        index = {rec.sequence_number: i for i, rec in enumerate(records)}
        lowest = None
        for item in failures:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not isinstance(ident, str) or ident not in index:
                return 0, f"malformed response: itemIdentifier {ident!r} is not a sequence number of the batch"
            lowest = index[ident] if lowest is None else min(lowest, index[ident])
        return lowest, None

    def _give_up(self, r: ShardReader, batch: Batch, records: list[KinesisRecord], condition: str) -> None:
        """Hands `records` to the on-failure destination (or drops them) and checkpoints past them."""
        st, m = self.stats, self.mapping
        if m.on_failure_destination:
            response = {"statusCode": 200, "executedVersion": "$LATEST"}
            if batch.last_function_error:
                response["functionError"] = "Unhandled"
            self.on_failure.send(
                m.on_failure_destination,
                {
                    "requestContext": {
                        "requestId": batch.last_request_id or str(uuid.uuid4()),
                        "functionArn": self.function.arn,
                        "condition": condition,
                        "approximateInvokeCount": batch.invokes,
                    },
                    "responseContext": response,
                    "version": "1.0",
                    "timestamp": iso_millis(clock()),
                    "KinesisBatchInfo": {
                        "shardId": r.shard_id,
                        "startSequenceNumber": records[0].sequence_number,
                        "endSequenceNumber": records[-1].sequence_number,
                        "approximateArrivalOfFirstRecord": iso_millis(records[0].arrival),
                        "approximateArrivalOfLastRecord": iso_millis(records[-1].arrival),
                        "batchSize": len(records),
                        "streamArn": m.source_arn,
                    },
                },
            )
            st.on_failure_records += 1
            st.on_failure_batch_records += len(records)
        else:
            st.records_discarded_without_destination += len(records)
        self.on_event(
            "on_failure",
            {
                "function_name": self.function.name,
                "uuid": m.uuid,
                "shard_id": r.shard_id,
                "condition": condition,
                "records": len(records),
                "destination": m.on_failure_destination,
                "start_sequence_number": records[0].sequence_number,
                "end_sequence_number": records[-1].sequence_number,
            },
        )
        self._checkpoint(r, records[-1].sequence_number)
