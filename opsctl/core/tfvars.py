"""Writing values an operator changed at run time back into the environment's Terraform variables,
so the next `terraform plan` agrees with reality (docs/architecture.md: Terraform owns every resource).

- real environments: `terraform/envs/<env>/opsctl.auto.tfvars.json`, to be committed with the change;
- the default sandbox: the same file in `envs/local` (git-ignored there);
- an isolated sandbox (OPSCTL_SANDBOX_DIR elsewhere): `<state_dir>/opsctl.tfvars.json`, which its
  `terraform apply`/`plan` take with `-var-file`, leaving envs/local alone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from opsctl.core.project import DEFAULT_SANDBOX_DIR, ENVS_DIR, SANDBOX_DIR

FILE_NAME = "opsctl.auto.tfvars.json"
ISOLATED_FILE_NAME = "opsctl.tfvars.json"


def vars_path(env: str, state_dir: Path = SANDBOX_DIR) -> Path:
    if env == "local" and state_dir.resolve() != DEFAULT_SANDBOX_DIR.resolve():
        return state_dir / ISOLATED_FILE_NAME
    return ENVS_DIR / env / FILE_NAME


@dataclass
class Recorded:
    path: Path
    written: bool
    line: str  # the JSON line an operator would add by hand

    def to_dict(self) -> dict:
        return {"path": str(self.path), "written": self.written, "line": self.line}


def record(env: str, name: str, value, *, state_dir: Path = SANDBOX_DIR) -> Recorded:
    """Sets `name = value` in the environment's opsctl variables file, keeping its other values.

    When the file cannot be written, nothing is raised: the caller prints `line` for a person to add."""
    path = vars_path(env, state_dir)
    line = json.dumps({name: value})
    try:
        current = json.loads(path.read_text()) if path.exists() else {}
        current[name] = value
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
        return Recorded(path, True, line)
    except (OSError, ValueError):
        return Recorded(path, False, line)
