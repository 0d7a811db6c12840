"""Drives a sandbox of the tests' own (OPSCTL_SANDBOX_DIR in a temp folder) through the real CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
UP_TIMEOUT_S = 900


@dataclass
class Sandbox:
    state_dir: Path
    endpoint: str
    outputs: dict

    @property
    def env(self) -> dict:
        env = {**os.environ, "OPSCTL_SANDBOX_DIR": str(self.state_dir)}
        env.pop("OPSCTL_ENV", None)
        return env

    @contextlib.contextmanager
    def serve_api(self, *, start_timeout_s: float = 120) -> Iterator[str]:
        """`opsctl sandbox api --port P` in the background: yields its base URL once it answers HTTP at all
        (a 401/404 counts: it serves), and stops it with Ctrl-C (SIGINT) at the end, as a person would."""
        from opsctl.sandbox import server

        port = server.free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsctl.cli.app", "sandbox", "api", "--port", str(port)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_timeout_s
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"opsctl sandbox api exited {proc.returncode}: {proc.stderr.read()}")
                try:
                    urllib.request.urlopen(f"{base}/", timeout=2)
                except urllib.error.HTTPError:
                    break  # any HTTP answer: it serves
                except (urllib.error.URLError, OSError):
                    if time.monotonic() > deadline:
                        raise AssertionError(
                            f"opsctl sandbox api did not answer within {start_timeout_s:g} s"
                        ) from None
                    time.sleep(0.3)
                else:
                    break
            yield base
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def client(self, service: str):
        """A boto3 client of this sandbox's moto server, in the region Terraform deployed to."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.outputs["region"],
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
        )


def _run(env: dict, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "opsctl.cli.app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"opsctl {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}\n{proc.stdout}")
    return proc


def opsctl(sandbox: Sandbox, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    return _run(sandbox.env, *args, timeout=timeout, check=check)


def start(state_dir: Path, variables: dict | None = None, environ: dict[str, str] | None = None) -> Sandbox:
    """`opsctl sandbox up` in `state_dir`; `variables` go into the isolated sandbox's own Terraform variables
    (opsctl.tfvars.json, the file opsctl itself records changes in) before the first apply. `environ` (default:
    this process's) is the environment its processes get: a snapshot when this runs in a thread beside tests that
    may change os.environ."""
    env = {**(os.environ if environ is None else environ), "OPSCTL_SANDBOX_DIR": str(state_dir)}
    env.pop("OPSCTL_ENV", None)
    if variables:
        from opsctl.core.tfvars import ISOLATED_FILE_NAME

        # `sandbox up` forgets the variables of a sandbox whose server is gone (its resources went with it), so
        # the server is started first (in a process of its own, with `env`) and `up` finds it running. No apply
        # has touched it, so `up` still starts it over once if the provider sends a create twice (deploy.up).
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from opsctl.sandbox import server; "
                "server.start(None, Path(sys.argv[1]))",
                str(state_dir),
            ],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=UP_TIMEOUT_S,
        )
        (state_dir / ISOLATED_FILE_NAME).write_text(json.dumps(variables))
    try:
        up = json.loads(_run(env, "sandbox", "up", "--output", "json", timeout=UP_TIMEOUT_S).stdout)
    except AssertionError as e:
        # `sandbox down` removes the state directory, moto's log with it: what the server said goes with the error
        # (its 5xx lines and tracebacks: the access log keeps only those)
        log = state_dir / "moto.log"
        tail = log.read_text(errors="replace").splitlines()[-60:] if log.exists() else ["(no moto.log)"]
        raise AssertionError(f"{e}\nmoto.log, last lines:\n" + "\n".join(tail)) from None
    return Sandbox(state_dir=state_dir, endpoint=up["endpoint"], outputs=up["outputs"])


def stop_dir(state_dir: Path) -> None:
    env = {**os.environ, "OPSCTL_SANDBOX_DIR": str(state_dir)}
    env.pop("OPSCTL_ENV", None)
    _run(env, "sandbox", "down", "--yes", check=False)


def terraform_plan_exit_code(sandbox: Sandbox) -> int:
    """`terraform plan -detailed-exitcode` of envs/local against this sandbox: 0 = no changes, 2 = drift."""
    from opsctl.core import tf
    from opsctl.sandbox.deploy import Workspace

    workdir = ROOT / "terraform" / "envs" / "local"
    env = {**tf.cli_environment(), "TF_DATA_DIR": str(sandbox.state_dir / "tfdata")}
    proc = subprocess.run(
        [
            tf.terraform_binary(),
            "plan",
            "-detailed-exitcode",
            "-input=false",
            "-no-color",
            "-lock=false",
            f"-state={sandbox.state_dir / 'terraform.tfstate'}",
            *Workspace(sandbox.state_dir).var_file_args(),
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-2000:])
    return proc.returncode


# The state the modules need from the first apply on: the readings table PROVISIONED 5/5 through the local
# environment's variables (what test_capacity_sandbox.py's capacity --apply starts from), instead of a second
# `sandbox up` in the middle of the session to switch it.
SESSION_VARIABLES = {"table_billing_mode": "PROVISIONED", "table_read_capacity": 5, "table_write_capacity": 5}


class SessionSandbox:
    """The worker's session sandbox (tests/e2e/conftest.py), brought up at most once: in the background from the
    worker's first test when that test needs no sandbox (tests/conftest.py), so the apply (a minute and a half,
    most of it the AWS provider polling moto, little CPU) overlaps the worker's other tests; otherwise by the first
    module that asks for it, which then waits for the whole apply as before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state_dir: Path | None = None
        self._sandbox: Sandbox | None = None
        self._error: BaseException | None = None

    def begin(self, tmp_path_factory) -> None:
        """Start `sandbox up` in a thread of this process (at most once); `get` waits for it."""
        with self._lock:
            if self._thread is not None:
                return
            self._state_dir = tmp_path_factory.mktemp("sandbox")
            environ = dict(os.environ)  # now, in the tests' thread: a test may change os.environ while `up` runs
            self._thread = threading.Thread(target=self._up, args=(environ,), name="session-sandbox-up", daemon=True)
            self._thread.start()

    def _up(self, environ: dict[str, str]) -> None:
        assert self._state_dir is not None
        try:
            self._sandbox = start(self._state_dir, SESSION_VARIABLES, environ)
        except BaseException as e:  # noqa: BLE001 - handed to the fixture, which raises it in the tests' thread
            self._error = e

    def get(self, tmp_path_factory) -> Sandbox:
        """The sandbox, once it is up (started here if nothing began it); a failed `up` raises here."""
        self.begin(tmp_path_factory)
        assert self._thread is not None
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._sandbox is not None
        return self._sandbox

    def stop(self) -> None:
        """Tear it down, also when `up` failed half way (no moto server is left behind); waits for an `up` under way."""
        with self._lock:
            thread, state_dir, self._thread = self._thread, self._state_dir, None
        if thread is None or state_dir is None:
            return
        thread.join()
        stop_dir(state_dir)


SESSION = SessionSandbox()
