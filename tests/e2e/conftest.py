"""The e2e modules' sandbox.

Under pytest-xdist (`make test`: `-n N --dist loadgroup`) each worker is a process of its own with its own
session, so each worker brings up its own sandbox: in the background from its first test when that test needs no
sandbox (tests/conftest.py; the apply's waits overlap the worker's other tests), otherwise when it runs its first
e2e module. A worker runs one module at a time (each module is an xdist_group of its own), so modules that share a
worker's sandbox never run at the same time. Every module is order-independent: it writes devices of its own,
counts only its own keys (or counts before and after), and processes whatever earlier modules left on the stream
before it measures a run. The drill has a sandbox of its own (its alarms, faults and catch-up belong to it); the
IAM module shares the worker's and puts back the grant it removes."""

import pytest

from .sandbox_harness import SESSION


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """One sandbox for the worker's session (an apply takes a minute or two; it may already be coming up in the
    background: sandbox_harness.SessionSandbox), torn down at the end, also when bringing it up failed half way
    (no moto server is left behind)."""
    try:
        yield SESSION.get(tmp_path_factory)
    finally:
        SESSION.stop()
