"""CloudWatch Logs subscription filters that really filter, in the sandbox's moto server.

moto forwards every event of a log group to each subscription filter's destination whatever its pattern,
so a pattern that would match nothing on AWS (say a JSON pattern against the Lambda runtime's Text crash
lines) still "works" in the sandbox. This module applies the pattern first, for the filter pattern syntax
the project uses (CloudWatch Logs user guide, "Filter pattern syntax"):

- unstructured terms: `ERROR`, `"quoted phrase"`, AND'd when space-separated, `?a ?b` OR'd, `-term`
  excluded; case-sensitive, each matching anywhere in the event;
- a JSON equality `{ $.key = "value" }` (and `!=`), the one JSON form the project has used.

A filter with any other pattern forwards nothing (`matches` raises UnsupportedPattern): an unsupported
pattern shows up as missing alerts in the sandbox (the log-alert e2e test fails) instead of passing."""

from __future__ import annotations

import json
import re

_JSON_EQUALITY = re.compile(r'^\{\s*\$\.([A-Za-z_][\w.]*)\s*(=|!=)\s*"((?:[^"\\]|\\.)*)"\s*\}$')
_TERM = re.compile(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))')


class UnsupportedPattern(ValueError):
    """A filter pattern outside the subset the sandbox evaluates."""


def _json_value(message: str, path: str):
    try:
        doc = json.loads(message)
    except ValueError:
        return None
    for key in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def matches(pattern: str, message: str) -> bool:
    """True if CloudWatch Logs would let `message` through a filter with `pattern`."""
    pattern = (pattern or "").strip()
    if not pattern:
        return True  # an empty pattern matches every event
    if pattern.startswith("{"):
        found = _JSON_EQUALITY.match(pattern)
        if not found:
            raise UnsupportedPattern(pattern)
        value = _json_value(message, found[1])
        equal = isinstance(value, str) and value == found[3].replace('\\"', '"')
        return equal if found[2] == "=" else (value is not None and not equal)
    terms = [(m[1], (m[2].replace('\\"', '"') if m[2] is not None else m[3])) for m in _TERM.finditer(pattern)]
    if not terms:
        raise UnsupportedPattern(pattern)
    optional = [t for op, t in terms if op == "?"]
    required = [t for op, t in terms if op == ""]
    excluded = [t for op, t in terms if op == "-"]
    if any(t in message for t in excluded):
        return False
    if not all(t in message for t in required):
        return False
    return not optional or any(t in message for t in optional)


def install() -> None:
    """Patches moto's LogStream so each subscription filter forwards only the events its pattern matches."""
    from moto.logs.models import LogStream

    if getattr(LogStream, "_sandbox_filters_apply", False):
        return
    original = LogStream._send_log_events

    def _send_log_events(self, service, destination_arn, filter_name, log_events):
        subscription = self.log_group.subscription_filters.get(filter_name)
        pattern = subscription.filter_pattern if subscription is not None else ""
        try:
            kept = [e for e in log_events if matches(pattern, e["message"])]
        except UnsupportedPattern:
            kept = []
        if kept:
            original(self, service, destination_arn, filter_name, kept)

    LogStream._send_log_events = _send_log_events
    LogStream._sandbox_filters_apply = True
