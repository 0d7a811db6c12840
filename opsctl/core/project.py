"""Where the project's own files live, so commands work from any directory."""

import os
from pathlib import Path

ROOT = Path(os.environ.get("OPSCTL_PROJECT_DIR") or Path(__file__).resolve().parents[2])
FUNCTIONS_DIR = ROOT / "functions"
TERRAFORM_DIR = ROOT / "terraform"
ENVS_DIR = TERRAFORM_DIR / "envs"
BUILD_DIR = ROOT / "build"
FUNCTIONS_ZIP = BUILD_DIR / "functions.zip"
DEFAULT_SANDBOX_DIR = ROOT / ".sandbox"
# Tests and parallel rehearsals set OPSCTL_SANDBOX_DIR to get a sandbox of their own
# (see opsctl.sandbox.deploy.Workspace).
SANDBOX_DIR = Path(os.environ.get("OPSCTL_SANDBOX_DIR") or DEFAULT_SANDBOX_DIR)
