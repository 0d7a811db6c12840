"""The sandbox's moto server: started in the background on a localhost port, remembered in a
git-ignored state folder, stopped cleanly.

The state file is the single source of truth for "is the sandbox up": pid, port and endpoint."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from opsctl.core.errors import InvalidArgument, OpsError
from opsctl.core.project import SANDBOX_DIR

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0


@dataclass
class ServerState:
    pid: int
    port: int
    endpoint: str
    started_at: float
    log_path: str
    applied: bool = False  # a `sandbox up` apply has begun on this server (until then it holds nothing)

    @classmethod
    def load(cls, state_dir: Path = SANDBOX_DIR) -> ServerState | None:
        path = state_dir / "server.json"
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            return None

    def save(self, state_dir: Path = SANDBOX_DIR) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "server.json").write_text(json.dumps(asdict(self), indent=2) + "\n")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child not yet reaped) is not alive.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def answers(endpoint: str, timeout: float = 2.0) -> bool:
    """True if a moto server answers at `endpoint`.

    Any HTTP response counts: moto's own `/moto-api/data.json` answers 500 once a Lambda function
    exists (it tries to describe the function's Docker container), and the server is up all the
    same. Only a refused or silent connection means it is not."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=timeout) as resp:
            return 200 <= resp.status < 600
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def running(state_dir: Path = SANDBOX_DIR) -> ServerState | None:
    """The state of a live sandbox server, or None if none is running."""
    state = ServerState.load(state_dir)
    if state and pid_alive(state.pid) and answers(state.endpoint):
        return state
    return None


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start(port: int | None = None, state_dir: Path = SANDBOX_DIR) -> ServerState:
    """Starts a moto server in the background and waits until it answers."""
    if importlib.util.find_spec("moto") is None:
        raise OpsError(
            "moto is not installed, so there is no sandbox to start",
            hint="pip install 'telemetry-pipeline-opsctl[sandbox]' or run `make demo`",
        )
    if port is not None and not port_is_free(port):
        raise InvalidArgument(
            f"port {port} on {HOST} is busy",
            hint="pick another with {port}, or leave {port} out to use a free one",
            arguments=["port"],
        )
    port = port or free_port()
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "moto.log"
    endpoint = f"http://{HOST}:{port}"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opsctl.sandbox.moto_main", "-H", HOST, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the opsctl process; `sandbox down` stops it
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise OpsError(f"the moto server exited at start (code {proc.returncode})", hint=f"see {log_path}")
        if answers(endpoint, timeout=0.5):
            state = ServerState(
                pid=proc.pid, port=port, endpoint=endpoint, started_at=time.time(), log_path=str(log_path)
            )
            state.save(state_dir)
            return state
        time.sleep(0.2)
    proc.kill()
    raise OpsError(
        f"the moto server did not answer on {endpoint} within {START_TIMEOUT_S:.0f} s", hint=f"see {log_path}"
    )


def stop(state_dir: Path = SANDBOX_DIR) -> ServerState | None:
    """Stops the sandbox server if one is recorded; returns what was stopped."""
    state = ServerState.load(state_dir)
    if state is None:
        return None
    if pid_alive(state.pid):
        try:
            os.killpg(state.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            os.kill(state.pid, signal.SIGTERM)
        for _ in range(50):
            if not pid_alive(state.pid):
                break
            time.sleep(0.1)
        else:
            os.killpg(state.pid, signal.SIGKILL)
    (state_dir / "server.json").unlink(missing_ok=True)
    return state
