"""Finding the stack: an environment's Terraform outputs plus where to reach its AWS.

`--env local` is the sandbox: its endpoint comes from the running moto server. Flags override
single resources (e.g. `--stream`) so opsctl also works on a stack it did not deploy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from opsctl.core import tf
from opsctl.core.aws import AwsTarget
from opsctl.core.errors import OpsError

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


@dataclass(frozen=True)
class SandboxSource:
    """Where `--env local` is: the running sandbox's endpoint and its Terraform outputs. The sandbox provides it
    (opsctl.sandbox.deploy.stack_source) and the CLI hands it in, so on-call code never imports the sandbox.
    Each raises OpsError when the sandbox is not up."""

    endpoint: Callable[[], str]
    outputs: Callable[[], dict]


def load(
    env: str,
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    overrides: dict[str, str | None] | None = None,
    sandbox_source: SandboxSource | None = None,
) -> Stack:
    """The stack of `env`: its outputs (with `overrides` applied) and an AwsTarget to reach it.

    `--env local` needs `sandbox_source` (an installation without the sandbox has none: a clear error)."""
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    sandbox = env == LOCAL_ENV
    if sandbox and sandbox_source is None:
        raise OpsError("this opsctl has no local sandbox", hint="install it with the [sandbox] extra")
    source = sandbox_source if sandbox else None
    if source is not None and not endpoint_url:
        endpoint_url = source.endpoint()
    workdir = tf.env_dir(env)
    try:
        outputs = source.outputs() if source is not None else tf.outputs(workdir)
    except OpsError:
        if not overrides:
            raise
        # Resources named on the command line stand on their own (a stack opsctl did not deploy, or a moto
        # server named by --endpoint-url); whatever a command needs beyond them is a clear "has no ..." error.
        outputs = {}
    outputs.update(overrides)
    target = AwsTarget(
        region=region or str(outputs.get("region") or DEFAULT_REGION),
        endpoint_url=endpoint_url,
        profile=profile,
        sandbox=sandbox,
    )
    return Stack(env=env, target=target, outputs=outputs)
