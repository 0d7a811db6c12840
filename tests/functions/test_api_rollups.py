"""GET /devices/{device_id}/rollups through the read API handler, with real-shaped payload-2.0 events,
against moto's DynamoDB: rollups written by the worker's own code from readings the test sends, compared
with aggregates the test computes itself; and every validation error of the readings route."""

from __future__ import annotations

import json
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


def roll_up(api, device: str, hours: list[int]) -> None:  # noqa: F811 - takes the `api` fixture's value, not the fixture
    """What the rollup worker does for each (device, hour) job: read the hour's readings, aggregate, overwrite."""
    for h in hours:
        job = RollupJob(device, h)
        agg = aggregate(store.read_hour(api.ddb, _readings_table(), job))
        if agg.count:
            store.put_rollup(api.ddb, ROLLUP_TABLE, store.to_item(job, agg, computed_at=T0, ttl_days=400))


def _readings_table() -> str:
    from .conftest import TABLE

    return TABLE


def get(api, device: str, **query):  # noqa: F811 - takes the `api` fixture's value, not the fixture
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
        (DEVICE, {"limit": "0"}, "bad_limit"),
        (DEVICE, {"limit": "1001"}, "bad_limit"),
        (DEVICE, {"cursor": "not-a-cursor"}, "bad_cursor"),
        (DEVICE, {"page": "2"}, "unknown_parameter"),
    ],
)
def test_every_invalid_parameter_is_a_400_with_the_error_shape(rapi, device, query, code):
    status, _, body = get(rapi, device, **query)
    if code is None:
        assert status == 200
    else:
        assert status == 400 and body["error"]["code"] == code and body["error"]["message"]


# --- a year of data: pages, each response far below Lambda's 6 MB --------------------------------------


def _year_of_rollups(api, device: str, hours: int, metrics: int) -> int:  # noqa: F811 - takes the `api` fixture's value, not the fixture
    """`hours` consecutive rollup items of `metrics` metrics each, with 38-digit numbers (the widest DynamoDB
    stores), written as the worker writes them; returns the first hour_start."""
    from decimal import Decimal

    from rollup.aggregate import Aggregate, MetricStats

    first = H0 - hours * HOUR_MS
    wide = Decimal("-1234567890.1234567890123456789012345678")
    agg = Aggregate(
        60, first, first + 59, {f"metric_{m:02d}_name": MetricStats(60, wide, -wide, wide * 60) for m in range(metrics)}
    )
    items = [
        {
            "PutRequest": {
                "Item": store.to_item(RollupJob(device, first + h * HOUR_MS), agg, computed_at=T0, ttl_days=400)
            }
        }
        for h in range(hours)
    ]
    for at in range(0, len(items), 25):
        api.ddb.batch_write_item(RequestItems={ROLLUP_TABLE: items[at : at + 25]})
    return first


def _pages(api, device: str, **query):  # noqa: F811 - takes the `api` fixture's value, not the fixture
    """Every page of a listing, following next_cursor as a client would: (raw Lambda response size, body)."""
    from api import handler as api_handler

    from .conftest import FakeContext
    from .test_api_handler import api_event

    pages, cursor = [], None
    while True:
        q = {**query, **({"cursor": cursor} if cursor else {})}
        resp = api_handler.handler(
            api_event("GET", f"/devices/{device}/rollups", q, route_key=ROLLUPS, path_parameters={"device_id": device}),
            FakeContext(function_name="telemetry-api-test"),
        )
        assert resp["statusCode"] == 200, resp["body"]
        body = json.loads(resp["body"])
        pages.append((len(json.dumps(resp).encode()), body))
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_a_long_range_comes_in_pages_of_limit_hours_each_within_the_response_budget(rapi):
    # Before paging, a year of a 10-metric device was one 10.7 MB response (Lambda refuses > 6 MB). moto takes
    # ~1 s per 150 items here, so the test pages 300 hours; the cut itself is pinned by the byte-budget test below.
    from api.http import MAX_RESPONSE_BYTES

    hours = 300
    first = _year_of_rollups(rapi, DEVICE, hours, metrics=10)
    pages = _pages(rapi, DEVICE, **{"from": str(first), "to": str(H0 - 1), "limit": "120"})
    got = [i["hour_start"] for _, body in pages for i in body["items"]]
    assert got == [first + h * HOUR_MS for h in range(hours)]  # every hour once, in order
    assert [body["count"] for _, body in pages] == [120, 120, 60]
    assert max(size for size, _ in pages) <= MAX_RESPONSE_BYTES < 6 * 1024 * 1024
    desc = _pages(rapi, DEVICE, **{"from": str(first), "to": str(H0 - 1), "limit": "120", "order": "desc"})
    assert [i["hour_start"] for _, body in desc for i in body["items"]] == got[::-1]


def test_the_default_page_is_100_hours_and_a_cursor_alone_resumes_its_range(rapi):
    first = _year_of_rollups(rapi, DEVICE, 150, metrics=2)
    _, _, page1 = get(rapi, DEVICE, **{"from": str(first), "to": str(H0)})
    assert page1["count"] == 100 and page1["next_cursor"]
    # No from/to on the second request: the cursor carries the first page's (signed), so "now" cannot move it.
    _, _, page2 = get(rapi, DEVICE, cursor=page1["next_cursor"])
    assert page2["from"] == page1["from"] and page2["to"] == page1["to"]
    assert [i["hour_start"] for i in page1["items"] + page2["items"]] == [first + h * HOUR_MS for h in range(150)]
    assert page2["next_cursor"] is None
    # A cursor is bound to its device, range and order; one altered by a byte is refused.
    status, _, body = get(
        rapi, DEVICE, **{"from": str(first), "to": str(H0), "order": "desc", "cursor": page1["next_cursor"]}
    )
    assert (status, body["error"]["code"]) == (400, "cursor_mismatch")
    forged = page1["next_cursor"][:-2] + ("AA" if not page1["next_cursor"].endswith("AA") else "BB")
    assert get(rapi, DEVICE, cursor=forged)[2]["error"]["code"] == "bad_cursor"


def test_a_page_is_cut_at_the_byte_budget_and_the_cursor_resumes_after_the_last_item_sent(rapi, monkeypatch):
    from api import http

    first = _year_of_rollups(rapi, DEVICE, 40, metrics=20)
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", 60_000)  # the same cut, at a size a test can fill
    pages = _pages(rapi, DEVICE, **{"from": str(first), "to": str(H0 - 1), "limit": "1000"})
    assert len(pages) > 1 and all(size <= 60_000 for size, _ in pages)
    assert [i["hour_start"] for _, b in pages for i in b["items"]] == [first + h * HOUR_MS for h in range(40)]
