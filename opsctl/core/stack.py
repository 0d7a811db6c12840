"""Finding the stack: an environment's Terraform outputs plus where to reach its AWS.

`--env local` is the sandbox: its endpoint comes from the running moto server. Flags override
single resources (e.g. `--stream`) so opsctl also works on a stack it did not deploy."""

from __future__ import annotations

from dataclasses import dataclass, field

from opsctl.core import tf
from opsctl.core.aws import AwsTarget
from opsctl.core.errors import OpsError
from opsctl.core.project import SANDBOX_DIR

LOCAL_ENV = "local"
DEFAULT_REGION = "us-east-1"


@dataclass
class Stack:
    env: str
    target: AwsTarget
    outputs: dict = field(default_factory=dict)

    def get(self, name: str) -> str:
        """An output of the environment, or a clear error if Terraform does not define it."""
        value = self.outputs.get(name)
        if value in (None, ""):
            raise OpsError(
                f"environment {self.env!r} has no {name!r}",
                hint=f"pass it with --{name.replace('_', '-')} or apply the environment",
            )
        return value


def load(
    env: str,
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    overrides: dict[str, str | None] | None = None,
) -> Stack:
    """The stack of `env`: its outputs (with `overrides` applied) and an AwsTarget to reach it."""
    from opsctl.sandbox import server

    overrides = {k: v for k, v in (overrides or {}).items() if v}
    sandbox = env == LOCAL_ENV
    if sandbox and not endpoint_url:
        state = server.running(SANDBOX_DIR)
        if state is None:
            raise OpsError("the sandbox is not up", hint="run `opsctl sandbox up` (or `make demo`)")
        endpoint_url = state.endpoint
    workdir = tf.env_dir(env)
    try:
        if sandbox:
            from opsctl.sandbox.deploy import Workspace

            outputs = Workspace(SANDBOX_DIR).outputs()
        else:
            outputs = tf.outputs(workdir)
    except OpsError:
        if not overrides:
            raise
        # Resources named on the command line stand on their own (a stack opsctl did not deploy, or a moto
        # server named by --endpoint-url); whatever a command needs beyond them is a clear "has no ..." error.
        outputs = {}
    outputs.update(overrides)
    target = AwsTarget(
        region=region or outputs.get("region") or DEFAULT_REGION,
        endpoint_url=endpoint_url,
        profile=profile,
        sandbox=sandbox,
    )
    return Stack(env=env, target=target, outputs=outputs)
