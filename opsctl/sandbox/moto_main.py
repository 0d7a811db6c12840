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

import sys

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
        if str(code).isdigit() and int(code) < 500:
            return
        original(self, code, size)

    MotoRequestHandler.log_request = log_request
    MotoRequestHandler._sandbox_quiet = True


def keep_alive_connections() -> None:
    """Patches moto's request handler so a client's connection serves request after request (idempotent).

    werkzeug's development server answers every request with `Connection: close` (http.server cannot skip the
    part of a request body an application left unread, so the next request line could be garbage). Every boto3
    call then opened a new TCP connection and the server started a new thread for it: at 1,000 readings/s that
    was a few hundred connections a second. Here the handler reads each request body (Content-Length bytes) before
    the application runs and hands the application those bytes, so the connection is always at the next request
    line and can stay open. A chunked request body, a short read or a client that asked to close: closed as before.

    After each response werkzeug also discards whatever the client sent next (it waits 10 ms for it, since it
    closes the connection anyway): on a kept connection that would swallow the client's next request. For a request
    whose body was read here there is nothing left to discard, so that wait is skipped (werkzeug.serving's view of
    the `selectors` module reports nothing to read for such a request; every other use is the real module).

    Only boto3's clients (the runtime, `sandbox traffic`, opsctl: the sandbox's hot path) keep their connections:
    one `sandbox up` with kept connections failed when Terraform's Go SDK retried a CreateTopicRule that had been
    served (409 "already exists"), which was not understood in the time there was, so Terraform's requests are
    served one per connection as before.

    Every accepted connection gets TCP_NODELAY: werkzeug writes a response's headers and body in two sends, and on a
    kept connection Nagle's algorithm held the body back until the client's delayed ACK of the headers, 40 ms later
    (46.6 ms per GetItem against 3.3 ms with it, one client, idle machine)."""
    import contextlib
    import io
    import selectors
    import socket
    import threading

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug import serving

    if getattr(MotoRequestHandler, "_sandbox_keep_alive", False):
        return
    request = threading.local()  # one connection per server thread: this thread's current request

    class NothingToDiscard:
        def register(self, *args, **kwargs) -> None:
            pass

        def select(self, timeout=None) -> list:
            return []

        def close(self) -> None:
            pass

    class WerkzeugSelectors:
        EVENT_READ, EVENT_WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE

        def __getattr__(self, name: str):
            return getattr(selectors, name)

        @staticmethod
        def DefaultSelector():
            return NothingToDiscard() if getattr(request, "body_read", False) else selectors.DefaultSelector()

    original_make_environ = MotoRequestHandler.make_environ
    original_send_header = MotoRequestHandler.send_header
    original_setup = MotoRequestHandler.setup

    def setup(self) -> None:
        original_setup(self)
        with contextlib.suppress(OSError, AttributeError):  # not a TCP socket: nothing to tune
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def make_environ(self) -> dict:
        environ = original_make_environ(self)
        self._sandbox_body_read = request.body_read = False
        if "Botocore/" not in (self.headers.get("User-Agent") or ""):
            return environ  # Terraform's Go SDK and everything else: one request per connection, as before
        if environ.get("wsgi.input_terminated"):  # chunked: the application reads it as it likes; closed after
            return environ
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return environ
        body = self.rfile.read(length) if length > 0 else b""
        if length < 0 or len(body) != length:  # the client went away mid-body: closed as before
            return environ
        environ["wsgi.input"] = io.BytesIO(body)
        self._sandbox_body_read = request.body_read = True
        return environ

    def send_header(self, keyword: str, value: str) -> None:
        if (
            keyword.lower() == "connection"
            and value.lower() == "close"
            and getattr(self, "_sandbox_body_read", False)
            and not self.close_connection  # the client asked for keep-alive (HTTP/1.1's default)
        ):
            return
        original_send_header(self, keyword, value)

    serving.selectors = WerkzeugSelectors()  # type: ignore[assignment]
    MotoRequestHandler.setup = setup
    MotoRequestHandler.make_environ = make_environ
    MotoRequestHandler.send_header = send_header
    MotoRequestHandler._sandbox_keep_alive = True


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
    keep_alive_connections()
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
