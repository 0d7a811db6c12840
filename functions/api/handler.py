"""API Gateway HTTP API (payload format 2.0) → the route table → DynamoDB. Handler string: `api.handler.handler`.

Parse the route, run it, report: every answer is JSON; what the caller got wrong is a 4xx with
`{"error": {"code", "message"}}`; throttling is a 503 with Retry-After; anything else is a bug: a 500
whose body names only the request id, with the details in the log line of that request id."""

from __future__ import annotations

import os
import time
import traceback
from typing import NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from api import tenancy
from api.cursor import CursorSigner
from api.http import ApiError
from api.routes import DEVICE_ROUTES, ROUTES
from common import clients
from common.log import Logger

THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "LimitExceededException"}
)
RETRY_AFTER_SECONDS = 1
DEFAULT_CURSOR_TTL_SECONDS = 3600
DEFAULT_READINGS_MAX_AGE_SECONDS = 10


class Settings(NamedTuple):
    table_name: str
    cursor_key_arn: str
    cursor_ttl_seconds: int
    readings_max_age_seconds: int
    environment: str | None
    rollup_table_name: str = ""
    registry_table_name: str = ""
    registry_tenant_index: str = ""

    @classmethod
    def from_environ(cls) -> Settings:
        env = os.environ
        return cls(
            table_name=env.get("TABLE_NAME", ""),
            cursor_key_arn=env.get("CURSOR_KEY_ARN", ""),
            cursor_ttl_seconds=int(env.get("CURSOR_TTL_SECONDS") or DEFAULT_CURSOR_TTL_SECONDS),
            readings_max_age_seconds=int(env.get("READINGS_MAX_AGE_SECONDS") or DEFAULT_READINGS_MAX_AGE_SECONDS),
            environment=env.get("ENVIRONMENT"),
            rollup_table_name=env.get("ROLLUP_TABLE_NAME", ""),
            registry_table_name=env.get("REGISTRY_TABLE_NAME", ""),
            registry_tenant_index=env.get("REGISTRY_TENANT_INDEX", ""),
        )


class Request:
    """What a route works with: the event, the settings, clients made on first use, and a request counter."""

    def __init__(self, event: dict, settings: Settings, log: Logger):
        self.event, self.settings, self.log = event, settings, log
        self.aws_requests: dict[str, int] = {}
        self._signer: CursorSigner | None = None
        self._caller: tenancy.Caller | None = None

    @property
    def caller(self) -> tenancy.Caller:
        """The verified caller (401/403 ApiError if there is none or it has no tenant)."""
        if self._caller is None:
            self._caller = tenancy.caller(self.event)
        return self._caller

    @property
    def ddb(self):
        return clients.client("dynamodb")

    @property
    def signer(self) -> CursorSigner:
        if self._signer is None:
            self._signer = CursorSigner(
                _CountingKms(clients.client("kms"), self),
                self.settings.cursor_key_arn,
                self.settings.cursor_ttl_seconds,
            )
        return self._signer

    def count(self, call: str) -> None:
        self.aws_requests[call] = self.aws_requests.get(call, 0) + 1


class _CountingKms:
    """The KMS client, counting the MAC calls a request makes (they show in its log line; 0 on a warm path)."""

    def __init__(self, kms, req: Request):
        self._kms, self._req = kms, req

    def generate_mac(self, **kw):
        self._req.count("kms:GenerateMac")
        return self._kms.generate_mac(**kw)


def handler(event, context):
    started = time.perf_counter()
    settings = Settings.from_environ()
    log = Logger(context, environment=settings.environment)
    req = Request(event, settings, log)
    route_key = event.get("routeKey")
    http = (event.get("requestContext") or {}).get("http") or {}
    try:
        route = ROUTES.get(route_key)
        if route is None:
            raise ApiError(
                404,
                "route_not_found",
                f"no route for {http.get('method', '?')} {http.get('path', event.get('rawPath', '?'))}",
            )
        if route_key in DEVICE_ROUTES:  # a foreign device is a missing one, before any parameter is looked at
            from api import params

            tenancy.authorize_device(req, params.device_id(event))
        response = route(req)
    except ApiError as exc:
        response = exc.response()
    except (ClientError, BotoCoreError) as exc:
        code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
        if code in THROTTLING_CODES:
            log.warning("throttled by AWS; the client should retry", error_code=code)
            response = ApiError(
                503,
                "throttled",
                "too many requests right now; retry shortly",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ).response()
        else:
            response = _internal_error(log, context, exc)
    except Exception as exc:  # noqa: BLE001 - any other failure is a 500 with the request id, never a traceback
        response = _internal_error(log, context, exc)
    log.info(
        "request",
        sub=_claimed_sub(event),  # who asked (never the token itself)
        route=route_key,
        method=http.get("method"),
        path=http.get("path"),
        status=response["statusCode"],
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        aws_requests=req.aws_requests,
    )
    return response


def _claimed_sub(event: dict) -> str | None:
    claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


def _internal_error(log: Logger, context, exc: Exception) -> dict:
    request_id = getattr(context, "aws_request_id", None) or "unknown"
    log.error("unhandled error", error_type=type(exc).__name__, error=str(exc), stack=traceback.format_exc())
    return ApiError(500, "internal_error", f"internal error; quote request id {request_id}").response()
