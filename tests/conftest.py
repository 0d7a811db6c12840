"""Test-wide set-up: the Lambda sources are not an installed package, so put them on the path
the way Lambda does (the zip's root is `functions/`)."""

import os
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))

# No test may reach a real AWS account by accident.
for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(var, None)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# Terraform's update check (checkpoint) would try the closed network on every terraform the tests run, ~3 s each
# (opsctl's own calls already turn it off: opsctl/core/tf.py).
os.environ.setdefault("CHECKPOINT_DISABLE", "1")

# moto's response serializer with its attribute-name lookups remembered, as the sandbox's server runs it: the same
# answers (tests/opsctl/test_moto_serialize.py), faster for large responses (a long rollup range: 6.7 s -> 4.7 s).
from opsctl.sandbox import moto_serialize  # noqa: E402

moto_serialize.install()


@pytest.fixture(scope="module")
def moto_server():
    """A moto server of the module's own on a free localhost port (a real HTTP endpoint, as the sandbox serves),
    stopped when the module ends. Tests take `moto_endpoint`, which resets it first."""
    from moto.server import ThreadedMotoServer

    from opsctl.sandbox.server import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_endpoint(moto_server) -> str:
    """The module's moto server, emptied of what earlier tests made (moto's own reset API)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).read()
    return moto_server


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """The longest xdist groups first (LONGEST_GROUPS): the drill is minutes of waiting on CloudWatch windows with
    little CPU, so it starts on a worker of its own while the others take the CPU-bound rest.

    The group also carries tests/opsctl/test_monitors.py: a pytest-xdist worker holds back the last test it was sent
    until it gets another or the run ends (it needs the next item to run fixture teardown), so a group of one test
    would wait for the end of the run before it even started."""
    items.sort(key=_longest_first)
    _keep_groups_together(config, items)


def _keep_groups_together(config, items) -> None:
    """`--dist loadgroup` sends the tests of one xdist_group to one worker by the `@group` suffix pytest-xdist puts
    on their node ids, by assigning `item._nodeid`. pytest 9 keeps the id in `item._id` (a NodeId), so xdist 3.8's
    assignment does nothing and every group's tests were spread over the workers: module fixtures set up on each
    worker, and two modules at once on one worker's sandbox, which the e2e harness assumes never happens.
    tests/test_e2e_groups.py checks the suffix is there. Where xdist's own assignment works, this does nothing."""
    if not config.getoption("loadgroup", default=False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        groups = sorted(
            {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
        )
        if groups and "@" not in item.nodeid.rpartition("]")[2]:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")


# The xdist groups that take longest, longest first (seconds of one clean-clone run): the drill (~660 s, mostly
# waiting), the table-switch module (~610 s of Terraform applies and plans, run one after another). Started last,
# the table-switch group was the run's tail: it began when the other e2e groups had finished and ran alone at the
# end. Every other item keeps its collection order (a stable sort), the short unit tests filling in at the end.
LONGEST_GROUPS = ("drill", "e2e-table-switch")


def _longest_first(item) -> int:
    for marker in item.iter_markers("xdist_group"):
        if marker.args and marker.args[0] in LONGEST_GROUPS:
            return LONGEST_GROUPS.index(marker.args[0])
    return len(LONGEST_GROUPS)
