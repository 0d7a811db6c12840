"""IAM in the sandbox's moto server: the identity-based policies of each Lambda function's role are
enforced for the credentials the function runs with, and nothing else changes.

moto can evaluate a caller's identity-based policies, but its switch (`INITIAL_NO_AUTH_ACTION_COUNT`) is
global: on, every caller is checked, Terraform's provider and opsctl included (they act as the sandbox's
administrator and would need an IAM user with keys of their own, created before the first apply). So the
switch stays off and this module decides per request instead:

- an access key is *enforced* when STS issued it by AssumeRole on a role whose trust policy lets
  `lambda.amazonaws.com` assume it (a function's execution role, as Terraform creates it); the local
  runtime assumes that role for each function, as Lambda does;
- a request signed with an enforced key goes through moto's own policy check (the role's inline and
  attached policies against the action and the resource; not the signature, see `authorize`); every
  other request is served as before, so the administrator path costs one header lookup and a set test.

moto derives the resource ARN only for SQS, S3, IAM and STS; for every other service it checks the
policy against "*", which a least-privilege statement (`Resource = <table ARN>`) never matches. The
services our functions call get their ARNs here (`resource_arns`), one per resource a request touches
(BatchWriteItem on two tables needs both granted). Batch APIs are authorised as their single-entry
action, as AWS does (SendMessageBatch needs `sqs:SendMessage`).

What this cannot evaluate (moto ignores them; each is covered by a static test instead, see
docs/architecture.md): resource policies (KMS key policies, SNS topic policies, S3 bucket policies),
condition keys, permission boundaries, SCPs."""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import unquote, urlparse

LAMBDA_SERVICE_PRINCIPAL = "lambda.amazonaws.com"

# Signing names whose IAM action prefix differs (SigV4 credential scope → IAM service prefix).
IAM_PREFIX_OF_SIGNING_NAME = {"monitoring": "cloudwatch", "email": "ses", "execute-api": "execute-api"}
# Actions AWS authorises as another one (the batch form needs the single-entry permission).
AUTHORISED_AS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}

_enforced_keys: set[str] = set()
_installed = threading.Lock()
_FUNCTION_PATH = re.compile(r"/functions/([^/?]+)")


def access_key_of(authorization: str) -> str | None:
    """The access key id of a SigV4 Authorization header, or None."""
    start = authorization.find("Credential=")
    if start < 0:
        return None
    start += len("Credential=")
    end = authorization.find("/", start)
    return authorization[start:end] if end > start else None


def trusts_lambda(assume_role_policy: object) -> bool:
    """True if a role's trust policy lets the Lambda service assume it (an execution role)."""
    try:
        doc: Any = json.loads(assume_role_policy) if isinstance(assume_role_policy, str) else assume_role_policy
        statements = doc.get("Statement") or []
    except (ValueError, AttributeError):
        return False
    for s in statements if isinstance(statements, list) else [statements]:
        if not isinstance(s, dict) or s.get("Effect") != "Allow":
            continue
        service = (s.get("Principal") or {}).get("Service") if isinstance(s.get("Principal"), dict) else None
        services = service if isinstance(service, list) else [service]
        if LAMBDA_SERVICE_PRINCIPAL in services:
            return True
    return False


def is_enforced(access_key_id: str | None) -> bool:
    return access_key_id in _enforced_keys


def resource_arns(response, service: str) -> list[str]:
    """The ARNs one request acts on, for the services moto leaves at "*" (empty: keep moto's "*")."""
    region, account = response.region, response.current_account
    param = response._get_param
    if service == "dynamodb":
        tables = list((param("RequestItems") or {}).keys()) or [param("TableName")]
        index = param("IndexName")
        arns = []
        for t in tables:
            if not t:
                continue
            arn = t if t.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{t}"
            arns.append(f"{arn}/index/{index}" if index else arn)
        return arns
    if service == "kinesis":
        arn, name = param("StreamARN"), param("StreamName")
        return [arn] if arn else [f"arn:aws:kinesis:{region}:{account}:stream/{name}"] if name else []
    if service == "sns":
        arn = param("TopicArn") or param("TargetArn")
        return [arn] if arn else []
    if service == "kms":
        key_id = param("KeyId")
        return [_kms_key_arn(key_id, account, region)] if key_id else []
    if service == "lambda":
        found = _FUNCTION_PATH.search(response.path or "")
        if not found:
            return []
        name = unquote(found.group(1)).split(":")
        if name[0] == "arn":
            return [":".join(name[:7])]
        return [f"arn:aws:lambda:{region}:{account}:function:{name[0]}"]
    return []


def _kms_key_arn(key_id: str, account: str, region: str) -> str:
    """A key id, key ARN, alias name or alias ARN as the ARN of the key it names (policies name keys)."""
    from moto.kms.models import kms_backends

    try:
        return kms_backends[account][region].describe_key(key_id).arn
    except Exception:  # noqa: BLE001 - an unknown key: let the policy be checked against what was asked for
        return key_id if key_id.startswith("arn:") else f"arn:aws:kms:{region}:{account}:key/{key_id}"


REST_JSON_SERVICES = {"lambda", "apigateway", "execute-api", "scheduler", "iot"}  # IAM prefixes, REST-JSON APIs


def _access_denied(response, principal_arn: str, action: str, resource: str):
    """AccessDenied in the error shape of the service's protocol: JSON keyed by `__type` for the JSON and
    REST-JSON services (what botocore's parsers read the code from), moto's XML error for query services."""
    from moto.core.exceptions import AccessDeniedError
    from werkzeug.exceptions import HTTPException

    message = f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"
    json_protocol = response.headers.get("X-Amz-Target") or action.partition(":")[0] in REST_JSON_SERVICES
    if not json_protocol:
        return AccessDeniedError(user_arn=principal_arn, action=f"{action} on resource: {resource}")
    exc = HTTPException(description=json.dumps({"__type": "AccessDeniedException", "message": message}))
    exc.code = 400 if response.headers.get("X-Amz-Target") else 403
    return exc


def install() -> None:
    """Patches moto (once per process): function-role keys are recorded at AssumeRole and enforced."""
    with _installed:
        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.core.exceptions import AccessDeniedError
        from moto.iam.models import iam_backends
        from moto.sts.models import STSBackend

        if getattr(ActionAuthenticatorMixin, "_sandbox_function_iam", False):
            return
        original_assume_role = STSBackend.assume_role

        def assume_role(self, *args, **kwargs):
            assumed = original_assume_role(self, *args, **kwargs)
            try:
                account = assumed.role_arn.split(":")[4]
                role = iam_backends[account]["aws"].get_role_by_arn(assumed.role_arn)
            except Exception:  # noqa: BLE001 - a role that does not exist is no function's role
                return assumed
            if trusts_lambda(role.assume_role_policy_document):
                _enforced_keys.add(assumed.access_key_id)
            return assumed

        def authorize(self, iam_request_cls, resource: str = "*") -> None:
            authorization = self.headers.get("Authorization") or ""
            if not is_enforced(access_key_of(authorization)):
                return  # the administrator (Terraform, opsctl, tests): served as moto always does here
            path = self.raw_path
            query = urlparse(self.uri).query
            iam_request = iam_request_cls(
                account_id=self.current_account,
                method=self.method,
                path=path + ("?" + query if query else ""),
                data=self.data,
                body=self.raw_body,
                headers=self.headers,
                action=self._get_action(),
            )
            # No signature check: moto's recomputation of SigV4 disagrees with botocore's for some REST paths
            # (Lambda's /functions/{name}/concurrency, ListEventSourceMappings' query), which would refuse calls
            # AWS accepts. The key id alone names the session; the policies are what this enforces.
            action = iam_request._action
            prefix, _, name = action.partition(":")
            action = AUTHORISED_AS.get(action, f"{IAM_PREFIX_OF_SIGNING_NAME.get(prefix, prefix)}:{name}")
            iam_request._action = action
            resources = [resource] if resource != "*" else resource_arns(self, prefix) or ["*"]
            for arn in resources:
                try:
                    iam_request.check_action_permitted(arn)
                except AccessDeniedError:  # S3's own error (S3AccessDeniedError) is already S3's shape
                    raise _access_denied(self, iam_request._access_key.arn, action, arn) from None

        # moto finds a session's role by scanning every AssumeRole it ever served, on every request; each
        # `opsctl sandbox run` adds one per function, so the scan grows through a session. The key object only
        # names the role (its policies are read per request), so it is kept per key id and token.
        from moto.iam import access_control

        original_create_access_key = access_control.create_access_key
        found_keys: dict[tuple, object] = {}

        def create_access_key(account_id, partition, access_key_id, headers):
            key = (account_id, partition, access_key_id, headers.get("X-Amz-Security-Token"))
            found = found_keys.get(key)
            if found is None:
                found = original_create_access_key(account_id, partition, access_key_id, headers)
                found_keys[key] = found
            return found

        access_control.create_access_key = create_access_key
        STSBackend.assume_role = assume_role
        ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize
        ActionAuthenticatorMixin._sandbox_function_iam = True
