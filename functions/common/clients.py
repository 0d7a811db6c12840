"""boto3 clients made on first use and then reused, so importing a handler does no I/O.

The cache key includes the endpoint, region and access key id read from the environment at first use, so a
process that points AWS_ENDPOINT_URL at another sandbox, or runs several functions each with its own role's
keys (the local runtime, tests), gets a fresh client; on Lambda all three are fixed for the environment, or
change only when Lambda renews the role's keys, and then a client with the new keys is what is wanted."""

from __future__ import annotations

import os
import threading

import boto3
from botocore.config import Config

# Standard retries handle brief network and throttling blips inside one call; the handler's own
# time-bounded loop handles the rest. Timeouts keep one stuck call from eating the Lambda's budget.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
# DynamoDB without client-side parameter validation: the handlers build every item themselves, and
# botocore's walk over every attribute of every item was half the ingest function's CPU (tests/bench).
# DynamoDB still validates on its side.
SERVICE_CONFIG = {"dynamodb": CLIENT_CONFIG.merge(Config(parameter_validation=False))}

_cache: dict[tuple, object] = {}
_lock = threading.Lock()


def client(service: str):
    """The cached boto3 client for `service`, honouring AWS_ENDPOINT_URL and AWS_REGION."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    key = (service, endpoint, region, os.environ.get("AWS_ACCESS_KEY_ID"))
    found = _cache.get(key)
    if found is None:
        with _lock:  # boto3's default session is not thread-safe; a session of our own per client is
            found = _cache.get(key)
            if found is None:
                found = boto3.session.Session().client(
                    service,
                    endpoint_url=endpoint,
                    region_name=region,
                    config=SERVICE_CONFIG.get(service, CLIENT_CONFIG),
                )
                _cache[key] = found
    return found


def reset() -> None:
    """Forgets every cached client (tests that start a new mock or sandbox call this)."""
    with _lock:
        _cache.clear()
