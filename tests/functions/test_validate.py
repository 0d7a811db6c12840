"""The validation rules of docs/architecture.md, and the poison generator's kinds as reason codes."""

from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest

from ingest import validate
from ingest.validate import Reading, Rejection
from opsctl.sandbox import traffic

NOW_MS = 1_763_800_000_000


def check(doc, **kw) -> Reading | Rejection:
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return validate.validate(base64.b64encode(data).decode(), now_ms=NOW_MS, **kw)


def good(**changes) -> dict:
    return {"device_id": "dev-0001", "ts": NOW_MS - 1000, "metrics": {"temp_c": 21.5, "rssi_dbm": -70}, **changes}


def test_every_poison_kind_gets_the_reason_code_it_is_named_after():
    records = traffic.poison(len(traffic.POISON_KINDS) * 3, seed=3, now_ms=NOW_MS)
    assert {r.kind for r in records} == set(traffic.POISON_KINDS)
    for record in records:
        result = check(record.data)
        assert isinstance(result, Rejection), record.kind
        assert result.reason_code == record.kind, (record.kind, result.reason)
        assert result.reason


def test_reason_codes_are_exactly_the_poison_kinds():
    # device_mismatch is not a property of the data alone but of data vs partition key (the producer's
    # identity): tests/functions/test_ingest_handler.py sends it with a spoofing partition key.
    assert set(validate.REASON_CODES) == set(traffic.POISON_KINDS) | {"device_mismatch"}


def test_generated_readings_are_valid_with_decimal_metrics():
    for r in traffic.readings(3, 30, end_ms=NOW_MS):
        result = check(json.dumps(r, separators=(",", ":")).encode())
        assert result == Reading(r["device_id"], r["ts"], {k: Decimal(str(v)) for k, v in r["metrics"].items()})


def test_floats_keep_their_exact_decimal_digits():
    result = check(b'{"device_id":"d","ts":%d,"metrics":{"v":0.1,"w":3}}' % (NOW_MS - 1))
    assert result.metrics == {"v": Decimal("0.1"), "w": Decimal(3)}


@pytest.mark.parametrize(
    "doc, code",
    [
        (good(ts=True), "bad_ts"),
        (good(ts=float(NOW_MS)), "bad_ts"),
        (good(ts=None), "bad_ts"),
        (good(ts=NOW_MS - 365 * 86_400_000 - 1), "ts_out_of_window"),
        (good(ts=NOW_MS + 300_001), "ts_out_of_window"),
        (good(device_id=""), "bad_device_id"),
        (good(device_id="d" * 129), "bad_device_id"),
        (good(device_id=42), "bad_device_id"),
        (good(device_id="dev-1\n"), "bad_device_id"),
        (good(metrics={}), "bad_metrics"),
        (good(metrics=[1, 2]), "bad_metrics"),
        (good(metrics={"ok": True}), "bad_metrics"),
        (good(metrics={"ok": "21.5"}), "bad_metrics"),
        (good(metrics={"ok": None}), "bad_metrics"),
        (good(metrics={"bad name": 1}), "bad_metrics"),
        (good(metrics={"m" * 65: 1}), "bad_metrics"),
        (good(metrics={f"m{i}": i for i in range(65)}), "too_many_metrics"),
        (good(metrics={"v": float("inf")}), "non_finite_metric"),
        (good(metrics={"v": float("-inf")}), "non_finite_metric"),
        ({"device_id": "d", "ts": NOW_MS}, "missing_field"),
        ("just a string", "not_object"),
        (None, "not_object"),
    ],
)
def test_invalid_readings_get_their_reason_code(doc, code):
    result = check(doc)
    assert isinstance(result, Rejection) and result.reason_code == code, result


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"", "not_json"),
        (b"[" * 5000, "not_json"),  # deep nesting: RecursionError inside json, not a crash
        (b'{"device_id":"d","ts":%d,"metrics":{"v":NaN}}' % NOW_MS, "non_finite_metric"),
        (b'{"device_id":"d","ts":NaN,"metrics":{"v":1}}', "bad_ts"),
        (b'{"device_id":"d","ts":%d,"metrics":{"v":1e400}}' % NOW_MS, "bad_metrics"),  # beyond DynamoDB's N range
        (b'{"device_id":"d","ts":%d,"metrics":{"v":1234567890123456789012345678901234567890}}' % NOW_MS, "bad_metrics"),
        (b'{"device_id":"d","ts":%d,"metrics":{"v":%s}}' % (NOW_MS, b"9" * 5000), "not_json"),  # int digit limit
        ("é".encode("latin-1"), "not_utf8"),
    ],
)
def test_raw_bytes_that_are_not_readings(raw, code):
    result = check(raw)
    assert isinstance(result, Rejection) and result.reason_code == code, result


def test_limits_are_inclusive():
    assert isinstance(check(good(device_id="d" * 128, metrics={f"m{i}": i for i in range(64)})), Reading)
    assert isinstance(check(good(metrics={"m" * 64: 0})), Reading)
    assert isinstance(check(good(ts=NOW_MS - 365 * 86_400_000)), Reading)
    assert isinstance(check(good(ts=NOW_MS + 300_000)), Reading)
    padded = json.dumps(good(note="")).encode()
    exactly = json.dumps(good(note="x" * (validate.MAX_DATA_BYTES - len(padded)))).encode()
    assert len(exactly) == validate.MAX_DATA_BYTES and isinstance(check(exactly), Reading)
    assert check(exactly[:-1] + b" }").reason_code == "oversize"


def test_window_follows_the_configured_limits():
    assert check(good(ts=NOW_MS - 2 * 86_400_000), max_age_days=1).reason_code == "ts_out_of_window"
    assert isinstance(check(good(ts=NOW_MS + 3_000_000), max_future_seconds=3600), Reading)


def test_base64_that_does_not_decode_is_rejected_not_raised():
    result = validate.validate("not base64!!", now_ms=NOW_MS)
    assert isinstance(result, Rejection)
