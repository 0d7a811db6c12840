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
    little CPU, so it starts on a worker of its own while the others take the CPU-bound rest; then the tests that
    cover the third worker's sandbox apply (WHILE_THE_SANDBOX_COMES_UP).

    The group also carries tests/opsctl/test_monitors.py: a pytest-xdist worker holds back the last test it was sent
    until it gets another or the run ends (it needs the next item to run fixture teardown), so a group of one test
    would wait for the end of the run before it even started."""
    items.sort(key=_longest_first)
    _keep_groups_together(config, items)


_SEEN_FIRST_TEST = False


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """At the worker's first test: when this session has e2e modules on the session sandbox and that first test
    needs no sandbox (the Terraform checks, the table-switch module with its own moto server), begin the session
    sandbox's `sandbox up` in the background (tests/e2e/sandbox_harness.py SessionSandbox). Its minute and a half
    is mostly the AWS provider polling moto; the worker's tests run meanwhile, and its first e2e module finds the
    sandbox up. Not when the first test has a sandbox of its own (the drill): that worker may never need one."""
    global _SEEN_FIRST_TEST
    if not _SEEN_FIRST_TEST:
        _SEEN_FIRST_TEST = True
        users = [i for i in item.session.items if _sandbox_scope(i) == "session"]
        if users and _sandbox_scope(item) is None:
            session_sandbox = _sandbox_fixturedef(users[0]).func.__globals__["SESSION"]
            session_sandbox.begin(item.config._tmp_path_factory)


def pytest_sessionfinish(session):
    """A session sandbox begun in the background that no module asked for is torn down too."""
    for item in session.items:
        if _sandbox_scope(item) == "session":
            _sandbox_fixturedef(item).func.__globals__["SESSION"].stop()
            return


def _sandbox_fixturedef(item):
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.get("sandbox") if info is not None else None
    return defs[-1] if defs else None


def _sandbox_scope(item) -> str | None:
    """ "session" for a test on the worker's session sandbox, "module" for one with a sandbox of its own, else None."""
    fixturedef = _sandbox_fixturedef(item)
    return fixturedef.scope if fixturedef is not None else None


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


# The xdist groups that take longest, longest first (seconds of one clean-clone run): the drill (~570 s with its
# sandbox's apply, mostly waiting), the table-switch module (~240 s of Terraform applies and plans). Started last,
# the table-switch group was the run's tail: it began when the other e2e groups had finished and ran alone at the
# end.
LONGEST_GROUPS = ("drill", "e2e-table-switch")
# Then the tests under these folders: the third worker's first tests, ~100 s of Terraform checks (about one
# sandbox apply), while its session sandbox comes up in the background (pytest_runtest_protocol above), so it
# starts its e2e modules without waiting. Every other item keeps its collection order (a stable sort), the short
# unit tests filling in at the end.
WHILE_THE_SANDBOX_COMES_UP = ("tests/terraform/",)


def _longest_first(item) -> int:
    for marker in item.iter_markers("xdist_group"):
        if marker.args and marker.args[0] in LONGEST_GROUPS:
            return LONGEST_GROUPS.index(marker.args[0])
    if item.nodeid.startswith(WHILE_THE_SANDBOX_COMES_UP):
        return len(LONGEST_GROUPS)
    return len(LONGEST_GROUPS) + 1
