"""Tenancy in the read API, with payload-2.0 events carrying the claims API Gateway's JWT authorizer verified,
against moto's DynamoDB (readings, rollups, the device registry) and KMS: a tenant sees only its devices, a
foreign device is indistinguishable from a missing one on every route, operators see every tenant, cursors are
bound to the caller, and the caller's sub (never the token) is in the request log."""

from __future__ import annotations

import json

import pytest

from api import handler as api_handler

from .conftest import FakeContext
from .test_api_handler import OPERATOR, T0, api, api_event  # noqa: F401  (api: the fixture)

ROUTE_KEYS = ("readings", "latest", "rollups")


def claims(sub: str, *groups: str) -> dict:
    return {
        "sub": sub,
        "cognito:groups": "[" + " ".join(groups) + "]",
        "client_id": "5hd3c9example",
        "scope": "aws.cognito.signin.user.admin",
        "token_use": "access",
    }


ALICE = claims("aaaaaaaa-0000-4000-8000-000000000001", "tenant-acme")
BOB = claims("bbbbbbbb-0000-4000-8000-000000000002", "tenant-globex")
ALICE_TOO = claims("aaaaaaaa-0000-4000-8000-000000000003", "tenant-acme")


def call(path: str, who: dict | None, query: dict | None = None) -> tuple[int, dict]:
    segments = path.strip("/").split("/")
    if segments == ["devices"]:
        route, params = "GET /devices", None
    else:
        route, params = f"GET /devices/{{device_id}}/{segments[2]}", {"device_id": segments[1]}
    event = api_event("GET", path, query, route_key=route, path_parameters=params, claims=who)
    resp = api_handler.handler(event, FakeContext(function_name="telemetry-api-test"))
    return resp["statusCode"], json.loads(resp["body"])


@pytest.fixture
def tenants(api, monkeypatch):  # noqa: F811
    monkeypatch.setenv("ROLLUP_TABLE_NAME", "telemetry-test-rollups")
    api.ddb.create_table(
        TableName="telemetry-test-rollups",
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
    api.register("acme-1", "acme")
    api.register("acme-2", "acme", status="revoked")
    api.register("globex-1", "globex")
    for device in ("acme-1", "acme-2", "globex-1"):
        api.put(device, T0, temp_c=20.0)
    return api


@pytest.mark.parametrize("route", ROUTE_KEYS)
def test_a_foreign_device_answers_exactly_like_a_missing_one_on_every_route(tenants, route):
    foreign = call(f"/devices/globex-1/{route}", ALICE)
    missing = call(f"/devices/nobody-9/{route}", ALICE)
    assert foreign[0] == missing[0] == 404
    assert foreign[1]["error"]["code"] == missing[1]["error"]["code"] == "device_not_found"
    # Same message shape, only the id the caller typed differs: nothing says "exists, but not yours".
    assert foreign[1]["error"]["message"].replace("globex-1", "X") == missing[1]["error"]["message"].replace(
        "nobody-9", "X"
    )


@pytest.mark.parametrize("route", ROUTE_KEYS)
def test_own_devices_are_served_and_a_revoked_devices_readings_stay_readable(tenants, route):
    for device in ("acme-1", "acme-2"):
        status, body = call(f"/devices/{device}/{route}", ALICE)
        assert status == 200, body
        assert body["device_id"] == device


def test_get_devices_lists_only_the_callers_tenant_with_status(tenants):
    status, body = call("/devices", ALICE)
    assert status == 200
    assert body["tenant"] == "acme"
    assert [(d["device_id"], d["status"]) for d in body["items"]] == [("acme-1", "active"), ("acme-2", "revoked")]
    assert "globex-1" not in json.dumps(body)
    assert call("/devices", BOB)[1]["items"][0]["device_id"] == "globex-1"
    assert call("/devices", ALICE, {"tenant": "globex"})[0] == 403


def test_operators_see_every_tenant_and_name_the_tenant_to_list(tenants):
    for device in ("acme-1", "globex-1"):
        assert call(f"/devices/{device}/latest", OPERATOR)[0] == 200
    assert [d["device_id"] for d in call("/devices", OPERATOR, {"tenant": "globex"})[1]["items"]] == ["globex-1"]
    status, body = call("/devices", OPERATOR)
    assert (status, body["error"]["code"]) == (400, "tenant_required")


def test_device_listing_pages_with_cursors_bound_to_the_caller(tenants):
    status, first = call("/devices", ALICE, {"limit": "1"})
    assert status == 200 and [d["device_id"] for d in first["items"]] == ["acme-1"] and first["next_cursor"]
    status, second = call("/devices", ALICE, {"limit": "1", "cursor": first["next_cursor"]})
    assert [d["device_id"] for d in second["items"]] == ["acme-2"] and second["next_cursor"] is None
    # The same tenant, another user: the cursor is not theirs.
    status, body = call("/devices", ALICE_TOO, {"limit": "1", "cursor": first["next_cursor"]})
    assert (status, body["error"]["code"]) == (400, "cursor_mismatch")


def test_readings_cursor_of_one_caller_is_refused_for_another(tenants):
    tenants.history("acme-1", 5, start=T0 + 1000)
    status, page = call("/devices/acme-1/readings", ALICE, {"limit": "2"})
    assert status == 200 and page["next_cursor"]
    assert call("/devices/acme-1/readings", ALICE, {"limit": "2", "cursor": page["next_cursor"]})[0] == 200
    status, body = call("/devices/acme-1/readings", ALICE_TOO, {"limit": "2", "cursor": page["next_cursor"]})
    assert (status, body["error"]["code"]) == (400, "cursor_mismatch")


def test_no_claims_is_401_and_no_tenant_is_403(tenants):
    status, body = call("/devices/acme-1/latest", None)
    assert (status, body["error"]["code"]) == (401, "unauthenticated")
    status, body = call("/devices/acme-1/latest", claims("cccccccc-0000-4000-8000-000000000004"))
    assert (status, body["error"]["code"]) == (403, "no_tenant")
    status, body = call("/devices", claims("dddddddd-0000-4000-8000-000000000005", "tenant-acme", "tenant-globex"))
    assert (status, body["error"]["code"]) == (403, "ambiguous_tenant")


def test_request_log_names_the_callers_sub_and_never_a_token(tenants, capsys):
    capsys.readouterr()
    event = api_event(
        "GET",
        "/devices/acme-1/latest",
        route_key="GET /devices/{device_id}/latest",
        path_parameters={"device_id": "acme-1"},
        claims=ALICE,
    )
    event["headers"]["authorization"] = "Bearer eyJraWQiOiJkdW1teSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    api_handler.handler(event, FakeContext(function_name="telemetry-api-test"))
    out = capsys.readouterr().out
    (line,) = [json.loads(raw) for raw in out.splitlines() if json.loads(raw)["message"] == "request"]
    assert line["sub"] == ALICE["sub"] and line["status"] == 200
    assert "eyJ" not in out


def _requests(capsys, path: str, who: dict) -> tuple[int, dict]:
    """The status of one call and the AWS requests its log line counted."""
    capsys.readouterr()
    status, _ = call(path, who)
    lines = [json.loads(raw) for raw in capsys.readouterr().out.splitlines()]
    (line,) = [x for x in lines if x["message"] == "request"]
    return status, line["aws_requests"]


def test_an_operator_reads_a_device_with_no_registry_lookup(tenants, capsys):
    assert _requests(capsys, "/devices/globex-1/latest", OPERATOR) == (200, {"dynamodb:Query": 1})
    assert _requests(capsys, "/devices/unregistered-7/readings", OPERATOR)[1] == {"dynamodb:Query": 1}


def test_a_warm_container_checks_a_device_in_the_registry_once_and_again_after_the_memo_ages(
    tenants, capsys, monkeypatch
):
    from api import tenancy

    now = [1000.0]
    monkeypatch.setattr(tenancy, "clock", lambda: now[0])
    assert _requests(capsys, "/devices/acme-1/latest", ALICE) == (200, {"dynamodb:GetItem": 1, "dynamodb:Query": 1})
    # Another caller of the same tenant, another route: the entry read a moment ago answers.
    assert _requests(capsys, "/devices/acme-1/readings", ALICE_TOO) == (200, {"dynamodb:Query": 1})
    # The remembered tenant refuses a foreign caller just as the registry would, with the same 404.
    status, body = call("/devices/acme-1/latest", BOB)
    assert (status, body["error"]["code"]) == (404, "device_not_found")
    now[0] += tenancy.TENANT_MEMO_SECONDS + 1  # seconds: past the memo's age, the registry is read again
    assert _requests(capsys, "/devices/acme-1/latest", ALICE) == (200, {"dynamodb:GetItem": 1, "dynamodb:Query": 1})


def test_a_device_not_found_is_not_remembered_so_one_registered_next_is_served_at_once(tenants, capsys):
    assert call("/devices/acme-3/latest", ALICE)[0] == 404
    tenants.register("acme-3", "acme")
    tenants.put("acme-3", T0, temp_c=19.0)
    status, body = call("/devices/acme-3/latest", ALICE)
    assert status == 200 and body["metrics"] == {"temp_c": 19.0}


def test_the_memo_is_bounded_and_a_full_one_starts_over(tenants, capsys, monkeypatch):
    from api import tenancy

    monkeypatch.setattr(tenancy, "TENANT_MEMO_MAX", 1)
    assert _requests(capsys, "/devices/acme-1/latest", ALICE)[1]["dynamodb:GetItem"] == 1
    assert _requests(capsys, "/devices/acme-2/latest", ALICE)[1]["dynamodb:GetItem"] == 1  # acme-1 forgotten
    assert _requests(capsys, "/devices/acme-2/latest", ALICE)[1] == {"dynamodb:Query": 1}
    assert _requests(capsys, "/devices/acme-1/latest", ALICE)[1]["dynamodb:GetItem"] == 1
