"""Library errors name their arguments; only the CLI spells flags.

Every `OpsError` (or subclass) raised outside opsctl/cli/ must write an argument as `{name}` and list it in
`arguments`, so the CLI can say the flag a user typed (opsctl/cli/errors.py) and a library caller sees the
parameter. A literal `--flag` in such an error's message or hint is the defect this test finds."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from opsctl.cli.errors import error_line, flag
from opsctl.core.errors import InvalidArgument, NotFound, OpsError

ROOT = Path(__file__).resolve().parents[2]
ERRORS = {"OpsError", "InvalidArgument", "NotFound", "NotReady", "Refused"}
FLAG = re.compile(r"(?<![\w`-])--[a-z][a-z-]+")


def _texts(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _library_errors():
    for path in sorted((ROOT / "opsctl").rglob("*.py")):
        if "cli" in path.relative_to(ROOT / "opsctl").parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in ERRORS:
                yield path.relative_to(ROOT), node


def test_library_errors_spell_no_flag():
    found = [
        f"{path}:{node.lineno}: {text!r}"
        for path, node in _library_errors()
        for text in _texts(node)
        if FLAG.search(text)
    ]
    assert found == []


def test_the_scan_sees_the_library_errors():
    # the check above is only worth something if it reads the raises it means to check
    assert len(list(_library_errors())) > 50


def test_the_cli_says_each_argument_as_its_flag():
    exc = InvalidArgument(
        "{from_ms} is after {to_ms}", hint="give an earlier {from_ms}", arguments=["from_ms", "to_ms"]
    )
    assert str(exc) == "from_ms is after to_ms" and exc.hint == "give an earlier from_ms"
    assert error_line(exc) == "--from is after --to (give an earlier --from)"
    assert flag("quarantine_bucket") == "--quarantine-bucket"


def test_a_token_that_is_not_an_argument_stays_as_written():
    # device text or a JSON body in a message must never be taken for an argument
    exc = OpsError("bad body {window}", arguments=[])
    assert error_line(exc) == "bad body {window}"


@pytest.mark.parametrize("cls, code", [(InvalidArgument, "invalid_argument"), (OpsError, "error")])
def test_errors_say_their_kind(cls, code):
    assert cls("x").code == code and NotFound("stream", "s").code == "not_found"
    assert str(NotFound("stream", "s")) == "stream 's' does not exist"
