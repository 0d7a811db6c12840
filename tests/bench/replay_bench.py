"""Bench rows for `opsctl replay-dlq`: the SQS mover against a fake SQS with a set per-call latency.

moto's SQS slows down as a queue grows (docs/moto-gaps.md §SQS), so it would measure moto, not the mover. The
fake answers every call after LATENCY_S (20 ms, a realistic round trip to SQS), holds messages in memory
and keeps SQS's visibility semantics. Rows, side by side with the naive tool (one message at a time:
ReceiveMessage of 1, SendMessage, DeleteMessage):
- messages/s serial and concurrent (goal ≥500 msg/s, AWS's own StartMessageMoveTask ceiling);
- API calls per message (goal ≤0.31: receive, send and delete each in batches of 10)."""

from __future__ import annotations

import itertools
import threading
import time

from opsctl.replay import sqs as sqs_replay

LATENCY_S = 0.020  # per SQS call, seconds
MESSAGES = 1000  # moved by the mover in each run
NAIVE_MESSAGES = 100  # the naive tool needs 60 ms per message: fewer keep the bench short (rates are per second)


class FakeSqs:
    """In-memory SQS with per-call latency: two queues, receipt handles, visibility timeouts, batch calls."""

    def __init__(self, latency_s: float = LATENCY_S):
        self.latency_s = latency_s
        self.queues: dict[str, dict[str, dict]] = {}
        self.invisible_until: dict[str, float] = {}
        self.handles: dict[str, tuple[str, str]] = {}
        self.calls = 0
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def _wait(self):
        with self._lock:
            self.calls += 1
        time.sleep(self.latency_s)

    def create(self, url: str, bodies: list[str] = ()) -> str:
        self.queues[url] = {}
        for b in bodies:
            self._put(url, b, {})
        return url

    def _put(self, url: str, body: str, attrs: dict) -> str:
        mid = f"m-{next(self._ids)}"
        self.queues[url][mid] = {
            "MessageId": mid,
            "Body": body,
            "MessageAttributes": attrs,
            "Attributes": {"SentTimestamp": str(int(time.time() * 1000)), "ApproximateReceiveCount": "0"},
        }
        return mid

    def receive_message(self, QueueUrl, MaxNumberOfMessages=1, VisibilityTimeout=30, **_):
        self._wait()
        now = time.monotonic()
        out = []
        with self._lock:
            for mid, m in self.queues[QueueUrl].items():
                if len(out) >= MaxNumberOfMessages:
                    break
                if self.invisible_until.get(mid, 0) <= now:
                    self.invisible_until[mid] = now + VisibilityTimeout
                    handle = f"h-{next(self._ids)}"
                    self.handles[handle] = (QueueUrl, mid)
                    out.append({**m, "ReceiptHandle": handle})
        return {"Messages": out} if out else {}

    def send_message_batch(self, QueueUrl, Entries):
        self._wait()
        with self._lock:
            return {
                "Successful": [
                    {"Id": e["Id"], "MessageId": self._put(QueueUrl, e["MessageBody"], e.get("MessageAttributes", {}))}
                    for e in Entries
                ],
                "Failed": [],
            }

    def send_message(self, QueueUrl, MessageBody, MessageAttributes=None, **_):
        self._wait()
        with self._lock:
            return {"MessageId": self._put(QueueUrl, MessageBody, MessageAttributes or {})}

    def _delete(self, handle):
        url, mid = self.handles.pop(handle)
        self.queues[url].pop(mid, None)

    def delete_message_batch(self, QueueUrl, Entries):
        self._wait()
        with self._lock:
            for e in Entries:
                self._delete(e["ReceiptHandle"])
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def delete_message(self, QueueUrl, ReceiptHandle):
        self._wait()
        with self._lock:
            self._delete(ReceiptHandle)

    def change_message_visibility_batch(self, QueueUrl, Entries):
        self._wait()
        with self._lock:
            for e in Entries:
                _, mid = self.handles[e["ReceiptHandle"]]
                self.invisible_until[mid] = time.monotonic() + e["VisibilityTimeout"]
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def get_queue_attributes(self, QueueUrl, AttributeNames):
        self._wait()
        with self._lock:
            n = len(self.queues[QueueUrl])
        return {"Attributes": {"ApproximateNumberOfMessages": str(n), "ApproximateNumberOfMessagesNotVisible": "0"}}


def _world(n: int) -> tuple[FakeSqs, str, str]:
    sqs = FakeSqs()
    dlq = sqs.create("https://sqs/dlq", [f'{{"i": {i}}}' for i in range(n)])
    src = sqs.create("https://sqs/src")
    return sqs, dlq, src


def _ours(concurrency: int) -> tuple[float, float]:
    sqs, dlq, src = _world(MESSAGES)
    t0 = time.perf_counter()
    report = sqs_replay.move(sqs, dlq, src, sqs_replay.MoveOptions(concurrency=concurrency, wait_time_s=0))
    elapsed = time.perf_counter() - t0
    assert report.moved == MESSAGES and not sqs.queues[dlq] and len(sqs.queues[src]) == MESSAGES
    return MESSAGES / elapsed, sqs.calls / MESSAGES


def _naive() -> tuple[float, float]:
    """What replay scripts usually do: one message at a time."""
    sqs, dlq, src = _world(NAIVE_MESSAGES)
    t0 = time.perf_counter()
    while True:
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=1).get("Messages", [])
        if not got:
            break
        m = got[0]
        sqs.send_message(QueueUrl=src, MessageBody=m["Body"], MessageAttributes=m["MessageAttributes"])
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=m["ReceiptHandle"])
    elapsed = time.perf_counter() - t0
    assert len(sqs.queues[src]) == NAIVE_MESSAGES
    return NAIVE_MESSAGES / elapsed, sqs.calls / NAIVE_MESSAGES


def run_replay_bench() -> list[dict]:
    naive_rate, naive_calls = _naive()
    serial_rate, serial_calls = _ours(1)
    concurrent_rate, concurrent_calls = _ours(sqs_replay.DEFAULT_CONCURRENCY)
    ms = int(LATENCY_S * 1000)
    return [
        {
            "metric": f"DLQ replay, serial, fake SQS at {ms} ms/call",
            "unit": "messages/s",
            "ours": serial_rate,
            "naive": naive_rate,
            "ratio": serial_rate / naive_rate,
        },
        {
            "metric": f"DLQ replay, {sqs_replay.DEFAULT_CONCURRENCY} workers (goal ≥500)",
            "unit": "messages/s",
            "ours": concurrent_rate,
            "naive": naive_rate,
            "ratio": concurrent_rate / naive_rate,
        },
        {
            "metric": "DLQ replay API calls, serial (goal ≤0.31)",
            "unit": "calls/message",
            "ours": serial_calls,
            "naive": naive_calls,
            "ratio": naive_calls / serial_calls,
        },
        {
            "metric": f"DLQ replay API calls, {sqs_replay.DEFAULT_CONCURRENCY} workers (goal ≤0.31)",
            "unit": "calls/message",
            "ours": concurrent_calls,
            "naive": naive_calls,
            "ratio": naive_calls / concurrent_calls,
        },
    ]


if __name__ == "__main__":
    for row in run_replay_bench():
        print(row)
