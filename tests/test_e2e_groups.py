"""Every e2e module is an xdist_group of its own (`make test` runs with --dist loadgroup): pytest-xdist then runs
the module on one worker, against that worker's sandbox, one module at a time, and its module-scoped fixtures
(traffic sent once, a sandbox of its own) run once instead of once per worker its tests were spread over."""

from __future__ import annotations

import re
from pathlib import Path

E2E = Path(__file__).resolve().parent / "e2e"
GROUP = re.compile(r'^pytestmark = \[.*pytest\.mark\.xdist_group\("([\w-]+)"\).*\]$', re.M)


def test_every_e2e_module_is_a_group_of_its_own():
    groups = {}
    for path in sorted(E2E.glob("test_*.py")):
        m = GROUP.search(path.read_text())
        assert m, f"{path.name}: pytestmark needs pytest.mark.xdist_group(...)"
        groups.setdefault(m.group(1), []).append(path.name)
    assert len(groups) >= 9
    assert {g: names for g, names in groups.items() if len(names) > 1} == {}


def test_the_tests_of_a_group_run_on_one_worker(tmp_path):
    """The suite's collection hook (tests/conftest.py) under `-n 2 --dist loadgroup`, on a module of four grouped
    tests that each write down their worker: one worker ran all four (pytest 9 + xdist 3.8 spread them over both)."""
    import subprocess
    import sys

    (tmp_path / "conftest.py").write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('suite_conftest', {str(E2E.parent / 'conftest.py')!r})\n"
        "suite = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(suite)\n"
        "pytest_collection_modifyitems = suite.pytest_collection_modifyitems\n"
    )
    (tmp_path / "test_grouped.py").write_text(
        "import os, time, pathlib, pytest\n"
        "pytestmark = pytest.mark.xdist_group('one')\n"
        "@pytest.mark.parametrize('i', range(4))\n"
        "def test_i(i):\n"
        "    time.sleep(0.3)\n"
        "    pathlib.Path(f'ran-{i}').write_text(os.environ['PYTEST_XDIST_WORKER'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider", "-rA"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workers = {(tmp_path / f"ran-{i}").read_text() for i in range(4)}
    assert len(workers) == 1, workers
    assert "test_i[0]@one" in proc.stdout


def _prestart_project(tmp_path: Path) -> None:
    """A project with the suite's hooks, a session `sandbox` fixture like tests/e2e/conftest.py's whose SESSION
    writes down when it was begun, a unit test, an e2e test on the session sandbox and one with its own."""
    (tmp_path / "conftest.py").write_text(
        "import importlib.util, pathlib, pytest\n"
        f"spec = importlib.util.spec_from_file_location('suite_conftest', {str(E2E.parent / 'conftest.py')!r})\n"
        "suite = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(suite)\n"
        "pytest_runtest_protocol = suite.pytest_runtest_protocol\n"
        "pytest_sessionfinish = suite.pytest_sessionfinish\n"
        "class Recorder:\n"
        "    def begin(self, tmp_path_factory):\n"
        "        log = pathlib.Path('log.txt')\n"
        "        if 'begun' not in log.read_text():\n"
        "            log.write_text(log.read_text() + 'begun\\n')\n"
        "    def get(self, tmp_path_factory):\n"
        "        self.begin(tmp_path_factory)\n"
        "        return 'the session sandbox'\n"
        "    def stop(self):\n"
        "        log = pathlib.Path('log.txt')\n"
        "        log.write_text(log.read_text() + 'stopped\\n')\n"
        "SESSION = Recorder()\n"
        "@pytest.fixture(scope='session')\n"
        "def sandbox(tmp_path_factory):\n"
        "    yield SESSION.get(tmp_path_factory)\n"
    )
    test = (
        "import pathlib, pytest\n"
        "def note(s):\n    p = pathlib.Path('log.txt'); p.write_text(p.read_text() + s + '\\n')\n"
    )
    (tmp_path / "test_a_unit.py").write_text(test + "def test_unit():\n    note('unit')\n")
    (tmp_path / "test_b_e2e.py").write_text(test + "def test_e2e(sandbox):\n    note('e2e')\n")
    (tmp_path / "test_c_own.py").write_text(
        test + "@pytest.fixture(scope='module')\ndef sandbox():\n    return 'its own'\n"
        "def test_own(sandbox):\n    note('own')\n"
    )
    (tmp_path / "log.txt").write_text("")


def test_the_session_sandbox_comes_up_in_the_background_from_a_first_test_that_needs_none(tmp_path):
    """tests/conftest.py's hook at the worker's first test: it begins the session sandbox before a unit test runs
    (so its apply overlaps that test), never for a session without e2e modules on it, and not when the first test
    has a sandbox of its own (the drill's worker may never need the session one)."""
    import subprocess
    import sys

    def run(*files: str) -> list[str]:
        _prestart_project(tmp_path)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return (tmp_path / "log.txt").read_text().split()

    assert run("test_a_unit.py", "test_b_e2e.py") == ["begun", "unit", "e2e", "stopped"]
    assert run("test_a_unit.py") == ["unit"]
    assert run("test_c_own.py", "test_b_e2e.py") == ["own", "begun", "e2e", "stopped"]
