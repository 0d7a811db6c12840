"""Whether a Kinesis record's data is a device reading (docs/architecture.md, "Data"), and if not, why.

Pure: no I/O, no clock of its own (the caller passes `now_ms`). Every reason code here is a kind that
opsctl/sandbox/traffic.py's poison generator produces, and the quarantine's `reason_code`."""

from __future__ import annotations

import base64
import binascii
import json
import re
from decimal import Decimal
from typing import NamedTuple

MAX_DATA_BYTES = 16_384
MAX_METRICS = 64
DEVICE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
METRIC_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
REQUIRED_FIELDS = ("device_id", "ts", "metrics")
DEFAULT_MAX_AGE_DAYS = 365
DEFAULT_MAX_FUTURE_SECONDS = 300

# What DynamoDB's N type can hold: a number outside this would fail the whole BatchWriteItem request
# (ValidationException) and block its shard, so it is a poison record, not a write error.
DDB_MAX_DIGITS = 38
DDB_MIN_EXPONENT, DDB_MAX_EXPONENT = -130, 125  # magnitudes 1E-130 .. 9.99…E+125

REASON_CODES = (
    "not_utf8",
    "not_json",
    "not_object",
    "oversize",
    "missing_field",
    "bad_device_id",
    "bad_ts",
    "ts_out_of_window",
    "bad_metrics",
    "too_many_metrics",
    "non_finite_metric",
    "device_mismatch",
)


# NamedTuples rather than dataclasses: a dataclass costs ~0.4 ms at import, paid on every cold start.
class Reading(NamedTuple):
    device_id: str
    ts: int  # epoch milliseconds
    metrics: dict[str, Decimal]


class Rejection(NamedTuple):
    reason_code: str
    reason: str


def _non_finite(name: str) -> Decimal:
    # json.loads takes NaN/Infinity by default; keep them as non-finite Decimals so the field they sit in decides
    # the reason.
    return Decimal(name)


def decode(data_base64: str) -> bytes | Rejection:
    """The record's raw bytes, or a rejection if Kinesis' base64 does not decode (it always should)."""
    try:
        return base64.b64decode(data_base64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return Rejection("not_utf8", "data is not valid base64, so not UTF-8 text either")


def parse(
    data: bytes,
    *,
    now_ms: int,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    max_future_seconds: int = DEFAULT_MAX_FUTURE_SECONDS,
) -> Reading | Rejection:
    """The Reading in `data`, or the first Rejection it earns."""
    if len(data) > MAX_DATA_BYTES:
        return Rejection("oversize", f"{len(data)} bytes, over the {MAX_DATA_BYTES} a reading may take")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection("not_utf8", f"not UTF-8: {exc.reason} at byte {exc.start}")
    try:
        doc = json.loads(text, parse_float=Decimal, parse_constant=_non_finite)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int digit limits, deep nesting
        return Rejection("not_json", f"not JSON: {str(exc)[:200]}")
    if not isinstance(doc, dict):
        return Rejection("not_object", f"JSON {type(doc).__name__}, not an object")
    missing = [f for f in REQUIRED_FIELDS if f not in doc]
    if missing:
        return Rejection("missing_field", f"missing {', '.join(missing)}")
    device_id, ts, metrics = doc["device_id"], doc["ts"], doc["metrics"]
    if not isinstance(device_id, str) or not DEVICE_ID.fullmatch(device_id):
        return Rejection("bad_device_id", f"device_id {str(device_id)[:140]!r} does not match {DEVICE_ID.pattern}")
    if type(ts) is not int:  # bool is an int subclass; 1.7e12 parses as Decimal
        return Rejection("bad_ts", f"ts {str(ts)[:40]!r} is not an integer of epoch milliseconds")
    oldest = now_ms - max_age_days * 86_400_000
    latest = now_ms + max_future_seconds * 1000
    if not oldest <= ts <= latest:
        hint = " (epoch seconds, not milliseconds?)" if 0 < ts < 10**11 else ""
        return Rejection("ts_out_of_window", f"ts {ts} is outside [{oldest}, {latest}]{hint}")
    return _metrics(device_id, ts, metrics)


def _metrics(device_id: str, ts: int, metrics) -> Reading | Rejection:
    if not isinstance(metrics, dict) or not metrics:
        return Rejection("bad_metrics", "metrics must be a non-empty object of name → number")
    if len(metrics) > MAX_METRICS:
        return Rejection("too_many_metrics", f"{len(metrics)} metrics, over the {MAX_METRICS} allowed")
    clean = {}
    for name, value in metrics.items():
        if not METRIC_NAME.fullmatch(name):
            return Rejection("bad_metrics", f"metric name {name[:80]!r} does not match {METRIC_NAME.pattern}")
        if type(value) is int:
            value = Decimal(value)
        elif type(value) is not Decimal:  # str, bool, null, list, object
            return Rejection("bad_metrics", f"metric {name!r} is {type(value).__name__}, not a number")
        if not value.is_finite():
            return Rejection("non_finite_metric", f"metric {name!r} is {value}")
        if not _fits_dynamodb(value):
            return Rejection(
                "bad_metrics", f"metric {name!r} = {str(value)[:60]} is beyond DynamoDB's number range or 38 digits"
            )
        clean[name] = value
    return Reading(device_id, ts, clean)


def _fits_dynamodb(value: Decimal) -> bool:
    if not value:
        return True
    if not DDB_MIN_EXPONENT <= value.adjusted() <= DDB_MAX_EXPONENT:  # adjusted(): the leading digit's power of ten
        return False
    digits = value.as_tuple().digits
    return (
        len(digits) <= DDB_MAX_DIGITS or len("".join(map(str, digits)).rstrip("0")) <= DDB_MAX_DIGITS
    )  # trailing zeros are trimmed


def check_identity(reading: Reading, partition_key: str | None) -> Reading | Rejection:
    """The reading if its payload `device_id` is the record's partition key, else a `device_mismatch` rejection.

    The partition key is the identity the producer was authorised for: the IoT topic rule sets it from the
    topic (`${topic(3)}`), which the IoT policy binds to the connected thing; a trusted producer sets it to the
    device it writes for. A payload claiming another device is never stored under either id."""
    if partition_key == reading.device_id:
        return reading
    return Rejection(
        "device_mismatch",
        f"payload device_id {reading.device_id!r} is not the record's partition key {str(partition_key)[:140]!r}",
    )


def validate(
    data_base64: str,
    *,
    now_ms: int,
    max_age_days: int = DEFAULT_MAX_AGE_DAYS,
    max_future_seconds: int = DEFAULT_MAX_FUTURE_SECONDS,
) -> Reading | Rejection:
    """The Reading in a Kinesis record's base64 `data`, or why it is a poison record."""
    data = decode(data_base64)
    if isinstance(data, Rejection):
        return data
    return parse(data, now_ms=now_ms, max_age_days=max_age_days, max_future_seconds=max_future_seconds)
