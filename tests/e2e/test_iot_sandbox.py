"""The IoT front door on the sandbox: devices registered with `opsctl devices`, readings published through the IoT
data plane (`opsctl sandbox traffic --via iot`), routed by the topic rule Terraform created (played by the sandbox's
rules engine) into the stream and the table; a device publishing a payload that claims another device's id cannot
change that device's readings; a revoked device keeps its readings, readable by its tenant over HTTP."""

from __future__ import annotations

import json
import re
import stat

import pytest

from .sandbox_harness import opsctl

# A group of its own: pytest-xdist runs the module on one worker, so its module fixtures run once.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-iot")]

ACME = ("iot-acme-0001", "iot-acme-0002")


def _readings(sandbox, device: str) -> dict[int, dict]:
    ddb = sandbox.client("dynamodb")
    resp = ddb.query(
        TableName=sandbox.outputs["table_name"],
        KeyConditionExpression="device_id = :d",
        ExpressionAttributeValues={":d": {"S": device}},
        ConsistentRead=True,
    )
    return {int(i["ts"]["N"]): {k: v["N"] for k, v in i["metrics"]["M"].items()} for i in resp["Items"]}


@pytest.fixture(scope="module")
def published(sandbox, tmp_path_factory):
    # a folder that does not exist yet, as `make demo` passes build/devices: one file per device in it
    certs = tmp_path_factory.mktemp("certs") / "devices"
    for device in ACME:
        opsctl(sandbox, "devices", "register", device, "--tenant", "acme", "--credentials", str(certs))
    sent = opsctl(
        sandbox,
        "sandbox",
        "traffic",
        "--via",
        "iot",
        "--devices",
        "2",
        "--records",
        "20",
        "--device-prefix",
        "iot-acme-",
        "--output",
        "json",
    )
    assert json.loads(sent.stdout)["sent"] == 20
    opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json")
    return certs


def test_registered_devices_publish_through_iot_into_the_table(sandbox, published):
    for device in ACME:
        assert len(_readings(sandbox, device)) == 10, device
        assert stat.S_IMODE((published / f"{device}.pem").stat().st_mode) == 0o600


def test_a_device_claiming_another_devices_id_cannot_change_its_readings(sandbox, published):
    victim, spoofer = ACME[1], ACME[0]
    before = _readings(sandbox, victim)
    ts = max(before)
    payload = {"device_id": victim, "ts": ts, "metrics": {"temp_c": -99.5}}
    sandbox.client("iot-data").publish(
        topic=f"dt/acme/{spoofer}/telemetry", qos=1, payload=json.dumps(payload).encode()
    )
    opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json")
    assert _readings(sandbox, victim) == before
    # The rule's identity won: what the spoofer sent is its own reading (or quarantined), never the victim's.
    assert _readings(sandbox, spoofer).get(ts, {}).get("temp_c") in (None, "-99.5")


def test_traffic_via_iot_refuses_unregistered_and_revoked_devices(sandbox, published):
    bad = opsctl(
        sandbox,
        "sandbox",
        "traffic",
        "--via",
        "iot",
        "--devices",
        "1",
        "--records",
        "1",
        "--device-prefix",
        "iot-nobody-",
        check=False,
    )
    assert bad.returncode == 1 and "not an active registered device" in bad.stderr and "Traceback" not in bad.stderr
    opsctl(sandbox, "devices", "revoke", ACME[1])
    bad = opsctl(
        sandbox,
        "sandbox",
        "traffic",
        "--via",
        "iot",
        "--devices",
        "2",
        "--records",
        "2",
        "--device-prefix",
        "iot-acme-",
        check=False,
    )
    assert bad.returncode == 1 and ACME[1] in bad.stderr


def test_a_revoked_devices_readings_stay_readable_by_its_tenant(sandbox, published):
    opsctl(sandbox, "devices", "revoke", ACME[1])  # idempotent
    shown = json.loads(opsctl(sandbox, "devices", "show", ACME[1], "--output", "json").stdout)
    assert shown["registry"]["status"] == "revoked" and shown["certificate_status"] == "INACTIVE"
    opsctl(sandbox, "sandbox", "user", "add", "iot-alice", "--tenant", "acme")
    answers = json.loads(
        opsctl(
            sandbox,
            "sandbox",
            "api",
            "--user",
            "iot-alice",
            "--get",
            "/devices",
            "--get",
            f"/devices/{ACME[1]}/readings?limit=100",
            "--output",
            "json",
        ).stdout
    )["answers"]
    listed = {d["device_id"]: d["status"] for d in answers[0]["body"]["items"]}
    assert listed[ACME[1]] == "revoked" and listed[ACME[0]] == "active"
    assert answers[1]["status"] == 200 and answers[1]["body"]["count"] == len(_readings(sandbox, ACME[1]))


def test_devices_and_iot_traffic_speak_the_renderer_rules(sandbox, published):
    # last in the module: its readings would change the counts the tests above assert (ACME[1] is revoked by now)
    listing = opsctl(sandbox, "devices", "list", "--tenant", "acme").stdout
    rows = [ln.split() for ln in listing.splitlines() if ln.strip().startswith(ACME[0][:9])]
    assert [r[0] for r in rows] == list(ACME)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r[3]) for r in rows), listing  # UTC ISO, no epoch
    shown = opsctl(sandbox, "devices", "show", ACME[0]).stdout
    assert "{" not in shown and "'" not in shown, shown  # fields as key=value, never a Python repr
    sent = opsctl(
        sandbox,
        "sandbox",
        "traffic",
        "--via",
        "iot",
        "--devices",
        "1",
        "--records",
        "4",
        "--device-prefix",
        "iot-acme-",
    ).stdout
    assert "in 4 MQTT publishes" in sent and "PutRecords" not in sent, sent
    opsctl(sandbox, "sandbox", "run", "--until-idle", "--output", "json")
