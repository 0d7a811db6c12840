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
