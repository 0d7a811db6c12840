"""Validations live in one place: the module a value goes to. An environment's variable that is handed straight
to a module variable with a validation does not repeat it (the module refuses a bad value at plan time, with
its own message); only what the environment itself uses (region, the zip's path, the sandbox endpoint) is
validated there."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import tf_generate  # noqa: E402 - a script, not a package

ENVS = ROOT / "terraform" / "envs"
# An environment may be stricter than the module on purpose: its own policy, not a copy of the module's rule.
ENV_POLICIES = {
    ("prod", "api_reserved_concurrency"): "prod demands a bound (>= 1); the module also takes null (unreserved) and 0",
}


def _validated_module_inputs(env: Path) -> dict[str, list[str]]:
    """env variable -> the validated module variables it is handed to as `var.<name>`."""
    out: dict[str, list[str]] = {}
    for name, body in tf_generate._blocks(tf_generate._parse(env / "main.tf"), "module"):
        module = (env / body["source"]).resolve()
        module_vars = dict(tf_generate.module_blocks(module, "variable"))
        for arg, value in body.items():
            m = re.fullmatch(r"\$\{var\.(\w+)\}", value) if isinstance(value, str) else None
            if m and module_vars.get(arg, {}).get("validation"):
                out.setdefault(m.group(1), []).append(f"{name}.{arg}")
    return out


def test_env_variables_do_not_repeat_their_modules_validations():
    repeated = []
    for env in sorted(p for p in ENVS.iterdir() if p.is_dir()):
        fed = _validated_module_inputs(env)
        assert fed, env.name  # the walk finds the pipeline's validated inputs
        for name, body in tf_generate._blocks(tf_generate._parse(env / "variables.tf"), "variable"):
            if body.get("validation") and name in fed and (env.name, name) not in ENV_POLICIES:
                repeated.append(f"envs/{env.name}: {name} (validated by {', '.join(fed[name])})")
    assert repeated == []
