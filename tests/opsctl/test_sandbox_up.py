"""`opsctl sandbox up`'s one recovery: an apply on a server it just started that meets "already exists" (the
provider sent a create the server had already served) starts over once on a new server; anything else is the
user's to see."""

from __future__ import annotations

import pytest

from opsctl.core.errors import OpsError
from opsctl.sandbox import deploy, server

TWICE = (
    "terraform apply failed (exit 1)\n  Error: creating KMS Alias (alias/telemetry-local): "
    "AlreadyExistsException: An alias with the name arn:aws:kms:us-east-1:123456789012:alias/telemetry-local "
    "already exists"
)


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A sandbox whose server and terraform are stand-ins: what `up` started, stopped and applied is recorded."""
    seen = {"started": [], "stopped": 0, "applies": [], "failures": []}

    def start(port=None, state_dir=None):
        n = len(seen["started"]) + 1
        state = server.ServerState(
            pid=1000 + n,
            port=5000 + n,
            endpoint=f"http://127.0.0.1:{5000 + n}",
            started_at=0.0,
            log_path=str(tmp_path / "moto.log"),
        )
        seen["started"].append(state.endpoint)
        return state

    def stop(state_dir=None):
        seen["stopped"] += 1

    def run(workdir, args, **kw):
        vars_text = (tmp_path / "sandbox.tfvars.json").read_text()
        seen["applies"].append(vars_text)
        if seen["failures"]:
            raise OpsError(seen["failures"].pop(0))
        return ""

    monkeypatch.setattr(server, "running", lambda state_dir=None: seen.get("running"))
    monkeypatch.setattr(server, "start", start)
    monkeypatch.setattr(server, "stop", stop)
    monkeypatch.setattr(deploy.tf, "terraform_binary", lambda: "terraform")
    monkeypatch.setattr(deploy.tf, "init", lambda *a, **k: None)
    monkeypatch.setattr(deploy.tf, "run", run)
    monkeypatch.setattr(deploy, "build_zip", lambda *a, **k: "sha")
    monkeypatch.setattr(deploy.Workspace, "outputs", lambda self: {"region": "us-east-1"})
    monkeypatch.setattr(deploy, "check_iot_rules", lambda *a: None)
    return seen


def test_a_create_sent_twice_on_a_new_server_starts_over_once_and_says_so(fake, tmp_path):
    fake["failures"] = [TWICE]
    said: list[str] = []
    result = deploy.up(state_dir=tmp_path, progress=said.append)
    assert fake["started"] == ["http://127.0.0.1:5001", "http://127.0.0.1:5002"] and fake["stopped"] == 1
    assert "5001" in fake["applies"][0] and "5002" in fake["applies"][1]  # the second apply targets the new server
    assert result.endpoint == "http://127.0.0.1:5002"
    assert any("sent twice (AlreadyExistsException)" in line and "starting over" in line for line in said)


def test_it_starts_over_only_once(fake, tmp_path):
    fake["failures"] = [TWICE, TWICE]
    with pytest.raises(OpsError, match="AlreadyExistsException"):
        deploy.up(state_dir=tmp_path)
    assert len(fake["applies"]) == 2


def test_other_failures_and_a_reused_server_are_never_retried(fake, tmp_path):
    fake["failures"] = ["terraform apply failed (exit 1)\n  Error: InvalidParameterValueException: bad runtime"]
    with pytest.raises(OpsError, match="bad runtime"):
        deploy.up(state_dir=tmp_path)
    assert len(fake["applies"]) == 1 and fake["stopped"] == 0

    # A server that was already up may hold what the user made: "already exists" there is theirs to see.
    fake["running"] = server.ServerState(
        pid=1, port=5999, endpoint="http://127.0.0.1:5999", started_at=0.0, log_path=str(tmp_path / "moto.log")
    )
    fake["failures"] = [TWICE]
    with pytest.raises(OpsError, match="AlreadyExistsException"):
        deploy.up(state_dir=tmp_path)
    assert fake["stopped"] == 0
