"""The AWS/SQS metrics of every active queue, once a minute, from what the sandbox's moto server really holds and
served (published through opsctl.sandbox.cw_metrics).

As SQS reports them (SQS developer guide, "Available CloudWatch metrics for Amazon SQS",
sqs-available-cloudwatch-metrics.html, and "Monitoring Amazon SQS queues using CloudWatch",
monitoring-using-cloudwatch.html): one datapoint per queue per minute, dimension QueueName, for queues CloudWatch
considers active: a queue is active for up to six hours after any action accessed it, or while it holds messages.
- ApproximateNumberOfMessagesVisible / NotVisible / Delayed (Count): the queue's depth when the minute is sampled.
- ApproximateAgeOfOldestMessage (Seconds): only while the queue holds a message; the age of the oldest one, where a
  message received more than three times (a poison pill) is left out while others remain, and a message moved to a
  dead-letter queue is as old as its time in that queue (not its first send).
- NumberOfMessagesSent (messages added by SendMessage/SendMessageBatch, not moves to a DLQ), NumberOfMessagesReceived
  (messages ReceiveMessage returned), NumberOfMessagesDeleted (successful deletes, a repeated delete of the same
  message included), NumberOfEmptyReceives (ReceiveMessage calls that returned nothing) (Count): the minute's total,
  0 for an active queue that saw none.

How: the counts come from moto's SQS backend calls (send, receive, delete); the depths are sampled by a
cw_metrics sampler that runs once per minute."""

from __future__ import annotations

import threading
import time

from opsctl.sandbox import cw_metrics

NAMESPACE = "AWS/SQS"
ACTIVE_AFTER_ACCESS_S = 6 * 3600  # seconds a queue stays "active" for CloudWatch after an action accessed it
POISON_RECEIVES = 3  # receives after which a standard queue's message no longer counts for the oldest age
COUNTERS = ("NumberOfMessagesSent", "NumberOfMessagesReceived", "NumberOfMessagesDeleted", "NumberOfEmptyReceives")


class QueueActivity:
    """Per queue: when an action last accessed it, and the counts since the last sample (thread-safe)."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self._lock = threading.Lock()
        self.accessed: dict[tuple[str, str, str], float] = {}  # (account, region, queue name) -> epoch seconds
        self.counts: dict[tuple[str, str, str], dict[str, int]] = {}

    def touch(self, key: tuple[str, str, str]) -> None:
        self.accessed[key] = self.clock()  # one dict store: atomic under the GIL

    def count(self, key: tuple[str, str, str], metric: str, n: int = 1) -> None:
        with self._lock:
            counts = self.counts.get(key)
            if counts is None:
                counts = self.counts[key] = dict.fromkeys(COUNTERS, 0)
            counts[metric] += n
        self.accessed[key] = self.clock()

    def take_counts(self, key: tuple[str, str, str]) -> dict[str, int]:
        with self._lock:
            return self.counts.pop(key, None) or dict.fromkeys(COUNTERS, 0)

    def keys(self) -> list[tuple[str, str, str]]:
        return list(self.accessed)


ACTIVITY = QueueActivity()


def _entered(message) -> float:
    """When a message entered the queue it is in now (its send, or its move to a dead-letter queue)."""
    entered = getattr(message, "_sandbox_entered", None)
    return entered if entered is not None else (message.sent_timestamp or 0) / 1000.0


def oldest_age_s(queue, now: float) -> float | None:
    """ApproximateAgeOfOldestMessage of a moto Queue (seconds), None when it holds no message."""
    messages = list(queue._messages)
    if not messages:
        return None
    if not queue.fifo_queue:
        healthy = [m for m in messages if m.approximate_receive_count <= POISON_RECEIVES]
        messages = healthy or messages
    return max(0.0, now - min(_entered(m) for m in messages))


def sample(minute: int, activity: QueueActivity = ACTIVITY) -> None:
    """Records the minute's datapoints of every active queue (a cw_metrics sampler)."""
    from moto.sqs.models import sqs_backends

    now = activity.clock()
    for key in activity.keys():  # noqa: SIM118 (QueueActivity is not a mapping)
        account_id, region, name = key
        queue = sqs_backends[account_id][region].queues.get(name)
        if queue is None:  # deleted (or the server was reset): nothing to report, nothing to keep
            activity.accessed.pop(key, None)
            activity.take_counts(key)
            continue
        if not queue._messages and now - activity.accessed.get(key, 0) > ACTIVE_AFTER_ACCESS_S:
            continue

        points = [
            ("ApproximateNumberOfMessagesVisible", queue.approximate_number_of_messages, "Count"),
            ("ApproximateNumberOfMessagesNotVisible", queue.approximate_number_of_messages_not_visible, "Count"),
            ("ApproximateNumberOfMessagesDelayed", queue.approximate_number_of_messages_delayed, "Count"),
        ]
        age = oldest_age_s(queue, now)
        if age is not None:
            points.append(("ApproximateAgeOfOldestMessage", round(age), "Seconds"))
        points += [(metric, n, "Count") for metric, n in activity.take_counts(key).items()]
        for metric, value, unit in points:
            cw_metrics.record(
                NAMESPACE, metric, {"QueueName": name}, value, unit, at=minute, account_id=account_id, region=region
            )


def install(activity: QueueActivity = ACTIVITY) -> None:
    """Patches moto's SQS backend (once per process) to count what it serves, and registers the sampler."""
    from moto.sqs import models

    if getattr(models.SQSBackend, "_sandbox_metrics", False):
        return
    backend_cls, queue_cls = models.SQSBackend, models.Queue
    get_queue, send, receive, delete = (
        backend_cls.get_queue,
        backend_cls.send_message,
        backend_cls.receive_message,
        backend_cls.delete_message,
    )
    add_message = queue_cls.add_message

    def key(self, queue_name: str) -> tuple[str, str, str]:
        return self.account_id, self.region_name, queue_name

    def get_queue_(self, queue_name):
        queue = get_queue(self, queue_name)
        activity.touch(key(self, queue.name))
        return queue

    def send_(self, queue_name, *args, **kwargs):
        message = send(self, queue_name, *args, **kwargs)
        activity.count(key(self, queue_name), "NumberOfMessagesSent")
        return message

    def receive_(self, queue_name, *args, **kwargs):
        messages = receive(self, queue_name, *args, **kwargs)
        if messages:
            activity.count(key(self, queue_name), "NumberOfMessagesReceived", len(messages))
        else:
            activity.count(key(self, queue_name), "NumberOfEmptyReceives")
        return messages

    def delete_(self, queue_name, receipt_handle):
        delete(self, queue_name, receipt_handle)
        activity.count(key(self, queue_name), "NumberOfMessagesDeleted")

    def add_message_(self, message):
        message._sandbox_entered = activity.clock()  # a move to a DLQ restarts the age there, as on AWS
        return add_message(self, message)

    backend_cls.get_queue = get_queue_
    backend_cls.send_message = send_
    backend_cls.receive_message = receive_
    backend_cls.delete_message = delete_
    queue_cls.add_message = add_message_
    backend_cls._sandbox_metrics = True
    cw_metrics.add_sampler(sample)
