"""Every user-caused error is one clear line on stderr and a non-zero exit, never a traceback."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def opsctl(*args, env_extra=None, tmp_path=None):
    env = {**os.environ, "OPSCTL_SANDBOX_DIR": str(tmp_path / "sandbox"), **(env_extra or {})}
    env.pop("OPSCTL_ENV", None)
    env = {k: v for k, v in env.items() if v is not None}  # None in env_extra removes a variable
    return subprocess.run(
        [sys.executable, "-m", "opsctl.cli.app", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(proc, *fragments):
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_commands_on_a_sandbox_that_is_not_up_say_how_to_start_it(tmp_path):
    proc = opsctl("sandbox", "traffic", "--records", "10", tmp_path=tmp_path)
    assert_one_line_error(proc, "the sandbox is not up", "opsctl sandbox up")


def test_status_of_a_stopped_sandbox_exits_1_with_json(tmp_path):
    proc = opsctl("sandbox", "status", "--output", "json", tmp_path=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.strip() == '{\n  "running": false\n}'


def test_missing_terraform_is_one_line_and_starts_nothing(tmp_path):
    proc = opsctl("sandbox", "up", env_extra={"TERRAFORM": "terraform-that-does-not-exist"}, tmp_path=tmp_path)
    assert_one_line_error(proc, "terraform not found", "TERRAFORM=")
    assert not (tmp_path / "sandbox" / "server.json").exists()


def test_busy_port_is_one_line(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        proc = opsctl("sandbox", "up", "--port", str(port), tmp_path=tmp_path)
    assert_one_line_error(proc, f"port {port}", "busy")


def test_unknown_environment_names_the_known_ones(tmp_path):
    proc = opsctl("--env", "staging", "sandbox", "status", tmp_path=tmp_path)
    assert_one_line_error(proc, "local sandbox only")


def test_bad_flag_is_a_usage_error_not_a_traceback(tmp_path):
    proc = opsctl("sandbox", "traffic", "--devices", "0", tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--devices" in proc.stderr


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["sandbox", "rollups", "--device", "dev 1/.."], ["--device 'dev 1/..' is not a device id"]),
        (["sandbox", "rollups", "--device", "dev-1", "--from", "yesterday"], ["--from 'yesterday'", "ISO-8601"]),
        (
            [
                "sandbox",
                "rollups",
                "--device",
                "dev-1",
                "--from",
                "2025-11-22T10:00:00Z",
                "--to",
                "2025-11-22T09:00:00Z",
            ],
            ["--from is after --to"],
        ),
        (["sandbox", "rollups", "--device", "dev-1"], ["the sandbox is not up"]),
    ],
)
def test_rollups_bad_flags_are_one_line(tmp_path, argv, fragments):
    assert_one_line_error(opsctl(*argv, tmp_path=tmp_path), *fragments)


def test_api_on_a_sandbox_that_is_not_up_says_how_to_start_it(tmp_path):
    proc = opsctl("sandbox", "api", "--get", "/devices/dev-0001/latest", tmp_path=tmp_path)
    assert_one_line_error(proc, "the sandbox is not up", "opsctl sandbox up")


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["sandbox", "--help"],
        ["sandbox", "run", "--help"],
        ["sandbox", "traffic", "--help"],
        ["sandbox", "rollups", "--help"],
        ["sandbox", "api", "--help"],
    ],
)
def test_help_teaches(argv, tmp_path):
    proc = opsctl(*argv, tmp_path=tmp_path)
    assert proc.returncode == 0
    assert "Usage" in proc.stdout


def test_reshard_needs_exactly_one_of_to_or_recommend(tmp_path):
    assert_one_line_error(opsctl("reshard", tmp_path=tmp_path), "exactly one of --to N or --recommend")
    assert_one_line_error(opsctl("reshard", "--to", "4", "--recommend", tmp_path=tmp_path), "exactly one of")


def test_bad_window_is_one_line(tmp_path):
    assert_one_line_error(opsctl("iterator-age", "--window", "soon", tmp_path=tmp_path), "bad --window", "15m")


def test_ops_commands_on_a_sandbox_that_is_not_up_say_how_to_start_it(tmp_path):
    for argv in (["status"], ["iterator-age"], ["reshard", "--to", "4", "--dry-run"]):
        assert_one_line_error(opsctl(*argv, tmp_path=tmp_path), "the sandbox is not up", "opsctl sandbox up")


def test_an_environment_never_applied_says_so(tmp_path):
    proc = opsctl("--env", "dev", "status", tmp_path=tmp_path, env_extra={"TF_DATA_DIR": str(tmp_path / "tfdata")})
    assert_one_line_error(proc, "dev")


@pytest.mark.parametrize("argv", [["status", "--help"], ["iterator-age", "--help"], ["reshard", "--help"]])
def test_ops_help_teaches(argv, tmp_path):
    proc = opsctl(*argv, tmp_path=tmp_path)
    assert proc.returncode == 0 and "Usage" in proc.stdout


NO_CREDENTIALS = {
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
}


def test_an_environment_not_initialised_here_says_how_to_fix_it(tmp_path):
    proc = opsctl(
        "--env", "prod", "iterator-age", tmp_path=tmp_path, env_extra={"TF_DATA_DIR": str(tmp_path / "nothing")}
    )
    assert_one_line_error(
        proc, "terraform/envs/prod is not initialised", "terraform -chdir=terraform/envs/prod init", "--stream"
    )


def test_no_credentials_is_one_line_naming_the_fix(tmp_path):
    env = {**NO_CREDENTIALS, "TF_DATA_DIR": str(tmp_path / "nothing")}
    proc = opsctl(
        "--env",
        "dev",
        "--region",
        "eu-west-1",
        "--stream",
        "telemetry-dev-ingest",
        "reshard",
        "--to",
        "4",
        "--dry-run",
        tmp_path=tmp_path,
        env_extra=env,
    )
    assert_one_line_error(proc, "no AWS credentials found", "--profile")


def test_a_missing_profile_is_one_line(tmp_path):
    env = {**NO_CREDENTIALS, "TF_DATA_DIR": str(tmp_path / "nothing")}
    proc = opsctl(
        "--env",
        "dev",
        "--profile",
        "on-call",
        "--stream",
        "s",
        "reshard",
        "--to",
        "4",
        "--dry-run",
        tmp_path=tmp_path,
        env_extra=env,
    )
    assert_one_line_error(proc, "AWS profile 'on-call' is not configured", "--profile")


@pytest.mark.parametrize(
    "args,fragments",
    [
        (("capacity", "--window", "7x"), ("bad --window",)),
        (("capacity", "--prepare-event"), ("--prepare-event needs --at TIME and --expect RATE",)),
        (("capacity", "--at", "in 2h"), ("--at and --expect go with --prepare-event",)),
        (
            ("capacity", "--prices", "/nonexistent/prices.json"),
            ("prices file /nonexistent/prices.json does not exist", "--prices"),
        ),
        (("report", "--format", "pdf"), ("bad --format 'pdf'", "md, json, html")),
    ],
)
def test_capacity_and_report_flags_are_checked_before_any_aws_call(tmp_path, args, fragments):
    assert_one_line_error(opsctl(*args, tmp_path=tmp_path), *fragments)


def test_traffic_duration_needs_a_rate(tmp_path):
    assert_one_line_error(
        opsctl("sandbox", "traffic", "--duration", "60", tmp_path=tmp_path), "--duration needs --rate"
    )
