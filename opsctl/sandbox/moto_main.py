"""The sandbox's moto server, with one change: an SQS queue never delivers to Lambda by itself.

moto "runs" an SQS event source mapping inside SendMessage: it receives the new message (raising its
ApproximateReceiveCount), tries to invoke the function in Docker, and on failure makes the message visible
again, or, with Docker-less Lambda, deletes it as if processed. Either way every send would bump the
receive count of messages already waiting (pushing healthy jobs to the dead-letter queue after
maxReceiveCount sends) or lose them. In the sandbox the local runtime (`opsctl sandbox run`) is Lambda's
poller, so queues keep their mappings stored (Terraform and ListEventSourceMappings see them as on AWS)
but never act on them.

More patches live in modules of their own: `opsctl.sandbox.iam` (each function's execution role is enforced
for the credentials the local runtime gives it), `opsctl.sandbox.log_filters` (a subscription filter
forwards only what its pattern matches) and `opsctl.sandbox.limits` (service limits moto does not enforce:
a Kinesis shard's write and read throughput), `opsctl.sandbox.table_capacity` (a table's capacity as AWS sets
and reports it: scalable targets Terraform can create and that move it into their range, zero once on demand),
`opsctl.sandbox.cw_metrics` (the AWS service metrics CloudWatch would hold, published from the requests the server
served), `opsctl.sandbox.cw_reads` (metric reads see the minute served so far; percentiles from raw values) and
`opsctl.sandbox.faults` (a window of DynamoDB, SQS or S3 errors or throttling, `opsctl sandbox fault`).
Everything else is moto as released."""

from __future__ import annotations

import logging
import sys
import time

from opsctl.sandbox import moto_serialize, moto_speed
from opsctl.sandbox.iot_tags import enable_iot_tagging
from opsctl.sandbox.runtime.iot import install_in_moto_server as install_iot_rules


class _NeverRegistered(dict):
    """A queue's mapping registry that stays empty: moto's own delivery loop then has nothing to run."""

    def __setitem__(self, key, value) -> None:
        pass


def disable_queue_delivery() -> None:
    """Patches moto's SQS Queue so no queue runs an event source mapping itself (idempotent)."""
    from moto.sqs import models

    if getattr(models.Queue, "_sandbox_no_delivery", False):
        return
    original = models.Queue.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.lambda_event_source_mappings = _NeverRegistered()

    models.Queue.__init__ = __init__
    models.Queue._sandbox_no_delivery = True


def _retry_attempt(headers, requestline: str = "") -> str | None:
    """A line for a request an AWS SDK sent again (`amz-sdk-request: attempt=N`, N > 1), else None.

    `sandbox up` has failed now and then with "already exists" from a create the provider had sent twice
    (docs/architecture.md, "Kept connections were built and withdrawn"): the SDK's retry of a request the server
    had already served. Each such retry is logged (operation, attempt, the SDK's invocation id shared by all the
    attempts of one call) so the next failure's log says which request was sent again and when."""
    if headers is None:
        return None
    attempt = str(headers.get("amz-sdk-request") or "")
    number = attempt.partition("attempt=")[2].partition(";")[0].strip()
    if not number.isdigit() or int(number) < 2:
        return None
    target = headers.get("X-Amz-Target") or ""
    return (
        f"sdk retry: attempt {int(number)} of invocation {headers.get('amz-sdk-invocation-id') or '?'}"
        f" ({target or requestline or '?'}) at {time.strftime('%H:%M:%S')}"
    )


def quiet_access_log() -> None:
    """Patches moto's request handler to log only the requests it answered with a server error (idempotent).

    werkzeug writes one line to the server's log per request served: at 1,000 readings/s the sandbox serves a few
    hundred requests a second, and formatting and writing those lines was a few % of the server's time (py-spy,
    docs/architecture.md "Sandbox speed") for a log nobody reads line by line. 5xx lines and every traceback stay."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    if getattr(MotoRequestHandler, "_sandbox_quiet", False):
        return
    original = MotoRequestHandler.log_request

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        retried = _retry_attempt(getattr(self, "headers", None), getattr(self, "requestline", ""))
        if retried:
            logging.getLogger("werkzeug").warning("%s", retried + f" answered {code}")
        if str(code).isdigit() and int(code) < 500:
            return
        original(self, code, size)

    MotoRequestHandler.log_request = log_request
    MotoRequestHandler._sandbox_quiet = True


def main(argv: list[str] | None = None) -> None:
    from opsctl.sandbox import (
        cw_metrics,
        cw_reads,
        dynamodb_capacity,
        faults,
        iam,
        limits,
        log_filters,
        sqs_metrics,
        table_capacity,
    )

    disable_queue_delivery()
    quiet_access_log()
    iam.install()
    log_filters.install()
    dynamodb_capacity.install()  # before limits: a request DynamoDB refuses as invalid consumes nothing
    sqs_metrics.install()
    limits.install()
    table_capacity.install()  # scalable targets Terraform can create; capacity as AWS reports it
    faults.install()  # opsctl/sandbox/faults.py: `opsctl sandbox fault` windows, applied to every client
    enable_iot_tagging()  # opsctl/sandbox/iot_tags.py: without it Terraform's IoT resources never finish
    install_iot_rules()  # opsctl/sandbox/runtime/iot.py: moto stores topic rules but never runs them
    moto_speed.apply()  # the same moto, without the work that made it too slow for the design's rate
    moto_serialize.install()  # the same answers, without re-deriving each member's attribute names per response
    cw_metrics.install()  # opsctl/sandbox/cw_metrics.py: the flusher thread and POST /_sandbox/metrics/flush
    cw_reads.install()  # opsctl/sandbox/cw_reads.py: metric reads see the current minute; percentile statistics
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
