"""Builds the one Lambda zip of `functions/`, byte-for-byte reproducible.

Fixed timestamps, sorted entries and fixed permissions mean the same sources always give the same
sha256, so Terraform's `filebase64sha256` only sees a change when code changed."""

from __future__ import annotations

import hashlib
import os
import sys
import zipfile
from pathlib import Path

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
EXCLUDED_DIRS = {"__pycache__", "tests", ".pytest_cache"}
INCLUDED_SUFFIXES = {".py", ".json"}


def source_files(src: Path) -> list[Path]:
    """The files that go into the zip, in a stable order."""
    files = []
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if path.is_file() and path.suffix in INCLUDED_SUFFIXES and not (set(rel.parts) & EXCLUDED_DIRS):
            files.append(path)
    return sorted(files, key=lambda p: p.relative_to(src).as_posix())


def build_zip(src: Path, dest: Path) -> str:
    """Writes the zip of `src` to `dest` (only if its content changed) and returns its sha256 hex digest."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of this process's own: two sandboxes coming up at once (parallel test workers, two
    # terminals) build the same zip, and the rename leaves `dest` whole whichever finishes last.
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in source_files(src):
            info = zipfile.ZipInfo(path.relative_to(src).as_posix(), date_time=FIXED_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    new = tmp.read_bytes()
    if dest.exists() and dest.read_bytes() == new:
        tmp.unlink()
    else:
        tmp.replace(dest)
    return hashlib.sha256(new).hexdigest()


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print("usage: python -m opsctl.core.packaging SRC_DIR DEST_ZIP", file=sys.stderr)
        return 2
    digest = build_zip(Path(args[0]), Path(args[1]))
    print(f"{args[1]} sha256={digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
