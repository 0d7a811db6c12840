"""One place that turns (region, profile, endpoint) into boto3 clients.

Every opsctl operation takes an `AwsTarget` instead of building clients itself, so the same code
runs against real AWS and against the sandbox's moto server (which only differs by endpoint and
throw-away credentials)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import boto3
from botocore.config import Config

# Throw-away credentials for the sandbox: moto accepts anything, and a real account never sees them.
SANDBOX_CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}


@dataclass(frozen=True)
class AwsTarget:
    region: str = "us-east-1"
    endpoint_url: str | None = None
    profile: str | None = None
    sandbox: bool = False
    _clients: dict = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def session(self) -> boto3.Session:
        if self.sandbox:
            return boto3.Session(region_name=self.region, **SANDBOX_CREDENTIALS)
        return boto3.Session(region_name=self.region, profile_name=self.profile)

    def client(self, service: str):
        """A cached client for `service` pointed at this target's endpoint."""
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,
                endpoint_url=self.endpoint_url,
                config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30),
            )
        return self._clients[service]

    def lambda_environment(self) -> dict[str, str]:
        """Environment variables that make boto3 inside a handler reach this target (used by the local runtime)."""
        env = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.sandbox:
            env["AWS_ACCESS_KEY_ID"] = SANDBOX_CREDENTIALS["aws_access_key_id"]
            env["AWS_SECRET_ACCESS_KEY"] = SANDBOX_CREDENTIALS["aws_secret_access_key"]
        return env
