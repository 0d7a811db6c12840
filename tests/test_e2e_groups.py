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
