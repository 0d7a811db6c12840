"""The e2e modules' sandbox.

Under pytest-xdist (`make test`: `-n N --dist loadgroup`) each worker is a process of its own with its own
session, so each worker brings up its own sandbox, lazily, when it runs its first e2e module; a worker runs one
module at a time (each module is an xdist_group of its own), so modules that share a worker's sandbox never run at
the same time. Every module is order-independent: it writes devices of its own, counts only its own keys (or
counts before and after), and processes whatever earlier modules left on the stream before it measures a run.
The drill has a sandbox of its own (its alarms, faults and catch-up belong to it); the IAM module shares the
worker's and puts back the grant it removes."""

import pytest

from .sandbox_harness import start, stop_dir

# The state the modules need from the first apply on: the readings table PROVISIONED 5/5 through the local
# environment's variables (what test_capacity_sandbox.py's capacity --apply starts from), instead of a second
# `sandbox up` in the middle of the session to switch it.
SESSION_VARIABLES = {"table_billing_mode": "PROVISIONED", "table_read_capacity": 5, "table_write_capacity": 5}


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """One sandbox for the worker's session (an apply takes a minute or two), torn down at the end,
    also when bringing it up failed half way (no moto server is left behind)."""
    state_dir = tmp_path_factory.mktemp("sandbox")
    try:
        yield start(state_dir, SESSION_VARIABLES)
    finally:
        stop_dir(state_dir)
