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

Everything else is moto as released."""

from __future__ import annotations


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


def apply() -> None:
    """Every patch above (idempotent)."""
    disable_stream_delivery()
    direct_retention_check()
