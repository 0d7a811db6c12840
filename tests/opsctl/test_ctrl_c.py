"""Ctrl-C on long work: `sandbox traffic`, `reshard` and `sandbox run` stop with one `error: interrupted: ...` line
saying what was done so far (sent, steps, delivered) and what to do next, exit 130 (128 + SIGINT), no traceback, and
what was done is really there (records on the stream, shards open). The interrupt is raised by a stub at a known
point of real work against a moto server, so the line can be checked against what happened."""

from __future__ import annotations

import sys

import boto3
import pytest

from opsctl.cli import app as app_module
from opsctl.core.stack import SandboxSource

REGION = "us-east-1"
CREDS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox", "region_name": REGION}


@pytest.fixture
def sandbox(moto_endpoint, monkeypatch):
    """The CLI sees a sandbox that is up: the module's moto server, with a stream named in its outputs."""
    import opsctl.sandbox.deploy as deploy

    kinesis = boto3.client("kinesis", endpoint_url=moto_endpoint, **CREDS)
    kinesis.create_stream(StreamName="readings", ShardCount=1)
    outputs = {"region": REGION, "stream_name": "readings"}
    monkeypatch.setattr(
        deploy, "stack_source", lambda *a, **k: SandboxSource(endpoint=lambda: moto_endpoint, outputs=lambda: outputs)
    )
    return kinesis


def run_cli(monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["opsctl", *argv])
    with pytest.raises(SystemExit) as exit_:
        app_module.main()
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip().startswith("error:")]
    assert len(lines) == 1, stderr
    return " ".join(stderr.split("error:", 1)[1].split())  # the line, unwrapped


def _records_on(kinesis, stream: str) -> int:
    total = 0
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        total += len(kinesis.get_records(ShardIterator=it["ShardIterator"], Limit=10_000)["Records"])
    return total


def test_ctrl_c_during_sandbox_traffic_says_how_many_were_sent_and_exits_130(sandbox, monkeypatch, capsys):
    from opsctl.sandbox import traffic

    real_send = traffic.send

    def send_then_ctrl_c(kinesis, stream, items, **kwargs):
        real_send(kinesis, stream, items[:300], **kwargs)  # the first 300 go out, then the operator presses Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(traffic, "send", send_then_ctrl_c)
    code, out, err = run_cli(monkeypatch, capsys, "sandbox", "traffic", "--devices", "2", "--records", "1000")
    assert code == 130
    line = one_error_line(err)
    assert line.startswith("interrupted: 300 of 1,000 records sent to readings"), line
    assert "opsctl sandbox run --until-idle" in line  # what to do next
    assert _records_on(sandbox, "readings") == 300  # the line says what is really on the stream
    assert out == ""  # no half summary on stdout


def test_ctrl_c_during_reshard_says_which_steps_were_applied_and_exits_130(sandbox, monkeypatch, capsys):
    from opsctl.stream import reshard

    real_apply = reshard.apply

    def apply_then_ctrl_c(kinesis, plan, *, progress, **kwargs):
        def first_step_then_ctrl_c(result):
            progress(result)
            raise KeyboardInterrupt  # after step 1 of 2 was applied and verified

        return real_apply(kinesis, plan, progress=first_step_then_ctrl_c, **kwargs)

    monkeypatch.setattr(reshard, "apply", apply_then_ctrl_c)
    code, _out, err = run_cli(monkeypatch, capsys, "reshard", "--to", "4", "--yes")
    assert code == 130
    line = one_error_line(err)
    assert line.startswith("interrupted: 1 of 2 steps applied and verified (2 open shards now)"), line
    assert "run the same command again" in line
    shards = sandbox.list_shards(StreamName="readings")["Shards"]
    assert len([s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]) == 2


def test_ctrl_c_during_sandbox_run_shows_what_was_delivered_and_exits_130(sandbox, monkeypatch, capsys):
    from opsctl.sandbox.runtime import runner

    def run_two_batches_then_ctrl_c(target, *, on_event, **kwargs):
        for _ in range(2):
            on_event("invoke", {"function_name": "ingest", "records": 100, "iterator_age_ms": 1500})
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run", run_two_batches_then_ctrl_c)
    code, _out, err = run_cli(monkeypatch, capsys, "sandbox", "run", "--until-idle")
    assert code == 130
    line = one_error_line(err)
    assert line.startswith("interrupted: 2 invocations, 200 records delivered"), line
    assert "run `opsctl sandbox run` again" in line


def test_a_run_the_runtime_stopped_on_ctrl_c_prints_its_table_and_exits_130(sandbox, monkeypatch, capsys):
    # the runtime catches Ctrl-C between passes itself and returns what it did: the table, then the same line
    from opsctl.sandbox.runtime import mapping, runner

    def run_one_batch_then_stopped(target, *, on_event, **kwargs):
        on_event("invoke", {"function_name": "ingest", "records": 40})
        stats = mapping.MappingStats(uuid="m-1", function_name="ingest", source="stream/readings")
        stats.invocations, stats.records_delivered = 1, 40
        return runner.RunSummary(mappings=[stats], interrupted=True)

    monkeypatch.setattr(runner, "run", run_one_batch_then_stopped)
    code, out, err = run_cli(monkeypatch, capsys, "sandbox", "run", "--until-idle")
    assert code == 130
    assert "ingest" in out and "40" in out  # what was delivered, in the run's own table
    line = one_error_line(err)
    assert line.startswith("interrupted: 1 invocation, 40 records delivered (the table above)"), line
