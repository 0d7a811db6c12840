"""`opsctl replay-dlq --via invoke` on the sandbox: the replay's invoker runs the deployed function from the zip
Terraform deployed, in this process, as `opsctl sandbox run` does. The CLI hands it to the replay
(opsctl.replay.kinesis.InvokeDelivery), which never imports the sandbox itself."""

from __future__ import annotations

from pathlib import Path

from opsctl.sandbox.runtime.function import FunctionRunner, MetricSink


def sandbox_invoker(target, function_arn: str, *, state_dir: Path, zip_path: Path):
    """(invoke, role, close) that run the deployed function in this process, as `opsctl sandbox run` does."""
    metrics = MetricSink(target.client("cloudwatch"))
    runner = FunctionRunner(target, state_dir=state_dir, zip_path=zip_path, metrics=metrics)
    fn = runner.function(function_arn)

    def invoke(event: dict):
        inv = runner.invoke(fn, event)
        return (f"{inv.error_type}: {inv.error_message}" if inv.function_error else None), inv.result

    def close():
        try:
            metrics.flush()
        finally:
            runner.close()

    return invoke, fn.role, close
