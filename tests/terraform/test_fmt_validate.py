"""Every Terraform file is formatted, and every environment root initialises and validates offline."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from opsctl.core import tf
from opsctl.core.project import TERRAFORM_DIR

ENVS = ("local", "dev", "prod")


def _terraform(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tf.terraform_binary(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_every_terraform_file_is_formatted():
    proc = _terraform(
        ["fmt", "-check", "-recursive", "-no-color", str(TERRAFORM_DIR)], TERRAFORM_DIR, tf.cli_environment()
    )
    assert proc.returncode == 0, (
        "terraform fmt would change these files (run `terraform fmt -recursive "
        f"terraform/`):\n{proc.stdout}{proc.stderr}"
    )


@pytest.mark.parametrize("env_name", ENVS)
def test_environment_root_initialises_and_validates(env_name: str, tmp_path: Path, plugin_dir: str | None):
    workdir = TERRAFORM_DIR / "envs" / env_name
    assert (workdir / "main.tf").is_file(), f"no root module at {workdir}"
    # A data dir of the test's own: the repository's .terraform (and a running sandbox's) stay untouched.
    env = {**tf.cli_environment(), "TF_DATA_DIR": str(tmp_path / "tfdata")}
    init = ["init", "-backend=false", "-input=false", "-no-color"]
    if plugin_dir:
        init.append(f"-plugin-dir={plugin_dir}")
    proc = _terraform(init, workdir, env)
    assert proc.returncode == 0, f"terraform init in envs/{env_name} failed:\n{proc.stderr}{proc.stdout}"
    proc = _terraform(["validate", "-no-color"], workdir, env)
    assert proc.returncode == 0, f"terraform validate in envs/{env_name} failed:\n{proc.stderr}{proc.stdout}"
