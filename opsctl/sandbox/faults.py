"""Faults the sandbox's moto server injects for a while: what capacity settings cannot produce on demand.

`opsctl sandbox fault` starts one: a kind, a target resource (a table, queue or bucket name) and a duration in
seconds (1 to MAX_SECONDS); a fault the server applies (every kind but function-crash) may also be given a count of
requests (`--requests`, 1 to MAX_REQUESTS): it fails that many requests on its target and then ends, whenever they
come in its window, so the failures a test or the drill asks for happen however long a client takes to start.
The fault lives in the moto server process, in FAULTS, and is applied in the server's
request path (moto's DynamoDB, SQS and S3 handlers), so every client sees it alike: the local runtime's functions,
opsctl, a test's boto3. It ends by itself when its time is up (checked on every request, nothing to clean up), or
at once with `opsctl sandbox fault --clear`. `opsctl sandbox status` lists the faults still running.

Why a control endpoint in the server (POST/GET/DELETE /_sandbox/faults) and not a file the server reads: the
store is then one object in one process, read under a lock on every request without touching the disk, and a
fault cannot outlive the server (a stale file could throttle the next sandbox).

Kinds, and what AWS answers in each case (the error codes and messages are AWS's):
- dynamodb-throttle: every request on the table fails with ProvisionedThroughputExceededException (HTTP 400),
  as a provisioned table past its capacity and burst does. A BatchWriteItem/BatchGetItem that also names other
  tables gets the faulted table's requests back as UnprocessedItems/UnprocessedKeys. Counted as the table's
  ReadThrottleEvents or WriteThrottleEvents (one per item) and ThrottledRequests (one per request, dimension
  Operation), AWS/DynamoDB.
- dynamodb-error: every request on the table fails with InternalServerError (HTTP 500). Counted as SystemErrors
  (dimensions TableName, Operation).
- sqs-error: every request on the queue fails with InternalFailure (HTTP 500).
- s3-error: every request on the bucket fails with InternalError (HTTP 500).
- function-crash: every invocation of the function (target: its name) that starts in the window fails as Lambda
  reports a runtime that exited while running it: the handler does not return, the invocation is a function
  error `Runtime.ExitError` ("RequestId: <id> Error: Runtime exited with error: exit status 1"), counted in
  AWS/Lambda Errors, and the log ends with that line (the Lambda developer guide, "Troubleshoot execution issues
  in Lambda", https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-execution.html; a captured log:
  https://github.com/aws/aws-lambda-python-runtime-interface-client/issues/10). No AWS API applies
  it: the store only holds it, and the local runtime (`runtime/function.py`, the one that plays Lambda) reads the
  store (`CrashWatch`) before each invocation it starts."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass

MAX_SECONDS = 900  # seconds: the longest fault (15 minutes: longer than any drill step, short enough to be sure)
MAX_REQUESTS = 10_000  # requests a counted fault fails at most (a bound on a typo, as MAX_SECONDS is)
KINDS = {
    "dynamodb-throttle": "table",
    "dynamodb-error": "table",
    "sqs-error": "queue",
    "s3-error": "bucket",
    "function-crash": "function",
}
PATH = "/_sandbox/faults"


@dataclass
class Fault:
    kind: str
    target: str  # the table, queue or bucket name
    started_at: float  # epoch seconds
    ends_at: float  # epoch seconds
    requests_left: int | None = None  # requests it still fails (a counted fault; None: every one until ends_at)

    def to_dict(self, now: float | None = None) -> dict:
        d = asdict(self)
        d["seconds_left"] = round(max(0.0, self.ends_at - (time.time() if now is None else now)), 1)
        return d


class FaultError(ValueError):
    """A fault that cannot be started (unknown kind, no target, a duration out of bounds)."""


def validate(kind: str, target: str, seconds: float, requests: int | None = None) -> None:
    if kind not in KINDS:
        raise FaultError(f"unknown fault kind {kind!r}: one of {', '.join(sorted(KINDS))}")
    if not target or not isinstance(target, str):
        raise FaultError(f"a {kind} fault needs the {KINDS[kind]} name as its target")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 1 <= seconds <= MAX_SECONDS:
        raise FaultError(f"--seconds must be 1 to {MAX_SECONDS} (seconds), not {seconds!r}")
    if requests is None:
        return
    if kind == "function-crash":
        # The local runtime judges an invocation by when it starts (CrashWatch), not by a count the server keeps.
        raise FaultError("--requests counts requests the server answers: a function-crash lasts --seconds only")
    if isinstance(requests, bool) or not isinstance(requests, int) or not 1 <= requests <= MAX_REQUESTS:
        raise FaultError(f"--requests must be 1 to {MAX_REQUESTS:,} (requests), not {requests!r}")


class FaultStore:
    """The faults under way; each ends by itself at its ends_at. Thread-safe (the server answers in threads)."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def start(self, kind: str, target: str, seconds: float, requests: int | None = None) -> Fault:
        validate(kind, target, seconds, requests)
        now = self.clock()
        fault = Fault(kind, target, now, now + float(seconds), requests)
        with self._lock:
            # One fault per kind and target: starting it again sets its new end.
            self._faults = [f for f in self._faults if (f.kind, f.target) != (kind, target)] + [fault]
        return fault

    def active(self) -> list[Fault]:
        now = self.clock()
        with self._lock:
            self._faults = [f for f in self._faults if f.ends_at > now]
            return list(self._faults)

    def hit(self, kind: str, target: str) -> bool:
        """True while a fault of `kind` on `target` is under way: the request asking fails. A counted fault counts
        it, and ends with its last request."""
        now = self.clock()
        with self._lock:
            for f in self._faults:
                if f.kind == kind and f.target == target and f.ends_at > now:
                    if f.requests_left is not None:
                        f.requests_left -= 1
                        if f.requests_left <= 0:
                            self._faults = [g for g in self._faults if g is not f]
                    return True
            return False

    def clear(self, kind: str | None = None, target: str | None = None) -> int:
        """Ends every fault now, or only the one of `kind` on `target`; returns how many ended."""
        with self._lock:
            kept = [f for f in self._faults if kind is not None and (f.kind, f.target) != (kind, target)]
            n, self._faults = len(self._faults) - len(kept), kept
        return n


FAULTS = FaultStore()


# -- the control endpoint --------------------------------------------------------------------------------------


def _json_body(environ):
    """The request's JSON body ({} when it has none); ValueError when it is not JSON."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}


def _control(environ, start_response):
    """Answers /_sandbox/faults (GET: list, POST {kind, target, seconds[, requests]}: start, DELETE: clear, or with
    a body {kind, target} end that one); None otherwise."""
    if environ.get("PATH_INFO", "") != PATH:
        return None
    method = environ.get("REQUEST_METHOD")
    status = "200 OK"
    body: dict[str, object]
    if method == "GET":
        body = {"faults": [f.to_dict() for f in FAULTS.active()]}
    elif method == "DELETE":
        try:
            one = _json_body(environ)
        except ValueError:
            one = {}
        if isinstance(one, dict) and one.get("kind"):
            body = {"cleared": FAULTS.clear(str(one["kind"]), str(one.get("target", "")))}
        else:
            body = {"cleared": FAULTS.clear()}
    elif method == "POST":
        try:
            wanted = _json_body(environ)
            fault = FAULTS.start(
                str(wanted.get("kind", "")), wanted.get("target", ""), wanted.get("seconds"), wanted.get("requests")
            )
            body = {"fault": fault.to_dict()}
        except (ValueError, TypeError, AttributeError) as exc:  # FaultError and malformed JSON alike
            status, body = "400 Bad Request", {"error": str(exc)}
    else:
        status, body = "405 Method Not Allowed", {"error": "GET, POST or DELETE"}
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


# -- applied in moto's request path ----------------------------------------------------------------------------

_DDB_PREFIX = "com.amazonaws.dynamodb.v20120810#"
_DDB_READS = {"get_item", "query", "scan", "batch_get_item", "transact_get_items"}
_DDB_OPERATIONS = {  # handler method -> the Operation dimension value AWS/DynamoDB uses
    "get_item": "GetItem",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "delete_item": "DeleteItem",
    "query": "Query",
    "scan": "Scan",
    "batch_get_item": "BatchGetItem",
    "batch_write_item": "BatchWriteItem",
    "transact_write_items": "TransactWriteItems",
    "transact_get_items": "TransactGetItems",
}


def _json_error(error_type: str, message: str, status: int):
    from moto.core.exceptions import JsonRESTError

    err = JsonRESTError(error_type, message)
    err.code = status
    return err


def _tables_of(body: dict, method: str) -> list[str]:
    if method in ("batch_write_item", "batch_get_item"):
        return list((body.get("RequestItems") or {}).keys())
    if method.startswith("transact_"):
        names = []
        for item in body.get("TransactItems") or []:
            for op in item.values():
                if isinstance(op, dict) and op.get("TableName"):
                    names.append(op["TableName"])
        return names
    name = body.get("TableName")
    return [name] if name else []


def _table_name(name_or_arn: str) -> str:
    return name_or_arn.rsplit("/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


def _record(metric: str, dimensions: dict[str, str], value: float, handler) -> None:
    from opsctl.sandbox import cw_metrics

    cw_metrics.record(
        "AWS/DynamoDB",
        metric,
        dimensions,
        value,
        "Count",
        account_id=getattr(handler, "current_account", None),
        region=getattr(handler, "region", None),
    )


def install_dynamodb_faults(store: FaultStore = FAULTS) -> None:
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, "_sandbox_faults", False):
        return

    def faulted(method: str, original):
        operation = _DDB_OPERATIONS[method]
        read = method in _DDB_READS

        def handler(self):
            body = self.body if isinstance(self.body, dict) else {}
            tables = [_table_name(t) for t in _tables_of(body, method)]
            erroring = [t for t in tables if store.hit("dynamodb-error", t)]
            if erroring:
                for t in dict.fromkeys(erroring):
                    _record("SystemErrors", {"TableName": t, "Operation": operation}, 1, self)
                raise _json_error(_DDB_PREFIX + "InternalServerError", "Internal server error", 500)
            throttled = [t for t in dict.fromkeys(tables) if store.hit("dynamodb-throttle", t)]
            if not throttled:
                return original(self)
            items = body.get("RequestItems") or {}
            for t in throttled:
                n = 1
                if method == "batch_write_item":
                    n = len(items.get(t) or [])
                elif method == "batch_get_item":
                    n = len((items.get(t) or {}).get("Keys") or [])
                _record("ReadThrottleEvents" if read else "WriteThrottleEvents", {"TableName": t}, n, self)
                _record("ThrottledRequests", {"TableName": t, "Operation": operation}, 1, self)
            untouched = [t for t in dict.fromkeys(tables) if t not in throttled]
            if method in ("batch_write_item", "batch_get_item") and untouched:
                # AWS throttles per table: the other tables' requests go through, the faulted ones come back.
                held = {k: v for k, v in items.items() if _table_name(k) in throttled}
                self.body = {**body, "RequestItems": {k: v for k, v in items.items() if k not in held}}
                answer = original(self)
                key = "UnprocessedItems" if method == "batch_write_item" else "UnprocessedKeys"
                return _with_unprocessed(answer, key, held)
            raise _json_error(
                _DDB_PREFIX + "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. "
                "Consider increasing your provisioning level with the UpdateTable API.",
                400,
            )

        return handler

    for method in _DDB_OPERATIONS:
        if hasattr(DynamoHandler, method):
            setattr(DynamoHandler, method, faulted(method, getattr(DynamoHandler, method)))
    DynamoHandler._sandbox_faults = True


def _with_unprocessed(answer, key: str, held: dict):
    """moto's batch answer with the held-back requests added under UnprocessedItems/UnprocessedKeys."""
    if isinstance(answer, str):
        doc = json.loads(answer)
        doc[key] = {**(doc.get(key) or {}), **held}
        return json.dumps(doc)
    result = getattr(answer, "result", None)  # moto's ActionResult
    if isinstance(result, dict):
        result[key] = {**(result.get(key) or {}), **held}
    return answer


def install_sqs_faults(store: FaultStore = FAULTS) -> None:
    from moto.sqs.responses import SQSResponse

    if getattr(SQSResponse, "_sandbox_faults", False):
        return
    actions = [
        "send_message",
        "send_message_batch",
        "receive_message",
        "delete_message",
        "delete_message_batch",
        "change_message_visibility",
        "change_message_visibility_batch",
        "get_queue_attributes",
        "purge_queue",
    ]

    def faulted(original):
        def handler(self):
            url = self._get_param("QueueUrl") or ""
            if url and store.hit("sqs-error", url.rstrip("/").rsplit("/", 1)[-1]):
                raise _json_error(
                    "InternalFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                    500,
                )
            return original(self)

        return handler

    for action in actions:
        if hasattr(SQSResponse, action):
            setattr(SQSResponse, action, faulted(getattr(SQSResponse, action)))
    SQSResponse._sandbox_faults = True


_S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    "<Message>We encountered an internal error. Please try again.</Message></Error>"
)


def install_s3_faults(store: FaultStore = FAULTS) -> None:
    from moto.s3.responses import S3Response

    if getattr(S3Response, "_sandbox_faults", False):
        return

    def faulted(original):
        def handler(self, request, full_url):
            bucket = self.parse_bucket_name_from_url(request, full_url)
            if bucket and store.hit("s3-error", bucket):
                return 500, {"content-type": "application/xml"}, _S3_ERROR
            return original(self, request, full_url)

        return handler

    S3Response._bucket_response = faulted(S3Response._bucket_response)
    S3Response._key_response = faulted(S3Response._key_response)
    S3Response._sandbox_faults = True


def install() -> None:
    """The control endpoint and every kind's hook, in the moto server process (called by moto_main)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    install_dynamodb_faults()
    install_sqs_faults()
    install_s3_faults()
    if not getattr(DomainDispatcherApplication, "_sandbox_faults", False):
        original = DomainDispatcherApplication.__call__

        def __call__(self, environ, start_response):
            answered = _control(environ, start_response)
            return answered if answered is not None else original(self, environ, start_response)

        DomainDispatcherApplication.__call__ = __call__
        DomainDispatcherApplication._sandbox_faults = True


# -- the client side (opsctl) ------------------------------------------------------------------------------------


def _call(endpoint: str, method: str, body: dict | None = None) -> dict:
    import urllib.error
    import urllib.request

    from opsctl.core.errors import OpsError

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(endpoint.rstrip("/") + PATH, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error") or str(exc)
        except ValueError:
            message = str(exc)
        if exc.code == 404:
            message = "this sandbox's moto server has no fault control (started before faults existed?)"
            raise OpsError(message, hint="restart it: opsctl sandbox down && opsctl sandbox up") from None
        raise OpsError(message) from None
    except (urllib.error.URLError, OSError) as exc:
        raise OpsError(f"the sandbox at {endpoint} does not answer: {exc}", hint="opsctl sandbox up") from None


def start_fault(endpoint: str, kind: str, target: str, seconds: float, requests: int | None = None) -> dict:
    """Starts (or restarts) a fault in the sandbox's moto server; returns it as the server stored it. With
    `requests`, it fails that many requests on the target within `seconds` and then ends."""
    try:
        validate(kind, target, seconds, requests)
    except FaultError as exc:
        from opsctl.core.errors import OpsError

        raise OpsError(str(exc)) from None
    body: dict = {"kind": kind, "target": target, "seconds": seconds}
    if requests is not None:
        body["requests"] = requests
    return _call(endpoint, "POST", body)["fault"]


def list_faults(endpoint: str) -> list[dict]:
    """The faults under way (each with seconds_left)."""
    return _call(endpoint, "GET")["faults"]


def clear_faults(endpoint: str) -> int:
    """Ends every fault at once; returns how many were under way."""
    return int(_call(endpoint, "DELETE")["cleared"])


def end_fault(endpoint: str, kind: str, target: str) -> int:
    """Ends the fault of `kind` on `target` now (the others run on); returns 1 if it was under way, else 0."""
    return int(_call(endpoint, "DELETE", {"kind": kind, "target": target})["cleared"])


# Which stack output names a kind's default target (the resource the ingest path writes to).
DEFAULT_TARGET_OUTPUT = {
    "dynamodb-throttle": "table_name",
    "dynamodb-error": "table_name",
    "sqs-error": "rollup_queue_url",
    "s3-error": "quarantine_bucket",
    "function-crash": "ingest_function_name",
}


class CrashWatch:
    """The function-crash faults of a sandbox's server, for the local runtime: read at most every `poll_s`
    seconds (not once per invocation), each judged by its own start and end, so an invocation crashes exactly
    when it starts inside a window the runtime has seen (a fault started less than `poll_s` ago may be seen that
    much late). A server without fault control (a real AWS target, an old sandbox) has no faults."""

    def __init__(self, endpoint: str | None, *, poll_s: float = 1.0, clock=time.time):
        self.endpoint = endpoint
        self.poll_s = poll_s
        self.clock = clock
        self._read_at = float("-inf")
        self._windows: list[tuple[str, float, float]] = []  # (function name, started_at, ends_at)

    def crashing(self, function_name: str) -> bool:
        """True when an invocation of `function_name` starting now falls in a function-crash window."""
        if not self.endpoint:
            return False
        now = self.clock()
        if now - self._read_at >= self.poll_s:
            self._read_at = now
            from opsctl.core.errors import OpsError

            try:
                listed = list_faults(self.endpoint)
            except OpsError:
                listed = []
            self._windows = [
                (str(f["target"]), float(f["started_at"]), float(f["ends_at"]))
                for f in listed
                if f.get("kind") == "function-crash"
            ]
        return any(name == function_name and start <= now < end for name, start, end in self._windows)
