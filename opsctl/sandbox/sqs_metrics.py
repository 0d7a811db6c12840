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

How: the counts come from moto's SQS backend calls (send, receive, delete) as one datapoint per minute
(cw_metrics.minute_value); the depths are set by a cw_metrics sampler that runs at every flush, so a minute keeps
its last sample (its state at its end)."""

from __future__ import annotations

import time

from opsctl.sandbox import cw_metrics

NAMESPACE = "AWS/SQS"
ACTIVE_AFTER_ACCESS_S = 6 * 3600  # seconds a queue stays "active" for CloudWatch after an action accessed it
POISON_RECEIVES = 3  # receives after which a standard queue's message no longer counts for the oldest age
COUNTERS = ("NumberOfMessagesSent", "NumberOfMessagesReceived", "NumberOfMessagesDeleted", "NumberOfEmptyReceives")


class QueueActivity:
    """When an action last accessed each queue (thread-safe: one dict store per call)."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self.accessed: dict[tuple[str, str, str], float] = {}  # (account, region, queue name) -> epoch seconds

    def touch(self, key: tuple[str, str, str]) -> None:
        self.accessed[key] = self.clock()

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


def count(key: tuple[str, str, str], metric: str, n: int = 1) -> None:
    account_id, region, name = key
    cw_metrics.minute_value(
        NAMESPACE, metric, {"QueueName": name}, n, "Count", add=True, account_id=account_id, region=region
    )


def sample(minute: int, activity: QueueActivity = ACTIVITY) -> None:
    """Sets the minute's depths of every active queue, and its counts to at least 0 (a cw_metrics sampler, run at
    every flush: the last run in a minute is the minute's sample)."""
    from moto.sqs.models import sqs_backends

    now = activity.clock()
    for key in activity.keys():  # noqa: SIM118 (QueueActivity is not a mapping)
        account_id, region, name = key
        queue = sqs_backends[account_id][region].queues.get(name)
        if queue is None:  # deleted (or the server was reset): nothing to report
            activity.accessed.pop(key, None)
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
        for metric, value, unit in points:
            cw_metrics.minute_value(
                NAMESPACE, metric, {"QueueName": name}, value, unit, at=minute, account_id=account_id, region=region
            )
        for metric in COUNTERS:  # an active queue reports 0 for a minute without sends, receives or deletes
            cw_metrics.minute_value(
                NAMESPACE, metric, {"QueueName": name}, 0, "Count", add=True, at=minute, account_id=account_id,
                region=region,
            )  # fmt: skip


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
        count(key(self, queue_name), "NumberOfMessagesSent")
        return message

    def receive_(self, queue_name, *args, **kwargs):
        messages = receive(self, queue_name, *args, **kwargs)
        if messages:
            count(key(self, queue_name), "NumberOfMessagesReceived", len(messages))
        else:
            count(key(self, queue_name), "NumberOfEmptyReceives")
        return messages

    def delete_(self, queue_name, receipt_handle):
        delete(self, queue_name, receipt_handle)
        count(key(self, queue_name), "NumberOfMessagesDeleted")

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
