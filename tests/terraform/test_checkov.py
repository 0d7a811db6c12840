"""checkov finds nothing wrong in terraform/; every exception is an inline, reasoned skip in the resource."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from opsctl.core.project import ROOT, TERRAFORM_DIR

SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z0-9_]+)(?::(.*))?")


def _checkov() -> str:
    path = os.environ.get("CHECKOV")
    assert path, "CHECKOV is not set: run `make test` (it builds the checkov venv and points CHECKOV at it)"
    assert Path(path).is_file(), f"CHECKOV={path} does not exist: run `make test` (it builds the checkov venv)"
    return path


def test_checkov_finds_no_failed_check():
    proc = subprocess.run(
        [_checkov(), "-d", "terraform", "--framework", "terraform", "-o", "json", "--quiet", "--compact"],
        cwd=ROOT,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.stdout.strip(), f"checkov printed nothing (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert any(r.get("check_type") == "terraform" for r in reports), (
        f"checkov scanned no Terraform:\n{proc.stdout[:1000]}"
    )
    failed = [
        (c["check_id"], c["resource"], c["file_path"], c.get("check_name", ""))
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    parsing = [e for r in reports for e in r.get("results", {}).get("parsing_errors", [])] + [
        r["summary"] for r in reports if r.get("summary", {}).get("parsing_errors")
    ]
    assert not parsing, f"checkov could not parse: {parsing}"
    assert not failed, "checkov failed checks:\n" + "\n".join(
        f"  {cid} {res} ({path}): {name}" for cid, res, path, name in failed
    )


def test_every_checkov_skip_is_inline_with_a_reason():
    skips = []
    for tf_file in sorted(TERRAFORM_DIR.rglob("*.tf")):
        if ".terraform" in tf_file.parts:
            continue
        for lineno, line in enumerate(tf_file.read_text().splitlines(), 1):
            m = SKIP_COMMENT.search(line)
            if m:
                skips.append((tf_file.relative_to(ROOT), lineno, m.group(1), (m.group(2) or "").strip()))
    unreasoned = [s for s in skips if len(s[3]) < 20]
    assert not unreasoned, "checkov skips need a real reason after the colon:\n" + "\n".join(
        f"  {p}:{n} {cid}" for p, n, cid, _ in unreasoned
    )
