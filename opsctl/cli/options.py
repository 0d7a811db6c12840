"""What every command shares: the global settings (which environment, where) and the --output option."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Annotated

import typer

from opsctl.cli.render import OutputFormat
from opsctl.core.errors import OpsError


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


# AWS region names: two letters, an optional partition part, a direction/place, a number (us-east-1,
# us-gov-west-1, ap-southeast-3, eu-isoe-west-1). botocore's own list lags new regions, so a pattern it is.
_REGION = re.compile(r"[a-z]{2}(-(gov|iso[a-z]?))?-[a-z]+-\d{1,2}")


def check_target(*, region: str | None, endpoint_url: str | None) -> None:
    """Root flags that would only fail at the first AWS call fail here, in the user's terms."""
    if region is not None and not _REGION.fullmatch(region):
        raise OpsError(
            f"--region {region!r} is not an AWS region name",
            hint="e.g. us-east-1 or eu-west-1; see `aws account list-regions`",
        )
    if endpoint_url is not None:
        parsed = urllib.parse.urlsplit(endpoint_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise OpsError(
                f"--endpoint-url {endpoint_url!r} is not an http(s) URL",
                hint="e.g. --endpoint-url http://127.0.0.1:4566",
            )
        try:
            parsed.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise OpsError(
                f"--endpoint-url {endpoint_url!r} has a bad port", hint="e.g. http://127.0.0.1:4566"
            ) from None
