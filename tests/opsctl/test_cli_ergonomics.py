"""opsctl as on-call runs it: failures exit non-zero with one `error:` line, arguments are checked before the first
AWS call, help renders as written, a dry run leaves receive counts alone, Ctrl-C says what was done and exits 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from opsctl.sandbox.server import free_port

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


def _env(tmp_path, extra=None) -> dict:
    env = {**os.environ, "OPSCTL_SANDBOX_DIR": str(tmp_path / "no-sandbox"), "COLUMNS": "80", **(extra or {})}
    env.pop("OPSCTL_ENV", None)
    return {k: v for k, v in env.items() if v is not None}


def opsctl(tmp_path, *args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "opsctl.cli.app", *args],
        cwd=ROOT,
        env=_env(tmp_path, env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_error_line(proc, *fragments, code=None):
    assert proc.returncode != 0 if code is None else proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "╭" not in proc.stderr, proc.stderr  # no boxed usage errors: one style for every error
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "argv, code, fragments",
    [
        (["--endpoint-url", "notaurl", "status"], 1, ["--endpoint-url 'notaurl' is not an http(s) URL"]),
        (["--region", "mars-1", "status"], 1, ["--region 'mars-1' is not an AWS region name"]),
        (["status", "--output", "yaml"], 2, ["'yaml' is not one of 'table', 'json'", "opsctl status --help"]),
        (["quarantine", "list", "--limit", "0"], 2, ["--limit", "greater than or equal to 1"]),
        (["dlq", "lst"], 2, ["No such command 'lst'"]),
        (["capacity", "--window", "30d"], 1, ["--window 30d is longer than 15 days"]),
        (["report", "--window", "30d", "--output", "json"], 1, ["--window 30d is longer than 15 days"]),
        (["report", "--out", "x.html"], 1, ["--out is now --file", "--file x.html"]),
        (["reshard", "--to", "4", "--headroom", "7"], 1, ["--headroom 7 is not a share"]),
        (["reshard", "--recommend", "--window", "ages"], 1, ["bad --window 'ages'"]),
        (["replay-dlq", "--source", "rollup", "--filter", "[[["], 1, ["--filter"]),
        (["replay-dlq", "--source", "rollup", "--no-peek"], 1, ["--no-peek goes with --dry-run"]),
        (["quarantine", "list", "--day", "yesterday"], 1, ["--day must be a UTC date"]),
    ],
)
def test_bad_arguments_are_one_line_before_any_aws_call(tmp_path, argv, code, fragments):
    # no sandbox is up: an error about the arguments proves they were checked before the stack was even read
    assert_one_error_line(opsctl(tmp_path, *argv), *fragments, code=code)


def test_unreachable_endpoint_is_one_line_and_exit_1(tmp_path):
    proc = opsctl(tmp_path, "--endpoint-url", "http://127.0.0.1:1", "--stream", "s", "--table", "t", "status")
    assert_one_error_line(proc, "cannot reach http://127.0.0.1:1", code=1)
    assert proc.stdout == ""  # nothing could be read: no table of error cells


def test_no_credentials_is_one_line_and_exit_1(tmp_path):
    no_credentials = {
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
    }
    proc = opsctl(tmp_path, "--env", "dev", "--stream", "s", "--table", "t", "status", env=no_credentials)
    assert_one_error_line(proc, "no AWS credentials found", code=1)


def test_version(tmp_path):
    proc = opsctl(tmp_path, "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("opsctl ") and proc.stdout.split()[1][0].isdigit()


@pytest.mark.parametrize("command", ["reshard", "replay-dlq", "capacity", "sandbox down", "sandbox run", "dlq list"])
def test_help_renders_as_written(tmp_path, command):
    proc = opsctl(tmp_path, *command.split(), "--help")
    assert proc.returncode == 0
    assert "<bool>" not in proc.stdout  # flags take no value
    examples = [ln.strip(" │") for ln in proc.stdout.splitlines() if ln.strip().startswith("$ opsctl ")]
    assert examples, proc.stdout  # an example on every command, one a line
    assert all(command in e for e in examples), examples


# -- against a moto server --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint):
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    return lambda service: boto3.client(
        service,
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )


def test_partial_status_shows_what_it_read_marks_the_rest_and_exits_1(tmp_path, moto_endpoint, aws):
    aws("kinesis").create_stream(StreamName="readings", ShardCount=1)
    proc = opsctl(tmp_path, "--endpoint-url", moto_endpoint, "--stream", "readings", "--table", "missing", "status")
    assert "stream readings: ACTIVE" in proc.stdout and "1 open shard," in proc.stdout
    assert "table: unreadable" in proc.stdout
    assert_one_error_line(proc, "status is partial", "table", code=1)


def _dead_letters(sqs, n: int) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName="work-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(
        QueueName="work",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"})},
    )["QueueUrl"]
    for i in range(0, n, 10):
        sqs.send_message_batch(
            QueueUrl=dlq,
            Entries=[{"Id": str(j), "MessageBody": json.dumps({"job": j})} for j in range(i, min(n, i + 10))],
        )
    return src, dlq


def _receive_counts(sqs, url: str) -> list[int]:
    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"], VisibilityTimeout=0
    )
    return sorted(int(m["Attributes"]["ApproximateReceiveCount"]) for m in got.get("Messages", []))


def test_dry_run_without_peek_leaves_receive_counts_and_a_peek_says_what_it_costs(tmp_path, moto_endpoint, aws):
    sqs = aws("sqs")
    _, dlq = _dead_letters(sqs, 5)
    proc = opsctl(
        tmp_path, "--endpoint-url", moto_endpoint, "replay-dlq", "--source", "work-dlq", "--dry-run", "--no-peek"
    )
    assert proc.returncode == 0, proc.stderr
    assert "5 messages visible" in proc.stdout and "no receive count changed" in proc.stdout
    assert _receive_counts(sqs, dlq) == [1] * 5  # this look is the first receive each message ever had

    proc = opsctl(tmp_path, "--endpoint-url", moto_endpoint, "replay-dlq", "--source", "work-dlq", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "each received once to look at it" in proc.stdout
    assert _receive_counts(sqs, dlq) == [3] * 5  # our look above, the listing, this look


def test_a_dry_run_listing_is_refused_on_a_queue_that_redrives_itself(tmp_path, moto_endpoint, aws):
    sqs = aws("sqs")
    src, dlq = _dead_letters(sqs, 3)
    # the source queue redrives to work-dlq and is fed by nothing: listing it would walk messages towards the DLQ
    sqs.send_message(QueueUrl=src, MessageBody="{}")
    proc = opsctl(tmp_path, "--endpoint-url", moto_endpoint, "replay-dlq", "--source", src, "--to", dlq, "--dry-run")
    assert_one_error_line(proc, "has its own redrive policy (maxReceiveCount 3)", "--no-peek", code=1)
    assert _receive_counts(sqs, src) == [1]


def _signal_state(pid: int) -> str:
    """The process's blocked, ignored and caught signal masks (Linux /proc), or why they could not be read."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError as exc:
        return f"unreadable ({exc.__class__.__name__})"
    return " ".join(ln.replace("\t", "") for ln in lines if ln.startswith(("SigBlk", "SigIgn", "SigCgt")))


def test_ctrl_c_during_a_replay_says_what_moved_and_exits_130(tmp_path, moto_endpoint, aws):
    sqs = aws("sqs")
    # 120 messages at 4 a second: 30 s of replay, so the interrupt after the first 10 lands mid-replay even on a
    # loaded machine (at 60 messages and 10 a second, one slow poll below let the replay finish first)
    src, _dlq = _dead_letters(sqs, 120)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opsctl.cli.app",
            "--endpoint-url",
            moto_endpoint,
            "replay-dlq",
            "--source",
            "work-dlq",
            "--yes",
            "--rate",
            "4",
            "--concurrency",
            "1",
        ],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A person's Ctrl-C reaches opsctl; a test run started in the background (`nohup make test &`) ignores
        # SIGINT, and a child inherits that: Python then never raises KeyboardInterrupt (SigIgn bit 2 was seen).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    moved = 0
    while moved < 10 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        a = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        moved = int(a["ApproximateNumberOfMessages"])
    assert proc.poll() is None, f"the replay ended before it could be interrupted ({moved} moved): {proc.stderr.read()}"
    signals = _signal_state(proc.pid)  # for the failure message: an exit 0 here means the signal never arrived
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (
        f"{stderr}\nsignal state when interrupted ({moved} moved): {signals}\n{stdout[-1500:]}"
    )
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("plan:")]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted: "), stderr
    assert "moved to work" in lines[0] and "run the same command again" in lines[0]
    said = int(lines[0].split("interrupted: ")[1].split(" moved")[0].replace(",", ""))
    in_src = int(
        sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )
    assert said <= in_src  # it never claims more than arrived (a batch sent at the interrupt may not be counted yet)
