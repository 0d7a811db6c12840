"""Temporary credentials of a function's execution role, as Lambda gives its execution environment.

Lambda assumes the function's role and hands the handler the session's keys in AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; boto3 inside the handler signs with them. The local runtime
does the same against the sandbox (the moto server enforces the role's policies for exactly these keys,
see opsctl.sandbox.iam). One AssumeRole per role and process, reused until shortly before it expires, so
enforcement costs no call per invocation."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

SESSION_SECONDS = 3600  # AssumeRole's default; Lambda's sessions last about as long
REFRESH_BEFORE_EXPIRY_S = 300  # renew 5 minutes early, so no invocation starts with keys about to lapse


@dataclass(frozen=True)
class RoleSession:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: float  # time.time() seconds

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


_sessions: dict[tuple[str | None, str], RoleSession] = {}
_lock = threading.Lock()


def role_session(sts, role_arn: str, function_name: str) -> RoleSession:
    """A live session of `role_arn` (cached per STS endpoint and role), assumed with `sts` (an admin client)."""
    key = (sts.meta.endpoint_url, role_arn)
    found = _sessions.get(key)
    if found is not None and found.expires_at - REFRESH_BEFORE_EXPIRY_S > time.time():
        return found
    with _lock:
        found = _sessions.get(key)
        if found is not None and found.expires_at - REFRESH_BEFORE_EXPIRY_S > time.time():
            return found
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=function_name[:64], DurationSeconds=SESSION_SECONDS)[
            "Credentials"
        ]
        found = _sessions[key] = RoleSession(
            access_key_id=creds["AccessKeyId"],
            secret_access_key=creds["SecretAccessKey"],
            session_token=creds["SessionToken"],
            expires_at=creds["Expiration"].timestamp(),
        )
        return found


def forget() -> None:
    """Drops every cached session (a new sandbox, or a test that resets moto)."""
    with _lock:
        _sessions.clear()
