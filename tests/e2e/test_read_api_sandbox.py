"""The read API end to end on the sandbox: traffic into Kinesis, the local runtime until idle, then real
HTTP requests to `opsctl sandbox api` (the routes Terraform created, run by the deployed zip): a device's
whole history paged through, every reading exactly once and in order; errors, cursors and CORS over HTTP.

The worker's sandbox is shared with other modules: this module writes devices of its own (api-e2e-*)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime

import pytest

from opsctl.sandbox import traffic

from .sandbox_harness import opsctl

# A group of its own: pytest-xdist runs the module on one worker, so its module fixtures run once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-read-api")]

DEVICES = 3
PER_DEVICE = 230  # more than two pages of 100, not a multiple of any page size used below
CORS_ORIGIN = "http://localhost:8000"  # envs/local's api_cors_allow_origins


@pytest.fixture(scope="module")
def history(sandbox) -> dict[str, list[dict]]:
    """Readings of devices only this module writes, sent through Kinesis and ingested by the runtime."""
    sent = traffic.readings(DEVICES, DEVICES * PER_DEVICE, seed=33)
    for r in sent:
        r["device_id"] = r["device_id"].replace("dev-", "api-e2e-")
    result = traffic.send(sandbox.client("kinesis"), sandbox.outputs["stream_name"], traffic.mix(sent, [], seed=33))
    assert result.sent == len(sent)
    opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json")
    by_device: dict[str, list[dict]] = {}
    for r in sorted(sent, key=lambda r: r["ts"]):
        by_device.setdefault(r["device_id"], []).append(r)
    return by_device


_AUTH: dict[str, str] = {}  # every request of this module carries an operator's access token (set by api_url)


@pytest.fixture(scope="module")
def api_url(sandbox, history):
    """`opsctl sandbox api --port P` running in the background for this module, stopped at its end."""
    opsctl(sandbox, "sandbox", "user", "add", "api-e2e-op", "--operator")
    _AUTH["Authorization"] = "Bearer " + opsctl(sandbox, "sandbox", "token", "api-e2e-op").stdout.strip()
    with sandbox.serve_api() as base:
        yield base


def get(url: str, headers: dict | None = None, method: str = "GET") -> tuple[int, dict, dict | None]:
    req = urllib.request.Request(url, headers={**_AUTH, **(headers or {})}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, hdrs, body = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        status, hdrs, body = exc.code, exc.headers, exc.read()
    return status, {k.lower(): v for k, v in hdrs.items()}, (json.loads(body) if body else None)


def page_through(base: str, device: str, **query) -> tuple[list[dict], int]:
    items, cursor, pages = [], None, 0
    while True:
        qs = urllib.parse.urlencode({**query, **({"cursor": cursor} if cursor else {})})
        status, headers, body = get(f"{base}/devices/{device}/readings?{qs}")
        assert status == 200, body
        assert headers["content-type"] == "application/json"
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages


@pytest.mark.parametrize("order, limit", [("asc", 100), ("desc", 37)])
def test_paging_over_http_returns_the_whole_history_once_in_order(api_url, history, order, limit):
    device = "api-e2e-0002"
    expected = history[device] if order == "asc" else history[device][::-1]
    items, pages = page_through(api_url, device, order=order, limit=limit)
    assert [i["ts"] for i in items] == [r["ts"] for r in expected]  # every reading once, in order
    assert pages == -(-len(expected) // limit)  # no trailing empty page
    for got, sent in zip(items, expected, strict=True):
        assert got["metrics"] == pytest.approx(sent["metrics"])
        assert isinstance(got["metrics"]["rssi_dbm"], int)  # numbers stay numbers


def test_iso_range_over_http_is_inclusive(api_url, history):
    device = "api-e2e-0001"
    chosen = history[device][10:50]

    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")

    items, _ = page_through(api_url, device, **{"from": iso(chosen[0]["ts"]), "to": iso(chosen[-1]["ts"]), "limit": 15})
    assert [i["ts"] for i in items] == [r["ts"] for r in chosen]


def test_latest_over_http(api_url, history):
    status, headers, body = get(f"{api_url}/devices/api-e2e-0003/latest")
    assert status == 200 and body["ts"] == history["api-e2e-0003"][-1]["ts"] and headers["cache-control"] == "no-cache"
    assert get(f"{api_url}/devices/api-e2e-nobody/latest")[:1] == (404,)


def test_errors_over_http_have_the_error_shape(api_url, history):
    cursor = get(f"{api_url}/devices/api-e2e-0001/readings?limit=5")[2]["next_cursor"]
    payload, mac = cursor.split(".")
    cases = {
        f"/devices/api-e2e-0002/readings?limit=5&cursor={cursor}": (400, "cursor_mismatch"),
        f"/devices/api-e2e-0001/readings?limit=5&cursor={payload[:-2]}AA.{mac}": (400, "bad_cursor"),
        "/devices/api-e2e-0001/readings?from=2&to=1": (400, "bad_range"),
        "/devices/api-e2e-0001/readings?limit=1001": (400, "bad_limit"),
        "/devices/api-e2e-0001/readings?order=sideways": (400, "bad_order"),
        "/devices/bad%20id/readings": (400, "bad_device_id"),
        "/devices/api-e2e-0001/nothing": (404, "route_not_found"),
    }
    for path, (status, code) in cases.items():
        got, headers, body = get(api_url + path)
        assert (got, body["error"]["code"]) == (status, code), path
        assert headers["content-type"] == "application/json" and headers["cache-control"] == "no-store"


def test_cors_comes_from_the_terraform_configuration(api_url, history):
    status, headers, _ = get(
        f"{api_url}/devices/api-e2e-0001/readings",
        method="OPTIONS",
        headers={"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert status == 204 and headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "GET" in headers["access-control-allow-methods"]
    status, headers, _ = get(f"{api_url}/devices/api-e2e-0001/latest", headers={"Origin": CORS_ORIGIN})
    assert status == 200 and headers["access-control-allow-origin"] == CORS_ORIGIN
    _, headers, _ = get(f"{api_url}/devices/api-e2e-0001/latest", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in headers


def test_one_shot_get_prints_the_answers_and_exits_by_status(sandbox, history):
    opsctl(sandbox, "sandbox", "user", "add", "api-e2e-op", "--operator")
    ok = opsctl(
        sandbox, "sandbox", "api", "--user", "api-e2e-op", "--get", "/devices/api-e2e-0001/latest", "--output", "json"
    )
    (answer,) = json.loads(ok.stdout)["answers"]
    assert answer["status"] == 200 and answer["body"]["ts"] == history["api-e2e-0001"][-1]["ts"]
    bad = opsctl(
        sandbox,
        "sandbox",
        "api",
        "--user",
        "api-e2e-op",
        "--get",
        "/devices/api-e2e-0001/readings?limit=0",
        check=False,
    )
    assert bad.returncode == 1 and "bad_limit" in bad.stdout and "Traceback" not in bad.stderr
    wrong = opsctl(sandbox, "sandbox", "api", "--get", "devices/x/latest", check=False)
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: ") and "Traceback" not in wrong.stderr


def test_busy_port_is_one_line(sandbox, api_url):
    busy = opsctl(sandbox, "sandbox", "api", "--port", api_url.rsplit(":", 1)[1], check=False)
    assert busy.returncode == 1 and busy.stderr.startswith("error: cannot listen") and "Traceback" not in busy.stderr
