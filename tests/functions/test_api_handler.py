"""The read API handler with real-shaped API Gateway HTTP API (payload 2.0) events, against moto's
DynamoDB and KMS (an HMAC_256 key; GenerateMac derives the cursor subkeys): every route, every error, cursors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse

import boto3
import pytest
from moto import mock_aws

from api import cursor as cursor_mod
from api import handler as api_handler
from api import params
from api.http import ApiError
from common import clients

from .conftest import REGION, TABLE, FakeContext

API_ID = "a1b2c3d4e5"
READINGS = "GET /devices/{device_id}/readings"
LATEST = "GET /devices/{device_id}/latest"
DEVICE = "dev-0001"
T0 = 1_763_800_000_000  # 2025-11-22T08:26:40Z
REGISTRY = "telemetry-test-devices"
TENANT_INDEX = "by_tenant"
# What API Gateway's JWT authorizer hands the function for a Cognito access token (array claims as "[a b]").
OPERATOR = {
    "sub": "0f1e2d3c-0000-4000-8000-00000000a0a0",
    "cognito:groups": "[operators]",
    "client_id": "5hd3c9example",
    "scope": "aws.cognito.signin.user.admin",
    "token_use": "access",
    "username": "op",
}


def api_event(
    method: str,
    path: str,
    query: dict | None = None,
    *,
    route_key: str | None = None,
    path_parameters: dict | None = None,
    claims: dict | None = OPERATOR,
) -> dict:
    """An HTTP API payload-2.0 event as API Gateway sends it (AWS docs, "Working with AWS Lambda proxy
    integrations for HTTP APIs"): repeated query parameters joined with commas, headers lower-cased."""
    query = query or {}
    raw_qs = urllib.parse.urlencode(query)
    segments = path.strip("/").split("/")
    if route_key is None:
        if len(segments) == 3 and segments[0] == "devices" and segments[2] in ("readings", "latest"):
            route_key = f"{method} /devices/{{device_id}}/{segments[2]}"
            path_parameters = {"device_id": urllib.parse.unquote(segments[1])}
        elif segments == ["devices"]:
            route_key = f"{method} /devices"
        else:
            route_key = "$default"
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_qs,
        "headers": {
            "accept": "application/json",
            "host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": "Root=1-65f0a1b2-0123456789abcdef01234567",
            "x-forwarded-for": "198.51.100.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": route_key,
            "stage": "$default",
            "time": "22/Nov/2025:08:30:00 +0000",
            "timeEpoch": 1763800200000,
        },
        "isBase64Encoded": False,
    }
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    if query:
        event["queryStringParameters"] = {k: str(v) for k, v in query.items()}
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


@pytest.fixture
def api(monkeypatch):
    """moto's DynamoDB (the telemetry table) and KMS (an HMAC key); the handler's environment as Terraform sets it."""
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_KMS"):
        monkeypatch.delenv(var, raising=False)
    clients.reset()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "device_id", "AttributeType": "S"},
                {"AttributeName": "ts", "AttributeType": "N"},
            ],
        )
        ddb.create_table(
            TableName=REGISTRY,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "device_id", "AttributeType": "S"},
                {"AttributeName": "tenant", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": TENANT_INDEX,
                    "KeySchema": [
                        {"AttributeName": "tenant", "KeyType": "HASH"},
                        {"AttributeName": "device_id", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        kms = boto3.client("kms", region_name=REGION)
        key_arn = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
        for k, v in {
            "TABLE_NAME": TABLE,
            "REGISTRY_TABLE_NAME": REGISTRY,
            "REGISTRY_TENANT_INDEX": TENANT_INDEX,
            "CURSOR_KEY_ARN": key_arn,
            "CURSOR_TTL_SECONDS": "3600",
            "READINGS_MAX_AGE_SECONDS": "10",
            "LOG_LEVEL": "INFO",
            "ENVIRONMENT": "test",
            "AWS_REGION": REGION,
        }.items():
            monkeypatch.setenv(k, v)
        yield Api(ddb, kms, key_arn)
    clients.reset()


class Api:
    def __init__(self, ddb, kms, key_arn):
        self.ddb, self.kms, self.key_arn = ddb, kms, key_arn

    def put(self, device: str, ts: int, **metrics) -> None:
        self.ddb.put_item(
            TableName=TABLE,
            Item={
                "device_id": {"S": device},
                "ts": {"N": str(ts)},
                "metrics": {"M": {k: {"N": str(v)} for k, v in metrics.items()}},
                "expires_at": {"N": str(ts // 1000 + 90 * 86400)},
            },
        )

    def register(self, device: str, tenant: str, status: str = "active", created_at: int = T0) -> None:
        """A registry entry as `opsctl devices register` writes it."""
        self.ddb.put_item(
            TableName=REGISTRY,
            Item={
                "device_id": {"S": device},
                "tenant": {"S": tenant},
                "status": {"S": status},
                "created_at": {"N": str(created_at)},
                "certificate_id": {"S": "c" * 64},
                "thing_name": {"S": device},
            },
        )

    def history(self, device: str, n: int, start: int = T0, step_ms: int = 1000) -> list[int]:
        ts = [start + i * step_ms for i in range(n)]
        items = [
            {
                "PutRequest": {
                    "Item": {
                        "device_id": {"S": device},
                        "ts": {"N": str(t)},
                        "metrics": {"M": {"temp_c": {"N": str(20 + i / 4)}, "rssi_dbm": {"N": str(-60 - i)}}},
                    }
                }
            }
            for i, t in enumerate(ts)
        ]
        for start_at in range(0, n, 25):
            self.ddb.batch_write_item(RequestItems={TABLE: items[start_at : start_at + 25]})
        return ts

    def call(self, method: str, path: str, query: dict | None = None, **kw) -> tuple[int, dict, dict]:
        resp = api_handler.handler(
            api_event(method, path, query, **kw), FakeContext(function_name="telemetry-api-test")
        )
        json.dumps(resp)  # Lambda must be able to marshal it
        return resp["statusCode"], resp["headers"], json.loads(resp["body"])

    def get(self, path: str, **query) -> tuple[int, dict, dict]:
        return self.call("GET", path, query)


def _error(status_body) -> tuple[int, str]:
    status, _, body = status_body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"} and body["error"]["message"]
    return status, body["error"]["code"]


# --- readings -----------------------------------------------------------------------------------------


def test_readings_come_back_in_order_with_numbers_as_numbers(api):
    api.put(DEVICE, T0, temp_c=21.5, rssi_dbm=-71, battery_v=3.95)
    api.put(DEVICE, T0 + 1000, temp_c=-0.25, rssi_dbm=-70, battery_v=4)
    api.put("dev-0002", T0, temp_c=99)
    status, headers, body = api.get(f"/devices/{DEVICE}/readings")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "private, max-age=10"
    assert body["items"] == [
        {"ts": T0, "metrics": {"temp_c": 21.5, "rssi_dbm": -71, "battery_v": 3.95}},
        {"ts": T0 + 1000, "metrics": {"temp_c": -0.25, "rssi_dbm": -70, "battery_v": 4}},
    ]
    assert isinstance(body["items"][0]["metrics"]["rssi_dbm"], int) and isinstance(
        body["items"][1]["metrics"]["temp_c"], float
    )
    assert body["count"] == 2 and body["next_cursor"] is None and body["device_id"] == DEVICE


def test_cache_max_age_follows_its_setting_in_seconds(api, monkeypatch):
    monkeypatch.setenv("READINGS_MAX_AGE_SECONDS", "0")
    api.put(DEVICE, T0, temp_c=1)
    assert api.get(f"/devices/{DEVICE}/readings")[1]["Cache-Control"] == "private, max-age=0"


def test_desc_order_returns_newest_first(api):
    ts = api.history(DEVICE, 5)
    _, _, body = api.get(f"/devices/{DEVICE}/readings", order="desc")
    assert [i["ts"] for i in body["items"]] == ts[::-1]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_paging_returns_every_reading_once_in_order_with_one_query_per_page(api, order, capsys):
    ts = api.history(DEVICE, 23)
    api.history("dev-0002", 5)
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 5, "order": order, **({"cursor": cursor} if cursor else {})}
        status, _, body = api.get(f"/devices/{DEVICE}/readings", **query)
        assert status == 200
        seen += [i["ts"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == (ts if order == "asc" else ts[::-1])
    assert pages == 5  # 23 readings in pages of 5: no trailing empty page
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"request"' in line]
    assert [line["aws_requests"]["dynamodb:Query"] for line in lines] == [1] * 5


def test_exactly_full_last_page_has_no_cursor(api):
    api.history(DEVICE, 10)
    _, _, first = api.get(f"/devices/{DEVICE}/readings", limit=5)
    _, _, second = api.get(f"/devices/{DEVICE}/readings", limit=5, cursor=first["next_cursor"])
    assert second["count"] == 5 and second["next_cursor"] is None


def test_limit_may_change_between_pages(api):
    ts = api.history(DEVICE, 12)
    _, _, first = api.get(f"/devices/{DEVICE}/readings", limit=4)
    _, _, rest = api.get(f"/devices/{DEVICE}/readings", limit=1000, cursor=first["next_cursor"])
    assert [i["ts"] for i in first["items"] + rest["items"]] == ts


def test_default_limit_is_100_and_1000_is_allowed(api):
    api.history(DEVICE, 1001, step_ms=10)
    _, _, default = api.get(f"/devices/{DEVICE}/readings")
    _, _, biggest = api.get(f"/devices/{DEVICE}/readings", limit=1000)
    assert default["count"] == 100 and biggest["count"] == 1000 and biggest["next_cursor"]


@pytest.mark.parametrize(
    "frm, to",
    [
        (T0 + 2000, T0 + 4000),
        ("2025-11-22T08:26:42Z", "2025-11-22T08:26:44Z"),
        ("2025-11-22T08:26:42.000+00:00", "2025-11-22T09:26:44+01:00"),
        ("2025-11-22T09:26:42 01:00", T0 + 4000),  # "+" decoded to a space by a form decoder
    ],
)
def test_from_and_to_accept_epoch_ms_and_iso_8601_inclusive(api, frm, to):
    ts = api.history(DEVICE, 10)
    _, _, body = api.get(f"/devices/{DEVICE}/readings", **{"from": frm, "to": to})
    assert [i["ts"] for i in body["items"]] == ts[2:5]
    assert (body["from"], body["to"]) == (T0 + 2000, T0 + 4000)


@pytest.mark.parametrize("query", [{"from": T0 + 500, "to": T0 + 900}, {"from": T0, "to": T0}])
def test_empty_range_is_an_empty_page_not_an_error(api, query):
    api.put(DEVICE, T0 + 1000, temp_c=1)
    status, _, body = api.get(f"/devices/{DEVICE}/readings", **query)
    assert status == 200 and body["items"] == [] and body["count"] == 0 and body["next_cursor"] is None


def test_unknown_device_has_no_readings(api):
    status, _, body = api.get("/devices/nobody/readings")
    assert status == 200 and body["items"] == []


# --- latest -------------------------------------------------------------------------------------------


def test_latest_is_the_newest_reading(api):
    api.history(DEVICE, 4)
    api.put("dev-0002", T0 + 99_000, temp_c=5)
    status, headers, body = api.get(f"/devices/{DEVICE}/latest")
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    assert body == {"device_id": DEVICE, "ts": T0 + 3000, "metrics": {"temp_c": 20.75, "rssi_dbm": -63}}


def test_latest_of_an_unknown_device_is_404(api):
    assert _error(api.get("/devices/nobody/latest")) == (404, "no_readings")


def test_latest_takes_no_parameters(api):
    assert _error(api.get(f"/devices/{DEVICE}/latest", limit=1)) == (400, "unknown_parameter")


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, code",
    [
        ({"from": "yesterday"}, "bad_from"),
        ({"to": "2025-13-01T00:00:00Z"}, "bad_to"),
        ({"from": "2025-11-22T08:00:00"}, "bad_from"),  # no time zone
        ({"from": "-5"}, "bad_from"),
        ({"to": "9999999999999999"}, "bad_to"),
        ({"from": T0 + 1, "to": T0}, "bad_range"),
        ({"from": "2025-11-23T00:00:00Z", "to": "2025-11-22T00:00:00Z"}, "bad_range"),
        ({"limit": 0}, "bad_limit"),
        ({"limit": 1001}, "bad_limit"),
        ({"limit": "ten"}, "bad_limit"),
        ({"limit": "5,6"}, "bad_limit"),
        ({"limit": "²"}, "bad_limit"),  # a repeated parameter, as API Gateway joins it
        ({"order": "newest"}, "bad_order"),
        ({"cursor": "not-a-cursor"}, "bad_cursor"),
        ({"cursor": "a.b.c"}, "bad_cursor"),
        ({"cursor": "eyJ2IjoxfQ.!!!"}, "bad_cursor"),
        ({"cursor": "x" * 2000}, "bad_cursor"),
        ({"form": T0}, "unknown_parameter"),
    ],
)
def test_every_invalid_parameter_is_a_400_with_the_error_shape(api, query, code):
    _, headers, _ = (resp := api.get(f"/devices/{DEVICE}/readings", **query))
    assert _error(resp) == (400, code)
    assert headers["Content-Type"] == "application/json" and headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("device", ["dev 01", "dev/01", "x" * 129, "dév"])
def test_bad_device_id_is_a_400(api, device):
    for route in ("readings", "latest"):
        resp = api.call(
            "GET",
            f"/devices/{urllib.parse.quote(device, safe='')}/{route}",
            route_key=f"GET /devices/{{device_id}}/{route}",
            path_parameters={"device_id": device},
        )
        assert _error(resp) == (400, "bad_device_id")


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/devices"), ("GET", "/devices/dev-0001/rollups"), ("POST", "/devices/dev-0001/readings"), ("GET", "/")],
)
def test_unknown_routes_are_a_404_with_the_error_shape(api, method, path):
    _, _, body = resp = api.call(method, path, route_key="$default")
    assert _error(resp) == (404, "route_not_found") and path in body["error"]["message"]


# --- cursors ------------------------------------------------------------------------------------------


def _first_cursor(api, **query) -> str:
    api.history(DEVICE, 6)
    api.history("dev-0002", 6)
    cursor = api.get(f"/devices/{DEVICE}/readings", limit=2, **query)[2]["next_cursor"]
    assert cursor
    return cursor


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_tampered_cursor_is_a_400(api):
    cursor = _first_cursor(api)
    payload, mac = cursor.split(".")
    fields = json.loads(_unb64(payload))
    forged = _b64(json.dumps({**fields, "k": fields["k"] - 10_000}, separators=(",", ":"), sort_keys=True).encode())
    assert _error(api.get(f"/devices/{DEVICE}/readings", limit=2, cursor=f"{forged}.{mac}")) == (400, "bad_cursor")
    flipped = bytearray(_unb64(mac))
    flipped[0] ^= 1
    assert _error(api.get(f"/devices/{DEVICE}/readings", limit=2, cursor=f"{payload}.{_b64(bytes(flipped))}")) == (
        400,
        "bad_cursor",
    )


def test_cursor_signed_with_another_key_is_a_400(api):
    """Another deployment's cursor: same format and period, subkey derived from another KMS key."""
    cursor = _first_cursor(api)
    payload, _ = cursor.split(".")
    fields = json.loads(_unb64(payload))
    other = api.kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    other_subkey = api.kms.generate_mac(
        KeyId=other, Message=cursor_mod.subkey_label(fields["p"]), MacAlgorithm="HMAC_SHA_256"
    )["Mac"]
    mac = hmac.new(other_subkey, _unb64(payload), hashlib.sha256).digest()
    assert _error(api.get(f"/devices/{DEVICE}/readings", limit=2, cursor=f"{payload}.{_b64(mac)}")) == (
        400,
        "bad_cursor",
    )


def test_another_devices_cursor_is_a_400(api):
    cursor = _first_cursor(api)
    assert _error(api.get("/devices/dev-0002/readings", limit=2, cursor=cursor)) == (400, "cursor_mismatch")


@pytest.mark.parametrize("changed", [{"order": "desc"}, {"from": T0 + 1}, {"to": T0 + 50_000}])
def test_cursor_of_another_query_is_a_400(api, changed):
    cursor = _first_cursor(api)
    assert _error(api.get(f"/devices/{DEVICE}/readings", limit=2, cursor=cursor, **changed)) == (400, "cursor_mismatch")


def test_expired_cursor_is_a_400(api, monkeypatch):
    cursor = _first_cursor(api)
    real = time.time
    monkeypatch.setattr(cursor_mod.time, "time", lambda: real() + 3601)
    assert _error(api.get(f"/devices/{DEVICE}/readings", limit=2, cursor=cursor)) == (400, "expired_cursor")


def test_cursor_holds_no_secret_and_binds_device_query_and_expiry(api):
    cursor = _first_cursor(api, order="desc")
    fields = json.loads(_unb64(cursor.split(".")[0]))
    assert fields["d"] == DEVICE and fields["o"] == "desc" and fields["r"] == READINGS
    assert time.time() + 3590 < fields["x"] <= time.time() + 3600  # epoch seconds, CURSOR_TTL_SECONDS ahead
    assert fields["p"] == int(time.time()) // cursor_mod.KEY_PERIOD_SECONDS  # the key period it was signed in
    assert len(_unb64(cursor.split(".")[1])) == 32  # HMAC-SHA-256


def _at(monkeypatch, epoch_s: float) -> None:
    monkeypatch.setattr(cursor_mod.time, "time", lambda: epoch_s)


def _kms_requests(capsys) -> list[int]:
    """KMS requests per API request, from the handler's log lines."""
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"aws_requests"' in x]
    return [sum(n for call, n in line["aws_requests"].items() if call.startswith("kms:")) for line in lines]


def _walk(api, cursor=None, pages=1, limit=2) -> str | None:
    for _ in range(pages):
        status, _, body = api.get(f"/devices/{DEVICE}/readings", limit=limit, **({"cursor": cursor} if cursor else {}))
        assert status == 200, body
        cursor = body["next_cursor"]
    return cursor


def test_warm_function_signs_and_checks_cursors_without_kms(api, capsys):
    api.history(DEVICE, 12)
    cursor_mod.reset_subkeys()  # a cold container
    capsys.readouterr()
    _walk(api, pages=6)
    # The first page derives the period's subkey (one GenerateMac); every later page issues and opens locally.
    assert _kms_requests(capsys) == [1, 0, 0, 0, 0, 0]


def test_cursor_issued_before_a_period_rollover_still_opens_after_it(api, monkeypatch, capsys):
    api.history(DEVICE, 12)
    boundary = (int(time.time()) // cursor_mod.KEY_PERIOD_SECONDS + 1) * cursor_mod.KEY_PERIOD_SECONDS
    _at(monkeypatch, boundary - 5)
    cursor = _walk(api)
    assert json.loads(_unb64(cursor.split(".")[0]))["p"] == boundary // cursor_mod.KEY_PERIOD_SECONDS - 1
    _at(monkeypatch, boundary + 5)
    capsys.readouterr()
    status, _, body = api.get(f"/devices/{DEVICE}/readings", limit=2, cursor=cursor)
    assert status == 200 and [r["ts"] for r in body["items"]] == [T0 + 2000, T0 + 3000]
    new_fields = json.loads(_unb64(body["next_cursor"].split(".")[0]))
    assert new_fields["p"] == boundary // cursor_mod.KEY_PERIOD_SECONDS  # the next cursor is signed with the new key
    _walk(api, body["next_cursor"], pages=2)
    assert _kms_requests(capsys) == [1, 0, 0]  # the new period's subkey, once


def test_cold_container_opens_a_cursor_of_the_previous_period(api, monkeypatch):
    api.history(DEVICE, 12)
    boundary = (int(time.time()) // cursor_mod.KEY_PERIOD_SECONDS + 1) * cursor_mod.KEY_PERIOD_SECONDS
    _at(monkeypatch, boundary - 5)
    cursor = _walk(api)
    cursor_mod.reset_subkeys()  # another container, started after the boundary, serves the next page
    _at(monkeypatch, boundary + 5)
    status, _, body = api.get(f"/devices/{DEVICE}/readings", limit=2, cursor=cursor)
    assert status == 200 and [r["ts"] for r in body["items"]] == [T0 + 2000, T0 + 3000]


def test_cursor_moved_to_another_period_is_a_400(api):
    """A genuine payload relabelled with another period is checked with that period's subkey, and fails."""
    cursor = _first_cursor(api)
    payload, mac = cursor.split(".")
    fields = json.loads(_unb64(payload))
    for period in (fields["p"] - 1, fields["p"] + 1):
        moved = _b64(json.dumps({**fields, "p": period}, separators=(",", ":"), sort_keys=True).encode())
        assert _error(api.get(f"/devices/{DEVICE}/readings", limit=2, cursor=f"{moved}.{mac}")) == (400, "bad_cursor")


def test_cursor_of_a_period_long_past_is_expired_without_asking_kms(api, monkeypatch, capsys):
    cursor = _first_cursor(api)
    _at(monkeypatch, time.time() + 2 * cursor_mod.KEY_PERIOD_SECONDS)
    capsys.readouterr()
    assert _error(api.get(f"/devices/{DEVICE}/readings", limit=2, cursor=cursor)) == (400, "expired_cursor")
    assert _kms_requests(capsys) == [0]


def test_cursor_of_a_far_future_period_is_a_400_without_asking_kms(api, capsys):
    cursor = _first_cursor(api)
    payload, mac = cursor.split(".")
    fields = json.loads(_unb64(payload))
    future = _b64(json.dumps({**fields, "p": fields["p"] + 5}, separators=(",", ":"), sort_keys=True).encode())
    capsys.readouterr()
    assert _error(api.get(f"/devices/{DEVICE}/readings", limit=2, cursor=f"{future}.{mac}")) == (400, "bad_cursor")
    assert _kms_requests(capsys) == [0]


def test_cursor_replayed_on_another_route_is_a_400(api):
    """Only the readings route pages today; the route is bound, so a future paged route cannot take its cursors."""
    cursor = _first_cursor(api)
    fields = json.loads(_unb64(cursor.split(".")[0]))
    other_route = {"r": "GET /devices/{device_id}/events", "d": fields["d"], "f": fields["f"], "t": fields["t"]}
    with pytest.raises(ApiError) as refused:
        cursor_mod.CursorSigner(api.kms, api.key_arn, 3600).open(cursor, {**other_route, "o": fields["o"]})
    assert (refused.value.status, refused.value.code) == (400, "cursor_mismatch")


# --- failures that are not the caller's -----------------------------------------------------------------


def test_a_bug_is_a_500_naming_only_the_request_id_and_logged(api, monkeypatch, capsys):
    monkeypatch.setenv("TABLE_NAME", "")  # a broken deployment: DynamoDB refuses the request
    _, _, body = resp = api.get(f"/devices/{DEVICE}/readings")
    assert _error(resp) == (500, "internal_error")
    assert FakeContext.aws_request_id in body["error"]["message"] and "TableName" not in body["error"]["message"]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (error,) = [line for line in logged if line["level"] == "ERROR"]
    assert error["aws_request_id"] == FakeContext.aws_request_id and error["stack"]


def test_dynamodb_throttling_is_a_503_with_retry_after(api, monkeypatch):
    from botocore.stub import Stubber

    ddb = clients.client("dynamodb")
    with Stubber(ddb) as stub:
        stub.add_client_error(
            "query", service_error_code="ProvisionedThroughputExceededException", http_status_code=400
        )
        _, headers, _ = resp = api.get(f"/devices/{DEVICE}/latest")
    assert _error(resp) == (503, "throttled") and headers["Retry-After"] == "1"


def test_preflight_route_is_an_empty_204_without_cors_headers_of_its_own(api):
    resp = api_handler.handler(
        api_event(
            "OPTIONS",
            "/devices/dev-0001/readings",
            route_key="OPTIONS /{proxy+}",
            path_parameters={"proxy": "devices/dev-0001/readings"},
        ),
        FakeContext(),
    )
    assert resp["statusCode"] == 204 and resp["body"] == ""
    assert not any(h.lower().startswith("access-control-") for h in resp["headers"])  # API Gateway adds them


def test_route_table_and_shared_parameters_are_the_contract():
    assert set(api_handler.ROUTES) == {
        "GET /devices",
        READINGS,
        LATEST,
        "GET /devices/{device_id}/rollups",
        "OPTIONS /{proxy+}",
    }
    assert {"from", "to", "limit", "order", "cursor"} == params.PAGE_PARAMS
    assert (params.LIMIT_MIN, params.LIMIT_MAX, params.LIMIT_DEFAULT) == (1, 1000, 100)


@pytest.mark.parametrize("payload", [b"[1]", b'"text"', b"7", b'{"v":2,"p":"1"}', b'{"v":1,"p":1}', b"{"])
def test_cursor_with_a_payload_that_is_not_ours_is_a_400_not_a_500(api, payload):
    cursor = f"{_b64(payload)}.{_b64(bytes(32))}"
    assert _error(api.get(f"/devices/{DEVICE}/readings", limit=2, cursor=cursor)) == (400, "bad_cursor")
