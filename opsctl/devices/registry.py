"""Devices of the IoT front door: register, list, show, revoke, rotate.

A device is four things that must agree: an IoT thing (name = device id, attribute `tenant`, the stack's thing
type), an active X.509 certificate attached to the thing, the stack's device policy attached to the certificate
(its policy variables bind the certificate to the thing's name and tenant), and an entry in the device registry
table (tenant, status, certificate) that the read API checks. Every operation is idempotent: run it again after a
crash and it completes what is missing. The private key exists once, in the credentials file this module writes
(mode 0600); AWS keeps no copy, so it is never printed unless asked, never logged, and never in the registry."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from opsctl.core.errors import OpsError

# Both the ingest contract ([A-Za-z0-9_.:-]{1,128}) and IoT's thing names ([a-zA-Z0-9:_-]{1,128}) accept these.
DEVICE_ID = re.compile(r"[A-Za-z0-9_:-]{1,128}")
TENANT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # the rule of functions/api/tenancy.py (group tenant-<tenant>)
ACTIVE, REVOKED = "active", "revoked"


@dataclass(frozen=True)
class DeviceStack:
    """The names a device operation needs, from the environment's Terraform outputs."""

    registry_table: str
    tenant_index: str
    thing_type: str
    policy_name: str
    topic_prefix: str

    @classmethod
    def from_stack(cls, stack) -> DeviceStack:
        return cls(
            registry_table=stack.get("device_registry_table_name"),
            tenant_index=stack.get("device_registry_tenant_index_name"),
            thing_type=stack.get("iot_thing_type_name"),
            policy_name=stack.get("iot_policy_name"),
            topic_prefix=stack.get("iot_topic_prefix"),
        )

    def topic(self, tenant: str, device_id: str) -> str:
        return f"{self.topic_prefix}/{tenant}/{device_id}/telemetry"


def check_device_id(device_id: str) -> str:
    if not DEVICE_ID.fullmatch(device_id):
        raise OpsError(
            f"device id {device_id[:140]!r} is not 1-128 characters of A-Z a-z 0-9 _ : -",
            hint="IoT thing names allow no '.', so device ids of the IoT front door do not either",
        )
    return device_id


def check_tenant(tenant: str) -> str:
    if not TENANT.fullmatch(tenant):
        raise OpsError(f"tenant {tenant[:70]!r} is not 1-63 characters of a-z 0-9 - (starting with a letter or digit)")
    return tenant


def _entry(item: dict) -> dict:
    out = {k: next(iter(v.values())) for k, v in item.items()}
    for k in ("created_at", "updated_at"):
        if k in out:
            out[k] = int(out[k])
    return out


def get_entry(ddb, names: DeviceStack, device_id: str) -> dict | None:
    """The registry entry of a device (strongly consistent), or None."""
    resp = ddb.get_item(TableName=names.registry_table, Key={"device_id": {"S": device_id}}, ConsistentRead=True)
    item = resp.get("Item")
    return _entry(item) if item is not None else None


def _thing(iot, device_id: str) -> dict | None:
    try:
        return iot.describe_thing(thingName=device_id)
    except iot.exceptions.ResourceNotFoundException:
        return None


def credentials_path(path: Path, device_id: str) -> Path:
    """The file a device's certificate and key go to: PATH itself when it names a `.pem` file, else `<device>.pem`
    in the directory PATH (made if missing). A directory that does not exist yet is still a directory: taking it
    for a file would write every device's key to the same file, each overwriting the last."""
    return path if path.suffix == ".pem" and not path.is_dir() else path / f"{device_id}.pem"


def _unwritable(device_id: str, path: Path, exc: OSError) -> OpsError:
    return OpsError(
        f"cannot write the credentials of {device_id} to {path}: {exc.strerror or exc}",
        hint="give {credentials} a directory (or a .pem file) you can write",
        arguments=["credentials"],
    )


def credentials_folder_ready(path: Path, device_id: str) -> Path:
    """The credentials file's path, its folder made: checked before a certificate is created, so a key is never
    made that cannot be written (its certificate would be active with no one holding the key)."""
    path = credentials_path(path, device_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(device_id, path, exc) from None
    return path


def write_credentials(path: Path, device_id: str, cert: dict) -> Path:
    """Certificate and private key as PEM in one file only its owner can read (created 0600, never widened)."""
    path = credentials_folder_ready(path, device_id)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(cert["certificatePem"].rstrip("\n") + "\n" + cert["keyPair"]["PrivateKey"].rstrip("\n") + "\n")
        os.chmod(path, 0o600)
    except OSError as exc:
        raise _unwritable(device_id, path, exc) from None
    return path


def _new_certificate(iot, names: DeviceStack, device_id: str) -> dict:
    cert = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_policy(policyName=names.policy_name, target=cert["certificateArn"])
    iot.attach_thing_principal(thingName=device_id, principal=cert["certificateArn"])
    return cert


def register(
    iot, ddb, names: DeviceStack, device_id: str, tenant: str, *, credentials: Path, dry_run: bool = False
) -> dict:
    """Thing, certificate, policy attachment and registry entry of a new device; a no-op for one already there."""
    check_device_id(device_id)
    check_tenant(tenant)
    entry = get_entry(ddb, names, device_id)
    if entry is not None:
        if entry.get("tenant") != tenant:
            raise OpsError(
                f"device {device_id!r} is registered to another tenant",
                hint="a device never moves between tenants: register a new device id",
            )
        return {"device_id": device_id, "tenant": tenant, "action": "unchanged", "entry": entry}
    thing = _thing(iot, device_id)
    if thing is not None and thing.get("attributes", {}).get("tenant") not in (None, tenant):
        raise OpsError(
            f"IoT thing {device_id!r} exists with another tenant attribute", hint="see `opsctl devices show`"
        )
    plan = {
        "device_id": device_id,
        "tenant": tenant,
        "thing": "exists" if thing else "create",
        "certificate": "create (active), attach policy and thing",
        "policy": names.policy_name,
        "topic": names.topic(tenant, device_id),
        "registry": "create entry (active)",
        "credentials_file": str(credentials_path(credentials, device_id)),
    }
    if dry_run:
        return {**plan, "action": "would register"}
    credentials_folder_ready(credentials, device_id)
    if thing is None:
        iot.create_thing(
            thingName=device_id,
            thingTypeName=names.thing_type,
            attributePayload={"attributes": {"tenant": tenant}},
        )
    cert = _new_certificate(iot, names, device_id)
    path = write_credentials(credentials, device_id, cert)
    now = int(time.time() * 1000)
    ddb.put_item(
        TableName=names.registry_table,
        Item={
            "device_id": {"S": device_id},
            "tenant": {"S": tenant},
            "status": {"S": ACTIVE},
            "created_at": {"N": str(now)},
            "updated_at": {"N": str(now)},
            "certificate_id": {"S": cert["certificateId"]},
            "certificate_arn": {"S": cert["certificateArn"]},
            "thing_name": {"S": device_id},
        },
        ConditionExpression="attribute_not_exists(device_id)",  # two racing registrations: one wins
    )
    return {
        **plan,
        "action": "registered",
        "certificate_id": cert["certificateId"],
        "credentials_file": str(path),
        "_pem": cert["certificatePem"] + cert["keyPair"]["PrivateKey"],
    }


def list_devices(ddb, names: DeviceStack, tenant: str | None = None) -> list[dict]:
    """Registry entries, of one tenant (Query on the tenant index) or all (Scan), in device id order."""
    items = []
    if tenant is not None:
        check_tenant(tenant)
        kwargs = {
            "TableName": names.registry_table,
            "IndexName": names.tenant_index,
            "KeyConditionExpression": "tenant = :t",
            "ExpressionAttributeValues": {":t": {"S": tenant}},
        }
        pages = ddb.get_paginator("query").paginate(**kwargs)
    else:
        pages = ddb.get_paginator("scan").paginate(TableName=names.registry_table)
    for page in pages:
        items += [_entry(i) for i in page.get("Items", [])]
    return sorted(items, key=lambda e: e["device_id"])


def show(iot, ddb, names: DeviceStack, device_id: str) -> dict:
    """Registry entry, thing and certificate status of a device, with whether they agree."""
    check_device_id(device_id)
    entry = get_entry(ddb, names, device_id)
    thing = _thing(iot, device_id)
    if entry is None and thing is None:
        raise OpsError(f"no device {device_id!r}", hint="see `opsctl devices list`")
    cert_status = None
    if entry and entry.get("certificate_id"):
        try:
            cert_status = iot.describe_certificate(certificateId=entry["certificate_id"])["certificateDescription"][
                "status"
            ]
        except iot.exceptions.ResourceNotFoundException:
            cert_status = "missing"
    principals = iot.list_thing_principals(thingName=device_id).get("principals", []) if thing else []
    problems = []
    if entry is None:
        problems.append("thing without a registry entry")
    if thing is None:
        problems.append("registry entry without a thing")
    if entry and thing and thing.get("attributes", {}).get("tenant") != entry.get("tenant"):
        problems.append("thing's tenant attribute differs from the registry")
    if entry and entry.get("status") == ACTIVE and cert_status != "ACTIVE":
        problems.append(f"registry says active but the certificate is {cert_status}")
    if entry and entry.get("status") == REVOKED and cert_status == "ACTIVE":
        problems.append("registry says revoked but the certificate is ACTIVE")
    return {
        "device_id": device_id,
        "registry": entry,
        "thing": {"name": thing["thingName"], "attributes": thing.get("attributes", {})} if thing else None,
        "certificate_status": cert_status,
        "principals": len(principals),
        "topic": names.topic(entry["tenant"], device_id) if entry else None,
        "consistent": not problems,
        "problems": problems,
    }


def revoke(iot, ddb, names: DeviceStack, device_id: str, *, dry_run: bool = False) -> dict:
    """Certificate INACTIVE (the device can no longer connect), registry status revoked; readings are kept."""
    check_device_id(device_id)
    entry = get_entry(ddb, names, device_id)
    if entry is None:
        raise OpsError(f"no device {device_id!r} in the registry", hint="see `opsctl devices list`")
    plan = {"device_id": device_id, "tenant": entry["tenant"], "certificate_id": entry.get("certificate_id")}
    if entry.get("status") == REVOKED:
        cert = iot.describe_certificate(certificateId=entry["certificate_id"])["certificateDescription"]
        if cert["status"] == "INACTIVE":
            return {**plan, "action": "unchanged"}
    if dry_run:
        return {**plan, "action": "would revoke", "certificate": "INACTIVE", "registry": REVOKED, "readings": "kept"}
    # The certificate first: once it is INACTIVE the device is out, whatever happens to the next write.
    iot.update_certificate(certificateId=entry["certificate_id"], newStatus="INACTIVE")
    ddb.update_item(
        TableName=names.registry_table,
        Key={"device_id": {"S": device_id}},
        UpdateExpression="SET #s = :r, updated_at = :now",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": REVOKED}, ":now": {"N": str(int(time.time() * 1000))}},
        ConditionExpression="attribute_exists(device_id)",
    )
    return {**plan, "action": "revoked", "readings": "kept"}


def rotate(iot, ddb, names: DeviceStack, device_id: str, *, credentials: Path, dry_run: bool = False) -> dict:
    """A new certificate for an active device; the old one INACTIVE and detached once the registry names the new."""
    check_device_id(device_id)
    entry = get_entry(ddb, names, device_id)
    if entry is None:
        raise OpsError(f"no device {device_id!r} in the registry", hint="register it first")
    if entry.get("status") != ACTIVE:
        raise OpsError(f"device {device_id!r} is {entry.get('status')}", hint="a revoked device is not rotated")
    old = entry.get("certificate_id")
    plan = {"device_id": device_id, "tenant": entry["tenant"], "old_certificate_id": old}
    if dry_run:
        return {**plan, "action": "would rotate"}
    credentials_folder_ready(credentials, device_id)
    cert = _new_certificate(iot, names, device_id)
    path = write_credentials(credentials, device_id, cert)
    ddb.update_item(
        TableName=names.registry_table,
        Key={"device_id": {"S": device_id}},
        UpdateExpression="SET certificate_id = :c, certificate_arn = :a, updated_at = :now",
        ExpressionAttributeValues={
            ":c": {"S": cert["certificateId"]},
            ":a": {"S": cert["certificateArn"]},
            ":now": {"N": str(int(time.time() * 1000))},
            ":old": {"S": old or ""},
        },
        ConditionExpression="certificate_id = :old",  # another rotation in between: stop, do not orphan its cert
    )
    if old:
        old_arn = entry.get("certificate_arn")
        iot.update_certificate(certificateId=old, newStatus="INACTIVE")
        if old_arn:
            iot.detach_thing_principal(thingName=device_id, principal=old_arn)
    return {
        **plan,
        "action": "rotated",
        "certificate_id": cert["certificateId"],
        "credentials_file": str(path),
        "_pem": cert["certificatePem"] + cert["keyPair"]["PrivateKey"],
    }
