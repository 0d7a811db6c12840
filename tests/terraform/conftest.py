"""Shared by the Terraform tests: where the provider comes from on this machine."""

from __future__ import annotations

import os
import subprocess

import pytest

from opsctl.core.project import ROOT


@pytest.fixture(scope="session")
def plugin_dir() -> str | None:
    """$TF_PLUGIN_DIR, else the provider mirror `.ci/find-tf-mirror` finds (offline machines), else None (the
    registry)."""
    if os.environ.get("TF_PLUGIN_DIR"):
        return os.environ["TF_PLUGIN_DIR"]
    found = subprocess.run(
        [str(ROOT / ".ci" / "find-tf-mirror")], capture_output=True, text=True, timeout=60
    ).stdout.strip()
    return found or None
