"""The Lambda zip is reproducible: same sources, same bytes, so Terraform only redeploys on real change."""

import hashlib
import zipfile

from opsctl.core.packaging import build_zip


def _tree(root):
    (root / "ingest").mkdir(parents=True)
    (root / "ingest" / "handler.py").write_text("def handler(e, c):\n    return {}\n")
    (root / "ingest" / "__pycache__").mkdir()
    (root / "ingest" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"junk")
    (root / "common").mkdir()
    (root / "common" / "__init__.py").write_text("")


def test_same_sources_give_the_same_bytes_whatever_the_mtimes(tmp_path):
    src = tmp_path / "src"
    _tree(src)
    first = build_zip(src, tmp_path / "a.zip")
    for path in src.rglob("*.py"):
        path.touch()
    second = build_zip(src, tmp_path / "b.zip")
    assert first == second == hashlib.sha256((tmp_path / "a.zip").read_bytes()).hexdigest()


def test_zip_holds_sources_only_in_sorted_order(tmp_path):
    src = tmp_path / "src"
    _tree(src)
    build_zip(src, tmp_path / "f.zip")
    names = zipfile.ZipFile(tmp_path / "f.zip").namelist()
    assert names == ["common/__init__.py", "ingest/handler.py"]


def test_changed_source_changes_the_digest(tmp_path):
    src = tmp_path / "src"
    _tree(src)
    before = build_zip(src, tmp_path / "f.zip")
    (src / "ingest" / "handler.py").write_text("def handler(e, c):\n    return None\n")
    assert build_zip(src, tmp_path / "f.zip") != before
