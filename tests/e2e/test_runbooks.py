"""Every `$ ` line in a runbook's ```console block really runs against the sandbox, in the state the
page describes (so a renamed flag breaks the build, not an incident)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# One worker runs every page, in ORDER, on one sandbox (pytest-xdist would otherwise spread the pages).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-runbooks")]

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"
# Pages whose state is made by an earlier page run first: sandbox.md sends the poison that poison-records.md reads.
ORDER = ["sandbox.md", "poison-records.md", "iterator-age.md"]
_BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)
# `# exit 1` expects that code; `# exit 0-3` accepts a range (e.g. a check whose answer depends on live metrics).
_EXIT = re.compile(r"\s+# exit (\d+)(?:-(\d+))?\s*$")


def console_commands(page: Path) -> list[tuple[str, range]]:
    """(command, accepted exit codes) for every `$ ` line of the page's console blocks."""
    commands = []
    for block in _BLOCK.findall(page.read_text()):
        for line in block.splitlines():
            if line.startswith("$ "):
                cmd = line[2:]
                m = _EXIT.search(cmd)
                low = int(m.group(1)) if m else 0
                high = int(m.group(2)) if m and m.group(2) else low
                commands.append((_EXIT.sub("", cmd), range(low, high + 1)))
    return commands


def pages() -> list[Path]:
    found = sorted(
        RUNBOOKS.glob("*.md"), key=lambda p: (ORDER.index(p.name) if p.name in ORDER else len(ORDER), p.name)
    )
    return [p for p in found if console_commands(p)]


def test_every_runbook_with_procedures_has_commands():
    assert {p.name for p in pages()} >= {"sandbox.md", "poison-records.md"}


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_runbook_commands_run(sandbox, page):
    env = {**sandbox.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for cmd, expected in console_commands(page):
        proc = subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert "Traceback" not in proc.stderr, f"{page.name}: {cmd}\n{proc.stderr}"
        assert proc.returncode in expected, (
            f"{page.name}: `{cmd}` exited {proc.returncode}, expected "
            f"{list(expected)}\n{proc.stderr}\n{proc.stdout[-2000:]}"
        )
