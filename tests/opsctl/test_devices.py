"""`opsctl devices` provisioning against moto's IoT and DynamoDB: register makes a thing of the tenant, an active
certificate with the device policy, a registry entry and a 0600 credentials file (the key on no stdout); it is
idempotent; revoke makes the certificate INACTIVE and the entry revoked and keeps the readings; rotate swaps the
certificate; what a user gets wrong is one OpsError line."""

from __future__ import annotations

import json
import stat

import boto3
import pytest
from moto import mock_aws

from opsctl.core.errors import OpsError
from opsctl.devices import registry

REGION = "us-east-1"
NAMES = registry.DeviceStack(
    registry_table="t-devices",
    tenant_index="by_tenant",
    thing_type="t-device",
    policy_name="t-device",
    topic_prefix="dt",
)


@pytest.fixture
def aws():
    with mock_aws():
        iot = boto3.client("iot", region_name=REGION)
        ddb = boto3.client("dynamodb", region_name=REGION)
        iot.create_thing_type(thingTypeName=NAMES.thing_type)
        iot.create_policy(
            policyName=NAMES.policy_name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
        )
        ddb.create_table(
            TableName=NAMES.registry_table,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "device_id", "AttributeType": "S"},
                {"AttributeName": "tenant", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": NAMES.tenant_index,
                    "KeySchema": [
                        {"AttributeName": "tenant", "KeyType": "HASH"},
                        {"AttributeName": "device_id", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        yield iot, ddb


def test_register_makes_thing_certificate_policy_and_entry_and_a_private_credentials_file(aws, tmp_path):
    iot, ddb = aws
    result = registry.register(iot, ddb, NAMES, "meter-1", "acme", credentials=tmp_path)
    assert result["action"] == "registered" and result["topic"] == "dt/acme/meter-1/telemetry"
    thing = iot.describe_thing(thingName="meter-1")
    assert thing["attributes"] == {"tenant": "acme"} and thing["thingTypeName"] == NAMES.thing_type
    (principal,) = iot.list_thing_principals(thingName="meter-1")["principals"]
    assert iot.list_attached_policies(target=principal)["policies"][0]["policyName"] == NAMES.policy_name
    cert_id = principal.rsplit("/", 1)[-1]
    assert iot.describe_certificate(certificateId=cert_id)["certificateDescription"]["status"] == "ACTIVE"
    entry = registry.get_entry(ddb, NAMES, "meter-1")
    assert entry["tenant"] == "acme" and entry["status"] == "active" and entry["certificate_id"] == cert_id
    pem = tmp_path / "meter-1.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    text = pem.read_text()
    assert "BEGIN CERTIFICATE" in text and "PRIVATE KEY" in text
    assert "PRIVATE KEY" not in json.dumps(entry)  # the key is in the file only


def test_register_is_idempotent_and_never_moves_a_device_between_tenants(aws, tmp_path):
    iot, ddb = aws
    registry.register(iot, ddb, NAMES, "meter-1", "acme", credentials=tmp_path)
    again = registry.register(iot, ddb, NAMES, "meter-1", "acme", credentials=tmp_path / "other")
    assert again["action"] == "unchanged" and not (tmp_path / "other").exists()
    assert len(iot.list_thing_principals(thingName="meter-1")["principals"]) == 1
    with pytest.raises(OpsError, match="another tenant"):
        registry.register(iot, ddb, NAMES, "meter-1", "globex", credentials=tmp_path)


def test_dry_run_changes_nothing_and_bad_ids_are_refused(aws, tmp_path):
    iot, ddb = aws
    plan = registry.register(iot, ddb, NAMES, "meter-2", "acme", credentials=tmp_path, dry_run=True)
    assert plan["action"] == "would register"
    assert registry.get_entry(ddb, NAMES, "meter-2") is None and iot.list_things()["things"] == []
    assert list(tmp_path.iterdir()) == []
    for bad_device, bad_tenant in (("dev.1", "acme"), ("x" * 129, "acme"), ("meter-3", "Acme"), ("meter-3", "-a")):
        with pytest.raises(OpsError):
            registry.register(iot, ddb, NAMES, bad_device, bad_tenant, credentials=tmp_path)


def test_revoke_deactivates_the_certificate_marks_the_entry_and_keeps_readings(aws, tmp_path):
    iot, ddb = aws
    registry.register(iot, ddb, NAMES, "meter-1", "acme", credentials=tmp_path)
    assert registry.revoke(iot, ddb, NAMES, "meter-1", dry_run=True)["action"] == "would revoke"
    assert registry.get_entry(ddb, NAMES, "meter-1")["status"] == "active"
    assert registry.revoke(iot, ddb, NAMES, "meter-1")["action"] == "revoked"
    entry = registry.get_entry(ddb, NAMES, "meter-1")
    assert entry["status"] == "revoked"
    cert = iot.describe_certificate(certificateId=entry["certificate_id"])["certificateDescription"]
    assert cert["status"] == "INACTIVE"
    assert registry.revoke(iot, ddb, NAMES, "meter-1")["action"] == "unchanged"
    shown = registry.show(iot, ddb, NAMES, "meter-1")
    assert shown["consistent"] and shown["certificate_status"] == "INACTIVE"
    with pytest.raises(OpsError, match="revoked"):
        registry.rotate(iot, ddb, NAMES, "meter-1", credentials=tmp_path)


def test_rotate_swaps_the_certificate_and_deactivates_the_old_one(aws, tmp_path):
    iot, ddb = aws
    registry.register(iot, ddb, NAMES, "meter-1", "acme", credentials=tmp_path / "v1.pem")
    old = registry.get_entry(ddb, NAMES, "meter-1")["certificate_id"]
    result = registry.rotate(iot, ddb, NAMES, "meter-1", credentials=tmp_path / "v2.pem")
    new = registry.get_entry(ddb, NAMES, "meter-1")["certificate_id"]
    assert result["action"] == "rotated" and new == result["certificate_id"] != old
    assert iot.describe_certificate(certificateId=old)["certificateDescription"]["status"] == "INACTIVE"
    (principal,) = iot.list_thing_principals(thingName="meter-1")["principals"]
    assert principal.endswith(new)
    assert (tmp_path / "v1.pem").read_text() != (tmp_path / "v2.pem").read_text()
    assert stat.S_IMODE((tmp_path / "v2.pem").stat().st_mode) == 0o600


def test_list_by_tenant_and_show_flags_disagreement(aws, tmp_path):
    iot, ddb = aws
    for device, tenant in (("a-1", "acme"), ("a-2", "acme"), ("g-1", "globex")):
        registry.register(iot, ddb, NAMES, device, tenant, credentials=tmp_path)
    assert [e["device_id"] for e in registry.list_devices(ddb, NAMES, "acme")] == ["a-1", "a-2"]
    assert len(registry.list_devices(ddb, NAMES)) == 3
    iot.update_thing(thingName="g-1", attributePayload={"attributes": {"tenant": "acme"}})
    assert not registry.show(iot, ddb, NAMES, "g-1")["consistent"]
    with pytest.raises(OpsError, match="no device"):
        registry.show(iot, ddb, NAMES, "nobody")


def test_a_credentials_directory_that_does_not_exist_yet_gets_one_file_per_device(aws, tmp_path):
    # `--credentials build/devices` before build/devices exists: each device its own file, none overwritten
    iot, ddb = aws
    folder = tmp_path / "devices"
    planned = registry.register(iot, ddb, NAMES, "meter-1", "acme", credentials=folder, dry_run=True)
    assert planned["credentials_file"] == str(folder / "meter-1.pem")
    first = registry.register(iot, ddb, NAMES, "meter-1", "acme", credentials=folder)
    second = registry.register(iot, ddb, NAMES, "meter-2", "acme", credentials=folder)
    assert first["credentials_file"] == str(folder / "meter-1.pem")
    assert second["credentials_file"] == str(folder / "meter-2.pem")
    assert sorted(p.name for p in folder.iterdir()) == ["meter-1.pem", "meter-2.pem"]
    assert first["_pem"].split("-----END CERTIFICATE-----")[0] in (folder / "meter-1.pem").read_text()


def test_credentials_that_cannot_be_written_are_refused_before_anything_is_created(aws, tmp_path):
    iot, ddb = aws
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(OpsError, match=r"cannot write the credentials of meter-1 to .*a-file/meter-1.pem"):
        registry.register(iot, ddb, NAMES, "meter-1", "acme", credentials=tmp_path / "a-file")
    assert iot.list_things()["things"] == [] and iot.list_certificates()["certificates"] == []
    assert registry.get_entry(ddb, NAMES, "meter-1") is None
