"""The IoT rules engine, played for the sandbox: moto stores topic rules but never runs them.

On every message published through the IoT data plane (iot-data Publish), each enabled rule whose topic filter
matches is evaluated as AWS IoT does for the subset of the SQL (version 2016-03-23) this project uses:

- select list: `*`, `topic()`, `topic(n)`, payload fields (`a` or `a.b`), each with an optional `AS alias`;
  items are merged left to right into one JSON object, so a later item wins over a field `*` brought in;
- `FROM 'filter'` with MQTT wildcards `+` (one level) and `#` (the rest);
- `WHERE` of simple comparisons (`=`, `<>`, `!=`, `<`, `<=`, `>`, `>=`) of a field or `topic(n)` with a number,
  a 'string', true or false, joined by AND.

Anything else is refused when the rule is loaded (`opsctl sandbox up` checks every rule Terraform created and
stops with one line), never silently approximated. Actions: Kinesis (`streamName`, `partitionKey` template with
`${topic(n)}`, `${topic()}`, `${field}` and `${newuuid()}`); what an action cannot deliver goes to the rule's SQS
error action, as AWS does, with the error's details. A payload that is not a JSON object is delivered by `*` as
AWS does for binary payloads only when the select list is exactly `*`; otherwise the message fails to the error action.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass, field

SQL_VERSION = "2016-03-23"
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_TOPIC_FN = re.compile(r"topic\(\s*([0-9]*)\s*\)", re.I)
_ITEM = re.compile(rf"^(?:(\*)|(topic\(\s*[0-9]*\s*\))|({_IDENT}))(?:\s+AS\s+([A-Za-z_][A-Za-z0-9_]*))?$", re.I)
_STATEMENT = re.compile(r"^\s*SELECT\s+(.+?)\s+FROM\s+'([^']+)'(?:\s+WHERE\s+(.+?))?\s*$", re.I | re.S)
_COMPARISON = re.compile(
    rf"^\s*(topic\(\s*[0-9]*\s*\)|{_IDENT})\s*(=|<>|!=|<=|>=|<|>)\s*('(?:[^']*)'|-?[0-9]+(?:\.[0-9]+)?|true|false)\s*$",
    re.I,
)
_TEMPLATE = re.compile(r"\$\{([^}]*)\}")


class UnsupportedRule(ValueError):
    """A rule the sandbox cannot play faithfully: `sandbox up` stops with this message."""


@dataclass(frozen=True)
class SelectItem:
    kind: str  # "star" | "topic" | "field"
    arg: str | int | None
    alias: str | None


@dataclass(frozen=True)
class Comparison:
    operand: tuple[str, str | int | None]  # ("topic", n) | ("field", "a.b")
    op: str
    literal: object


@dataclass
class Rule:
    name: str
    select: list[SelectItem]
    topic_filter: str
    where: list[Comparison]
    kinesis: list[dict] = field(default_factory=list)
    error_sqs: dict | None = None


def _topic_arg(text: str) -> int | None:
    m = _TOPIC_FN.fullmatch(text.strip())
    return int(m.group(1)) if m and m.group(1) else None


def parse_rule(name: str, sql: str, *, sql_version: str | None, actions: list[dict], error_action: dict | None) -> Rule:
    """The rule as the engine runs it; UnsupportedRule naming what the sandbox does not play."""
    if sql_version not in (None, SQL_VERSION):
        raise UnsupportedRule(f"IoT rule {name}: SQL version {sql_version} (the sandbox plays {SQL_VERSION} only)")
    m = _STATEMENT.match(sql)
    if m is None:
        raise UnsupportedRule(f"IoT rule {name}: cannot play {sql[:120]!r} (SELECT ... FROM 'topic' [WHERE ...] only)")
    select_text, topic_filter, where_text = m.groups()
    select = []
    for raw in select_text.split(","):
        item = _ITEM.match(raw.strip())
        if item is None:
            raise UnsupportedRule(f"IoT rule {name}: select item {raw.strip()[:60]!r} is beyond the sandbox's subset")
        star, topic_fn, ident, alias = item.groups()
        if star:
            if alias:
                raise UnsupportedRule(f"IoT rule {name}: '* AS {alias}' is beyond the sandbox's subset")
            select.append(SelectItem("star", None, None))
        elif topic_fn:
            select.append(SelectItem("topic", _topic_arg(topic_fn), alias or "topic"))
        else:
            select.append(SelectItem("field", ident, alias or ident.rsplit(".", 1)[-1]))
    where = []
    if where_text:
        for part in re.split(r"\s+AND\s+", where_text.strip(), flags=re.I):
            c = _COMPARISON.match(part)
            if c is None:
                raise UnsupportedRule(f"IoT rule {name}: WHERE {part.strip()[:60]!r} is beyond the sandbox's subset")
            operand_text, op, literal_text = c.groups()
            operand = (
                ("topic", _topic_arg(operand_text))
                if operand_text.lower().startswith("topic(")
                else ("field", operand_text)
            )
            where.append(Comparison(operand, op, _literal(literal_text)))
    rule = Rule(name=name, select=select, topic_filter=topic_filter, where=where)
    for action in actions:
        if set(action) != {"kinesis"}:
            raise UnsupportedRule(f"IoT rule {name}: action {sorted(action)} (the sandbox plays Kinesis actions only)")
        rule.kinesis.append(action["kinesis"])
    if error_action:
        if set(error_action) != {"sqs"}:
            raise UnsupportedRule(f"IoT rule {name}: error action {sorted(error_action)} (SQS only in the sandbox)")
        rule.error_sqs = error_action["sqs"]
    return rule


def _literal(text: str):
    if text.startswith("'"):
        return text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return float(text) if "." in text else int(text)


def topic_matches(topic_filter: str, topic: str) -> bool:
    f, t = topic_filter.split("/"), topic.split("/")
    for i, part in enumerate(f):
        if part == "#":
            return True
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(f) == len(t)


def _topic(topic: str, n: int | None) -> str | None:
    if n is None:
        return topic
    levels = topic.split("/")
    return levels[n - 1] if 1 <= n <= len(levels) else None


def _field(doc, path: str):
    for key in path.split("."):
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc


def _value(operand, topic: str, doc):
    kind, arg = operand
    return _topic(topic, arg) if kind == "topic" else _field(doc, arg)


def _compare(left, op: str, right) -> bool:
    if left is None:
        return False  # AWS: a comparison with Undefined is not true
    try:
        return {
            "=": left == right,
            "<>": left != right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op]
    except TypeError:
        return False


def evaluate(rule: Rule, topic: str, payload: bytes) -> dict | None:
    """The JSON object the rule's actions get, or None when the topic or WHERE does not match.

    Raises ValueError when the payload is not a JSON object and the select list needs its fields."""
    if not topic_matches(rule.topic_filter, topic):
        return None
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict):
        raise ValueError("payload is not a JSON object")
    if not all(_compare(_value(c.operand, topic, doc), c.op, c.literal) for c in rule.where):
        return None
    out: dict = {}
    for item in rule.select:
        if item.kind == "star":
            out.update(doc)
        elif item.kind == "topic":
            assert not isinstance(item.arg, str)  # a topic(n) item holds n
            out[item.alias] = _topic(topic, item.arg)
        else:
            assert isinstance(item.arg, str)  # a field item holds its path
            value = _field(doc, item.arg)
            if value is not None:
                out[item.alias] = value
    return out


def render_template(template: str, topic: str, doc: dict) -> str:
    """A substitution template (`${topic(3)}`, `${field}`, `${newuuid()}`) as the rules engine fills it."""

    def sub(m: re.Match) -> str:
        expr = m.group(1).strip()
        if expr.lower() == "newuuid()":
            return str(uuid.uuid4())
        value = _topic(topic, _topic_arg(expr)) if expr.lower().startswith("topic(") else _field(doc, expr)
        return "" if value is None else str(value)

    return _TEMPLATE.sub(sub, template)


def load_rules(iot) -> list[Rule]:
    """Every enabled topic rule of the account, parsed; UnsupportedRule for the first the sandbox cannot play."""
    rules = []
    for listed in iot.list_topic_rules().get("rules", []):
        payload = iot.get_topic_rule(ruleName=listed["ruleName"])["rule"]
        if payload.get("ruleDisabled"):
            continue
        rules.append(
            parse_rule(
                payload["ruleName"],
                payload["sql"],
                sql_version=payload.get("awsIotSqlVersion"),
                actions=payload.get("actions") or [],
                error_action=payload.get("errorAction"),
            )
        )
    return rules


def deliver(rules: list[Rule], topic: str, payload: bytes, *, put_record, send_error) -> dict:
    """Runs every matching rule on one message: `put_record(stream, partition_key, data)` per Kinesis action,
    `send_error(queue_url, body)` with AWS's error-action message when an action (or the SQL) fails."""
    counts = {"matched": 0, "delivered": 0, "failed": 0}
    for rule in rules:
        try:
            doc = evaluate(rule, topic, payload)
        except ValueError as exc:
            counts["failed"] += 1
            _fail(rule, topic, payload, "SQL", str(exc), send_error)
            continue
        if doc is None:
            continue
        counts["matched"] += 1
        data = json.dumps(doc, separators=(",", ":")).encode()
        for action in rule.kinesis:
            try:
                key = render_template(action.get("partitionKey") or "${newuuid()}", topic, doc)
                if not 1 <= len(key) <= 256:
                    raise ValueError(f"partition key of {len(key)} characters (Kinesis takes 1-256)")
                put_record(action["streamName"], key, data)
                counts["delivered"] += 1
            except Exception as exc:  # noqa: BLE001 - a failed action goes to the rule's error action, as on AWS IoT
                counts["failed"] += 1
                _fail(rule, topic, payload, "KinesisAction", f"{type(exc).__name__}: {exc}", send_error)
    return counts


def _fail(rule: Rule, topic: str, payload: bytes, action: str, message: str, send_error) -> None:
    if rule.error_sqs is None:
        return  # AWS drops it too: a rule without an error action loses what it cannot deliver
    body = {
        "ruleName": rule.name,
        "topic": topic,
        "cloudwatchTraceId": str(uuid.uuid4()),
        "clientId": "",
        "base64OriginalPayload": base64.b64encode(payload).decode(),
        "failures": [{"failedAction": action, "failedResource": "", "errorMessage": message[:1000]}],
    }
    text = json.dumps(body)
    send_error(
        rule.error_sqs["queueUrl"],
        base64.b64encode(text.encode()).decode() if rule.error_sqs.get("useBase64") else text,
    )


def install_in_moto_server() -> None:
    """Runs the rules on every iot-data Publish inside the sandbox's moto server, as AWS IoT does (idempotent).

    Rules are read from moto's IoT backend at each publish, so what Terraform changes applies at once."""
    from moto.iotdata import models as iotdata_models

    if getattr(iotdata_models.IoTDataPlaneBackend, "_sandbox_rules", False):
        return
    original = iotdata_models.IoTDataPlaneBackend.publish

    def publish(self, topic: str, payload: bytes) -> None:
        original(self, topic, payload)
        _run_in_server(
            self.account_id, self.region_name, topic, payload if isinstance(payload, bytes) else payload.encode()
        )

    iotdata_models.IoTDataPlaneBackend.publish = publish
    iotdata_models.IoTDataPlaneBackend._sandbox_rules = True  # type: ignore[attr-defined]  # installed-once marker


def _run_in_server(account_id: str, region: str, topic: str, payload: bytes) -> None:
    from moto.iot.models import iot_backends
    from moto.kinesis.models import kinesis_backends
    from moto.sqs.models import sqs_backends

    rules = []
    for fake in iot_backends[account_id][region].rules.values():
        if fake.rule_disabled:
            continue
        try:
            rules.append(
                parse_rule(
                    fake.rule_name,
                    fake.sql,
                    sql_version=fake.aws_iot_sql_version,
                    actions=fake.actions,
                    error_action=fake.error_action,
                )
            )
        except UnsupportedRule:
            continue  # refused at `sandbox up`; never half-played here

    def put_record(stream: str, key: str, data: bytes) -> None:
        kinesis_backends[account_id][region].put_record(
            stream_arn=None,  # type: ignore[arg-type]  # moto says str; its own PutRecord handler passes None
            stream_name=stream,
            partition_key=key,
            explicit_hash_key=None,  # type: ignore[arg-type]  # the same
            data=base64.b64encode(data).decode(),
        )

    def send_error(queue_url: str, body: str) -> None:
        sqs_backends[account_id][region].send_message(queue_url.rstrip("/").rsplit("/", 1)[-1], body)

    deliver(rules, topic, payload, put_record=put_record, send_error=send_error)
