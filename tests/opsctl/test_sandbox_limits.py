"""Lambda's payload limits in the local runtime: a response over 6 MB is Lambda's error (and API Gateway's
500), an event over its invocation type's limit never reaches the handler."""

from __future__ import annotations

from opsctl.core.aws import AwsTarget
from opsctl.sandbox import limits
from opsctl.sandbox.runtime.function import DeployedFunction, FunctionRunner, MetricSink


def _runner(tmp_path, handler) -> tuple[FunctionRunner, DeployedFunction]:
    runner = FunctionRunner(
        AwsTarget(endpoint_url="http://127.0.0.1:9", sandbox=True),
        state_dir=tmp_path,
        zip_path=tmp_path / "unused.zip",
        metrics=MetricSink(None),
    )
    fn = DeployedFunction(
        name="limits-fn",
        arn="arn:aws:lambda:us-east-1:123456789012:function:limits-fn",
        role="",  # no role: nothing to assume (the runtime then runs it as the sandbox's admin)
        handler_name="x.handler",
        timeout_s=10,
        memory_mb=128,
        environment={},
        handler=handler,
        log_path=tmp_path / "limits-fn.log",
    )
    return runner, fn


def test_a_response_over_6_mb_is_lambdas_error_not_the_response(tmp_path):
    calls = []

    def big(event, context):
        calls.append(event)
        return {"body": "x" * event["n"]}

    runner, fn = _runner(tmp_path, big)
    within = runner.invoke(fn, {"n": limits.SYNC_PAYLOAD_MAX_BYTES - 100})
    assert not within.function_error and len(within.result["body"]) == limits.SYNC_PAYLOAD_MAX_BYTES - 100
    over = runner.invoke(fn, {"n": limits.SYNC_PAYLOAD_MAX_BYTES})
    assert over.function_error and over.error_type == "Function.ResponseSizeTooLarge" and over.result is None
    assert "exceeded maximum allowed payload size (6291456 bytes)" in over.error_message
    runner.close()
    assert len(calls) == 2


def test_an_event_over_its_invocation_types_limit_never_reaches_the_handler(tmp_path):
    calls = []
    runner, fn = _runner(tmp_path, lambda event, context: calls.append(1))
    event = {"data": "x" * (300 * 1024)}  # over 256 KB, under 6 MB
    assert not runner.invoke(fn, event).function_error  # synchronous: fine
    refused = runner.invoke(fn, event, asynchronous=True)
    assert refused.error_type == "RequestEntityTooLargeException" and "limit 262144 bytes" in refused.error_message
    assert not runner.invoke(fn, {"data": "x" * limits.SYNC_PAYLOAD_MAX_BYTES}).result
    runner.close()
    assert len(calls) == 1
    assert "REPORT RequestId:" in (tmp_path / "limits-fn.log").read_text()
