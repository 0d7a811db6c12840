"""`sandbox up` / `sandbox down`: the real Terraform of `terraform/envs/local`, applied to the moto server.

Nothing here creates an AWS resource itself: Terraform owns every resource, the sandbox included."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from opsctl.core import tf
from opsctl.core.aws import SANDBOX_CREDENTIALS
from opsctl.core.errors import OpsError
from opsctl.core.packaging import build_zip
from opsctl.core.project import DEFAULT_SANDBOX_DIR, ENVS_DIR, FUNCTIONS_DIR, FUNCTIONS_ZIP, SANDBOX_DIR
from opsctl.core.stack import SandboxSource
from opsctl.sandbox import server

LOCAL_ENV = "local"
TFVARS_NAME = "sandbox.auto.tfvars.json"
APPLY_TIMEOUT_S = float(os.environ.get("OPSCTL_SANDBOX_APPLY_TIMEOUT", "600"))

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Workspace:
    """Where the local environment's Terraform keeps its state for one sandbox.

    The default sandbox (.sandbox/) works in place, so a plain `terraform -chdir=terraform/envs/local plan`
    sees it: endpoint in envs/local/sandbox.auto.tfvars.json, state in envs/local. Any other sandbox folder
    (tests, parallel rehearsals) keeps its data dir, state and variables inside that folder and leaves
    envs/local alone."""

    state_dir: Path

    @property
    def workdir(self) -> Path:
        return ENVS_DIR / LOCAL_ENV

    @property
    def isolated(self) -> bool:
        return self.state_dir.resolve() != DEFAULT_SANDBOX_DIR.resolve()

    @property
    def extra_env(self) -> dict[str, str]:
        return {"TF_DATA_DIR": str(self.state_dir / "tfdata")} if self.isolated else {}

    @property
    def state_file(self) -> Path | None:
        return self.state_dir / "terraform.tfstate" if self.isolated else None

    @property
    def vars_file(self) -> Path:
        return self.state_dir / "sandbox.tfvars.json" if self.isolated else self.workdir / TFVARS_NAME

    def apply_args(self) -> list[str]:
        args = ["apply", "-auto-approve", "-input=false", "-no-color"]
        if self.isolated:
            args += [f"-state={self.state_file}", *self.var_file_args()]
        return args

    def var_file_args(self) -> list[str]:
        """-var-file flags of an isolated sandbox: its endpoint, plus what opsctl recorded (e.g. a reshard)."""
        from opsctl.core.tfvars import ISOLATED_FILE_NAME

        files = [self.vars_file, self.state_dir / ISOLATED_FILE_NAME]
        return [f"-var-file={f}" for f in files if f == self.vars_file or f.exists()]

    def outputs(self) -> dict:
        return tf.outputs(self.workdir, state=self.state_file, extra_env=self.extra_env)

    def forget(self) -> None:
        """Deletes the Terraform state and endpoint file of this sandbox (its server is gone)."""
        if self.isolated:
            for name in (
                "terraform.tfstate",
                "terraform.tfstate.backup",
                "sandbox.tfvars.json",
                "opsctl.tfvars.json",
            ):
                (self.state_dir / name).unlink(missing_ok=True)
        else:
            for name in ("terraform.tfstate", "terraform.tfstate.backup", TFVARS_NAME, "opsctl.auto.tfvars.json"):
                (self.workdir / name).unlink(missing_ok=True)


@dataclass
class UpResult:
    endpoint: str
    started_server: bool
    zip_sha256: str
    apply_seconds: float
    outputs: dict = field(default_factory=dict)


def check_iot_rules(endpoint: str, region: str) -> None:
    """Refuses (one line) a topic rule the sandbox's rules engine cannot play (opsctl/sandbox/runtime/iot.py)."""
    import boto3

    from opsctl.sandbox.runtime import iot as rules_engine

    iot = boto3.client("iot", endpoint_url=endpoint, region_name=region, **SANDBOX_CREDENTIALS)
    try:
        rules_engine.load_rules(iot)
    except rules_engine.UnsupportedRule as exc:
        raise OpsError(
            str(exc), hint="the sandbox plays the SQL subset of docs/architecture.md; change the rule"
        ) from None


# What the provider says when a create meets what is already there (KMS, Lambda, IoT, DynamoDB, SQS, IAM wordings).
_CREATED_TWICE = (
    "AlreadyExistsException",
    "ResourceConflictException",
    "ResourceInUseException",
    "EntityAlreadyExists",
    "already exist",
)
# The moto server's line for a request an SDK sent again that it refused (`moto_main._retry_attempt` + " answered
# <status>"): the first attempt had been served and its answer lost to the provider.
REFUSED_RETRY = re.compile(r"sdk retry: attempt \d+ of invocation \S+ \(([^)]*)\) at \S+ answered (4\d\d)")


def _write_endpoint(ws: Workspace, state: server.ServerState) -> None:
    tf.write_json(
        ws.vars_file,
        {
            "sandbox_endpoint": state.endpoint,
            "sandbox_access_key": SANDBOX_CREDENTIALS["aws_access_key_id"],
            "sandbox_secret_key": SANDBOX_CREDENTIALS["aws_secret_access_key"],
        },
    )


def _created_twice(message: str) -> str | None:
    """The first "already exists" wording in a failed apply's output, or None."""
    return next((w for w in _CREATED_TWICE if w in message), None)


class _RefusedRetries:
    """Reads what the moto server logged since this was made: the first retried request it refused, or None."""

    def __init__(self, log_path: Path) -> None:
        self.path = log_path
        self.offset = log_path.stat().st_size if log_path.exists() else 0

    def __call__(self) -> str | None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                text = fh.read().decode(errors="replace")
        except OSError:
            return None
        found = REFUSED_RETRY.search(text)
        if found is None:
            return None
        what, status = found.group(1) or "a request", found.group(2)
        return f"the provider sent {what} twice and the server refused the second ({status})"


def _state_is_empty(ws: Workspace) -> bool:
    """True when the sandbox's Terraform state records no resource (missing, or emptied by a destroy)."""
    path = ws.state_file or ws.workdir / "terraform.tfstate"
    try:
        return not json.loads(path.read_text()).get("resources")
    except FileNotFoundError:
        return True
    except ValueError:
        return False


def up(port: int | None = None, *, state_dir: Path = SANDBOX_DIR, progress: Progress = lambda _: None) -> UpResult:
    """Starts (or reuses) the moto server, builds the zip, and applies envs/local to it. Safe to run again.

    One recovery: on a server no apply has touched yet (just started, by this call or by whoever started it before
    calling this), an apply that the server's log shows sending a request twice (a refused `sdk retry` line) or that
    fails on "already exists" is stopped at once and run again, once, on a new server. Such a server holds nothing but
    what that apply made, so nothing is lost; the provider would otherwise fail, or wait on the refused create until
    the apply's timeout (docs/architecture.md, "Kept connections were built and withdrawn")."""
    tf.env_dir(LOCAL_ENV)
    ws = Workspace(state_dir)
    tf.terraform_binary()  # fail before starting anything if terraform is missing
    state = server.running(state_dir)
    started = False
    if state is None:
        # A previous server is gone, so is everything it held: its Terraform state now describes nothing.
        ws.forget()
        (state_dir / "checkpoints.json").unlink(missing_ok=True)
        progress("starting the moto server")
        state = server.start(port, state_dir)
        started = True
    elif port is not None and port != state.port:
        raise OpsError(
            f"the sandbox is already up on port {state.port}, not {port}",
            hint="run `opsctl sandbox down` first to move it",
        )
    progress(f"building {FUNCTIONS_ZIP.name}")
    digest = build_zip(FUNCTIONS_DIR, FUNCTIONS_ZIP)
    state_dir.mkdir(parents=True, exist_ok=True)
    _write_endpoint(ws, state)
    progress("terraform init")
    tf.init(ws.workdir, extra_env=ws.extra_env)
    untouched = not state.applied and _state_is_empty(ws)
    state.applied = True
    state.save(state_dir)
    progress(f"terraform apply on {state.endpoint} (about a minute: the provider waits on each stream and queue)")
    t0 = time.monotonic()
    try:
        _apply(ws, abort_when=_RefusedRetries(Path(state.log_path)) if untouched else None)
    except OpsError as exc:
        reason = str(exc) if isinstance(exc, tf.Aborted) else None
        if untouched and reason is None and (wording := _created_twice(str(exc))):
            reason = f"a create was sent twice ({wording})"
        if reason is None:
            raise
        progress(f"{reason}; starting over on a new server (it held only what this apply made)")
        server.stop(state_dir)
        _forget_state(ws)
        (state_dir / "checkpoints.json").unlink(missing_ok=True)
        state = server.start(port, state_dir)
        state.applied = True
        state.save(state_dir)
        _write_endpoint(ws, state)
        progress(f"terraform apply on {state.endpoint}, again")
        _apply(ws, abort_when=None)
    elapsed = time.monotonic() - t0
    outputs = ws.outputs()
    check_iot_rules(state.endpoint, outputs.get("region") or "us-east-1")
    return UpResult(
        endpoint=state.endpoint, started_server=started, zip_sha256=digest, apply_seconds=elapsed, outputs=outputs
    )


def _apply(ws: Workspace, *, abort_when: Callable[[], str | None] | None) -> None:
    tf.run(
        ws.workdir,
        ws.apply_args(),
        timeout=APPLY_TIMEOUT_S,
        what="terraform apply",
        extra_env=ws.extra_env,
        abort_when=abort_when,
    )


def _forget_state(ws: Workspace) -> None:
    """The Terraform state of a server that is gone, keeping the variables opsctl or its caller recorded."""
    state = ws.state_file or ws.workdir / "terraform.tfstate"
    for path in (state, state.with_name(state.name + ".backup"), state.with_name(f".{state.name}.lock.info")):
        path.unlink(missing_ok=True)


def down(*, state_dir: Path = SANDBOX_DIR) -> server.ServerState | None:
    """Stops the server and forgets everything it held (state, checkpoints, endpoint file)."""
    stopped = server.stop(state_dir)
    Workspace(state_dir).forget()
    if state_dir.exists():
        shutil.rmtree(state_dir, ignore_errors=True)
    return stopped


def stack_source(state_dir: Path = SANDBOX_DIR) -> SandboxSource:
    """`--env local` for opsctl.core.stack.load: this sandbox's endpoint (it must be up) and outputs."""

    def endpoint() -> str:
        state = server.running(state_dir)
        if state is None:
            raise OpsError("the sandbox is not up", hint="run `opsctl sandbox up` (or `make demo`)")
        return state.endpoint

    return SandboxSource(endpoint=endpoint, outputs=lambda: Workspace(state_dir).outputs())
