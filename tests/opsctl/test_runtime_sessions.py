"""Each function in the local runtime has boto3's default session of its own, as each Lambda function has a
process of its own: a handler that calls `boto3.client(...)` signs with its own role's keys, never with the keys of
a function that ran before it in the same runtime (which may be allowed more)."""

from __future__ import annotations

import boto3

from opsctl.core.aws import AwsTarget
from opsctl.sandbox.runtime.function import DeployedFunction, FunctionRunner, MetricSink


def _signing_key(event, context) -> str:
    return boto3.client("sts", region_name="us-east-1")._request_signer._credentials.access_key


def _fn(tmp_path, name: str, key: str) -> DeployedFunction:
    return DeployedFunction(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        role=f"arn:aws:iam::123456789012:role/{name}-role",
        handler_name="x.handler",
        timeout_s=10,
        memory_mb=128,
        environment={"KEY": key},
        handler=_signing_key,
        log_path=tmp_path / f"{name}.log",
    )


def test_a_handler_on_boto3s_default_session_signs_with_its_own_functions_keys(tmp_path, monkeypatch):
    runner = FunctionRunner(
        AwsTarget(endpoint_url="http://127.0.0.1:9", sandbox=True),
        state_dir=tmp_path,
        zip_path=tmp_path / "unused.zip",
        metrics=MetricSink(None),
    )
    # the role's temporary keys, as the runtime puts them in the environment (here without an STS to ask)
    monkeypatch.setattr(
        runner,
        "_role_environment",
        lambda fn: {"AWS_ACCESS_KEY_ID": fn.environment["KEY"], "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"},
    )
    ingest, api = _fn(tmp_path, "ingest", "KEY-INGEST"), _fn(tmp_path, "api", "KEY-API")
    host = boto3.DEFAULT_SESSION
    try:
        keys = [runner.invoke(fn, {}).result for fn in (ingest, api, ingest, api)]
    finally:
        runner.close()
    assert keys == ["KEY-INGEST", "KEY-API", "KEY-INGEST", "KEY-API"]
    assert boto3.DEFAULT_SESSION is host  # the host process's own default session is left as it was
