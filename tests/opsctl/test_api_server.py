"""The local API Gateway (opsctl sandbox api) without a sandbox: route matching and priority, the payload-2.0
event it builds, how a function's answer becomes HTTP, CORS from the API's configuration, stage throttling."""

from __future__ import annotations

import json

import pytest

from opsctl.sandbox.api_server import LocalApi, Route, TokenBucket, _from_payload_v2
from opsctl.sandbox.runtime.function import Invocation


class Fn:
    name, arn = "telemetry-test-api", "arn:aws:lambda:us-east-1:123456789012:function:telemetry-test-api"


class FakeRunner:
    """Stands in for FunctionRunner: records events, answers with `result` (or a function error)."""

    def __init__(self, result=None, error=False):
        self.events, self.result, self.error = [], result, error

    def invoke(self, fn, event):
        self.events.append(event)
        return Invocation(
            request_id="r", result=self.result, error_type="Boom" if self.error else None, duration_ms=1.0
        )

    def close(self):
        pass


class FakeMetrics:
    def __init__(self):
        self.data: list[tuple[str, dict]] = []

    def add(self, namespace, datum):
        self.data.append((namespace, datum))

    def lambda_invocation(self, *a, **kw):
        pass

    def maybe_flush(self):
        pass

    def flush(self):
        pass


def local_api(keys, *, result=None, error=False, cors=None, throttle=None) -> LocalApi:
    routes = sorted((Route.build(k, Fn()) for k in keys if k != "$default"), key=Route.specificity)
    default = Route.build("$default", Fn()) if "$default" in keys else None
    return LocalApi(
        api_id="abc123",
        name="t",
        stage="$default",
        account_id="123456789012",
        region="us-east-1",
        routes=routes,
        default=default,
        cors=cors,
        runner=FakeRunner(result, error),
        metrics=FakeMetrics(),
        throttle=throttle,
    )


OK = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}


def test_most_specific_route_wins_then_default():
    api = local_api(
        [
            "GET /devices/{device_id}/latest",
            "GET /devices/{proxy+}",
            "GET /devices/special/latest",
            "ANY /devices/{id}/latest",
            "$default",
        ]
    )
    assert api.match("GET", "/devices/special/latest")[0].key == "GET /devices/special/latest"
    route, params = api.match("GET", "/devices/dev%3A1/latest")
    assert route.key == "GET /devices/{device_id}/latest" and params == {"device_id": "dev:1"}
    assert api.match("POST", "/devices/x/latest")[0].key == "ANY /devices/{id}/latest"
    assert api.match("GET", "/devices/a/b/c")[0].key == "GET /devices/{proxy+}"
    assert api.match("GET", "/elsewhere")[0].key == "$default"
    assert local_api(["GET /a"]).match("GET", "/b") is None


def test_request_becomes_a_payload_v2_event():
    api = local_api(["GET /devices/{device_id}/readings"], result=OK)
    api.handle(
        "GET",
        "/devices/dev-1/readings?limit=5&limit=6&from=2025-11-22T00%3A00%3A00%2B01%3A00",
        [("User-Agent", "curl"), ("X-Multi", "a"), ("X-Multi", "b"), ("Cookie", "s=1; t=2")],
    )
    (event,) = api.runner.events
    assert event["version"] == "2.0" and event["routeKey"] == "GET /devices/{device_id}/readings"
    assert event["rawPath"] == "/devices/dev-1/readings" and event["pathParameters"] == {"device_id": "dev-1"}
    assert event["queryStringParameters"] == {"limit": "5,6", "from": "2025-11-22T00:00:00+01:00"}
    assert event["headers"]["x-multi"] == "a,b" and event["cookies"] == ["s=1", "t=2"]
    ctx = event["requestContext"]
    assert ctx["http"]["method"] == "GET" and ctx["stage"] == "$default" and ctx["apiId"] == "abc123"
    assert ctx["routeKey"] == event["routeKey"] and isinstance(ctx["timeEpoch"], int) and ctx["requestId"]
    assert event["isBase64Encoded"] is False


def test_function_answers_map_to_http_like_api_gateway():
    a = _from_payload_v2(
        {"statusCode": 400, "headers": {"Cache-Control": "no-store"}, "body": '{"error":1}', "cookies": ["c=1"]}, "rid"
    )
    assert (
        a.status == 400
        and ("Cache-Control", "no-store") in a.headers
        and ("Set-Cookie", "c=1") in a.headers
        and a.body == b'{"error":1}'
    )
    plain = _from_payload_v2({"hello": "world"}, "rid")  # no statusCode: a 200 with the value as JSON
    assert plain.status == 200 and json.loads(plain.body) == {"hello": "world"}
    assert _from_payload_v2({"statusCode": 201, "body": "aGk=", "isBase64Encoded": True}, "rid").body == b"hi"


def test_unmatched_route_and_function_error_are_api_gateways_own_answers():
    assert local_api(["GET /a"]).handle("GET", "/b", []).status == 404
    failed = local_api(["GET /a"], error=True).handle("GET", "/a", [])
    assert failed.status == 500 and json.loads(failed.body) == {"message": "Internal Server Error"}


CORS = {
    "AllowOrigins": ["http://localhost:8000"],
    "AllowMethods": ["GET", "OPTIONS"],
    "AllowHeaders": ["authorization"],
    "MaxAge": 600,
}


def test_cors_preflight_and_headers_come_from_the_api_configuration():
    api = local_api(["GET /a", "$default"], result={**OK, "headers": {"Access-Control-Allow-Origin": "*"}}, cors=CORS)
    pre = api.handle("OPTIONS", "/a", [("Origin", "http://localhost:8000"), ("Access-Control-Request-Method", "GET")])
    assert pre.status == 204 and dict(pre.headers)["Access-Control-Allow-Origin"] == "http://localhost:8000"
    assert dict(pre.headers)["Access-Control-Max-Age"] == "600" and not api.runner.events  # answered by the gateway
    got = dict(api.handle("GET", "/a", [("Origin", "http://localhost:8000")]).headers)
    assert got["Access-Control-Allow-Origin"] == "http://localhost:8000"  # the function's "*" is replaced
    other = dict(api.handle("GET", "/a", [("Origin", "https://evil.example")]).headers)
    assert "Access-Control-Allow-Origin" not in other


def test_stage_throttle_answers_429_past_burst_and_refills_at_rate():
    now = [0.0]
    bucket = TokenBucket(burst=2, rate=1.0, clock=lambda: now[0])
    api = local_api(["GET /a"], result=OK, throttle=bucket)
    assert [api.handle("GET", "/a", []).status for _ in range(3)] == [200, 200, 429]
    now[0] += 1.0  # one request per second comes back
    assert [api.handle("GET", "/a", []).status for _ in range(2)] == [200, 429]


def test_get_once_answers_over_a_real_socket_then_stops():
    from opsctl.sandbox.api_server import get_once

    api = local_api(["GET /devices/{device_id}/latest"], result={**OK, "headers": {"Cache-Control": "no-store"}})
    base, answers = get_once(api, ["/devices/dev-1/latest", "/nowhere"], headers={"Authorization": "Bearer t"})
    assert [a.status for a in answers] == [200, 404]
    assert answers[0].cache_control == "no-store" and answers[0].body == json.loads(OK["body"])
    (event,) = api.runner.events  # the 404 never reached the function
    assert event["headers"]["authorization"] == "Bearer t" and event["rawPath"] == "/devices/dev-1/latest"
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.URLError):  # the server is gone once the answers are in
        urllib.request.urlopen(base + "/devices/dev-1/latest", timeout=2)


def test_every_request_publishes_the_http_api_metrics_api_gateway_would():
    bucket = TokenBucket(burst=3, rate=0.0, clock=lambda: 0.0)
    ok = local_api(["GET /a"], result=OK, throttle=bucket)
    statuses = [ok.handle("GET", p, [], body=b"xy").status for p in ("/a", "/nowhere", "/a", "/a")]
    assert statuses == [200, 404, 200, 429]  # the gateway's own 404 and the stage throttle's 429 are requests too
    failed = local_api(["GET /a"], error=True)
    assert failed.handle("GET", "/a", []).status == 500
    stage = [{"Name": "ApiId", "Value": "abc123"}, {"Name": "Stage", "Value": "$default"}]

    def values(api, name, dims):
        return [
            d["Value"]
            for ns, d in api.metrics.data
            if ns == "AWS/ApiGateway" and d["MetricName"] == name and d["Dimensions"] == dims
        ]

    for dims in (stage, stage[:1]):  # {ApiId, Stage} and {ApiId}
        assert values(ok, "Count", dims) == [1, 1, 1, 1] and sum(values(ok, "4xx", dims)) == 2
        assert values(ok, "5xx", dims) == [0, 0, 0, 0] and values(failed, "5xx", dims) == [1]
        assert len(values(ok, "Latency", dims)) == 4 and all(v >= 0 for v in values(ok, "Latency", dims))
        assert values(ok, "IntegrationLatency", dims) == [1.0, 1.0]  # only where the function ran
        assert values(ok, "DataProcessed", dims)[0] == 2 + len(OK["body"])
