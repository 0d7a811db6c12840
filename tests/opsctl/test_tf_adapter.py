"""The python-terraform adapter: outputs as plain values, and clear errors for every way it can go wrong."""

import shutil
import time

import pytest

from opsctl.core import tf
from opsctl.core.errors import OpsError

pytestmark = pytest.mark.skipif(
    shutil.which("terraform") is None, reason="terraform is a documented prerequisite; CI has it"
)


def _root(tmp_path, body):
    (tmp_path / "main.tf").write_text(body)
    return tmp_path


def test_outputs_are_plain_values_after_apply(tmp_path):
    root = _root(tmp_path, 'output "stream_name" {\n  value = "telemetry-x"\n}\noutput "shards" {\n  value = 4\n}\n')
    tf.run(root, ["apply", "-auto-approve", "-input=false", "-no-color"], timeout=60)
    assert tf.outputs(root) == {"stream_name": "telemetry-x", "shards": 4}


def test_no_state_is_a_clear_error(tmp_path):
    root = _root(tmp_path, 'output "x" {\n  value = 1\n}\n')
    with pytest.raises(OpsError, match="no Terraform outputs"):
        tf.outputs(root)


def test_missing_binary_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TERRAFORM", "no-such-terraform")
    with pytest.raises(OpsError, match="terraform not found"):
        tf.outputs(tmp_path)


def test_failed_command_carries_terraform_message(tmp_path):
    root = _root(tmp_path, 'output "x" {\n  value = undefined_thing\n}\n')
    with pytest.raises(OpsError, match=r"terraform apply failed \(exit 1\).*"):
        tf.run(root, ["apply", "-auto-approve", "-input=false", "-no-color"], timeout=60)


def test_timeout_is_a_clear_error(tmp_path):
    root = _root(tmp_path, 'output "x" {\n  value = 1\n}\n')
    with pytest.raises(OpsError, match="did not finish within"):
        tf.run(root, ["apply", "-auto-approve", "-input=false"], timeout=0.01)


def test_unknown_environment_lists_known_ones():
    with pytest.raises(OpsError) as exc:
        tf.env_dir("staging")
    assert "known environments" in exc.value.line() and "local" in exc.value.line()


def test_outputs_are_read_again_only_when_the_state_changes(tmp_path, monkeypatch):
    root = _root(tmp_path, 'variable "n" {\n  default = 1\n}\noutput "shards" {\n  value = var.n\n}\n')
    tf.run(root, ["apply", "-auto-approve", "-input=false", "-no-color"], timeout=60)
    monkeypatch.setattr(tf, "BUILD_DIR", tmp_path / "build")
    assert tf.outputs(root) == {"shards": 1}
    calls = []
    real = tf._terraform_outputs
    monkeypatch.setattr(tf, "_terraform_outputs", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert tf.outputs(root) == {"shards": 1} and calls == []  # same state: the cache answers
    tf.run(root, ["apply", "-auto-approve", "-input=false", "-no-color", "-var", "n=4"], timeout=60)
    assert tf.outputs(root) == {"shards": "4"} and len(calls) == 1  # a new state: terraform is asked again


def test_a_remote_backend_is_never_cached(tmp_path):
    data = tmp_path / ".terraform"
    data.mkdir()
    (data / "terraform.tfstate").write_text('{"backend": {"type": "s3", "config": {"bucket": "b"}}}')
    (tmp_path / "terraform.tfstate").write_text("{}")  # a stray local file must not be taken for the state
    assert tf._local_state_file(tmp_path, None, {}) is None


def _stand_in(tmp_path, monkeypatch, script: str) -> None:
    """A `terraform` that is a shell script (TERRAFORM names it): its child stands for a provider plugin."""
    binary = tmp_path / "terraform"
    binary.write_text("#!/bin/sh\n" + script)
    binary.chmod(0o755)
    monkeypatch.setenv("TERRAFORM", str(binary))


def _alive(pid: int) -> bool:
    from opsctl.sandbox.server import pid_alive

    return pid_alive(pid)


def test_abort_when_stops_terraform_and_its_children_with_the_reason(tmp_path, monkeypatch):
    _stand_in(tmp_path, monkeypatch, f"sleep 300 & echo $! > {tmp_path}/child\nwait\n")
    asked: list[int] = []

    def abort_when():
        asked.append(1)
        return "the server refused a retried create" if len(asked) >= 2 else None

    with pytest.raises(tf.Aborted, match="terraform apply stopped: the server refused a retried create"):
        tf.run(tmp_path, ["apply"], timeout=120, what="terraform apply", abort_when=abort_when)
    assert len(asked) == 2  # asked once a second, stopped on the first reason
    child = int((tmp_path / "child").read_text())
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.1)
    assert not _alive(child)  # the "provider" went with terraform: nothing is left applying to a dead server


def test_abort_when_that_never_answers_lets_terraform_finish_or_time_out(tmp_path, monkeypatch):
    _stand_in(tmp_path, monkeypatch, "sleep 1.5; echo applied\n")
    assert tf.run(tmp_path, ["apply"], timeout=60, abort_when=lambda: None).strip() == "applied"
    _stand_in(tmp_path, monkeypatch, "sleep 30\n")
    with pytest.raises(OpsError, match="did not finish within 2 s"):
        tf.run(tmp_path, ["apply"], timeout=2, abort_when=lambda: None)
