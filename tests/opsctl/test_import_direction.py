"""Dependencies point one way: on-call code never imports the sandbox (docs/architecture.md, opsctl). Only the
sandbox itself and the CLI (which hands the sandbox's pieces to the library: the local stack source, the local
invoker of `replay-dlq --via invoke`) may import opsctl.sandbox, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

OPSCTL = Path(__file__).resolve().parents[2] / "opsctl"
ALLOWED = ("sandbox", "cli")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _imports_the_sandbox(names: set[str]) -> set[str]:
    return {n for n in names if n == "opsctl.sandbox" or n.startswith("opsctl.sandbox.")}


def test_nothing_outside_the_sandbox_and_the_cli_imports_the_sandbox():
    offenders = {
        str(path.relative_to(OPSCTL.parent)): sorted(_imports_the_sandbox(_imports(path)))
        for path in sorted(OPSCTL.rglob("*.py"))
        if path.relative_to(OPSCTL).parts[0] not in ALLOWED and _imports_the_sandbox(_imports(path))
    }
    assert offenders == {}


def test_the_walk_sees_imports_inside_functions(tmp_path):
    # The check itself can fail: a function-level import of the sandbox is found like a module-level one.
    probe = tmp_path / "import_probe.py"
    probe.write_text("def f():\n    from opsctl.sandbox.runtime.function import FunctionRunner\n")
    assert _imports_the_sandbox(_imports(probe)) == {
        "opsctl.sandbox.runtime.function",
        "opsctl.sandbox.runtime.function.FunctionRunner",
    }
