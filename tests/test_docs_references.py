"""The repository stands on its own: nothing tracked cites files outside it (a `../shared/` notes folder, its
REFERENCE.md or STYLE.md), since such a reference dangles in every clone; the facts belong in docs/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = re.compile(r"\.\./shared\b|\bREFERENCE\.md\b|\bSTYLE\.md\b")
# Section names the code cites in docs/: `docs/aws-limits.md §Kinesis`.
SECTION = re.compile(r"docs/(aws-limits|moto-gaps)\.md\)? §([A-Z][\w ]*?[A-Za-z])(?=[),:.]| \(|$)", re.M)


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
        return ""


def test_no_tracked_file_cites_notes_outside_the_repository():
    this = Path(__file__).resolve()
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in tracked_files()
        if path.resolve() != this
        for n, line in enumerate(_text(path).splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == []


def test_cited_sections_of_the_docs_exist():
    headings = {
        name: {m.group(1) for m in re.finditer(r"^## (.+)$", (ROOT / "docs" / f"{name}.md").read_text(), re.M)}
        for name in ("aws-limits", "moto-gaps")
    }
    cited = {
        (m.group(1), m.group(2), str(path.relative_to(ROOT)))
        for path in tracked_files()
        for m in SECTION.finditer(_text(path))
    }
    assert cited  # the pattern finds the citations
    missing = sorted(c for c in cited if not any(h.startswith(c[1]) for h in headings[c[0]]))
    assert missing == []
