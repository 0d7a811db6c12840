"""Sandbox readers of the read API: Cognito users of the sandbox's user pool, each in one tenant group (or the
operators group), and their access tokens, so a person can try the API with curl.

Users sign in with ADMIN_USER_PASSWORD_AUTH (only the sandbox's app client allows it, Terraform variable
`api_admin_password_auth_enabled`): a random password per user, kept in the sandbox's state directory in a
file only its owner can read. moto issues real RS256 JWTs; `opsctl sandbox api` verifies them as API Gateway."""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from opsctl.core.errors import InvalidArgument, NotFound, OpsError

USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
TENANT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # the same rule as functions/api/tenancy.py
TENANT_GROUP_PREFIX = "tenant-"
OPERATOR_GROUP = "operators"
EMAIL_DOMAIN = "sandbox.example.com"  # the pool's usernames are e-mail addresses; RFC 2606 keeps this one unused


def _credentials_file(state_dir: Path) -> Path:
    return state_dir / "users.json"


def _load(state_dir: Path) -> dict:
    path = _credentials_file(state_dir)
    return json.loads(path.read_text()) if path.exists() else {}


def _save(state_dir: Path, users: dict) -> None:
    path = _credentials_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(users, fh, indent=2, sort_keys=True)
    os.chmod(path, 0o600)


def add_user(cognito, pool_id: str, name: str, *, tenant: str | None, operator: bool, state_dir: Path) -> dict:
    """Creates (or updates) user `name` in `tenant`'s group and/or the operators group; idempotent."""
    if not USER_NAME.fullmatch(name):
        raise OpsError(f"user name {name[:70]!r} is not 1-63 characters of a-z 0-9 . _ -")
    if tenant is None and not operator:
        raise InvalidArgument(
            "a user needs {tenant} T or {operator}",
            hint="e.g. opsctl sandbox user add alice {tenant} acme",
            arguments=["tenant", "operator"],
        )
    if tenant is not None and not TENANT.fullmatch(tenant):
        raise OpsError(f"tenant {tenant[:70]!r} is not 1-63 characters of a-z 0-9 - (starting with a letter or digit)")
    users = _load(state_dir)
    email = f"{name}@{EMAIL_DOMAIN}"
    password = users.get(name, {}).get("password") or (secrets.token_urlsafe(18) + "aA1!")
    try:
        cognito.admin_get_user(UserPoolId=pool_id, Username=email)
    except cognito.exceptions.UserNotFoundException:
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password, Permanent=True)
    groups = ([f"{TENANT_GROUP_PREFIX}{tenant}"] if tenant else []) + ([OPERATOR_GROUP] if operator else [])
    current = {g["GroupName"] for g in cognito.admin_list_groups_for_user(UserPoolId=pool_id, Username=email)["Groups"]}
    # One tenant per user: leaving an old tenant group is part of moving the user.
    for old in sorted(g for g in current if g.startswith(TENANT_GROUP_PREFIX) and g not in groups):
        cognito.admin_remove_user_from_group(UserPoolId=pool_id, Username=email, GroupName=old)
    for group in groups:
        try:
            cognito.get_group(GroupName=group, UserPoolId=pool_id)
        except cognito.exceptions.ResourceNotFoundException:
            cognito.create_group(GroupName=group, UserPoolId=pool_id, Description="Read API tenant (sandbox)")
        if group not in current:
            cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)
    sub = next(
        a["Value"]
        for a in cognito.admin_get_user(UserPoolId=pool_id, Username=email)["UserAttributes"]
        if a["Name"] == "sub"
    )
    users[name] = {"email": email, "password": password, "tenant": tenant, "operator": operator}
    _save(state_dir, users)
    return {"user": name, "email": email, "sub": sub, "tenant": tenant, "operator": operator, "groups": groups}


def access_token(cognito, pool_id: str, client_id: str, name: str, *, state_dir: Path) -> str:
    """A fresh access token of sandbox user `name` (ADMIN_USER_PASSWORD_AUTH)."""
    user = _load(state_dir).get(name)
    if user is None:
        raise NotFound(
            "sandbox user",
            name[:70],
            hint=f"add one: opsctl sandbox user add {name[:70]} {{tenant}} T",
            arguments=["tenant"],
        )
    resp = cognito.admin_initiate_auth(
        UserPoolId=pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user["email"], "PASSWORD": user["password"]},
    )
    return resp["AuthenticationResult"]["AccessToken"]
