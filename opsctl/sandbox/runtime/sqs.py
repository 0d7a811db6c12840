"""Lambda's SQS poller, locally: one mapping, one queue, with AWS's semantics.

What Lambda does and this adapter does too:
- Receives up to the mapping's BatchSize (≤10 per ReceiveMessage, several calls for a bigger batch, ≤6 MB of
  payload), with the queue's own visibility timeout; the batching window holds a batch open in --follow mode.
- Builds the event Lambda builds: messageId, receiptHandle, body, attributes (ApproximateReceiveCount,
  SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp, ...), messageAttributes in Lambda's camelCase
  shape (binary values base64), md5OfBody, eventSource `aws:sqs`, eventSourceARN, awsRegion.
- Deletes only what succeeded: everything on success; with ReportBatchItemFailures, everything except the
  listed messageIds; nothing on a function error or a malformed response (an unknown, empty or null
  itemIdentifier fails the whole batch, as on AWS). Failed messages are left alone: they become visible again
  when their visibility timeout ends, and SQS itself (moto too) moves a message to the dead-letter queue on the
  receive after its maxReceiveCount-th.

Idleness (`--until-idle`): a queue is idle when nothing is visible and nothing is in flight. Messages in flight
(a failed batch waiting out its visibility timeout) are waited for when the queue has a redrive policy, since
each one will either succeed or reach the DLQ; without a redrive policy a failing message would come back
until its retention ends, so in-flight messages are not waited for (the run says so in its counters).

Approximations: batches run one at a time (MaximumConcurrency ≥ 2 only bounds AWS's parallelism); a retried
batch waits for the visibility timeout like on AWS, so the sandbox's queue uses a short one (envs/local)."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from opsctl.sandbox.runtime.function import Invocation
from opsctl.sandbox.runtime.mapping import MappingStats
from opsctl.sandbox.runtime.poller import MappingPoller

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit
RECORD_OVERHEAD_BYTES = 600  # the JSON around one message's body in the event, roughly
RECEIVE_MAX = 10  # messages per ReceiveMessage (AWS limit)
DELETE_BATCH_MAX = 10  # entries per DeleteMessageBatch (AWS limit)
LAMBDA_START_POLLERS = 5  # Lambda starts an SQS event source mapping with five concurrent pollers
IN_FLIGHT_WAIT_S = 0.5  # pause between looks at a queue whose only messages are in flight


@dataclass
class SqsMappingStats(MappingStats):
    messages_deleted: int = 0  # messages done with (deleted after success)
    messages_failed: int = 0  # failed deliveries left on the queue for another receive (and the DLQ)
    in_flight_waits: int = 0  # passes spent waiting for in-flight messages to become visible again
    in_flight_wait_s: float = 0.0  # seconds of those waits: the failed deliveries' visibility timeouts, as on AWS
    visibility_timeout_s: int | None = None  # the queue's own, which a failed delivery waits out before it comes back
    left_in_flight: int = 0  # in-flight messages not waited for at the end (queue without a redrive policy)


class SqsPoller(MappingPoller):
    """Drives one SQS event source mapping: `poll()` receives and delivers at most one batch."""

    stats_type = SqsMappingStats
    stats: SqsMappingStats

    def _open(self, target) -> None:
        mapping = self.mapping
        self.sqs = target.client("sqs")
        parts = mapping.source_arn.split(":")
        self.queue_url = self.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
        ).get("Attributes", {})
        self.has_redrive_policy = bool(attrs.get("RedrivePolicy"))
        if attrs.get("VisibilityTimeout") is not None:
            self.stats.visibility_timeout_s = int(attrs["VisibilityTimeout"])
        self.buffer: list[dict] = []
        self.buffered_since: float | None = None
        # Lambda's SQS poller runs several batches at once (five pollers to start with, at most the mapping's
        # MaximumConcurrency); the runtime runs that many one after the other in a pass, so a deep queue drains at
        # the pace of the stream that fills it rather than one batch per pass.
        self.batches_per_pass = min(LAMBDA_START_POLLERS, mapping.maximum_concurrency or LAMBDA_START_POLLERS)

    # -- one pass ------------------------------------------------------------------------------------

    def poll(self, *, force_refresh: bool = False) -> bool:
        """One pass: as many batches as Lambda would run at once (see batches_per_pass); True if anything happened
        or is still to come (in-flight messages)."""
        busy = False
        for _ in range(self.batches_per_pass):
            before = self.stats.invocations
            busy |= self._poll_one()
            if self.stats.invocations == before:  # nothing delivered: idle, in flight, or a batching window open
                break
        return busy

    def _poll_one(self) -> bool:
        drained = self._fill()
        if self.buffer and self._batch_ready(drained):
            batch, self.buffer, self.buffered_since = self.buffer, [], None
            self._deliver(batch)
            return True
        if self.buffer:
            return True  # the batching window holds the batch open
        return self._waiting_for_in_flight()

    def _fill(self) -> bool:
        """Receives until a batch's worth is buffered or the queue returns nothing; True if it returned nothing."""
        size = sum(len(m.get("Body", "")) + RECORD_OVERHEAD_BYTES for m in self.buffer)
        while len(self.buffer) < self.mapping.batch_size:
            resp = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(RECEIVE_MAX, self.mapping.batch_size - len(self.buffer)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            messages = resp.get("Messages", [])
            if not messages:
                return True
            for m in messages:
                size += len(m.get("Body", "")) + RECORD_OVERHEAD_BYTES
                self.buffer.append(m)
            if self.buffered_since is None:
                self.buffered_since = time.monotonic()
            if size >= MAX_PAYLOAD_BYTES:
                break
        return False

    def _batch_ready(self, drained: bool) -> bool:
        if len(self.buffer) >= self.mapping.batch_size or self.mapping.batching_window_s <= 0:
            return True
        if self.until_idle and drained:
            return True  # nothing more will come: waiting out the window would only slow the run down
        return (
            self.buffered_since is not None and time.monotonic() - self.buffered_since >= self.mapping.batching_window_s
        )

    def _waiting_for_in_flight(self) -> bool:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        ).get("Attributes", {})
        visible = int(attrs.get("ApproximateNumberOfMessages", 0))
        pending = int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)) + int(
            attrs.get("ApproximateNumberOfMessagesDelayed", 0)
        )
        if visible:
            time.sleep(0.05)  # counted as visible but not received yet (moto redrives on the next receive)
            return True
        if not pending:
            self.stats.left_in_flight = 0
            return False
        if not self.has_redrive_policy:
            self.stats.left_in_flight = pending
            return False
        self.stats.in_flight_waits += 1
        # say what the run waits for: a failed batch's messages come back at the end of their visibility timeout
        self.on_event(
            "wait",
            {
                "function_name": self.function.name,
                "queue": self.queue_url.rsplit("/", 1)[-1],
                "in_flight": pending,
                "visibility_timeout_s": self.stats.visibility_timeout_s,
            },
        )
        started = time.monotonic()
        time.sleep(IN_FLIGHT_WAIT_S)
        self.stats.in_flight_wait_s += time.monotonic() - started
        return True

    # -- delivering ----------------------------------------------------------------------------------

    def _record(self, m: dict) -> dict:
        record = {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m.get("Body", ""),
            "attributes": dict(m.get("Attributes") or {}),
            "messageAttributes": {
                name: _lambda_attribute(value) for name, value in (m.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": m.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.mapping.source_arn,
            "awsRegion": self.region,
        }
        if m.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = m["MD5OfMessageAttributes"]
        return record

    def _deliver(self, messages: list[dict]) -> None:
        st = self.stats
        redelivered = sum(
            1 for m in messages if int((m.get("Attributes") or {}).get("ApproximateReceiveCount", "1")) > 1
        )
        st.retries += redelivered
        inv = self.runner.invoke(self.function, {"Records": [self._record(m) for m in messages]})
        st.invocations += 1
        st.records_delivered += len(messages)
        self.metrics.lambda_invocation(
            self.function.name, duration_ms=inv.duration_ms, error=inv.function_error, iterator_age_ms=None
        )
        failed_ids, problem = self._failed(inv, messages)
        if problem is not None:
            st.function_errors += 1
        elif failed_ids:
            st.partial_failures += 1
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        self._delete(done)
        st.messages_failed += len(messages) - len(done)
        self.on_event(
            "invoke",
            {
                "function_name": self.function.name,
                "uuid": self.mapping.uuid,
                "queue_url": self.queue_url,
                "records": len(messages),
                "redelivered": redelivered,
                "request_id": inv.request_id,
                "duration_ms": round(inv.duration_ms, 3),
                "error": problem,
                "failed_message_ids": sorted(failed_ids),
                "deleted": len(done),
            },
        )

    def _failed(self, inv: Invocation, messages: list[dict]) -> tuple[set[str], str | None]:
        """(messageIds to leave on the queue, why the whole batch failed or None)."""
        every = {m["MessageId"] for m in messages}
        if inv.function_error:
            return every, f"{inv.error_type}: {inv.error_message}"
        if not self.mapping.report_batch_item_failures:
            return set(), None
        result = inv.result
        if result is None or result == {} or result == "":
            return set(), None
        if not isinstance(result, dict) or "batchItemFailures" not in result:
            return every, 'malformed response: not a {"batchItemFailures": [...]} object'
        failures = result["batchItemFailures"]
        if failures is None or failures == []:
            return set(), None
        if not isinstance(failures, list):
            return every, "malformed response: batchItemFailures is not a list"
        failed = set()
        for item in failures:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not isinstance(ident, str) or ident not in every:
                return every, f"malformed response: itemIdentifier {ident!r} is not a messageId of the batch"
            failed.add(ident)
        return failed, None

    def _delete(self, messages: list[dict]) -> None:
        for start in range(0, len(messages), DELETE_BATCH_MAX):
            chunk = messages[start : start + DELETE_BATCH_MAX]
            resp = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            self.stats.messages_deleted += len(resp.get("Successful", []))
            for f in resp.get("Failed", []):
                # The receipt handle expired (the batch outlived the visibility timeout): the message comes back and
                # is processed again, which the function's idempotence absorbs; say so rather than hide it.
                self.on_event(
                    "delete_failed",
                    {
                        "function_name": self.function.name,
                        "queue_url": self.queue_url,
                        "message_id": chunk[int(f["Id"])]["MessageId"],
                        "code": f.get("Code"),
                    },
                )


def _lambda_attribute(value: dict) -> dict:
    """A MessageAttributes value as Lambda's SQS event shows it (camelCase, binary values base64)."""
    out = {
        "stringValue": value.get("StringValue"),
        "binaryValue": None,
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType"),
    }
    if value.get("BinaryValue") is not None:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return {k: v for k, v in out.items() if v is not None}
