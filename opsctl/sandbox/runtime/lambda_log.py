"""A function's log lines as AWS Lambda's Python runtime writes them, for the function's `logging_config`.

Sources, so each shape can be checked against the real thing:
- Text unhandled exception: the runtime interface client (github.com/aws/aws-lambda-python-runtime-interface-client,
  `awslambdaric/bootstrap.py`, `log_error`): `[ERROR] <errorType>: <errorMessage>`, then
  `Traceback (most recent call last):` and the frames, one CloudWatch event (the telemetry sink joins the lines
  with "\\n"), each frame's leading spaces replaced by U+00A0.
- JSON unhandled exception: the same function in JSON mode: one line
  `{"timestamp", "level": "ERROR", "errorMessage", "errorType", "requestId", "stackTrace"}`.
- Application lines: passed through unchanged (print and our own JSON logger write to stdout). With the JSON
  log format Lambda drops JSON lines whose `level` is below the application log level (Lambda developer guide,
  "Configuring advanced logging controls": log-level filtering applies to JSON logs only).
- System lines, Text: `START RequestId: <id> Version: $LATEST`, `END RequestId: <id>`,
  `REPORT RequestId: <id>\\tDuration: <ms> ms\\tBilled Duration: <ms> ms\\tMemory Size: <MB> MB\\tMax Memory Used:
  <MB> MB` (+ `\\tInit Duration: <ms> ms` on a cold start), and on a timeout
  `<ISO time> <id> Task timed out after <s>.<2 digits> seconds` (Lambda developer guide, "Lambda function logs").
- System lines, JSON: `{"time", "type": "platform.start"|"platform.runtimeDone"|"platform.report", "record"}`
  with the Telemetry API's record fields (`requestId`, `version`, `status`, `errorType`, `metrics` with
  `durationMs`, `billedDurationMs`, `memorySizeMB`, `maxMemoryUsedMB`, `initDurationMs`) (Lambda developer
  guide, "Telemetry API schema reference" and "JSON format system logs"); system lines are INFO level, so a
  system log level of WARN drops them."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

ERROR_LOG_INDENT = "\u00a0"  # awslambdaric's ERROR_LOG_IDENT
LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40, "FATAL": 50, "CRITICAL": 50}
TIMEOUT_ERROR_TYPE = "Sandbox.Timedout"
EXIT_ERROR_TYPE = "Runtime.ExitError"  # the runtime process exited during an invocation (a crash)
EXIT_STATUS = "exit status 1"


def exit_message(request_id: str) -> str:
    """Lambda's message for an invocation whose runtime exited (its errorMessage, and the log line after REPORT)."""
    return f"RequestId: {request_id} Error: Runtime exited with error: {EXIT_STATUS}"


@dataclass(frozen=True)
class LoggingConfig:
    """A function's LoggingConfig as GetFunctionConfiguration returns it (Text and no levels by default)."""

    log_format: str = "Text"
    application_log_level: str | None = None
    system_log_level: str | None = None

    @classmethod
    def from_api(cls, cfg: dict | None) -> LoggingConfig:
        cfg = cfg or {}
        fmt = "JSON" if str(cfg.get("LogFormat") or "Text").upper() == "JSON" else "Text"
        if fmt == "Text":
            return cls()  # Lambda ignores the levels for Text
        return cls(fmt, cfg.get("ApplicationLogLevel") or "INFO", cfg.get("SystemLogLevel") or "INFO")

    @property
    def json(self) -> bool:
        return self.log_format == "JSON"


def _iso(now: float | None = None, *, millis: bool = True) -> str:
    now = time.time() if now is None else now
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return base + (f".{int(now % 1 * 1000):03d}Z" if millis else "Z")


def billed_ms(duration_ms: float) -> int:
    """Lambda bills each invocation rounded up to the next millisecond (at least 1 ms)."""
    return max(1, math.ceil(duration_ms))


class RuntimeLog:
    """The lines Lambda adds around one function's invocations, in its configured format."""

    def __init__(self, config: LoggingConfig):
        self.config = config

    def _system(self, kind: str, record: dict) -> list[str]:
        if LEVELS.get(str(self.config.system_log_level).upper(), 20) > LEVELS["INFO"]:
            return []
        return [json.dumps({"time": _iso(), "type": kind, "record": record})]

    def start(self, request_id: str) -> list[str]:
        if self.config.json:
            return self._system("platform.start", {"requestId": request_id, "version": "$LATEST"})
        return [f"START RequestId: {request_id} Version: $LATEST"]

    def end(
        self,
        request_id: str,
        *,
        duration_ms: float,
        memory_mb: int,
        max_memory_mb: int,
        init_ms: float | None,
        status: str,
        error_type: str | None,
        timeout_s: float,
    ) -> list[str]:
        """END and REPORT (and the timeout line) for one invocation; status: success | error | timeout."""
        billed = billed_ms(duration_ms)
        if self.config.json:
            done = {"requestId": request_id, "status": status}
            if error_type:
                done["errorType"] = error_type
            metrics = {
                "durationMs": round(duration_ms, 3),
                "billedDurationMs": billed,
                "memorySizeMB": memory_mb,
                "maxMemoryUsedMB": max_memory_mb,
            }
            if init_ms is not None:
                metrics["initDurationMs"] = round(init_ms, 3)
            return self._system("platform.runtimeDone", done) + self._system(
                "platform.report", {**done, "metrics": metrics}
            )
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {memory_mb} MB\tMax Memory Used: {max_memory_mb} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        lines = [f"END RequestId: {request_id}", report]
        if status == "timeout":
            lines.append(f"{_iso()} {request_id} Task timed out after {timeout_s:.2f} seconds")
        return lines

    def runtime_exit(self, request_id: str) -> list[str]:
        """What Lambda writes after REPORT when the runtime exited during the invocation (Text format; in JSON the
        platform records' errorType says it): `RequestId: <id> Error: Runtime exited with error: exit status 1`
        and `Runtime.ExitError`, one event
        (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-execution.html; a captured log:
        https://github.com/aws/aws-lambda-python-runtime-interface-client/issues/10)."""
        if self.config.json:
            return []
        return [f"{exit_message(request_id)}\n{EXIT_ERROR_TYPE}"]

    def unhandled_error(self, error_type: str, message: str, stack_trace: list[str], request_id: str) -> str:
        """One log event for an exception the handler did not catch (or an init failure: request_id "")."""
        if self.config.json:
            return json.dumps(
                {
                    "timestamp": _iso(millis=False),
                    "level": "ERROR",
                    "errorMessage": message,
                    "errorType": error_type,
                    "requestId": request_id,
                    "stackTrace": stack_trace,
                },
                ensure_ascii=False,
            )
        head = "[ERROR]" + (f" {error_type}" if error_type else "")
        if message:
            head += (":" if error_type else "") + f" {message}"
        lines = [head, "Traceback (most recent call last):"]
        for element in stack_trace:
            for line in element.splitlines() or [""]:
                stripped = line.lstrip(" ")
                lines.append(ERROR_LOG_INDENT * (len(line) - len(stripped)) + stripped)
        return "\n".join(lines)

    def application(self, output: str) -> list[str]:
        """The handler's own lines, one log event each (JSON lines below the application level dropped)."""
        lines = [line for line in output.splitlines() if line]
        if not self.config.json:
            return lines
        threshold = LEVELS.get(str(self.config.application_log_level).upper(), 20)
        kept = []
        for line in lines:
            if line.startswith("{"):
                try:
                    level = json.loads(line).get("level")
                except (ValueError, AttributeError):
                    level = None
                if isinstance(level, str) and LEVELS.get(level.upper(), 100) < threshold:
                    continue
            kept.append(line)
        return kept
