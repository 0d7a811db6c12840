"""Be EventBridge Scheduler on the sandbox: moto stores schedules but never fires them, so we invoke the
scheduled function through the local runtime with the input the schedule would send (its own input template,
placeholders filled in), and publish the AWS/Lambda metrics Lambda would."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

from opsctl.core.aws import AwsTarget
from opsctl.core.errors import OpsError
from opsctl.sandbox.runtime.function import FunctionRunner, MetricSink


def scheduler_event(template: str | None, *, schedule_arn: str, scheduled_time: dt.datetime) -> dict:
    """The payload Scheduler delivers: the target's Input with <aws.scheduler.*> placeholders replaced."""
    fills = {
        "<aws.scheduler.schedule-arn>": schedule_arn,
        "<aws.scheduler.scheduled-time>": scheduled_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": "1",
    }
    text = template or json.dumps(
        {
            "source": "aws.scheduler",
            "schedule_arn": "<aws.scheduler.schedule-arn>",
            "scheduled_time": "<aws.scheduler.scheduled-time>",
            "execution_id": "<aws.scheduler.execution-id>",
        }
    )
    for k, v in fills.items():
        text = text.replace(k, v)
    return json.loads(text)


def run(target: AwsTarget, outputs: dict, *, state_dir: Path, zip_path: Path, scheduled_time: dt.datetime) -> dict:
    """Invokes the capacity report function once, as its schedule would at `scheduled_time`; returns its answer."""
    function_name = outputs.get("capacity_report_function_name")
    if not function_name:
        raise OpsError(
            "the sandbox has no capacity_report_function_name output", hint="run `opsctl sandbox up` to deploy it"
        )
    schedule_name = outputs.get("capacity_report_schedule_name") or ""
    template, arn = None, f"arn:aws:scheduler:{target.region}:000000000000:schedule/default/{function_name}"
    if schedule_name:
        sched = target.client("scheduler").get_schedule(Name=schedule_name)
        template, arn = sched["Target"].get("Input"), sched["Arn"]
        if sched["Target"]["Arn"].split(":function:")[-1] != function_name:
            raise OpsError(f"schedule {schedule_name} targets {sched['Target']['Arn']}, not {function_name}")
    event = scheduler_event(template, schedule_arn=arn, scheduled_time=scheduled_time)
    sink = MetricSink(target.client("cloudwatch"))
    runner = FunctionRunner(target, state_dir=state_dir, zip_path=zip_path, metrics=sink)
    try:
        fn = runner.function(function_name)
        inv = runner.invoke(fn, event, asynchronous=True)  # EventBridge Scheduler invokes asynchronously
        sink.lambda_invocation(fn.name, duration_ms=inv.duration_ms, error=inv.function_error, iterator_age_ms=None)
        sink.flush()
    finally:
        runner.close()
    if inv.function_error:
        raise OpsError(f"{function_name} failed: {inv.error_type}: {inv.error_message}", hint=f"see {fn.log_path}")
    return {
        "function": function_name,
        "schedule": schedule_name,
        "event": event,
        "result": inv.result,
        "duration_ms": round(inv.duration_ms, 1),
        "log": str(fn.log_path),
    }
