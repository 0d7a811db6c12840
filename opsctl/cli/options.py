"""What every command shares: the global settings (which environment, where) and the --output option."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import typer

from opsctl.cli.render import OutputFormat


@dataclass
class Settings:
    env: str
    region: str | None
    profile: str | None
    endpoint_url: str | None
    overrides: dict[str, str | None] = field(
        default_factory=dict
    )  # output name -> value from a root flag (--stream, ...)

    def stack(self, **overrides):
        from opsctl.core import stack

        sandbox_source = None
        if self.env == stack.LOCAL_ENV:  # the CLI may import the sandbox; on-call code gets it handed in
            from opsctl.sandbox.deploy import stack_source

            sandbox_source = stack_source()
        return stack.load(
            self.env,
            region=self.region,
            profile=self.profile,
            endpoint_url=self.endpoint_url,
            overrides={**self.overrides, **{k: v for k, v in overrides.items() if v}},
            sandbox_source=sandbox_source,
        )


OutputOpt = Annotated[
    OutputFormat, typer.Option("--output", "-o", help="table for people, json for scripts (one document on stdout)")
]
