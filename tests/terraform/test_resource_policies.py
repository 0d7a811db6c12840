"""Resource policies the sandbox cannot evaluate (moto checks only identity-based policies, and only for the
functions' roles): the KMS key policies, checked here statically instead (docs/architecture.md lists which
test covers each such gap). SNS topic policies and the quarantine bucket's TLS-only policy are covered in
test_policies.py (test_every_topic_is_encrypted_with_the_key_and_alarms_may_only_publish_from_this_account,
test_only_the_sandbox_drops_the_tls_only_bucket_policy)."""

from __future__ import annotations

import re

from opsctl.core.project import TERRAFORM_DIR

MODULES_DIR = TERRAFORM_DIR / "modules"


def _statements(path) -> list[str]:
    text = path.read_text()
    policy = text[text.index("policy = jsonencode(") :]
    return re.split(r"\n\s*\{\s*\n(?=(?:\s*#[^\n]*\n)*\s*Sid\s*=)", policy)[1:]


def test_only_the_account_root_administers_the_data_key_and_services_use_it_under_a_condition():
    statements = _statements(MODULES_DIR / "kms_key" / "main.tf")
    assert len(statements) == 3
    for s in statements:
        if '"kms:*"' in s:
            assert re.search(
                r"Principal\s*=\s*\{\s*AWS\s*=\s*\"arn:\$\{local.partition\}:iam::\$\{local.account_id\}:root\"", s
            )
        else:
            assert "Service" in s and "Condition" in s, s  # a service may use the key only for this account's resources
    logs = next(s for s in statements if "CloudWatchLogs" in s)
    assert "kms:EncryptionContext:aws:logs:arn" in logs and "${local.account_id}:log-group:" in logs
    alarms = next(s for s in statements if "CloudWatchAlarms" in s)
    assert '"aws:SourceAccount" = local.account_id' in alarms and "kms:Encrypt" not in alarms


def test_the_cursor_signing_key_is_administered_by_the_account_root_only():
    text = (MODULES_DIR / "signing_key" / "main.tf").read_text()
    policy = text[text.index("policy = jsonencode(") :]
    assert policy.count("Sid ") == 1 and "Principal = { AWS = " in policy and ":root" in policy
    assert "Service" not in policy
