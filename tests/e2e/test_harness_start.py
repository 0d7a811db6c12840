"""The e2e harness starts a sandbox over once, and only when the apply failed on a create the provider sent twice
(the moto server's `sdk retry` line of a refused retry, as CI printed it on 2026-12-03)."""

from __future__ import annotations

import pytest

from . import sandbox_harness

# Not an e2e test (no sandbox: the harness's own logic, with its sandbox calls stubbed), but every module here is an
# xdist group of its own (tests/test_e2e_groups.py).
pytestmark = [pytest.mark.xdist_group("e2e-harness-start")]

SEEN = (
    "opsctl sandbox up --output json exited 1:\nerror: terraform apply failed (exit 1): Error: creating KMS Alias "
    "(alias/telemetry-local): ... AlreadyExistsException ...\nmoto.log, last lines:\n"
    "sdk retry: attempt 2 of invocation 18d83441-d6bd-42df-b01b-f8ee8d78ac98 (TrentService.CreateAlias) at 12:59:26 "
    "answered 400\n"
    "sdk retry: attempt 2 of invocation c56fa72d-df5a-493f-a203-1a0c3610d946 (POST / HTTP/1.1) at 13:00:20 answered 200"
)


@pytest.fixture
def attempts(monkeypatch, tmp_path):
    calls: list[str] = []
    failures: list[str] = []

    def fake_start(state_dir, variables=None, environ=None):
        calls.append(state_dir.name)
        if failures:
            raise AssertionError(failures.pop(0))
        return "a sandbox"

    monkeypatch.setattr(sandbox_harness, "_start", fake_start)
    monkeypatch.setattr(sandbox_harness, "stop_dir", lambda state_dir: calls.append("down"))
    return calls, failures


def test_a_create_sent_twice_starts_the_sandbox_over_once(attempts, tmp_path):
    calls, failures = attempts
    failures.append(SEEN)
    assert sandbox_harness.start(tmp_path / "s") == "a sandbox"
    assert calls == ["s", "down", "s"]


def test_anything_else_and_a_second_time_fail_the_test(attempts, tmp_path):
    calls, failures = attempts
    failures.append("opsctl sandbox up exited 1: InvalidParameterValueException\nsdk retry: ... answered 200")
    with pytest.raises(AssertionError, match="InvalidParameterValue"):
        sandbox_harness.start(tmp_path / "s")
    assert calls == ["s"]
    calls.clear()
    failures += [SEEN, SEEN]
    with pytest.raises(AssertionError, match="AlreadyExists"):
        sandbox_harness.start(tmp_path / "s")
    assert calls == ["s", "down", "s"]
