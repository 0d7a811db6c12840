"""GET /devices/{device_id}/rollups through the read API handler, with real-shaped payload-2.0 events,
against moto's DynamoDB: rollups written by the worker's own code from readings the test sends, compared
with aggregates the test computes itself; and every validation error of the readings route."""

from __future__ import annotations

import time
from datetime import UTC

import boto3
import pytest

from rollup import store
from rollup.aggregate import aggregate
from rollup.job import HOUR_MS, RollupJob, hour_start

from .conftest import REGION
from .test_api_handler import DEVICE, T0, api  # noqa: F401  (the fixture)

ROLLUPS = "GET /devices/{device_id}/rollups"
ROLLUP_TABLE = "telemetry-test-rollups"
H0 = hour_start(T0)


@pytest.fixture
def rapi(api, monkeypatch):  # noqa: F811
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName=ROLLUP_TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "device_id", "KeyType": "HASH"},
            {"AttributeName": "hour_start", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "device_id", "AttributeType": "S"},
            {"AttributeName": "hour_start", "AttributeType": "N"},
        ],
    )
    monkeypatch.setenv("ROLLUP_TABLE_NAME", ROLLUP_TABLE)
    return api


def roll_up(api, device: str, hours: list[int]) -> None:
    """What the rollup worker does for each (device, hour) job: read the hour's readings, aggregate, overwrite."""
    for h in hours:
        job = RollupJob(device, h)
        agg = aggregate(store.read_hour(api.ddb, _readings_table(), job))
        if agg.count:
            store.put_rollup(api.ddb, ROLLUP_TABLE, store.to_item(job, agg, computed_at=T0, ttl_days=400))


def _readings_table() -> str:
    from .conftest import TABLE

    return TABLE


def get(api, device: str, **query):
    path = f"/devices/{device}/rollups"
    return api.call("GET", path, query, route_key=ROLLUPS, path_parameters={"device_id": device})


def test_rollups_equal_the_aggregates_of_the_readings_sent(rapi):
    # 3 hours of readings, one a minute: temp_c rises by 0.25 each minute, rssi_dbm falls by 1.
    ts = rapi.history(DEVICE, 180, start=H0, step_ms=60_000)
    rapi.history("dev-other", 5, start=H0)
    roll_up(rapi, DEVICE, [H0, H0 + HOUR_MS, H0 + 2 * HOUR_MS])
    status, headers, body = get(rapi, DEVICE, **{"from": str(H0), "to": str(H0 + 3 * HOUR_MS - 1)})
    assert status == 200 and headers["Content-Type"].startswith("application/json") and "Cache-Control" in headers
    assert body["device_id"] == DEVICE and body["count"] == 3
    for n, item in enumerate(body["items"]):
        minutes = [i for i, t in enumerate(ts) if H0 + n * HOUR_MS <= t < H0 + (n + 1) * HOUR_MS]
        temps = [20 + i / 4 for i in minutes]
        assert item["hour_start"] == H0 + n * HOUR_MS and item["count"] == len(minutes) == 60
        t = item["metrics"]["temp_c"]
        assert (t["count"], t["min"], t["max"]) == (60, min(temps), max(temps))
        assert t["sum"] == pytest.approx(sum(temps)) and t["avg"] == pytest.approx(sum(temps) / 60)
        assert isinstance(t["min"], (int, float)) and not isinstance(t["min"], bool)  # numbers stay numbers
        assert item["metrics"]["rssi_dbm"]["max"] == -60 - minutes[0]


def test_a_range_inside_one_hour_returns_that_hour_and_desc_reverses(rapi):
    rapi.history(DEVICE, 120, start=H0, step_ms=60_000)
    roll_up(rapi, DEVICE, [H0, H0 + HOUR_MS])
    status, _, body = get(rapi, DEVICE, **{"from": str(H0 + 10 * 60_000), "to": str(H0 + 20 * 60_000)})
    assert status == 200 and [i["hour_start"] for i in body["items"]] == [H0]
    _, _, desc = get(rapi, DEVICE, **{"from": str(H0), "to": str(H0 + 2 * HOUR_MS - 1), "order": "desc"})
    assert [i["hour_start"] for i in desc["items"]] == [H0 + HOUR_MS, H0]


def test_iso_and_epoch_forms_give_the_same_answer_and_an_empty_range_is_empty(rapi):
    rapi.history(DEVICE, 10, start=H0, step_ms=60_000)
    roll_up(rapi, DEVICE, [H0])
    from datetime import datetime

    iso = datetime.fromtimestamp(H0 / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
    assert (
        get(rapi, DEVICE, **{"from": iso, "to": str(H0 + 1)})[2]["items"]
        == get(rapi, DEVICE, **{"from": str(H0), "to": str(H0 + 1)})[2]["items"]
    )
    status, _, empty = get(rapi, DEVICE, **{"from": str(H0 - 10 * HOUR_MS), "to": str(H0 - 1)})
    assert status == 200 and empty["count"] == 0 and empty["items"] == []


@pytest.mark.parametrize(
    "device, query, code",
    [
        ("dev 1", {}, "bad_device_id"),
        (DEVICE, {"from": str(int(time.time() * 1000) - HOUR_MS)}, None),  # valid: from alone, to defaults to now
        (DEVICE, {}, None),  # valid: the last 24 hours
        (DEVICE, {"from": "20", "to": "10"}, "bad_range"),
        (DEVICE, {"from": "0", "to": str(400 * 24 * HOUR_MS)}, "bad_range"),
        (DEVICE, {"from": "yesterday"}, "bad_from"),
        (DEVICE, {"to": "2025-13-01T00:00:00Z"}, "bad_to"),
        (DEVICE, {"order": "sideways"}, "bad_order"),
        (DEVICE, {"limit": "5"}, "unknown_parameter"),
    ],
)
def test_every_invalid_parameter_is_a_400_with_the_error_shape(rapi, device, query, code):
    status, _, body = get(rapi, device, **query)
    if code is None:
        assert status == 200
    else:
        assert status == 400 and body["error"]["code"] == code and body["error"]["message"]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_a_range_larger_than_lambdas_response_limit_comes_in_parts_with_where_to_continue(rapi, monkeypatch, order):
    import json

    from api import rollups as route

    hours = [H0 + n * HOUR_MS for n in range(12)]
    for h in hours:
        rapi.history(DEVICE, 2, start=h, step_ms=60_000)
    roll_up(rapi, DEVICE, hours)
    _, _, whole = get(rapi, DEVICE, **{"from": str(H0), "to": str(hours[-1] + HOUR_MS - 1), "order": order})
    assert whole["count"] == 12 and whole["next"] is None
    one_item = len(json.dumps(whole["items"][0], separators=(",", ":"))) + 1
    monkeypatch.setattr(route, "BODY_BUDGET_BYTES", 5 * one_item)  # as if each hour were a megabyte
    seen, query = [], {"from": str(H0), "to": str(hours[-1] + HOUR_MS - 1), "order": order}
    for _ in range(10):
        status, _, part = get(rapi, DEVICE, **query)
        assert status == 200 and 0 < part["count"] <= 5
        seen += part["items"]
        if part["next"] is None:
            break
        query = {"from": str(part["next"]["from"]), "to": str(part["next"]["to"]), "order": order}
    assert seen == whole["items"]  # every hour once, in order, across the parts
