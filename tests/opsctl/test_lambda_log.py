"""The local runtime's log lines are the real Python runtime's (awslambdaric's bootstrap.py and Lambda's
documented system log lines), for both log formats of a function's logging_config."""

from __future__ import annotations

import json
import re
import traceback

from opsctl.sandbox.runtime.lambda_log import LoggingConfig, RuntimeLog

RID = "8f5e2b8a-0000-4000-8000-000000000001"


def _stack() -> tuple[str, list[str]]:
    try:
        {}["Records"]
    except KeyError as exc:
        return str(exc), traceback.format_tb(exc.__traceback__)
    raise AssertionError


def test_text_crash_is_error_type_message_and_a_traceback_in_one_event():
    message, stack = _stack()
    event = RuntimeLog(LoggingConfig()).unhandled_error("KeyError", message, stack, RID)
    lines = event.split("\n")
    assert lines[0] == "[ERROR] KeyError: 'Records'"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[2].startswith("\u00a0\u00a0File ") and "test_lambda_log.py" in lines[2]  # indent as U+00A0
    assert lines[3].lstrip("\u00a0") == '{}["Records"]'


def test_json_crash_has_the_runtime_clients_field_names():
    message, stack = _stack()
    line = json.loads(
        RuntimeLog(LoggingConfig.from_api({"LogFormat": "JSON"})).unhandled_error("KeyError", message, stack, RID)
    )
    assert line["level"] == "ERROR" and line["errorType"] == "KeyError" and line["errorMessage"] == "'Records'"
    assert line["requestId"] == RID and line["stackTrace"] == stack
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["timestamp"])


def test_text_start_end_report_and_timeout_lines():
    log = RuntimeLog(LoggingConfig())
    assert log.start(RID) == [f"START RequestId: {RID} Version: $LATEST"]
    end, report, timeout = log.end(
        RID,
        duration_ms=3000.0,
        memory_mb=256,
        max_memory_mb=90,
        init_ms=412.5,
        status="timeout",
        error_type="Sandbox.Timedout",
        timeout_s=3,
    )
    assert end == f"END RequestId: {RID}"
    assert report == (
        f"REPORT RequestId: {RID}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 256 MB\t"
        "Max Memory Used: 90 MB\tInit Duration: 412.50 ms"
    )
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z {RID} Task timed out after 3\.00 seconds", timeout
    )
    ok = log.end(
        RID,
        duration_ms=0.2,
        memory_mb=128,
        max_memory_mb=60,
        init_ms=None,
        status="success",
        error_type=None,
        timeout_s=3,
    )
    assert ok[1].endswith("Billed Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 60 MB")  # no Init Duration
    assert len(ok) == 2


def test_json_system_lines_are_platform_events_and_honour_the_system_log_level():
    log = RuntimeLog(LoggingConfig.from_api({"LogFormat": "JSON", "SystemLogLevel": "INFO"}))
    (start,) = log.start(RID)
    assert json.loads(start)["type"] == "platform.start" and json.loads(start)["record"]["requestId"] == RID
    done, report = (
        json.loads(x)
        for x in log.end(
            RID,
            duration_ms=1000,
            memory_mb=128,
            max_memory_mb=50,
            init_ms=None,
            status="timeout",
            error_type="Sandbox.Timedout",
            timeout_s=1,
        )
    )
    assert done["type"] == "platform.runtimeDone" and report["type"] == "platform.report"
    assert report["record"]["status"] == "timeout" and report["record"]["errorType"] == "Sandbox.Timedout"
    assert report["record"]["metrics"]["billedDurationMs"] == 1000
    quiet = RuntimeLog(LoggingConfig.from_api({"LogFormat": "JSON", "SystemLogLevel": "WARN"}))
    assert quiet.start(RID) == []


def test_application_lines_pass_through_and_json_format_filters_by_application_level():
    out = '{"level":"DEBUG","message":"d"}\n{"level":"ERROR","message":"e"}\nplain print\n'
    assert RuntimeLog(LoggingConfig()).application(out) == out.splitlines()  # Text: unchanged, every line
    warn = RuntimeLog(LoggingConfig.from_api({"LogFormat": "JSON", "ApplicationLogLevel": "WARN"}))
    assert warn.application(out) == ['{"level":"ERROR","message":"e"}', "plain print"]
