"""Every handler's EMF line names its environment the same way (`Environment`), so a CloudWatch Logs Insights
query or a metric filter over all the functions' logs reads one field."""

from __future__ import annotations

import ast
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def _emit_calls():
    for path in sorted(FUNCTIONS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "emit"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "metrics"
            ):
                yield path.relative_to(FUNCTIONS), node


def test_every_emf_line_names_the_environment_Environment():
    calls = list(_emit_calls())
    assert len(calls) >= 3  # ingest, rollup, capacity report
    wrong = [
        f"{path}:{call.lineno}"
        for path, call in calls
        if "Environment" not in {k.arg for k in call.keywords}
        or any(k.arg and k.arg != "Environment" and k.arg.lower() == "environment" for k in call.keywords)
    ]
    assert wrong == []
