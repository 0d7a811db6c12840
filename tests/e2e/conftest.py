import pytest

from .sandbox_harness import start, stop_dir


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """One sandbox for the whole session (an apply takes a minute or two), torn down at the end,
    also when bringing it up failed half way (no moto server is left behind)."""
    state_dir = tmp_path_factory.mktemp("sandbox")
    try:
        yield start(state_dir)
    finally:
        stop_dir(state_dir)
