"""One place that turns (region, profile, endpoint) into AWS clients.

Every opsctl operation takes an `AwsTarget` instead of building clients itself, so the same code
runs against real AWS and against the sandbox's moto server (which only differs by endpoint and
throw-away credentials).

Clients come from one botocore session per target, made on the first `client()` call: opsctl uses
only low-level clients, and importing boto3 (its resource layer and s3transfer) would cost a
command's start-up more than the rest of a fast command does."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

# Throw-away credentials for the sandbox: moto accepts anything, and a real account never sees them.
SANDBOX_CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}


@dataclass(frozen=True)
class AwsTarget:
    region: str = "us-east-1"
    endpoint_url: str | None = None
    profile: str | None = None
    sandbox: bool = False
    _clients: dict = field(default_factory=dict, compare=False, repr=False)
    # a botocore session is not thread-safe: clients are made under this lock (the clients themselves are)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @cached_property
    def session(self):
        """The botocore session every client of this target comes from."""
        import botocore.session

        if self.sandbox:
            session = botocore.session.Session()
            session.set_credentials(
                SANDBOX_CREDENTIALS["aws_access_key_id"], SANDBOX_CREDENTIALS["aws_secret_access_key"]
            )
        else:
            session = botocore.session.Session(profile=self.profile)
        return session

    def client(self, service: str):
        """A cached client for `service` pointed at this target's endpoint (safe to call from several threads)."""
        with self._lock:
            if service not in self._clients:
                from botocore.config import Config

                self._clients[service] = self.session.create_client(
                    service,
                    region_name=self.region,
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
