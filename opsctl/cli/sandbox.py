"""`opsctl sandbox ...`: run the whole pipeline on this machine, with no AWS account."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from opsctl.cli import fmt
from opsctl.cli.errors import error_line
from opsctl.cli.options import OutputOpt, Settings
from opsctl.cli.render import Col, OutputFormat, emit, err, interrupted, note, out, print_table, safe
from opsctl.core.errors import OpsError

sandbox_app = typer.Typer(
    help="A local AWS (a moto server) with the real Terraform applied to it and a local Lambda runtime, "
    "so you can try, test and rehearse incidents on a laptop.\n\n"
    "Typical session: [bold]opsctl sandbox up[/bold] → [bold]opsctl sandbox traffic --devices 5 --records 500 --poison "
    "10[/bold] "
    "→ [bold]opsctl sandbox run --until-idle[/bold] → [bold]opsctl sandbox inspect[/bold] → "
    "[bold]opsctl sandbox rollups --device dev-0001[/bold] → [bold]opsctl sandbox down[/bold].",
    no_args_is_help=True,
)


def _local(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    if settings.env != "local":
        raise OpsError(
            f"`opsctl sandbox` works on the local sandbox only, not --env {settings.env}",
            hint="drop --env or use --env local",
        )
    return settings


@sandbox_app.command()
def up(
    ctx: typer.Context,
    port: Annotated[
        int | None, typer.Option(help="localhost port for the moto server (default: a free one)", min=1, max=65535)
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Start the sandbox (or bring it up to date): moto server, Lambda zip, terraform init + apply of envs/local.

    Safe to run again: a running sandbox is reused and Terraform only applies what changed.

    Examples:
      opsctl sandbox up
      opsctl sandbox up --port 4566 --output json"""
    from opsctl.sandbox import deploy

    _local(ctx)
    with err.status("starting") as status:
        result = deploy.up(port, progress=lambda msg: status.update(msg))
    data = {
        "endpoint": result.endpoint,
        "started_server": result.started_server,
        "zip_sha256": result.zip_sha256,
        "apply_seconds": round(result.apply_seconds, 1),
        "outputs": result.outputs,
    }

    table = show_up

    emit(data, output, table)


@sandbox_app.command()
def down(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="say what would be stopped and forgotten; stop nothing")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="stop it without asking")] = False,
) -> None:
    """Stop the moto server and forget its state (Terraform state, runtime checkpoints, endpoint file).

    Like every command that changes something: it says what it will do, --dry-run stops nothing, and it asks
    unless --yes.

    Examples:
      opsctl sandbox down --dry-run
      opsctl sandbox down --yes"""
    from opsctl.core.project import SANDBOX_DIR
    from opsctl.sandbox import deploy, server

    _local(ctx)
    state = server.running()
    plan = (
        f"stop the sandbox at {state.endpoint} (pid {state.pid}) and delete its state under {SANDBOX_DIR}: every "
        "resource, message and record in it is gone"
        if state
        else f"no sandbox is running; clean leftovers under {SANDBOX_DIR}"
    )
    note(f"plan: {plan}")
    if dry_run:
        note("dry run: nothing stopped")
        return
    if state and not yes:
        if not err.is_terminal:
            raise OpsError(
                "refusing to stop the sandbox without confirmation on a non-interactive terminal",
                hint="add --yes (or --dry-run to only look)",
            )
        if not typer.confirm("stop it and forget its state?", err=True):
            raise OpsError("not stopped: nothing changed")
    stopped = deploy.down()
    note(
        f"sandbox stopped (was {stopped.endpoint}, pid {stopped.pid})"
        if stopped
        else "no sandbox was running; leftovers cleaned"
    )


@sandbox_app.command()
def status(ctx: typer.Context, output: OutputOpt = OutputFormat.table) -> None:
    """Tell whether the sandbox is up, where its endpoint is, and what Terraform deployed into it.

    Exits 1 when the sandbox is not running.

    Examples:
      opsctl sandbox status
      opsctl sandbox status --output json | jq .endpoint"""
    from opsctl.core.project import SANDBOX_DIR
    from opsctl.sandbox import server
    from opsctl.sandbox.deploy import Workspace

    _local(ctx)
    state = server.running()
    data: dict = {"running": state is not None}
    if state:
        data.update(
            endpoint=state.endpoint,
            pid=state.pid,
            port=state.port,
            uptime_s=round(time.time() - state.started_at),
            log=state.log_path,
        )
        try:
            data["outputs"] = Workspace(SANDBOX_DIR).outputs()
        except OpsError as exc:
            data["outputs"] = {}
            data["terraform"] = error_line(exc)
        from opsctl.sandbox import faults

        try:
            data["faults"] = faults.list_faults(state.endpoint)
        except OpsError as exc:
            data["faults"] = []
            data["faults_unreadable"] = error_line(exc)

    table = show_sandbox_status

    emit(data, output, table)
    if not state:
        raise typer.Exit(1)


@sandbox_app.command()
def fault(
    ctx: typer.Context,
    kind: Annotated[
        str | None,
        typer.Argument(
            help="dynamodb-throttle, dynamodb-error, sqs-error, s3-error or function-crash (leave out with --clear)"
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="the table, queue, bucket or function name "
            "(default: the readings table, the rollup queue, the quarantine bucket, the ingest function)"
        ),
    ] = None,
    seconds: Annotated[
        int,  # 900 is opsctl.sandbox.faults.MAX_SECONDS (tests/opsctl/test_faults.py holds the two together)
        typer.Option(help="how long the fault lasts, in seconds (1-900); it then ends by itself", min=1, max=900),
    ] = 60,
    requests: Annotated[
        int | None,  # 10,000 is opsctl.sandbox.faults.MAX_REQUESTS (tests/opsctl/test_faults.py holds them together)
        typer.Option(
            help="fail only this many requests on the target (1-10000), then end: however late they come "
            "within --seconds (not function-crash)",
            min=1,
            max=10_000,
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="end every fault now")] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Inject a window of failures into the sandbox's AWS: DynamoDB throttling or 500s on a table, SQS or S3 500s,
    or a function whose runtime crashes.

    Every client sees it (the local runtime's functions, opsctl, your own boto3): the retry and failure paths
    run end to end. function-crash: each invocation of the function that starts in the window fails as Lambda
    reports a crashed runtime (Runtime.ExitError, counted in AWS/Lambda Errors; the event source mapping retries,
    bisects and finally sends the batch to its on-failure destination or the queue's DLQ).
    A fault ends by itself after --seconds, or with --requests after that many failed requests (whichever comes
    first); `opsctl sandbox status` lists those under way.

    Examples:
      opsctl sandbox fault dynamodb-error --seconds 90        # the readings table answers 500 for 90 seconds
      opsctl sandbox fault dynamodb-error --requests 3 --seconds 120   # its next 3 requests, in the next 2 minutes
      opsctl sandbox fault dynamodb-throttle --target telemetry-local-rollups --seconds 120
      opsctl sandbox fault sqs-error --seconds 30             # the rollup queue answers 500 for 30 seconds
      opsctl sandbox fault function-crash --target telemetry-local-rollup --seconds 60   # its runtime crashes
      opsctl sandbox fault --clear"""
    from opsctl.sandbox import faults, server

    settings = _local(ctx)
    if clear and kind:
        raise OpsError("--clear ends every fault: give no kind with it")
    if requests is not None and kind == "function-crash":
        raise OpsError(
            "--requests counts requests the sandbox's server answers: a function-crash lasts --seconds only",
            hint="opsctl sandbox fault function-crash --seconds 60",
        )
    if not clear and not kind:
        raise OpsError("which fault? give a kind", hint="one of " + ", ".join(sorted(faults.KINDS)))
    if not clear and kind not in faults.KINDS:
        raise OpsError(f"unknown fault kind {kind!r}", hint="one of " + ", ".join(sorted(faults.KINDS)))
    state = server.running()
    if state is None:
        raise OpsError("the sandbox is not up", hint="opsctl sandbox up")
    if clear:
        data = {"cleared": faults.clear_faults(state.endpoint), "faults": []}
    else:
        assert kind is not None  # checked above: no --clear means a known kind
        if target is None:
            value = settings.stack().get(faults.DEFAULT_TARGET_OUTPUT[kind])
            target = value.rstrip("/").rsplit("/", 1)[-1]  # a queue URL's last part is the queue's name
        started = faults.start_fault(state.endpoint, kind, target, seconds, requests)
        data = {"started": started, "faults": faults.list_faults(state.endpoint)}
    emit(data, output, show_faults)


def show_faults(d: dict) -> None:
    if "cleared" in d:
        out.print(f"ended {fmt.count(d['cleared'], 'fault')}")
    if d.get("started"):
        f = d["started"]
        counted = f.get("requests_left")
        limit = f" or {fmt.count(counted, 'request')}, whichever ends first" if counted is not None else ""
        out.print(
            f"fault [bold]{safe(f['kind'])}[/bold] on {safe(f['target'])} for {fmt.duration(f['seconds_left'])}{limit}"
        )
    _faults_table(d.get("faults") or [])


def _faults_table(faults: list[dict]) -> None:
    if not faults:
        out.print("faults: none")
        return
    print_table(
        [Col("fault", key=True), Col("target"), Col("ends in"), Col("requests left")],
        [
            [
                safe(f["kind"]),
                safe(f["target"]),
                fmt.duration(f["seconds_left"]),
                "every one" if f.get("requests_left") is None else f"{f['requests_left']:,}",
            ]
            for f in faults
        ],
    )


@sandbox_app.command()
def traffic(
    ctx: typer.Context,
    devices: Annotated[int, typer.Option(help="number of devices", min=1, max=100_000)] = 5,
    records: Annotated[
        int, typer.Option(help="valid readings to send, spread over the devices", min=0, max=10_000_000)
    ] = 500,
    poison: Annotated[
        int, typer.Option(help="invalid records to mix in, cycling through every poison kind", min=0)
    ] = 0,
    rate: Annotated[
        float | None, typer.Option(help="cap in records per second (default: as fast as PutRecords allows)", min=0.1)
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            help="with --rate: send for this many seconds (rate × duration readings; replaces --records)", min=1
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed: the same seed sends the same metric values")] = 7,
    via: Annotated[
        str,
        typer.Option(
            help="kinesis: PutRecords as a trusted producer; iot: publish to each registered device's topic "
            "through the IoT data plane (the topic rule routes it to the stream)"
        ),
    ] = "kinesis",
    device_prefix: Annotated[
        str, typer.Option(help="device ids are <prefix>0001, <prefix>0002, ... (with --via iot: registered ones)")
    ] = "dev-",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Send device readings to the ingest stream with PutRecords (≤500 per call, partition key = device id),
    or with --via iot through IoT Core as the devices themselves would.

    With --rate R --duration D it holds R records/s for D seconds, with a live line on stderr (sent, refused,
    rate, ETA); `opsctl sandbox run --follow` in another terminal keeps up and shows its lag.

    Examples:
      opsctl sandbox traffic --devices 5 --records 500 --poison 10
      opsctl sandbox traffic --records 10000 --rate 200        # 200 records per second, about 50 s
      opsctl sandbox traffic --rate 1000 --duration 60         # 60,000 readings at 1,000 per second
      opsctl sandbox traffic --via iot --device-prefix acme- --devices 2 --records 100"""
    from opsctl.sandbox import traffic as gen

    if via not in ("kinesis", "iot"):
        raise OpsError(f"--via {via!r} is not kinesis or iot")
    if via == "iot" and poison:
        raise OpsError("--poison goes with --via kinesis", hint="poison records come from unregistered devices")
    if duration is not None and rate is None:
        raise OpsError("--duration needs --rate", hint="e.g. --rate 1000 --duration 60")
    if duration is not None and rate is not None:
        records = max(0, round(rate * duration) - poison)
    stack = _local(ctx).stack()
    valid = gen.readings(devices, records, seed=seed)
    for r in valid:
        r["device_id"] = device_prefix + r["device_id"].removeprefix("dev-")
    items = gen.mix(valid, gen.poison(poison, seed=seed), seed=seed)
    topic_of = None
    if via == "iot":
        from opsctl.devices import registry

        names = registry.DeviceStack.from_stack(stack)
        ddb, topics = stack.target.client("dynamodb"), {}
        for device in sorted({i.partition_key for i in items}):
            entry = registry.get_entry(ddb, names, device)
            if entry is None or entry.get("status") != registry.ACTIVE:
                raise OpsError(
                    f"device {device!r} is not an active registered device",
                    hint=f"opsctl devices register {device} --tenant T",
                )
            topics[device] = names.topic(entry["tenant"], device)
        topic_of = topics.__getitem__
    sent = [0]
    started = time.monotonic()
    with err.status("sending") as status:

        def live(r, elapsed_s: float) -> None:
            now_rate = r.sent / elapsed_s if elapsed_s else 0.0
            eta = f"{fmt.duration((len(items) - r.sent) / now_rate)}" if now_rate else "n/a"
            status.update(
                f"sent {fmt.number(r.sent)}/{fmt.number(len(items))}  refused {fmt.number(r.throttled_retries)}  "
                f"{fmt.rate(now_rate)}  ETA {eta}"
            )

        def progress(n):
            sent[0] += n

        def progress_iot(n):
            sent[0] += n
            elapsed = time.monotonic() - started
            now_rate = sent[0] / elapsed if elapsed else 0.0
            status.update(f"published {fmt.number(sent[0])}/{fmt.number(len(items))}  {fmt.rate(now_rate)}")

        try:
            if topic_of is not None:
                result = gen.publish(stack.target.client("iot-data"), items, topic_of, rate=rate, progress=progress_iot)
            else:
                result = gen.send(
                    stack.target.client("kinesis"),
                    stack.get("stream_name"),
                    items,
                    rate=rate,
                    progress=progress,
                    live=live,
                )
        except KeyboardInterrupt:
            raise interrupted(
                f"{fmt.number(sent[0])} of {fmt.count(len(items), 'record')} sent "
                f"{'through IoT' if topic_of else 'to ' + str(stack.get('stream_name'))}",
                "what was sent stays on the stream; `opsctl sandbox run --until-idle` delivers it",
            ) from None
    data = result.to_dict()

    def table(d):
        if d["via"] == "iot":
            how = (
                f"published {fmt.count(d['sent'], 'record')} through IoT Core in "
                f"{fmt.count(d['iot_publishes'], 'MQTT publish', 'MQTT publishes')} to the devices' topics"
            )
        else:
            how = (
                f"sent {fmt.count(d['sent'], 'record')} to {safe(stack.get('stream_name'))} in "
                f"{fmt.count(d['put_records_calls'], 'PutRecords call')}"
            )
        out.print(
            f"{how} ({fmt.number(d['valid'])} valid, {fmt.number(d['poison_total'])} poison) "
            f"at {fmt.rate(d['records_per_second'])}"
        )
        if d["poison"]:
            out.print("poison: " + fmt.pairs(d["poison"]))
        if d["throttled_retries"]:
            out.print(
                f"refused {d['throttled_retries']} times by a shard's write limit (1 MiB/s, 1,000 records/s); "
                "each sent again with backoff until accepted"
            )
        note("next: `opsctl sandbox run --until-idle` delivers them to the ingest function")

    emit(data, output, table)


@sandbox_app.command()
def run(
    ctx: typer.Context,
    until_idle: Annotated[
        bool, typer.Option("--until-idle/--follow", help="stop once every shard is drained (default), or keep polling")
    ] = True,
    from_start: Annotated[
        bool,
        typer.Option(
            "--from-start", help="forget checkpoints and re-deliver every record from TRIM_HORIZON (a replay)"
        ),
    ] = False,
    max_seconds: Annotated[
        float | None, typer.Option(help="stop after this many seconds even if not idle", min=1)
    ] = None,
    max_passes: Annotated[
        int | None,
        typer.Option(
            help="stop after this many passes (a pass = at most one batch per shard or queue): a consumer that falls "
            "behind",
            min=1,
        ),
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Be Lambda locally: drive every event source mapping Terraform created, calling the real handlers in-process.

    Follows AWS's semantics: per-shard order, batch size and window, bisect on error, retry limit, maximum record
    age, ReportBatchItemFailures, on-failure destination records, resharding; publishes AWS/Lambda metrics and sends
    each invocation's log lines to the function's log group (where subscription filters feed the log-alert pipeline).

    Examples:
      opsctl sandbox run --until-idle
      opsctl sandbox run --follow --max-seconds 300            # poll for at most 5 minutes"""
    from opsctl.sandbox.runtime import runner as runtime

    stack = _local(ctx).stack()
    counts = {"invocations": 0, "records": 0}
    lag_s: dict[str, float] = {}  # function -> iterator age of its last stream batch, seconds
    skipped: list[dict] = []
    started = time.monotonic()
    with err.status("polling event source mappings") as status:

        def on_event(kind: str, details: dict) -> None:
            if kind == "invoke":
                counts["invocations"] += 1
                counts["records"] += int(details.get("records", 0))
                if details.get("iterator_age_ms") is not None:
                    lag_s[details["function_name"]] = details["iterator_age_ms"] / 1000
                rate = counts["records"] / max(time.monotonic() - started, 1e-9)
                lag = ", ".join(f"{fn} lag {fmt.duration(s)}" for fn, s in sorted(lag_s.items()))
                status.update(
                    f"{fmt.count(counts['invocations'], 'invocation')}, {fmt.count(counts['records'], 'record')} "
                    f"delivered ({fmt.rate(rate)})" + (f"; {lag}" if lag else "")
                )
            elif kind == "wait":
                status.update(
                    f"{fmt.count(counts['invocations'], 'invocation')}, {fmt.count(counts['records'], 'record')} "
                    f"delivered; waiting for {fmt.count(details['in_flight'], 'in-flight message')} of "
                    f"{safe(details['queue'])} to come back after its visibility timeout"
                    + (
                        f" ({fmt.duration(details['visibility_timeout_s'])})"
                        if details.get("visibility_timeout_s")
                        else ""
                    )
                    + " (a failed batch, retried as on AWS)"
                )
            elif kind in ("skip", "logs"):
                skipped.append({**details, "kind": kind})

        try:
            summary = runtime.run(
                stack.target,
                until_idle=until_idle,
                from_start=from_start,
                max_seconds=max_seconds,
                on_event=on_event,
                max_passes=max_passes,
            )
        except KeyboardInterrupt:
            raise interrupted(
                f"{fmt.count(counts['invocations'], 'invocation')}, {fmt.count(counts['records'], 'record')} delivered",
                "checkpoints are kept per shard: run `opsctl sandbox run` again to continue from there",
            ) from None
    data = summary.to_dict()
    emit(data, output, _run_table)
    for d in skipped:
        if d["kind"] == "logs":
            note(f"logs of {d['function_name']} not sent to CloudWatch Logs: {d['reason']}")
        else:
            note(f"skipped the mapping of {d['function_name']} on {d['source']}: {d['reason']}")
    if summary.interrupted:  # the runtime stops cleanly on Ctrl-C and says so; the exit code must too
        raise interrupted(
            f"{fmt.count(counts['invocations'], 'invocation')}, {fmt.count(counts['records'], 'record')} delivered "
            "(the table above)",
            "checkpoints are kept per shard: run `opsctl sandbox run` again to continue from there",
        )


def _run_table(d: dict) -> None:
    mappings = d.get("mappings", [])
    print_table(
        [
            Col("function", key=True),
            Col("source", drop=6),
            Col("invocations"),
            Col("records"),
            Col("errors", drop=2),
            Col("partial", drop=4),
            Col("bisections", drop=5),
            Col("to on-failure", drop=3),
            Col("lost", drop=1),
        ],
        [
            [
                safe(m.get("function_name")),
                safe(str(m.get("source", "")).rsplit(":", 1)[-1]),
                fmt.number(m.get("invocations", 0)),
                fmt.number(m.get("records_delivered", 0)),
                fmt.number(m.get("function_errors", 0)),
                fmt.number(m.get("partial_failures", 0)),
                fmt.number(m.get("bisections", 0)),
                fmt.number(m.get("on_failure_records", 0)),
                fmt.number(m.get("records_discarded_without_destination", 0)),
            ]
            for m in mappings
        ],
        title="local runtime",
    )
    for m in mappings:
        if "messages_deleted" in m:  # an SQS mapping
            line = (
                f"{m.get('function_name')}: {m['messages_deleted']} messages done and deleted, {m['messages_failed']} "
                "failed "
                f"deliveries left on the queue for redrive (the DLQ after maxReceiveCount receives)"
            )
            if m.get("left_in_flight"):
                line += f"; {m['left_in_flight']} still in flight (no redrive policy, not waited for)"
            if m.get("in_flight_wait_s"):
                # the only waiting the runtime does: what a run spent it on, so a slow run is not a mystery
                vt = m.get("visibility_timeout_s")
                line += (
                    f"; waited {fmt.duration(m['in_flight_wait_s'])} for failed deliveries to come back after the "
                    f"queue's visibility timeout{f' ({fmt.duration(vt)})' if vt is not None else ''}, as on AWS"
                )
            out.print(line)
    if d.get("timed_out"):
        note("stopped at --max-seconds before the mappings were idle; run again to continue")


@sandbox_app.command()
def drill(
    ctx: typer.Context,
    baseline: Annotated[
        int, typer.Option(help="readings sent (and delivered) before the incident", min=0, max=100_000)
    ] = 200,
    spike: Annotated[
        int,
        typer.Option(
            help="readings of the spike sent while the consumer is stopped (raised to what outlasts the slow passes)",
            min=1,
            max=1_000_000,
        ),
    ] = 1500,
    poison: Annotated[
        int, typer.Option(help="poison records in the burst, cycling through every kind", min=0, max=100_000)
    ] = 22,
    devices: Annotated[
        int,
        typer.Option(help="devices sending (ids drill<hhmmss>b-/s-NNNN, apart from other traffic)", min=1, max=10_000),
    ] = 10,
    settle_timeout: Annotated[
        float | None,
        typer.Option(
            help="seconds to wait for the fired monitors to return to OK (default: the alarm's window + 2 periods)",
            min=0,
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="let the backlog age past the critical iterator-age threshold (600,000 ms) first: ~20 minutes",
        ),
    ] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Rehearse an incident on the sandbox with real metrics and the runbooks' own commands (~8 minutes).

    The ingest consumer is stopped while a traffic spike with a poison burst arrives, then comes back slow
    (one batch per shard a minute), so its IteratorAge, measured from the records' real arrival, crosses the
    catalog's warning threshold in enough minutes for the alarm (no metric is faked, no threshold lowered).
    `opsctl monitors` shows what fired and its runbook; the drill runs that runbook's diagnose / mitigate /
    verify commands (and the poison-records and, if a failed batch exists, DLQ-replay ones), waits until the
    monitor is OK again, and checks that every record it sent is in the table or quarantined (by reason).
    In the slow minutes, `opsctl sandbox fault` makes the readings table fail (HTTP 500) for a few seconds, the
    table, made PROVISIONED below what the slow consumer writes (`opsctl capacity --apply --write-capacity`, raised
    again by its runbook before the catch-up, put back as found at the end), throttles every pass, one device
    sends more than its shard's 1,000 records/s, and the ingest and rollup runtimes crash (function-crash: Lambda
    counts Errors; a crashed batch runs out of retries into the on-failure queue, a crashed rollup job is
    dead-lettered after maxReceiveCount receives), so the table's system-error and write-throttle
    alarms, the stream's write-throttle alarm, both functions' error-rate alarms, the failure-queue and the DLQ
    alarms fire from real metrics too; `opsctl replay-dlq --source ingest|rollup` brings the work back. The default
    drill skips the critical iterator-age alarms (600,000 ms for 5 of 5 minutes): `--full` runs them (~20 minutes).
    Prints, per exercised monitor, whether it fired and cleared and the runbook command that brought it back,
    and why each other catalog monitor was not exercised.
    Prints a timeline. Exit 0 when something fired, everything recovered and every record is accounted for; 1 otherwise.

    Examples:
      opsctl sandbox drill
      opsctl sandbox drill --spike 3000 --poison 44 --output json
      opsctl sandbox drill --full          # ~20 minutes: the critical iterator-age alarms too"""
    from opsctl.sandbox import drill as rehearsal

    stack = _local(ctx).stack()
    result = rehearsal.run(
        stack,
        baseline=baseline,
        spike=spike,
        poison=poison,
        devices=devices,
        settle_timeout_s=settle_timeout,
        full=full,
        progress=lambda m: err.print(m, markup=False, highlight=False),
    )

    table = show_drill

    emit(result, output, table)
    if not result["ok"]:
        raise typer.Exit(1)


@sandbox_app.command("scheduled-report")
def scheduled_report(
    ctx: typer.Context,
    out_dir: Annotated[
        str | None, typer.Option("--out-dir", help="also copy the stored HTML report into this folder")
    ] = "build/reports",
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Run the scheduled capacity report now, as EventBridge Scheduler would (moto never fires schedules).

    Invokes the deployed capacity_report function through the local runtime with its schedule's input, then says
    where the report is: the S3 key in the reports bucket and a local copy of the HTML under --out-dir.

    Examples:
      opsctl sandbox scheduled-report
      opsctl sandbox scheduled-report --out-dir build/reports --output json"""
    import datetime as dt
    from pathlib import Path

    from opsctl.core.project import FUNCTIONS_ZIP, ROOT, SANDBOX_DIR
    from opsctl.sandbox import schedule

    stack = _local(ctx).stack()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with err.status("running the capacity report function"):
        data = schedule.run(
            stack.target, stack.outputs, state_dir=SANDBOX_DIR, zip_path=FUNCTIONS_ZIP, scheduled_time=now
        )
    result = data["result"]
    if out_dir:
        html_key = result["keys"]["html"]
        dest = Path(out_dir) if Path(out_dir).is_absolute() else ROOT / out_dir
        dest.mkdir(parents=True, exist_ok=True)
        local = dest / html_key.rsplit("/", 1)[-1]
        local.write_bytes(stack.target.client("s3").get_object(Bucket=result["bucket"], Key=html_key)["Body"].read())
        data["local_copy"] = str(local)

    def table(d):
        r = d["result"]
        out.print(
            f"capacity report stored in s3://{r['bucket']}/ ({r['recommendations']} recommendation(s), {r['warnings']} "
            "warning(s)):"
        )
        for key in r["keys"].values():
            out.print(f"  s3://{r['bucket']}/{key}")
        if d.get("local_copy"):
            out.print(f"local copy: {d['local_copy']}")
        note("summary published to the alerts topic; open the HTML in a browser")

    emit(data, output, table)


@sandbox_app.command()
def inspect(ctx: typer.Context, output: OutputOpt = OutputFormat.table) -> None:
    """Show what landed: readings in the table, poison records in the quarantine (with reasons), failed batches.

    Examples:
      opsctl sandbox inspect
      opsctl sandbox inspect --output json | jq .quarantine.by_reason"""
    from opsctl.sandbox import landed

    stack = _local(ctx).stack()
    data = landed.summary(stack)

    table = show_inspect

    emit(data, output, table)


def _epoch_ms(value: str, flag: str) -> int:
    """Epoch milliseconds from `value`: digits are epoch ms, anything else ISO-8601 (naive = UTC)."""
    import datetime as dt

    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OpsError(
            f"{flag} {value!r} is neither epoch milliseconds nor an ISO-8601 time",
            hint=f"e.g. {flag} 1763800000000 or {flag} 2025-11-22T08:00:00Z",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


@sandbox_app.command()
def rollups(
    ctx: typer.Context,
    device: Annotated[str, typer.Option("--device", "-d", help="device id, e.g. dev-0001")],
    from_: Annotated[
        str | None, typer.Option("--from", help="start: epoch ms or ISO-8601 (default: --hours before --to)")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="end: epoch ms or ISO-8601 (default: now)")] = None,
    hours: Annotated[int, typer.Option(help="hours to show when --from is not given", min=1, max=24 * 366)] = 48,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Show a device's hourly rollups (count; min/max/avg/sum per metric), as the rollup worker wrote them.

    Examples:
      opsctl sandbox rollups --device dev-0001
      opsctl sandbox rollups --device dev-0001 --from 2025-11-22T00:00:00Z --to 2025-11-22T12:00:00Z --output json"""
    import re

    from opsctl.sandbox import landed

    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", device):
        raise OpsError(
            f"--device {device!r} is not a device id", hint="device ids are 1-128 characters of [A-Za-z0-9_.:-]"
        )
    to_ms = _epoch_ms(to, "--to") if to else int(time.time() * 1000)
    from_ms = _epoch_ms(from_, "--from") if from_ else to_ms - hours * 3_600_000
    if from_ms > to_ms:
        raise OpsError("--from is after --to", hint="give an earlier --from or a later --to")
    stack = _local(ctx).stack()
    found = landed.rollups(stack, device, from_ms, to_ms)
    data = {"device_id": device, "from": from_ms, "to": to_ms, "rollups": found}

    table = show_rollups

    emit(data, output, table)


@sandbox_app.command()
def api(
    ctx: typer.Context,
    port: Annotated[
        int | None, typer.Option(help="localhost port to serve on (default: a free one)", min=1, max=65535)
    ] = None,
    get: Annotated[
        list[str] | None,
        typer.Option(
            "--get", help="one-shot: serve, GET this path (repeatable) with a real HTTP client, print the answers, stop"
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", help="with --get: send a fresh access token of this sandbox user (`sandbox user add`)"),
    ] = None,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Serve the read API on localhost: the routes Terraform created in the sandbox, run by the deployed code.

    Each HTTP request becomes the API Gateway payload-2.0 event of the route it matches (routes, integrations,
    stage throttling and CORS are read from the sandbox's API); the api function runs in-process from
    build/functions.zip, checked against the deployed code like `sandbox run` does.

    Examples:

      opsctl sandbox api --port 8000        # then: curl 'http://127.0.0.1:8000/devices/dev-0001/readings?limit=5'

      opsctl sandbox api --user alice --get /devices --get '/devices/dev-0001/readings?limit=3&order=desc'

    Every route needs an access token, verified as API Gateway's JWT authorizer does (401 without one).

    With --get the exit code is 1 when any answer is 4xx/5xx."""
    from opsctl.sandbox import api_server

    stack = _local(ctx).stack()
    for path in get or []:
        if not path.startswith("/"):
            raise OpsError(
                f"--get {path!r} must be a path starting with '/'", hint="e.g. --get /devices/dev-0001/latest"
            )
    auth_headers = {}
    if user is not None:
        from opsctl.sandbox import users

        cognito, pool_id, client_id, state_dir = _user_pool(ctx)
        auth_headers["Authorization"] = "Bearer " + users.access_token(
            cognito, pool_id, client_id, user, state_dir=state_dir
        )
    local = api_server.load(stack.target, stack.get("api_id"))
    try:
        if get:
            base, got = api_server.get_once(local, get, port=port, headers=auth_headers)
            answers = [a.to_dict() for a in got]
            emit({"endpoint": base, "api_id": local.api_id, "answers": answers}, output, _api_answers_table)
            if any(a["status"] >= 400 for a in answers):
                raise typer.Exit(1)
            return
        srv = api_server.server(
            local,
            port,
            on_request=lambda a, method, target: err.print(
                f"{method} {target} → {a.status}" + (f" ({a.route})" if a.route else ""), markup=False, highlight=False
            ),
        )
        host, bound = str(srv.server_address[0]), srv.server_address[1]  # a TCP server's: (host, port)
        note(
            f"serving API {local.api_id} ({local.name}) at http://{host}:{bound}  routes: {', '.join(local.route_keys)}"
        )
        note(f"try: curl 'http://{host}:{bound}/devices/dev-0001/readings?limit=5'   (Ctrl-C stops)")
        try:
            srv.serve_forever()
        except KeyboardInterrupt:
            note("stopped")
        finally:
            srv.server_close()
    finally:
        local.close()


def _api_answers_table(d: dict) -> None:
    for a in d["answers"]:
        colour = "green" if a["status"] < 400 else "red"
        out.print(
            f"[bold]GET {a['path']}[/bold] → [{colour}]{a['status']}[/{colour}]  ({a['content_type']}; Cache-Control: "
            f"{a['cache_control']})"
        )
        body = a["body"]
        if isinstance(body, dict) and isinstance(body.get("items"), list) and len(body["items"]) > 5:
            body = {**body, "items": [*body["items"][:5], f"... {len(body['items']) - 5} more"]}
        out.print_json(json.dumps(body)) if not isinstance(body, str) else out.print(body)


def show_up(d: dict) -> None:
    out.print(
        f"sandbox up at [bold]{safe(d['endpoint'])}[/bold] ({'started' if d['started_server'] else 'reused'}; "
        f"apply took {fmt.duration(d['apply_seconds'])})"
    )
    print_table([Col("output", key=True), Col("value")], [[safe(k), safe(v)] for k, v in sorted(d["outputs"].items())])
    note("next: `opsctl sandbox traffic --devices 5 --records 500 --poison 10`, then `opsctl sandbox run --until-idle`")


def show_sandbox_status(d: dict) -> None:
    if not d["running"]:
        out.print("sandbox: [red]not running[/red] (start it with `opsctl sandbox up`)")
        return
    out.print(
        f"sandbox: [green]running[/green] at [bold]{safe(d['endpoint'])}[/bold] "
        f"(pid {d['pid']}, up {fmt.duration(d['uptime_s'])}, log {safe(d['log'])})"
    )
    if d.get("terraform"):
        out.print(f"terraform: {safe(d['terraform'])}")
    if d.get("outputs"):
        print_table(
            [Col("output", key=True), Col("value")], [[safe(k), safe(v)] for k, v in sorted(d["outputs"].items())]
        )
    if d.get("faults_unreadable"):
        out.print(f"faults: {safe(d['faults_unreadable'])}")
    else:
        _faults_table(d.get("faults") or [])
    out.print("plan against it: terraform -chdir=terraform/envs/local plan")


def show_drill(d: dict) -> None:
    print_table(
        [Col("step", key=True), Col("at"), Col("command", drop=1), Col("outcome")],
        [[safe(x["step"]), fmt.duration(x["at_s"]), safe(x["command"]), safe(x["outcome"])] for x in d["timeline"]],
        title="drill timeline",
    )
    a = d["accounting"]
    out.print(
        f"[bold]accounted[/bold]: sent {fmt.number(a['sent'])} = {fmt.number(a['in_table'])} in the table + "
        f"{fmt.number(a['quarantined'])} quarantined "
        f"({safe(fmt.pairs(a['quarantined_by_reason'])) if a['quarantined_by_reason'] else 'none'})"
        + (f", [red]{a['unaccounted']} unaccounted[/red]" if a["unaccounted"] else "")
    )
    print_table(
        [Col("monitor", key=True), Col("fired"), Col("cleared"), Col("brought back by", drop=1), Col("runbook")],
        [
            [
                safe(m["monitor"]),
                "yes" if m["fired"] else "NO",
                "yes" if m["cleared"] else "NO",
                safe(m["brought_back_by"]),
                safe(m["runbook"]),
            ]
            for m in d.get("exercised", [])
        ],
        title="monitors exercised",
    )
    out.print(f"[bold]fired[/bold]: {safe(', '.join(d['fired'])) or 'none'}; recovered: {safe(d['recovered'])}")
    for k, why in d["not_exercised"].items():
        out.print(f"  not exercised: {safe(k)}: {safe(why)}")
    out.print(
        "[green]drill passed[/green]" if d["ok"] else "[red]drill failed[/red]: " + safe("; ".join(d["problems"]))
    )


def show_inspect(d: dict) -> None:
    tb = d["table"]
    out.print(
        f"[bold]table[/bold] {safe(tb['name'])}: {fmt.count(tb['items'], 'reading')} from "
        f"{fmt.count(tb['devices'], 'device')}"
    )
    for r in tb["sample"]:
        out.print(f"  {safe(r['device_id'])}  {fmt.utc(int(r['ts']))}  {safe(fmt.pairs(r.get('metrics')))}")
    q = d["quarantine"]
    out.print(f"[bold]quarantine[/bold] s3://{safe(q['bucket'])}: {fmt.count(q['records'], 'poison record')}")
    for reason, n in q["by_reason"].items():
        out.print(f"  {safe(reason):20} {fmt.number(n)}")
    for p in q["sample"]:
        out.print(f"  e.g. {safe(p['shard_id'])} {safe(p['sequence_number'])}: {safe(p['reason'])}")
    f = d["ingest_failure_queue"]
    out.print(
        f"[bold]ingest on-failure queue[/bold]: {fmt.count(f['visible'], 'batch', 'batches')} waiting, "
        f"{fmt.number(f['in_flight'])} in flight"
    )
    if "rollups" in d:
        r, q, dlq = d["rollups"], d["rollup_queue"], d["rollup_dlq"]
        out.print(
            f"[bold]rollups[/bold] {safe(r['name'])}: {fmt.count(r['items'], 'device-hour')} from "
            f"{fmt.count(r['devices'], 'device')}"
            + (
                f" (see one: `opsctl sandbox rollups --device {safe(r['sample_device'])}`)"
                if r["sample_device"]
                else ""
            )
        )
        out.print(
            f"[bold]rollup queue[/bold]: {fmt.count(q['visible'], 'job')} waiting, {fmt.number(q['in_flight'])} in "
            "flight; "
            f"[bold]rollup DLQ[/bold]: {fmt.count(dlq['visible'], 'job')}"
        )


def show_rollups(d: dict) -> None:
    device, from_ms, to_ms = d["device_id"], d["from"], d["to"]
    if not d["rollups"]:
        out.print(
            f"no rollups for {safe(device)} between {fmt.utc(from_ms)} and {fmt.utc(to_ms)} "
            "(run `opsctl sandbox run --until-idle` after traffic)"
        )
        return
    names = sorted({n for r in d["rollups"] for n in r.get("metrics", {})})
    rows = []
    for r in d["rollups"]:
        cells = []
        for n in names:
            m = r.get("metrics", {}).get(n)
            cells.append(f"{m['min']:g} / {m['avg']:.4g} / {m['max']:g}" if m else "-")
        rows.append([fmt.utc(r["hour_start"]), fmt.number(r["count"]), *cells])
    print_table(
        [Col("hour (UTC)", key=True), Col("readings"), *[Col(f"{safe(n)} min/avg/max", drop=1) for n in names]],
        rows,
        title=f"hourly rollups of {safe(device)}",
    )


user_app = typer.Typer(help="Sandbox readers of the read API (Cognito users in a tenant group).", no_args_is_help=True)
sandbox_app.add_typer(user_app, name="user")


def _user_pool(ctx: typer.Context):
    from opsctl.core.project import SANDBOX_DIR

    stack = _local(ctx).stack()
    pool_id, client_id = stack.get("api_user_pool_id"), stack.get("api_client_id")
    if not pool_id or not client_id:
        raise OpsError("the sandbox has no user pool for the read API", hint="run `opsctl sandbox up` again")
    return stack.target.client("cognito-idp"), pool_id, client_id, SANDBOX_DIR


def show_user(d: dict) -> None:
    out.print(
        f"user {safe(d['user'])} ({safe(d['email'])}), sub {safe(d['sub'])}, "
        f"groups: {safe(', '.join(d['groups'])) or fmt.NONE}"
    )


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="user name (a-z 0-9 . _ -)")],
    tenant: Annotated[str | None, typer.Option(help="the tenant whose devices the user sees")] = None,
    operator: Annotated[
        bool, typer.Option("--operator", help="member of the operators group: sees every tenant")
    ] = False,
    output: OutputOpt = OutputFormat.table,
) -> None:
    """Add (or update) a sandbox user of the read API in TENANT's group; idempotent.

    Example: opsctl sandbox user add alice --tenant acme, then
    curl -H "Authorization: Bearer $(opsctl sandbox token alice)" http://127.0.0.1:8000/devices"""
    from opsctl.sandbox import users

    cognito, pool_id, _, state_dir = _user_pool(ctx)
    result = users.add_user(cognito, pool_id, name, tenant=tenant, operator=operator, state_dir=state_dir)

    emit(result, output, show_user)


@sandbox_app.command()
def token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="a user added with `opsctl sandbox user add`")],
) -> None:
    """Print a fresh access token of sandbox user NAME (for curl's Authorization: Bearer header)."""
    from opsctl.sandbox import users

    cognito, pool_id, client_id, state_dir = _user_pool(ctx)
    print(users.access_token(cognito, pool_id, client_id, name, state_dir=state_dir))
