"""`opsctl sandbox up`'s one recovery: an apply on a server no apply has touched yet (started by `up` itself, or by
the e2e harness just before) that the server's log shows sending a create twice, or that meets "already exists",
is stopped and starts over once on a new server; anything else is the user's to see."""

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
    seen: dict = {"started": [], "stopped": 0, "applies": [], "failures": [], "logged": [], "watched": []}

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

    def run(workdir, args, *, abort_when=None, **kw):
        vars_text = (tmp_path / "sandbox.tfvars.json").read_text()
        seen["applies"].append(vars_text)
        seen["watched"].append(abort_when is not None)
        if seen["logged"]:  # what the server logs while this apply runs; tf.run asks abort_when once a second
            with open(tmp_path / "moto.log", "a") as log:
                log.write("".join(line + "\n" for line in seen["logged"]))
            seen["logged"].clear()
            reason = abort_when() if abort_when else None
            if reason:
                raise deploy.tf.Aborted(f"terraform apply stopped: {reason}")
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

    # A server that was already up and applied to may hold what the user made: "already exists" there is theirs.
    fake["running"] = _up_already(tmp_path, applied=True)
    fake["failures"] = [TWICE]
    with pytest.raises(OpsError, match="AlreadyExistsException"):
        deploy.up(state_dir=tmp_path)
    assert fake["stopped"] == 0


REFUSED = "sdk retry: attempt 2 of invocation 3f2a (Kinesis_20131202.CreateStream) at 12:59:21 answered 400"


def test_a_refused_retry_in_the_log_stops_the_apply_at_once_and_starts_over(fake, tmp_path):
    """The drill's apply once waited 600 s on a 409'd CreateFunction: the log's line ends it without waiting."""
    (tmp_path / "moto.log").write_text(REFUSED.replace("12:59:21", "09:00:00") + "  (an older server's line)\n")
    fake["logged"] = ["GET / 200", REFUSED]
    said: list[str] = []
    result = deploy.up(state_dir=tmp_path, progress=said.append)
    assert result.endpoint == "http://127.0.0.1:5002" and fake["stopped"] == 1
    assert fake["watched"] == [True, False]  # the second apply is never stopped: its failure is shown as it is
    assert any(
        "sent Kinesis_20131202.CreateStream twice and the server refused the second (400)" in line
        and "starting over" in line
        for line in said
    )


def test_a_line_logged_before_the_apply_or_an_accepted_retry_stops_nothing(fake, tmp_path):
    (tmp_path / "moto.log").write_text(REFUSED + "\n")  # before this apply began: not its evidence
    fake["logged"] = [REFUSED.replace("answered 400", "answered 200")]
    deploy.up(state_dir=tmp_path)
    assert len(fake["applies"]) == 1 and fake["stopped"] == 0


def _up_already(tmp_path, *, applied: bool) -> server.ServerState:
    return server.ServerState(
        pid=1,
        port=5999,
        endpoint="http://127.0.0.1:5999",
        started_at=0.0,
        log_path=str(tmp_path / "moto.log"),
        applied=applied,
    )


def test_a_server_started_just_before_up_is_started_over_too_and_keeps_its_variables(fake, tmp_path):
    """The e2e harness starts the server itself and writes the module's variables before `up`: on that server's
    first apply the same evidence starts over, and the variables survive it."""
    fake["running"] = _up_already(tmp_path, applied=False)
    (tmp_path / "opsctl.tfvars.json").write_text('{"stream_shard_count": 2}')
    fake["logged"] = [REFUSED]
    result = deploy.up(state_dir=tmp_path)
    assert result.endpoint == "http://127.0.0.1:5001" and fake["stopped"] == 1
    assert (tmp_path / "opsctl.tfvars.json").read_text() == '{"stream_shard_count": 2}'


def test_a_server_an_apply_has_touched_or_with_resources_in_its_state_is_never_started_over(fake, tmp_path):
    fake["running"] = _up_already(tmp_path, applied=True)
    fake["logged"] = [REFUSED]
    fake["failures"] = [TWICE]
    with pytest.raises(OpsError, match="AlreadyExistsException"):
        deploy.up(state_dir=tmp_path)
    assert fake["stopped"] == 0 and fake["watched"] == [False]

    fake["running"] = _up_already(tmp_path, applied=False)
    (tmp_path / "terraform.tfstate").write_text('{"resources": [{"type": "aws_kinesis_stream"}]}')
    fake["failures"] = [TWICE]
    with pytest.raises(OpsError, match="AlreadyExistsException"):
        deploy.up(state_dir=tmp_path)
    assert fake["stopped"] == 0


def test_up_records_that_an_apply_began_on_its_server(fake, tmp_path, monkeypatch):
    saved: list[bool] = []
    monkeypatch.setattr(server.ServerState, "save", lambda self, state_dir=None: saved.append(self.applied))
    deploy.up(state_dir=tmp_path)
    assert saved == [True]  # before the apply: a second `up` on this server never starts it over
