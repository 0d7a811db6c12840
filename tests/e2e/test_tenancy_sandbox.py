"""Tenancy end to end on the sandbox: devices of two tenants in the registry, their readings through Kinesis and
the ingest function, and real HTTP requests to `opsctl sandbox api` with access tokens that moto's Cognito issued
to users of each tenant. Tenant A's user gets 404 for tenant B's device on every route and never sees it in
GET /devices; an operator sees both; no token, an expired token, one of another pool, a tampered one: 401."""

from __future__ import annotations

import gzip
import json
import time
import urllib.error
import urllib.request
from importlib import resources

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from opsctl.sandbox import traffic

from .sandbox_harness import opsctl

# A group of its own: pytest-xdist runs the module on one worker, so its module fixtures run once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-tenancy")]

DEVICES = {"ten-acme-1": "ten-acme", "ten-acme-2": "ten-acme", "ten-globex-1": "ten-globex"}
ROUTES = ("readings", "latest", "rollups")


@pytest.fixture(scope="module")
def tenants(sandbox) -> dict[str, str]:
    """Registry entries (as `opsctl devices register` writes them), readings, and a token per user."""
    ddb = sandbox.client("dynamodb")
    now_ms = int(time.time() * 1000)
    for device, tenant in DEVICES.items():
        ddb.put_item(
            TableName=sandbox.outputs["device_registry_table_name"],
            Item={
                "device_id": {"S": device},
                "tenant": {"S": tenant},
                "status": {"S": "revoked" if device == "ten-acme-2" else "active"},
                "created_at": {"N": str(now_ms)},
                "thing_name": {"S": device},
            },
        )
    sent = [
        {"device_id": d, "ts": now_ms - 60_000 + i * 1000, "metrics": {"temp_c": 20 + i}}
        for d in DEVICES
        for i in range(3)
    ]
    items = traffic.mix(sent, [], seed=5)
    assert traffic.send(sandbox.client("kinesis"), sandbox.outputs["stream_name"], items).sent == len(sent)
    opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json")
    tokens = {}
    for user, flag in (
        ("ten-alice", ("--tenant", "ten-acme")),
        ("ten-bob", ("--tenant", "ten-globex")),
        ("ten-op", ("--operator",)),
    ):
        opsctl(sandbox, "sandbox", "user", "add", user, *flag)
        tokens[user] = opsctl(sandbox, "sandbox", "token", user).stdout.strip()
    return tokens


@pytest.fixture(scope="module")
def base(sandbox, tenants):
    with sandbox.serve_api() as url:
        yield url


def get(url: str, token: str | None) -> tuple[int, dict | None]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    return status, (json.loads(body) if body else None)


@pytest.mark.parametrize("route", ROUTES)
def test_a_tenant_gets_404_for_another_tenants_device_exactly_as_for_a_missing_one(base, tenants, route):
    alice = tenants["ten-alice"]
    foreign = get(f"{base}/devices/ten-globex-1/{route}", alice)
    missing = get(f"{base}/devices/ten-nobody-9/{route}", alice)
    assert foreign[0] == missing[0] == 404
    assert foreign[1]["error"]["code"] == missing[1]["error"]["code"] == "device_not_found"
    assert get(f"{base}/devices/ten-acme-1/{route}", alice)[0] == 200
    assert get(f"{base}/devices/ten-globex-1/{route}", tenants["ten-bob"])[0] == 200


def test_get_devices_shows_only_the_callers_devices_and_a_revoked_one_as_revoked(base, tenants):
    status, body = get(f"{base}/devices", tenants["ten-alice"])
    assert status == 200
    assert {d["device_id"]: d["status"] for d in body["items"]} == {"ten-acme-1": "active", "ten-acme-2": "revoked"}
    assert "ten-globex-1" not in json.dumps(body)
    status, latest = get(f"{base}/devices/ten-acme-2/latest", tenants["ten-alice"])
    assert status == 200 and latest["metrics"]["temp_c"] == 22  # a revoked device's readings stay readable


def test_an_operator_sees_both_tenants(base, tenants):
    op = tenants["ten-op"]
    for device in DEVICES:
        assert get(f"{base}/devices/{device}/latest", op)[0] == 200
    assert [d["device_id"] for d in get(f"{base}/devices?tenant=ten-globex", op)[1]["items"]] == ["ten-globex-1"]


def _expired_token(sandbox, tokens) -> str:
    """A token signed with the pool's key (moto's, which it ships) whose exp is past: only expiry is wrong."""
    _, payload, _ = tokens["ten-alice"].split(".")
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] = int(time.time()) - 10
    key = json.loads(
        gzip.decompress((resources.files("moto.cognitoidp") / "resources" / "jwks-private.json.gz").read_bytes())
    )
    return jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, RSAKey.import_key(key))


def test_no_token_expired_other_pool_or_tampered_is_401_before_the_function_runs(sandbox, base, tenants):
    idp = sandbox.client("cognito-idp")
    other = idp.create_user_pool(PoolName="ten-elsewhere")["UserPool"]["Id"]
    client = idp.create_user_pool_client(UserPoolId=other, ClientName="x")["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=other, Username="mallory", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=other, Username="mallory", Password="Pa55word!x", Permanent=True)
    foreign = idp.admin_initiate_auth(
        UserPoolId=other,
        ClientId=client,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "mallory", "PASSWORD": "Pa55word!x"},
    )["AuthenticationResult"]["AccessToken"]
    good = tenants["ten-alice"]
    tampered = good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB")
    for token in (None, _expired_token(sandbox, tenants), foreign, tampered):
        status, body = get(f"{base}/devices/ten-acme-1/latest", token)
        assert (status, body) == (401, {"message": "Unauthorized"})
