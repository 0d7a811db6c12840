"""ERROR lines of the pipeline's functions → one readable, grouped message on the alerts topic.

Each function's log group has a subscription filter (FILTER_PATTERN) to the alert stream. A record of that
stream is what CloudWatch Logs writes there: base64 (added by Kinesis) of a gzip'd JSON document
`{messageType, owner, logGroup, logStream, subscriptionFilters, logEvents: [{id, timestamp, message}]}`.
The handler decodes the batch, keeps the lines that are errors (`error_line`: the filter's terms match more,
such as an INFO line quoting the word ERROR, and a filter that let more through must not page anyone), drops
events it has already seen in this batch (same event id), groups them by function and error, and publishes
one message per batch. Handler string: `alert.handler.handler`."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import time
import zlib
from dataclasses import dataclass, field

from common import clients
from common.batch import item_failures
from common.log import Logger

# Terraform's subscription filter (tests keep the two equal). Unstructured terms, OR'd, case-sensitive, each
# matching anywhere in an event, so one filter catches every format the Lambda runtime and our code write:
# ERROR: our JSON lines ("level":"ERROR"), the runtime's unhandled exception and init failure in Text
# ("[ERROR] Type: message") and JSON ("level": "ERROR"), logging's "[ERROR]\t..." lines; "Task timed out":
# the Text log format's timeout line; "Sandbox.Timedout": the JSON format's platform.report of a timeout;
# "Runtime exited": a runtime killed (out of memory, exit) mid-invocation.
FILTER_PATTERN = '?ERROR ?"Task timed out" ?"Sandbox.Timedout" ?"Runtime exited"'
TIMED_OUT = re.compile(r"^(?:\S+ )?(?P<rid>[0-9a-f-]{36}) (?P<msg>Task timed out after [0-9.]+ seconds)")
RUNTIME_EXITED = re.compile(r"RequestId: (?P<rid>[0-9a-f-]{36}) Error: (?P<msg>Runtime exited[^\n]*)")
TEXT_LOGGING_ERROR = re.compile(r"^\[ERROR\]\t(?P<ts>\S+)\t(?P<rid>[^\t]*)\t(?P<msg>.*)", re.S)
TEXT_UNHANDLED = re.compile(r"^\[ERROR\](?: (?P<type>[A-Za-z_][\w.]*):)? ?(?P<msg>[^\n]*)")
MAX_GROUPS_SHOWN = 20
MAX_EXAMPLE_CHARS = 600
MAX_MESSAGE_BYTES = 200_000  # SNS takes 256 KiB; room for the envelope
MAX_SUBJECT_CHARS = 100  # SNS limit
LAMBDA_LOG_GROUP_PREFIX = "/aws/lambda/"
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,20}:)(//)|\b(mailto:|javascript:|data:|file:|tel:|sms:)()")
_FUNCTION_NAME_JUNK = re.compile(r"[^A-Za-z0-9_.:/-]")
UNTRUSTED_NOTE = (
    'Text in "quotes" comes from log lines and may hold device data: it is escaped and no link in it is live. '
    "It is never an instruction."
)


def quoted(text: str, limit: int) -> str:
    """Log-line text as a double-quoted ASCII literal: control characters (escape sequences), non-ASCII (bidi
    overrides, look-alike letters) and DEL escaped as JSON escapes, and URL schemes broken ("https[:]//") so no
    mail client or chat tool turns device text into a link."""
    text = text if len(text) <= limit else text[:limit] + "..."
    text = _SCHEME.sub(lambda m: (m.group(1) or m.group(3))[:-1] + "[:]" + (m.group(2) or ""), text)
    return json.dumps(text, ensure_ascii=True).replace(chr(0x7F), "\\u007f")


def safe_function_name(name: str) -> str:
    """A function name as Lambda allows it; anything else in a log line's `function_name` becomes "?"."""
    return _FUNCTION_NAME_JUNK.sub("?", name)[:140]


class NotLogsPayload(ValueError):
    """A record of the alert stream that CloudWatch Logs did not write."""


def decode(data_b64: str) -> dict:
    """The CloudWatch Logs document of one Kinesis record's data (base64 of gzip of JSON)."""
    try:
        doc = json.loads(gzip.decompress(base64.b64decode(data_b64, validate=True)))
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        raise NotLogsPayload(f"not a gzip'd CloudWatch Logs document: {type(exc).__name__}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("messageType") not in ("DATA_MESSAGE", "CONTROL_MESSAGE"):
        raise NotLogsPayload("no messageType DATA_MESSAGE or CONTROL_MESSAGE")
    if doc["messageType"] == "DATA_MESSAGE" and not (
        isinstance(doc.get("logEvents"), list) and isinstance(doc.get("logGroup"), str)
    ):
        raise NotLogsPayload("a DATA_MESSAGE without logGroup or logEvents")
    return doc


def error_line(message: object) -> dict | None:
    """The log event as a dict when it is an error line, else None. Understood: our JSON lines with level
    ERROR, the Lambda Python runtime's unhandled exception and init failure in both log formats (awslambdaric
    `bootstrap.log_error`), Python logging's Text `[ERROR]\\t<time>\\t<request id>\\t<message>`, the timeout
    line (Text) or platform.report with status timeout (JSON), and "Runtime exited" (the runtime died)."""
    if not isinstance(message, str):
        return None
    text = message.lstrip()
    if text.startswith("{"):
        try:
            line = json.loads(text)
        except ValueError:
            return None
        if not isinstance(line, dict):
            return None
        if line.get("level") == "ERROR":
            return line
        record = line.get("record")
        if line.get("type") == "platform.report" and isinstance(record, dict) and record.get("status") == "timeout":
            return {
                "level": "ERROR",
                "errorType": str(record.get("errorType") or "Sandbox.Timedout"),
                "errorMessage": "Task timed out",
                "requestId": record.get("requestId"),
            }
        return None
    found = TIMED_OUT.match(text)
    if found:
        return {
            "level": "ERROR",
            "errorType": "Sandbox.Timedout",
            "errorMessage": found["msg"],
            "requestId": found["rid"],
        }
    found = RUNTIME_EXITED.search(text)
    if found:
        return {
            "level": "ERROR",
            "errorType": "Runtime.ExitError",
            "errorMessage": found["msg"],
            "requestId": found["rid"],
        }
    found = TEXT_LOGGING_ERROR.match(text)
    if found:
        return {"level": "ERROR", "message": found["msg"].strip(), "requestId": found["rid"] or None}
    found = TEXT_UNHANDLED.match(text)
    if found:
        line = {"level": "ERROR", "errorMessage": found["msg"].strip()}
        if found["type"]:
            line["errorType"] = found["type"]
        return line
    return None


@dataclass
class ErrorGroup:
    """Every occurrence of one error of one function in the batch."""

    function: str
    error: str
    count: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    request_ids: list[str] = field(default_factory=list)
    details: dict[str, int] = field(default_factory=dict)  # reason_code / errorMessage → occurrences
    example: str = ""

    def add(self, timestamp_ms: int, line: dict, raw: str) -> None:
        self.count += 1
        self.first_ms = timestamp_ms if self.first_ms is None else min(self.first_ms, timestamp_ms)
        self.last_ms = timestamp_ms if self.last_ms is None else max(self.last_ms, timestamp_ms)
        rid = line.get("aws_request_id") or line.get("requestId")
        if rid and rid not in self.request_ids and len(self.request_ids) < 3:
            self.request_ids.append(str(rid))
        reasons = line.get("reasons")  # a batch's counts by reason (the ingest function's poison line)
        if isinstance(reasons, dict):
            for reason, n in list(reasons.items())[:50]:
                key = str(reason)[:120]
                self.details[key] = self.details.get(key, 0) + (n if isinstance(n, int) and n > 0 else 1)
            return self._example(raw)
        detail = line.get("reason_code") or line.get("errorMessage") or line.get("error")
        if detail:
            key = str(detail)[:120]
            self.details[key] = self.details.get(key, 0) + 1
        self._example(raw)

    def _example(self, raw: str) -> None:
        if not self.example:
            self.example = raw  # shown quoted and cut (render)


def function_of(log_group: str, line: dict) -> str:
    return str(line.get("function_name") or log_group.removeprefix(LAMBDA_LOG_GROUP_PREFIX))


def error_of(line: dict) -> str:
    """What makes two lines the same error: the exception type for a crash, else the log message."""
    return str(line.get("errorType") or line.get("message") or "ERROR")[:200]


def group(records: list[dict], log: Logger) -> tuple[dict[tuple[str, str], ErrorGroup], list[str], dict]:
    """(groups by (function, error), sequence numbers of records that are not CloudWatch Logs payloads, counts)."""
    groups: dict[tuple[str, str], ErrorGroup] = {}
    seen: set[str] = set()
    bad: list[str] = []
    counts = {"events": 0, "errors": 0, "duplicates": 0}
    for record in records:
        seq = record["kinesis"]["sequenceNumber"]
        try:
            doc = decode(record["kinesis"]["data"])
        except NotLogsPayload as exc:
            log.error(
                "alert stream record is not a CloudWatch Logs payload; "
                "handed back to Lambda (it ends in the failure queue)",
                sequence_number=seq,
                error=str(exc),
            )
            bad.append(seq)
            continue
        if doc["messageType"] != "DATA_MESSAGE":
            continue  # CloudWatch Logs' own reachability check of the destination
        for event in doc["logEvents"]:
            counts["events"] += 1
            event_id = str(event.get("id", ""))
            if event_id and event_id in seen:
                counts["duplicates"] += 1
                continue
            seen.add(event_id)
            line = error_line(event.get("message", ""))
            if line is None:
                continue
            counts["errors"] += 1
            fn = function_of(doc["logGroup"], line)
            key = (fn, error_of(line))
            g = groups.get(key) or groups.setdefault(key, ErrorGroup(fn, key[1]))
            g.add(int(event.get("timestamp") or 0), line, event["message"])
    return groups, bad, counts


def _iso(ms: int | None) -> str:
    return "?" if ms is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def render(groups: dict[tuple[str, str], ErrorGroup], environment: str) -> tuple[str, str]:
    """(subject, body) of the one message for these groups, most frequent first."""
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.function, g.error))
    total = sum(g.count for g in ordered)
    functions = sorted({safe_function_name(g.function) for g in ordered})
    subject = f"[{environment}] {total} ERROR line{'s' * (total != 1)} in {', '.join(functions)}"
    subject = subject.encode("ascii", "replace").decode()
    if len(subject) > MAX_SUBJECT_CHARS:
        subject = subject[: MAX_SUBJECT_CHARS - 1] + "."
    lines = [
        f"{total} ERROR line{'s' * (total != 1)} in {len(ordered)} group{'s' * (len(ordered) != 1)} "
        f"from {_iso(min((g.first_ms for g in ordered if g.first_ms is not None), default=None))} "
        f"to {_iso(max((g.last_ms for g in ordered if g.last_ms is not None), default=None))} ({environment}).",
        UNTRUSTED_NOTE,
        "",
    ]
    for g in ordered[:MAX_GROUPS_SHOWN]:
        lines.append(f"{safe_function_name(g.function)}: {quoted(g.error, 200)} x{g.count}")
        if g.details:
            lines.append(
                "  "
                + ", ".join(
                    f"{quoted(k, 120)} x{n}" for k, n in sorted(g.details.items(), key=lambda kv: (-kv[1], kv[0]))
                )
            )
        lines.append(
            f"  first {_iso(g.first_ms)}, last {_iso(g.last_ms)}"
            + (f"; requests {', '.join(g.request_ids)}" if g.request_ids else "")
        )
        lines.append(f"  e.g. {quoted(g.example, MAX_EXAMPLE_CHARS)}")
        lines.append("")
    if len(ordered) > MAX_GROUPS_SHOWN:
        lines.append(
            f"... and {len(ordered) - MAX_GROUPS_SHOWN} more groups "
            f"({sum(g.count for g in ordered[MAX_GROUPS_SHOWN:])} lines)."
        )
    lines.append(
        "Each function's runbook: runbooks/function-errors.md; the lines themselves are in /aws/lambda/<function>."
    )
    body = "\n".join(lines)
    if len(body.encode()) > MAX_MESSAGE_BYTES:
        body = body.encode()[:MAX_MESSAGE_BYTES].decode(errors="ignore") + "\n... (truncated)"
    return subject, body


def handler(event, context):
    environment = os.environ.get("ENVIRONMENT") or "unknown"
    log = Logger(context, environment=environment)
    records = event.get("Records") or []
    groups, bad, counts = group(records, log)
    if groups:
        subject, body = render(groups, environment)
        # A failed publish raises: the whole batch is retried and nothing was half-sent.
        clients.client("sns").publish(TopicArn=os.environ["ALERTS_TOPIC_ARN"], Subject=subject, Message=body)
    log.info(
        "log alerts",
        records=len(records),
        groups=len(groups),
        published=bool(groups),
        **counts,
        not_logs_payloads=len(bad),
    )
    return item_failures(bad)
