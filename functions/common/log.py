"""Structured logs: one JSON object per line on stdout, with the request id on every line."""

from __future__ import annotations

import json
import os
import sys
import time

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


class Logger:
    """A logger bound to one invocation: every line carries its request id, function and log stream."""

    def __init__(self, context=None, *, level: str | None = None, **fields):
        level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
        self.threshold = LEVELS.get(level, LEVELS["INFO"])
        self.fields = {
            "aws_request_id": getattr(context, "aws_request_id", None),
            "function_name": getattr(context, "function_name", None),
            "log_stream": getattr(context, "log_stream_name", None),
            **fields,
        }

    def log(self, level: str, message: str, **extra) -> None:
        if LEVELS[level] < self.threshold:
            return
        line = {"level": level, "message": message, "timestamp": _iso_now(), **self.fields, **extra}
        # sys.stdout is looked up per call: Lambda and test capture may replace it.
        sys.stdout.write(json.dumps(line, default=str, separators=(",", ":")) + "\n")

    def debug(self, message: str, **extra) -> None:
        self.log("DEBUG", message, **extra)

    def info(self, message: str, **extra) -> None:
        self.log("INFO", message, **extra)

    def warning(self, message: str, **extra) -> None:
        self.log("WARNING", message, **extra)

    def error(self, message: str, **extra) -> None:
        self.log("ERROR", message, **extra)


def _iso_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
