"""One deployed Lambda function, run in this process: its code from build/functions.zip, its
configuration from the Lambda API, and an invocation that looks to the handler like Lambda's.

What Lambda does around a call and the sandbox needs too: the execution role's temporary credentials and
the rest of Lambda's environment variables, a context object, the configured timeout (the handler is
stopped at its deadline), the handler's stdout kept as the function's log with the runtime's own lines
around it as the real Python runtime writes them (a file in the state dir, and the function's CloudWatch
Logs group, where subscription filters forward it: the log-alert pipeline), errors turned into a
function error, Lambda's payload limits, and the AWS/Lambda metrics plus the handler's EMF lines
published to CloudWatch."""

from __future__ import annotations

import base64
import contextlib
import ctypes
import hashlib
import importlib
import io
import json
import os
import resource
import shutil
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from opsctl.core.aws import AwsTarget
from opsctl.core.errors import OpsError
from opsctl.sandbox import limits
from opsctl.sandbox.faults import CrashWatch
from opsctl.sandbox.runtime.credentials import role_session
from opsctl.sandbox.runtime.lambda_log import (
    EXIT_ERROR_TYPE,
    TIMEOUT_ERROR_TYPE,
    LoggingConfig,
    RuntimeLog,
    exit_message,
)

Handler = Callable[[dict, object], object]

PYTHON_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
# Variables a Lambda execution environment never has: a profile or session token of the operator's
# shell must not leak into a handler that should reach the sandbox with its role's credentials.
HOST_ONLY_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
MAX_METRIC_DATA_PER_CALL = 1000  # CloudWatch PutMetricData limit
MAX_VALUES_PER_DATUM = 150  # CloudWatch PutMetricData limit on Values of one datum
MAX_LOG_EVENTS_PER_CALL = 10_000  # CloudWatch Logs PutLogEvents limit
MAX_LOG_BATCH_BYTES = 1_048_576  # PutLogEvents limit: sum of messages (UTF-8) + 26 bytes per event
LOG_EVENT_OVERHEAD_BYTES = 26
MAX_LOG_EVENT_BYTES = 256 * 1024 - LOG_EVENT_OVERHEAD_BYTES  # PutLogEvents limit per event


def code_sha256(zip_path: Path) -> tuple[str, str]:
    """(base64 digest as Lambda reports CodeSha256, hex digest) of the zip at `zip_path`."""
    try:
        digest = hashlib.sha256(zip_path.read_bytes()).digest()
    except FileNotFoundError:
        raise OpsError(f"{zip_path} does not exist", hint="run `opsctl sandbox up` to build and deploy it") from None
    return base64.b64encode(digest).decode(), digest.hex()


class CodeImage:
    """The zip extracted once to state_dir/code/<sha>/ and importable like Lambda's /var/task.

    While active (during a run), the zip's directory is first on sys.path and its modules are the ones in
    sys.modules under the zip's top-level names (`ingest`, `common`, ...); modules of those names imported
    from elsewhere (tests import functions/ directly) are set aside and put back by `deactivate`, so the
    runtime never mixes code of two versions and leaves the process as it found it."""

    _modules_by_sha: ClassVar[dict[str, dict]] = {}  # modules imported from each image, kept across runs of one process
    _lock = threading.Lock()

    def __init__(self, zip_path: Path, hex_sha: str, code_root: Path):
        self.zip_path = zip_path
        self.hex_sha = hex_sha
        self.code_dir = code_root / hex_sha
        if not self.code_dir.exists():
            code_root.mkdir(parents=True, exist_ok=True)
            tmp = code_root / f".{hex_sha}.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(tmp)
            try:
                tmp.replace(self.code_dir)
            except OSError:  # another process extracted it first: the same bytes
                shutil.rmtree(tmp, ignore_errors=True)
        self.tops = {
            p.stem if p.suffix == ".py" else p.name
            for p in self.code_dir.iterdir()
            if (p.suffix == ".py" or p.is_dir()) and not p.name.startswith(".")
        }
        self._set_aside: dict | None = None

    def _mine(self, name: str) -> bool:
        return name.split(".", 1)[0] in self.tops

    def activate(self) -> None:
        with self._lock:
            if self._set_aside is not None:
                return
            self._set_aside = {n: m for n, m in sys.modules.items() if self._mine(n)}
            for n in self._set_aside:
                del sys.modules[n]
            sys.modules.update(self._modules_by_sha.get(self.hex_sha, {}))
            sys.path.insert(0, str(self.code_dir))
            importlib.invalidate_caches()

    def deactivate(self) -> None:
        with self._lock:
            if self._set_aside is None:
                return
            ours = {n: m for n, m in sys.modules.items() if self._mine(n)}
            self._modules_by_sha[self.hex_sha] = ours
            for n in ours:
                del sys.modules[n]
            sys.modules.update(self._set_aside)
            self._set_aside = None
            with contextlib.suppress(ValueError):
                sys.path.remove(str(self.code_dir))

    def handler(self, handler: str) -> Handler:
        """The callable named by `handler` ("pkg.module.function"), imported from this image."""
        module_name, _, attr = handler.rpartition(".")
        if not module_name or not attr:
            raise OpsError(
                f"handler {handler!r} is not of the form module.function",
                hint="fix the function's handler in Terraform",
            )
        self.activate()
        try:
            return getattr(importlib.import_module(module_name), attr)
        except Exception as exc:  # noqa: BLE001 - Lambda reports any init error as Runtime.ImportModuleError
            raise OpsError(
                f"cannot load handler {handler!r} from {self.zip_path.name}: {type(exc).__name__}: {exc}",
                hint="fix the function's handler setting or its code, then `opsctl sandbox up`",
            ) from None


class LambdaContext:
    """The context object of one invocation, with the attributes Lambda's Python runtime gives."""

    def __init__(self, fn: DeployedFunction, request_id: str, deadline: float):
        self.aws_request_id = request_id
        self.function_name = fn.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = fn.arn
        self.memory_limit_in_mb = str(fn.memory_mb)
        self.log_group_name = fn.log_group_name
        self.log_stream_name = fn.log_stream_name
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Invocation:
    """What came back from one call: the handler's return value or its error, and how long it took."""

    request_id: str
    result: object = None
    error_type: str | None = None  # set when the invocation is a function error (exception, timeout, bad result)
    error_message: str | None = None
    duration_ms: float = 0.0

    @property
    def function_error(self) -> bool:
        return self.error_type is not None


@dataclass
class DeployedFunction:
    """A function as deployed (from get_function_configuration) plus the callable that runs it here."""

    name: str
    arn: str
    role: str
    handler_name: str
    timeout_s: float
    memory_mb: int
    environment: dict
    handler: Handler
    log_path: Path
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    init_ms: float | None = None  # the import of the handler (a cold start): reported by the first invocation
    log_stream_name: str = field(default_factory=lambda: time.strftime("%Y/%m/%d") + "/[$LATEST]" + uuid.uuid4().hex)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.name}"

    def take_init_ms(self) -> float | None:
        """The init duration once (REPORT shows it on the cold start's invocation only)."""
        init_ms, self.init_ms = self.init_ms, None
        return init_ms


class _LambdaTimedOut(BaseException):
    """Raised inside a handler still running at its deadline: a BaseException, so `except Exception` in the
    handler cannot swallow it (Lambda stops the process; nothing of the handler runs on)."""


class _ThreadStdout(io.TextIOBase):
    """sys.stdout while a runner is active: each invocation's worker thread writes to that invocation's
    buffer, every other thread to the stdout there was before (so an abandoned handler's late lines never
    reach opsctl's own output, and two functions invoked at once never mix their logs)."""

    def __init__(self, fallback):
        self.fallback = fallback
        self.local = threading.local()

    def write(self, text: str) -> int:
        sink = getattr(self.local, "sink", None)
        return (sink if sink is not None else self.fallback).write(text)

    def flush(self) -> None:
        sink = getattr(self.local, "sink", None)
        (sink if sink is not None else self.fallback).flush()

    def __getattr__(self, name):
        return getattr(self.fallback, name)


_stdout_lock = threading.Lock()


def _routed_stdout() -> _ThreadStdout:
    with _stdout_lock:
        if not isinstance(sys.stdout, _ThreadStdout):
            sys.stdout = _ThreadStdout(sys.stdout)
        return sys.stdout


class _InvocationOutput(io.StringIO):
    """One invocation's stdout; closed for writing at the deadline, so an abandoned handler's late lines are dropped."""

    accepting = True

    def write(self, text: str) -> int:
        return super().write(text) if self.accepting else len(text)


def _run_with_deadline(fn: DeployedFunction, event: dict, context, output: _InvocationOutput) -> tuple[object, bool]:
    """(the handler's return value or the exception it raised, whether it timed out).

    A worker thread, not a process: the handler keeps the warm state Lambda keeps between invocations of one
    execution environment (imported modules, cached clients), and starting one costs microseconds where a
    process would cost a fork and a re-import. At the deadline the thread is abandoned and `_LambdaTimedOut`
    is raised inside it, delivered at its next bytecode (so a handler blocked in one long C call, e.g. a
    socket read, runs on until that call returns; its later output is dropped, and any write it still makes
    is an idempotent one in this project's functions)."""
    stdout = _routed_stdout()
    box: dict = {}
    done = threading.Event()

    def call() -> None:
        try:
            stdout.local.sink = output
            try:
                box["result"] = fn.handler(event, context)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - whatever the handler raises is a function error, as on Lambda
                box["result"] = exc
            finally:
                stdout.local.sink = None
                done.set()
        except _LambdaTimedOut:  # the deadline passed (it may land in the finally above, too)
            pass

    worker = threading.Thread(target=call, name=f"lambda:{fn.name}", daemon=True)
    worker.start()
    if done.wait(fn.timeout_s):
        return box.get("result"), False
    output.accepting = False
    assert worker.ident is not None  # set by start()
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(_LambdaTimedOut))
    return None, True


def _max_memory_used_mb() -> int:
    """Peak resident memory of this process in MB: the whole runtime's, not one handler's (an upper bound)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024) or 1


class FunctionRunner:
    """Loads the functions event source mappings point at and invokes them like Lambda would."""

    def __init__(
        self,
        target: AwsTarget,
        *,
        state_dir: Path,
        zip_path: Path,
        metrics: MetricSink,
        handler_overrides: dict[str, Handler] | None = None,
    ):
        self.target = target
        self.state_dir = state_dir
        self.zip_path = zip_path
        self.metrics = metrics
        self.overrides = handler_overrides or {}
        self._functions: dict[str, DeployedFunction] = {}
        self._zip_sha: tuple[str, str] | None = None
        self._image: CodeImage | None = None
        self._logs: dict[str, io.TextIOBase] = {}
        self._base_env = target.lambda_environment()
        self._default_sessions: dict[str, object] = {}  # function name -> its boto3 default session
        self._log_events: dict[str, tuple[DeployedFunction, list[dict]]] = {}  # waiting for PutLogEvents
        self._log_streams: set[str] = set()  # function names whose log stream exists
        self.log_groups_missing: set[str] = set()  # functions whose log group does not exist: not forwarded
        self.crashes = CrashWatch(target.endpoint_url)  # `opsctl sandbox fault function-crash` windows

    def function(self, function_arn: str) -> DeployedFunction:
        """The deployed function behind `function_arn`, checked to run build/functions.zip (cached per run)."""
        if function_arn in self._functions:
            return self._functions[function_arn]
        cfg = self.target.client("lambda").get_function_configuration(FunctionName=function_arn)
        name = cfg["FunctionName"]
        override = self.overrides.get(name)
        if self._zip_sha is None:
            self._zip_sha = code_sha256(self.zip_path)
        b64_sha, hex_sha = self._zip_sha
        if cfg.get("CodeSha256") != b64_sha:
            raise OpsError(
                f"the deployed code of {name} is not {self._zip_label()}", hint="run `opsctl sandbox up` to deploy it"
            )
        if override is None and self._image is None:
            self._image = CodeImage(self.zip_path, hex_sha, self.state_dir / "code")
        init_started = time.monotonic()
        if override is not None:
            handler = override
        else:
            assert self._image is not None  # made just above
            handler = self._image.handler(cfg["Handler"])
        init_ms = (time.monotonic() - init_started) * 1000
        logs_dir = self.state_dir / "logs"
        logs_dir.mkdir(parents=True, exist_ok=True)
        fn = DeployedFunction(
            name=name,
            arn=cfg["FunctionArn"],
            role=cfg.get("Role", ""),
            handler_name=cfg["Handler"],
            timeout_s=float(cfg.get("Timeout") or 3),
            memory_mb=int(cfg.get("MemorySize") or 128),
            environment=dict((cfg.get("Environment") or {}).get("Variables") or {}),
            handler=handler,
            log_path=logs_dir / f"{name}.log",
            logging=LoggingConfig.from_api(cfg.get("LoggingConfig")),
            init_ms=init_ms,
        )
        self._functions[function_arn] = fn
        return fn

    def _zip_label(self) -> str:
        from opsctl.core.project import ROOT

        try:
            return self.zip_path.resolve().relative_to(ROOT).as_posix()
        except ValueError:
            return str(self.zip_path)

    def _environment(self, fn: DeployedFunction) -> dict[str, str]:
        return {
            **{k: str(v) for k, v in fn.environment.items()},
            **self._base_env,
            **self._role_environment(fn),
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": fn.log_stream_name,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{PYTHON_RUNTIME}",
            "_HANDLER": fn.handler_name,
        }

    def _role_environment(self, fn: DeployedFunction) -> dict[str, str]:
        """The execution role's temporary keys, as Lambda puts them in the environment (none for a handler
        override without a role, which then runs as the sandbox's administrator)."""
        if not fn.role:
            return {}
        return role_session(self.target.client("sts"), fn.role, fn.name).environment()

    def invoke(self, fn: DeployedFunction, event: dict, *, asynchronous: bool = False) -> Invocation:
        """Calls the handler with `event` in Lambda's surroundings; never raises for what the handler does.

        The handler runs on a worker thread and is abandoned at the function's timeout, as Lambda stops it
        (see `_run_with_deadline`). The event is held to its invocation type's limit (`asynchronous`: 256 KB,
        else 6 MB) and the response to 6 MB, as Lambda does (opsctl.sandbox.limits); an event over its limit
        never reaches the handler (Invoke refuses it: the error comes back as the invocation's)."""
        request_id = str(uuid.uuid4())
        inv = Invocation(request_id=request_id)
        log = RuntimeLog(fn.logging)
        captured = _InvocationOutput()
        crash: str | None = None
        too_large = limits.lambda_request_error(event, asynchronous=asynchronous)
        env = self._environment(fn)
        saved = {k: os.environ.get(k) for k in (*env, *HOST_ONLY_VARIABLES)}
        for k in HOST_ONLY_VARIABLES:
            os.environ.pop(k, None)
        os.environ.update(env)
        # Each Lambda function is a process of its own: boto3's default session (what `boto3.client(...)` and
        # `boto3.resource(...)` use) resolves credentials once and keeps them, so a handler relying on it must get
        # its own function's session, never one made earlier with another function's role.
        import boto3

        host_session = boto3.DEFAULT_SESSION
        boto3.DEFAULT_SESSION = self._default_sessions.get(fn.name)
        started = time.monotonic()
        context = LambdaContext(fn, request_id, started + fn.timeout_s)
        timed_out = False
        exited = False
        try:
            if too_large:
                inv.error_type, inv.error_message = too_large
            elif self.crashes.crashing(fn.name):
                # A function-crash fault: the runtime process exits while it runs this invocation (the handler
                # never returns), as Lambda reports a crashed runtime: a function error, Runtime.ExitError.
                exited = True
                inv.error_type = EXIT_ERROR_TYPE
                inv.error_message = exit_message(request_id)
            else:
                outcome, timed_out = _run_with_deadline(fn, event, context, captured)
                if isinstance(outcome, BaseException):
                    exc = outcome
                    inv.error_type = "Runtime.ExitError" if isinstance(exc, SystemExit) else type(exc).__name__
                    inv.error_message = str(exc)
                    crash = log.unhandled_error(
                        inv.error_type, inv.error_message, traceback.format_tb(exc.__traceback__)[1:], request_id
                    )
                elif not timed_out:
                    inv.result = outcome
        finally:
            inv.duration_ms = (time.monotonic() - started) * 1000
            self._default_sessions[fn.name] = boto3.DEFAULT_SESSION
            boto3.DEFAULT_SESSION = host_session
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        if timed_out:
            inv.duration_ms = fn.timeout_s * 1000
            inv.error_type = TIMEOUT_ERROR_TYPE
            inv.error_message = f"Task timed out after {fn.timeout_s:.2f} seconds"
        if not inv.function_error:
            try:
                body = json.dumps(inv.result)
            except (TypeError, ValueError) as exc:
                inv.error_type, inv.error_message = "Runtime.MarshalError", f"Unable to marshal response: {exc}"
                crash = log.unhandled_error(inv.error_type, inv.error_message, [], request_id)
            else:
                oversize = limits.lambda_response_error(body)
                if oversize:
                    inv.result = None
                    inv.error_type, inv.error_message = oversize
        output = captured.getvalue()
        status = "timeout" if timed_out else "error" if inv.function_error else "success"
        events = [*log.start(request_id), *log.application(output), *([crash] if crash else [])]
        events += log.end(
            request_id,
            duration_ms=inv.duration_ms,
            memory_mb=fn.memory_mb,
            max_memory_mb=_max_memory_used_mb(),
            init_ms=fn.take_init_ms(),
            status=status,
            error_type=inv.error_type,
            timeout_s=fn.timeout_s,
        )
        if exited:
            events += log.runtime_exit(request_id)
        self._write_log(fn, events)
        self.metrics.add_emf(output)
        return inv

    def _write_log(self, fn: DeployedFunction, events: list[str]) -> None:
        log = self._logs.get(fn.name)
        if log is None:
            log = self._logs[fn.name] = open(fn.log_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        log.write("".join(e + "\n" for e in events))
        if fn.name not in self.log_groups_missing:
            now_ms = int(time.time() * 1000)
            pending = self._log_events.setdefault(fn.name, (fn, []))[1]
            pending += [{"timestamp": now_ms, "message": _fit_log_event(e)} for e in events if e]

    def flush_logs(self) -> int:
        """Sends the log lines of the invocations so far to each function's log group, as Lambda does; returns
        how many events were sent. A function whose log group does not exist is not forwarded (Terraform owns
        the group; the lines stay in the state dir's log file)."""
        from botocore.exceptions import ClientError

        sent = 0
        pending, self._log_events = self._log_events, {}
        if not pending:
            return 0
        logs = self.target.client("logs")
        for name, (fn, events) in pending.items():
            try:
                if name not in self._log_streams:
                    try:
                        logs.create_log_stream(logGroupName=fn.log_group_name, logStreamName=fn.log_stream_name)
                    except ClientError as exc:
                        if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                            raise
                    self._log_streams.add(name)
                for chunk in _log_batches(events):
                    logs.put_log_events(
                        logGroupName=fn.log_group_name, logStreamName=fn.log_stream_name, logEvents=chunk
                    )
                    sent += len(chunk)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                    raise
                self.log_groups_missing.add(name)
        return sent

    def close(self) -> None:
        self._log_events.clear()
        with _stdout_lock:
            if isinstance(sys.stdout, _ThreadStdout):
                sys.stdout = sys.stdout.fallback
        if self._image is not None:
            self._image.deactivate()
        for log in self._logs.values():
            log.close()
        self._logs.clear()


def _fit_log_event(line: str) -> str:
    data = line.encode()
    return line if len(data) <= MAX_LOG_EVENT_BYTES else data[:MAX_LOG_EVENT_BYTES].decode(errors="ignore")


def _log_batches(events: list[dict]):
    """PutLogEvents batches within its count and size limits, in the order the lines were written."""
    batch: list[dict]
    batch, size = [], 0
    for event in events:
        n = len(event["message"].encode()) + LOG_EVENT_OVERHEAD_BYTES
        if batch and (len(batch) >= MAX_LOG_EVENTS_PER_CALL or size + n > MAX_LOG_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += n
    if batch:
        yield batch


class MetricSink:
    """CloudWatch metric data collected during a run and sent in PutMetricData calls of up to 1,000 data."""

    def __init__(self, cloudwatch, *, flush_every_s: float = 5.0):
        self.cloudwatch = cloudwatch
        self.flush_every_s = flush_every_s
        self._pending: dict[str, list[dict]] = {}
        self._last_flush = time.monotonic()

    def add(self, namespace: str, datum: dict) -> None:
        self._pending.setdefault(namespace, []).append(datum)

    def lambda_invocation(
        self, function_name: str, *, duration_ms: float, error: bool, iterator_age_ms: float | None
    ) -> None:
        """The AWS/Lambda metrics Lambda publishes for one invocation of a stream event source mapping. Invocation
        metrics are binary indicators of an invocation's outcome
        (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html): an invocation that ran was not
        throttled, so Throttles is 0 beside it (the local runtime never refuses one for concurrency)."""
        dims = [{"Name": "FunctionName", "Value": function_name}]
        now = time.time()
        for name, value, unit in (
            ("Invocations", 1, "Count"),
            ("Errors", int(error), "Count"),
            ("Throttles", 0, "Count"),
            ("Duration", round(duration_ms, 3), "Milliseconds"),
        ):
            self.add(
                "AWS/Lambda", {"MetricName": name, "Dimensions": dims, "Value": value, "Unit": unit, "Timestamp": now}
            )
        if iterator_age_ms is not None:
            self.add(
                "AWS/Lambda",
                {
                    "MetricName": "IteratorAge",
                    "Dimensions": dims,
                    "Value": max(0.0, round(iterator_age_ms, 3)),
                    "Unit": "Milliseconds",
                    "Timestamp": now,
                },
            )

    def add_emf(self, output: str) -> None:
        """Turns every EMF line in a handler's output into metric data, as CloudWatch Logs does on AWS."""
        if '"_aws"' not in output:
            return
        for line in output.splitlines():
            if not line.startswith("{") or '"_aws"' not in line:
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            for namespace, datum in emf_metric_data(doc):
                self.add(namespace, datum)

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        pending, self._pending = self._pending, {}
        for namespace, data in pending.items():
            for i in range(0, len(data), MAX_METRIC_DATA_PER_CALL):
                self.cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[i : i + MAX_METRIC_DATA_PER_CALL])


def emf_metric_data(doc: dict) -> list[tuple[str, dict]]:
    """(namespace, PutMetricData datum) for every metric × dimension set an EMF document declares.

    Invalid directives are skipped, as CloudWatch skips them (it logs the line and extracts nothing)."""
    meta = doc.get("_aws")
    if not isinstance(meta, dict):
        return []
    try:
        timestamp = float(meta["Timestamp"]) / 1000
    except (KeyError, TypeError, ValueError):
        timestamp = time.time()
    out = []
    for directive in meta.get("CloudWatchMetrics") or []:
        if not isinstance(directive, dict) or not isinstance(directive.get("Namespace"), str):
            continue
        dimension_sets = directive.get("Dimensions") or [[]]
        for metric in directive.get("Metrics") or []:
            name = metric.get("Name") if isinstance(metric, dict) else None
            value = doc.get(name) if name else None
            values: list = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                continue
            for dim_keys in dimension_sets:
                if not all(k in doc for k in dim_keys):
                    continue
                datum = {
                    "MetricName": name,
                    "Timestamp": timestamp,
                    "Unit": metric.get("Unit") or "None",
                    "Dimensions": [{"Name": k, "Value": str(doc[k])} for k in dim_keys],
                }
                if metric.get("StorageResolution") == 1:
                    datum["StorageResolution"] = 1
                if isinstance(value, list):
                    for i in range(0, len(values), MAX_VALUES_PER_DATUM):
                        out.append(
                            (
                                directive["Namespace"],
                                {**datum, "Values": [float(v) for v in values[i : i + MAX_VALUES_PER_DATUM]]},
                            )
                        )
                else:
                    out.append((directive["Namespace"], {**datum, "Value": float(values[0])}))
    return out
