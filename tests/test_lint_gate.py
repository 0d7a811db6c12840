"""`make test` and `make test-unit` pass the lint gate before any test runs: ruff check, ruff format --check and
mypy (configured in pyproject.toml), each at zero findings. `make -n` prints the recipes without running them."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GATE = ("ruff check", "ruff format --check", "mypy")


def _recipe_lines(target: str) -> list[str]:
    proc = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.mark.parametrize("target", ["test", "test-unit"])
def test_every_test_target_runs_the_whole_lint_gate_before_pytest(target):
    lines = _recipe_lines(target)
    pytest_at = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    for command in GATE:
        at = [i for i, line in enumerate(lines) if line.split("/")[-1].startswith(command)]
        assert at, f"make {target} does not run `{command}`:\n" + "\n".join(lines)
        assert at[0] < pytest_at, f"make {target} runs `{command}` after pytest"


def test_mypy_checks_both_code_folders_with_every_body_checked():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert sorted(config["files"]) == ["functions", "opsctl"]
    assert config["check_untyped_defs"] is True
    assert not config.get("ignore_errors") and not config.get("ignore_missing_imports")  # only per module
