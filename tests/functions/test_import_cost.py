"""Importing the handler costs boto3 and a few modules of our own: no other packages, no clients, no I/O.

Times are the bench's business (tests/bench/handler_bench.py); this pins what gets imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
OWN_PACKAGES = {p.name for p in FUNCTIONS.iterdir() if (p / "__init__.py").exists()}


def imported_after_boto3(statement: str) -> list[str]:
    """Module names `statement` imports in a fresh interpreter that has already imported boto3."""
    env = {**os.environ, "PYTHONPATH": str(FUNCTIONS)}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import boto3; {statement}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    names, after_boto3 = [], False
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        name = line.rsplit("|", 1)[1]
        if after_boto3:
            names.append(name.strip())
        elif name == " boto3":  # top level, unindented: the end of `import boto3`
            after_boto3 = True
    assert after_boto3, proc.stderr[-2000:]
    return names


def test_the_handler_imports_only_the_standard_library_and_our_own_modules_beyond_boto3():
    names = imported_after_boto3("import ingest.handler")
    assert "ingest.handler" in names
    foreign = [n for n in names if n.split(".")[0] not in sys.stdlib_module_names | OWN_PACKAGES]
    assert foreign == []


def test_importing_the_handler_creates_no_client_and_opens_no_connection():
    code = (
        "import boto3, socket, sys\n"
        "calls = []\n"
        "boto3.session.Session.client = lambda *a, **k: calls.append('client')\n"
        "boto3.client = lambda *a, **k: calls.append('client')\n"
        "socket.socket.connect = lambda *a, **k: calls.append('connect')\n"
        "import ingest.handler\n"
        "print(calls)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(FUNCTIONS)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_functions_is_the_zip_root_not_a_package():
    assert not (FUNCTIONS / "__init__.py").exists()
    assert {"ingest", "common"} <= OWN_PACKAGES


def test_the_handler_string_resolves_from_the_built_zip(tmp_path):
    from opsctl.core.packaging import build_zip

    zip_path = tmp_path / "functions.zip"
    build_zip(FUNCTIONS, zip_path)
    code = (
        "import importlib; m = importlib.import_module('ingest.handler'); assert callable(m.handler); print(m.__file__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(zip_path)},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert str(zip_path) in proc.stdout
