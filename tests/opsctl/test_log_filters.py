"""The sandbox's subscription filters let through what CloudWatch Logs would, for the pattern forms the
project uses; the log-alert pattern catches every error shape of the Lambda runtime and nothing routine."""

from __future__ import annotations

import pytest

from alert.handler import FILTER_PATTERN
from opsctl.sandbox.log_filters import UnsupportedPattern, matches
from opsctl.sandbox.runtime.lambda_log import LoggingConfig, RuntimeLog

RID = "8f5e2b8a-0000-4000-8000-000000000001"
TEXT, JSON = RuntimeLog(LoggingConfig()), RuntimeLog(LoggingConfig.from_api({"LogFormat": "JSON"}))


def _end(log: RuntimeLog, status: str) -> list[str]:
    return log.end(
        RID,
        duration_ms=1000,
        memory_mb=128,
        max_memory_mb=60,
        init_ms=None,
        status=status,
        error_type="Sandbox.Timedout" if status == "timeout" else None,
        timeout_s=1,
    )


def test_term_forms():
    assert matches("ERROR", "[ERROR] KeyError: 'x'") and not matches("ERROR", "error in lower case")
    assert matches('"Task timed out"', "2026-01-01T00:00:00.000Z id Task timed out after 3.00 seconds")
    assert matches("?a ?b", "only b here") and not matches("?a ?b", "neither")
    assert matches("ERROR quarantined", "ERROR: record quarantined") and not matches("ERROR quarantined", "ERROR")
    assert not matches("ERROR -poison", "ERROR poison") and matches("", "anything")


def test_json_equality_and_unsupported_forms():
    assert matches('{ $.level = "ERROR" }', '{"level":"ERROR","message":"m"}')
    assert not matches('{ $.level = "ERROR" }', "[ERROR] KeyError: 'x'")  # why the old filter missed crashes
    with pytest.raises(UnsupportedPattern):
        matches("{ $.count > 3 }", '{"count": 4}')


@pytest.mark.parametrize(
    "line",
    [
        TEXT.unhandled_error("KeyError", "'Records'", ['  File "/var/task/x.py", line 1, in h\n    r()\n'], RID),
        JSON.unhandled_error("KeyError", "'Records'", [], RID),
        TEXT.unhandled_error("Runtime.ImportModuleError", "Unable to import module 'x': No module named 'y'", [], ""),
        _end(TEXT, "timeout")[-1],
        _end(JSON, "timeout")[-1],
        f"RequestId: {RID} Error: Runtime exited with error: signal: killed",
        '{"level":"ERROR","message":"BatchWriteItem failed and cannot be retried"}',
        f"[ERROR]\t2026-01-01T00:00:00.000Z\t{RID}\tsomething failed\n",
    ],
    # fixed ids: the timeout lines carry the time they were made, and xdist workers must collect the same ids
    ids=[
        "text-crash",
        "json-crash",
        "init-failure",
        "text-timeout",
        "json-timeout",
        "runtime-exit",
        "app-json",
        "app-text",
    ],
)
def test_the_alert_filter_catches_every_error_shape_the_runtime_writes(line):
    assert matches(FILTER_PATTERN, line)


ROUTINE = [*TEXT.start(RID), *_end(TEXT, "success"), *JSON.start(RID), *_end(JSON, "success"), '{"level":"INFO"}']


@pytest.mark.parametrize("line", ROUTINE, ids=[f"routine-{n}" for n in range(len(ROUTINE))])
def test_the_alert_filter_lets_routine_lines_pass_by(line):
    assert not matches(FILTER_PATTERN, line)
