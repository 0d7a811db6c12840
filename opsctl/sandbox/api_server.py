"""`opsctl sandbox api`: API Gateway's HTTP API, played locally for the API Terraform created in the sandbox.

moto stores the API (routes, integrations, stage, CORS) but serves none of it. This module reads them back
(get_api, get_routes, get_integrations, get_stages), matches each HTTP request to a route the way API
Gateway does, turns it into a payload-2.0 event, runs the integration's function in-process from the very
zip Terraform deployed (the local Lambda runtime's loader and sha256 check), and maps the function's answer
back to HTTP. Stage throttling (burst, rate) and CORS come from the stage and API as deployed."""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from opsctl.core.aws import AwsTarget
from opsctl.core.errors import OpsError
from opsctl.core.project import FUNCTIONS_ZIP, SANDBOX_DIR
from opsctl.sandbox.jwt_authorizer import Forbidden, JwtAuthorizer, Unauthorized, event_claims, jwks_url_for
from opsctl.sandbox.runtime.function import DeployedFunction, FunctionRunner, MetricSink

HOST = "127.0.0.1"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
_PARAM = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")
_LAMBDA_ARN = re.compile(
    r"(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+(?::[A-Za-z0-9_$-]+)?)"
)


@dataclass
class Route:
    """One route of the API as deployed, with the function its integration invokes."""

    key: str
    method: str | None  # None for $default
    template: str | None
    function: DeployedFunction
    pattern: re.Pattern | None = None
    params: int = 0
    greedy: bool = False
    authorizer: JwtAuthorizer | None = None  # None: authorization NONE
    scopes: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, key: str, function: DeployedFunction) -> Route:
        if key == "$default":
            return cls(key=key, method=None, template=None, function=function)
        method, _, template = key.partition(" ")
        regex, params, greedy = "", 0, False
        for part in re.split(r"(\{[A-Za-z0-9_]+\+?\})", template):
            m = _PARAM.fullmatch(part)
            if m is None:
                regex += re.escape(part)
                continue
            params += 1
            greedy = greedy or bool(m.group(2))
            regex += f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)"
        return cls(
            key=key,
            method=method,
            template=template,
            function=function,
            pattern=re.compile(regex),
            params=params,
            greedy=greedy,
        )

    def specificity(self) -> tuple:
        """API Gateway's priority: full matches before path variables before greedy ones; a method before ANY."""
        return (self.greedy, self.params, self.method == "ANY", -len(self.template or ""))


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    route: str | None = None
    request_id: str = ""
    integration_ms: float | None = None  # the function's run, when API Gateway got as far as invoking it


class TokenBucket:
    """The stage's throttle: `burst` requests at once, refilled at `rate` per second (API Gateway's model)."""

    def __init__(self, burst: int, rate: float, clock=time.monotonic):
        self.capacity, self.rate, self.clock = float(burst), float(rate), clock
        self.tokens, self.last = float(burst), clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class LocalApi:
    """The deployed HTTP API, ready to answer requests in this process."""

    api_id: str
    name: str
    stage: str
    account_id: str
    region: str
    routes: list[Route]
    default: Route | None
    cors: dict | None
    runner: FunctionRunner
    metrics: MetricSink
    throttle: TokenBucket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def route_keys(self) -> list[str]:
        return [r.key for r in self.routes] + (["$default"] if self.default else [])

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            m = route.pattern.fullmatch(path) if route.pattern is not None else None  # only $default has none
            if m:
                return route, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
        return (self.default, {}) if self.default else None

    def event(
        self,
        route: Route,
        path_params: dict,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str,
        request_id: str,
    ) -> dict:
        """The payload-2.0 event API Gateway would send for this request."""
        joined: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in headers:
            name = name.lower()
            if name == "cookie":
                cookies += [c.strip() for c in value.split(";") if c.strip()]
                continue
            joined[name] = f"{joined[name]},{value}" if name in joined else value
        query: dict[str, str] = {}
        for name, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        now = time.time()
        domain = f"{self.api_id}.execute-api.{self.region}.amazonaws.com"
        event = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": joined,
            "requestContext": {
                "accountId": self.account_id,
                "apiId": self.api_id,
                "domainName": domain,
                "domainPrefix": self.api_id,
                "http": {
                    "method": method,
                    "path": urllib.parse.unquote(raw_path),
                    "protocol": "HTTP/1.1",
                    "sourceIp": source_ip,
                    "userAgent": joined.get("user-agent", ""),
                },
                "requestId": request_id,
                "routeKey": route.key,
                "stage": self.stage,
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if path_params:
            event["pathParameters"] = path_params
        if body:
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        return event

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"", source_ip: str = HOST
    ) -> Answer:
        """Answers one HTTP request as API Gateway would (preflight, throttle, route, invoke, map the answer), and
        publishes the AWS/ApiGateway metrics API Gateway would for it (`request_metrics`)."""
        started = time.monotonic()
        answer = self._answer(method, target, headers, body, source_ip)
        latency_ms = (time.monotonic() - started) * 1000
        with self._lock:
            for datum in request_metrics(self.api_id, self.stage, answer, latency_ms, body):
                self.metrics.add("AWS/ApiGateway", datum)
            self.metrics.maybe_flush()
        return answer

    def _answer(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str) -> Answer:
        request_id = base64.b64encode(os.urandom(10)).decode()
        parts = urllib.parse.urlsplit(target)
        raw_path, raw_query = parts.path or "/", parts.query
        origin = next((v for k, v in headers if k.lower() == "origin"), None)
        is_preflight = (
            method == "OPTIONS"
            and origin is not None
            and any(k.lower() == "access-control-request-method" for k, _ in headers)
        )
        if self.throttle is not None and not self.throttle.take():
            return self._cors(_plain(429, {"message": "Too Many Requests"}, request_id), origin, False)
        found = self.match(method, raw_path)
        if is_preflight and self.cors is not None and (found is None or found[0].key == "$default"):
            return self._cors(Answer(204, [("Content-Length", "0")], b"", None, request_id), origin, True)
        if found is None:
            return self._cors(_plain(404, {"message": "Not Found"}, request_id), origin, False)
        route, path_params = found
        claims = None
        if route.authorizer is not None:  # before the function, as API Gateway does: it never runs for a bad token
            authorization = next((v for k, v in headers if k.lower() == "authorization"), None)
            try:
                claims = route.authorizer.verify(authorization, route.scopes)
            except Unauthorized:
                answer = _plain(401, {"message": "Unauthorized"}, request_id)
                answer.headers.append(("www-authenticate", "Bearer"))
                return self._cors(answer, origin, False)
            except Forbidden:
                return self._cors(_plain(403, {"message": "Forbidden"}, request_id), origin, False)
        event = self.event(route, path_params, method, raw_path, raw_query, headers, body, source_ip, request_id)
        if claims is not None:
            event["requestContext"]["authorizer"] = {
                "jwt": {"claims": event_claims(claims), "scopes": route.scopes or None}
            }
        with self._lock:  # the runner swaps os.environ and stdout around each call: one invocation at a time
            inv = self.runner.invoke(route.function, event)
            self.metrics.lambda_invocation(
                route.function.name, duration_ms=inv.duration_ms, error=inv.function_error, iterator_age_ms=None
            )
            self.metrics.maybe_flush()
        if inv.function_error:
            answer = _plain(500, {"message": "Internal Server Error"}, request_id)
        else:
            answer = _from_payload_v2(inv.result, request_id)
        answer.route = route.key
        answer.integration_ms = inv.duration_ms
        return self._cors(answer, origin, is_preflight)

    def _cors(self, answer: Answer, origin: str | None, preflight: bool) -> Answer:
        """API Gateway's CORS: configured headers on allowed origins; the function's own Access-Control-* dropped."""
        if self.cors is None:
            return answer
        answer.headers = [(k, v) for k, v in answer.headers if not k.lower().startswith("access-control-")]
        allowed = self.cors.get("AllowOrigins") or []
        if origin is None or not ("*" in allowed or origin in allowed):
            return answer
        answer.headers.append(("Access-Control-Allow-Origin", "*" if "*" in allowed else origin))
        if preflight:
            answer.headers += [
                ("Access-Control-Allow-Methods", ",".join(self.cors.get("AllowMethods") or [])),
                ("Access-Control-Allow-Headers", ",".join(self.cors.get("AllowHeaders") or [])),
            ]
            if self.cors.get("MaxAge") is not None:
                answer.headers.append(("Access-Control-Max-Age", str(self.cors["MaxAge"])))
        elif self.cors.get("ExposeHeaders"):
            answer.headers.append(("Access-Control-Expose-Headers", ",".join(self.cors["ExposeHeaders"])))
        if "*" not in allowed:
            answer.headers.append(("Vary", "Origin"))
        return answer

    def close(self) -> None:
        with self._lock:
            try:
                self.metrics.flush()
            finally:
                self.runner.close()


def request_metrics(api_id: str, stage: str, answer: Answer, latency_ms: float, request_body: bytes) -> list[dict]:
    """The AWS/ApiGateway data of one HTTP API request, per the metric reference of HTTP APIs
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html), for the dimension sets
    {ApiId} and {ApiId, Stage} (route-level detailed metrics are off, as in Terraform): `Count` 1; `4xx` and `5xx`
    1 or 0 (so Sum is the errors and Average the error rate, as API Gateway publishes them); `Latency` (request in
    to response out, ms) and `IntegrationLatency` (the function's run, ms; only when the function ran) as raw
    values, so CloudWatch's percentiles (the catalog's p99) can be computed; `DataProcessed` (bytes in and out)."""
    now = time.time()
    data: list[tuple[str, float, str]] = [
        ("Count", 1, "Count"),
        ("4xx", int(400 <= answer.status < 500), "Count"),
        ("5xx", int(answer.status >= 500), "Count"),
        ("Latency", round(latency_ms, 3), "Milliseconds"),
        ("DataProcessed", len(request_body) + len(answer.body), "Bytes"),
    ]
    if answer.integration_ms is not None:
        data.append(("IntegrationLatency", round(answer.integration_ms, 3), "Milliseconds"))
    out = []
    for dims in ([("ApiId", api_id)], [("ApiId", api_id), ("Stage", stage)]):
        dimensions = [{"Name": k, "Value": v} for k, v in dims]
        out += [
            {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": unit, "Timestamp": now}
            for name, value, unit in data
        ]
    return out


def _plain(status: int, body: dict, request_id: str) -> Answer:
    data = json.dumps(body).encode()
    return Answer(
        status, [("Content-Type", "application/json"), ("apigw-requestid", request_id)], data, None, request_id
    )


def _from_payload_v2(result, request_id: str) -> Answer:
    """A payload-2.0 function answer as API Gateway turns it into HTTP (a dict without statusCode, or any
    other JSON value, is a 200 whose body is that JSON)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        body = result if isinstance(result, str) else json.dumps(result)
        return Answer(
            200,
            [("Content-Type", "application/json"), ("apigw-requestid", request_id)],
            body.encode(),
            None,
            request_id,
        )
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        return _plain(500, {"message": "Internal Server Error"}, request_id)
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("Set-Cookie", c) for c in result.get("cookies") or []]
    headers.append(("apigw-requestid", request_id))
    return Answer(status, headers, data, None, request_id)


def load(
    target: AwsTarget,
    api_id: str,
    *,
    state_dir: Path = SANDBOX_DIR,
    zip_path: Path = FUNCTIONS_ZIP,
    handler_overrides: dict | None = None,
) -> LocalApi:
    """The sandbox's HTTP API `api_id`, as Terraform deployed it, with every integration's function loaded
    from `zip_path` (refused if it is not the deployed code). `handler_overrides` maps a function name to a
    callable run in its place (the bench runs a naive handler behind the same routes)."""
    apigw = target.client("apigatewayv2")
    api = next((a for a in _pages(apigw.get_apis, {}) if a["ApiId"] == api_id), None)
    if api is None:
        raise OpsError(f"the sandbox has no HTTP API {api_id!r}", hint="run `opsctl sandbox up` to deploy it")
    if api.get("ProtocolType") != "HTTP":
        raise OpsError(f"API {api_id} is a {api.get('ProtocolType')} API; only HTTP APIs are served locally")
    integrations = {i["IntegrationId"]: i for i in _pages(apigw.get_integrations, {"ApiId": api_id})}
    stages = list(_pages(apigw.get_stages, {"ApiId": api_id}))
    stage = next((s for s in stages if s["StageName"] == "$default"), None)
    if stage is None:
        raise OpsError(
            f"API {api_id} has no $default stage; only the $default stage is served locally",
            hint="see terraform/modules/http_api",
        )
    metrics = MetricSink(target.client("cloudwatch"))
    runner = FunctionRunner(
        target, state_dir=state_dir, zip_path=zip_path, metrics=metrics, handler_overrides=handler_overrides
    )
    routes, default = [], None
    verifiers: dict[str, JwtAuthorizer] = {}
    try:
        for r in _pages(apigw.get_routes, {"ApiId": api_id}):
            key = r["RouteKey"]
            auth_type = r.get("AuthorizationType") or "NONE"
            if auth_type not in ("NONE", "JWT"):
                raise OpsError(f"route {key!r} needs {auth_type} authorization, which the sandbox cannot play")
            verifier = None
            if auth_type == "JWT":
                # One GetAuthorizer per authorizer (moto serves no GetAuthorizers).
                authorizer = None
                if r.get("AuthorizerId") and r["AuthorizerId"] not in verifiers:
                    authorizer = apigw.get_authorizer(ApiId=api_id, AuthorizerId=r["AuthorizerId"])
                    if authorizer.get("AuthorizerType") != "JWT":
                        authorizer = None
                elif r.get("AuthorizerId") in verifiers:
                    authorizer = {"AuthorizerId": r["AuthorizerId"]}
                if authorizer is None:
                    raise OpsError(f"route {key!r} needs JWT authorization but names no JWT authorizer of the API")
                if authorizer["AuthorizerId"] not in verifiers:
                    config = authorizer.get("JwtConfiguration") or {}
                    verifiers[authorizer["AuthorizerId"]] = JwtAuthorizer(
                        issuer=config.get("Issuer", ""),
                        audience=list(config.get("Audience") or []),
                        jwks_url=jwks_url_for(config.get("Issuer", ""), target.endpoint_url or ""),
                    )
                verifier = verifiers[authorizer["AuthorizerId"]]
            integration = integrations.get(str(r.get("Target", "")).removeprefix("integrations/"))
            if integration is None or integration.get("IntegrationType") != "AWS_PROXY":
                raise OpsError(f"route {key!r} has no Lambda proxy integration; only those are served locally")
            if integration.get("PayloadFormatVersion") != "2.0":
                raise OpsError(
                    f"route {key!r} uses payload format {integration.get('PayloadFormatVersion')}; only 2.0 is served "
                    "locally"
                )
            m = _LAMBDA_ARN.search(integration.get("IntegrationUri", ""))
            if m is None:
                raise OpsError(f"route {key!r} integrates {integration.get('IntegrationUri')!r}, not a Lambda function")
            route = Route.build(key, runner.function(m.group(1)))
            route.authorizer, route.scopes = verifier, list(r.get("AuthorizationScopes") or [])
            if key == "$default":
                default = route
            else:
                routes.append(route)
    except BaseException:
        runner.close()
        raise
    routes.sort(key=Route.specificity)
    settings = stage.get("DefaultRouteSettings") or {}
    throttle = None
    if settings.get("ThrottlingBurstLimit") is not None and settings.get("ThrottlingRateLimit") is not None:
        throttle = TokenBucket(int(settings["ThrottlingBurstLimit"]), float(settings["ThrottlingRateLimit"]))
    first = routes[0] if routes else default
    account_id = first.function.arn.split(":")[4] if first else "000000000000"
    return LocalApi(
        api_id=api_id,
        name=api.get("Name", api_id),
        stage="$default",
        account_id=account_id,
        region=target.region,
        routes=routes,
        default=default,
        cors=api.get("CorsConfiguration"),
        runner=runner,
        metrics=metrics,
        throttle=throttle,
    )


def _pages(call, kwargs: dict):
    token = None
    while True:
        resp = call(**kwargs, **({"NextToken": token} if token else {}))
        yield from resp.get("Items", [])
        token = resp.get("NextToken")
        if not token:
            return


class _Handler(BaseHTTPRequestHandler):
    server_version = "opsctl-sandbox-api"
    local_api: LocalApi
    on_request = staticmethod(lambda answer, method, target: None)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            answer = _plain(413, {"message": "Request Entity Too Large"}, "")
        else:
            body = self.rfile.read(length) if length else b""
            answer = self.local_api.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
        self.send_response(answer.status)
        for k, v in answer.headers:
            if k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)
        self.on_request(answer, self.command, self.path)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def log_message(self, format, *args):
        pass


def server(local_api: LocalApi, port: int | None, *, host: str = HOST, on_request=None) -> HTTPServer:
    """An HTTP server (one request at a time, like one warm Lambda instance) bound to host:port (0/None = free port)."""
    handler: type[_Handler] = type("ApiHandler", (_Handler,), {"local_api": local_api})
    if on_request is not None:
        handler.on_request = staticmethod(on_request)
    try:
        return HTTPServer((host, port or 0), handler)
    except OSError as exc:
        raise OpsError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="pick another {port}, or leave it out for a free one",
            arguments=["port"],
        ) from None


@dataclass
class Received:
    """One HTTP answer of the served API, as a real client received it (`body` parsed when it is JSON)."""

    path: str
    status: int
    content_type: str | None
    cache_control: str | None
    body: object

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "status": self.status,
            "content_type": self.content_type,
            "cache_control": self.cache_control,
            "body": self.body,
        }


def get_once(
    local_api: LocalApi, paths: list[str], *, port: int | None = None, headers: dict[str, str] | None = None
) -> tuple[str, list[Received]]:
    """Serves the API on localhost for as long as it takes to GET each of `paths` with a real HTTP client
    (urllib, over a socket: the same path a curl takes), then stops. Returns the base URL and the answers."""
    import threading
    import urllib.error
    import urllib.request

    srv = server(local_api, port)
    thread = threading.Thread(target=srv.serve_forever, name="sandbox-api", daemon=True)
    thread.start()
    base = f"http://{srv.server_address[0]!s}:{srv.server_address[1]}"
    answers: list[Received] = []
    try:
        for path in paths:
            req = urllib.request.Request(base + path, headers={"Accept": "application/json", **(headers or {})})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    status, got, body = resp.status, dict(resp.headers), resp.read()
            except urllib.error.HTTPError as exc:
                status, got, body = exc.code, dict(exc.headers), exc.read()
            try:
                parsed = json.loads(body) if body else None
            except ValueError:
                parsed = body.decode("utf-8", "replace")
            answers.append(Received(path, status, got.get("Content-Type"), got.get("Cache-Control"), parsed))
    finally:
        srv.shutdown()
        srv.server_close()
    return base, answers
