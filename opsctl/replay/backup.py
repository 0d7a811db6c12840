"""The `--backup` file of a replay: JSON lines of every message or record before it is sent.

Backups of a Kinesis replay hold decrypted device readings, so the file is created readable by its owner only
(0600, whatever the umask), an existing file is tightened to 0600, and a symlink is refused rather than followed
(a link planted in a shared directory would otherwise redirect the readings wherever it points)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import TextIO

from opsctl.core.errors import InvalidArgument

BACKUP_MODE = 0o600


def open_backup(path: Path) -> TextIO:
    """`path` opened for appending, 0600, never through a symlink; an OpsError saying why it cannot be."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, BACKUP_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP or Path(path).is_symlink():
            raise InvalidArgument(
                f"{{backup}} {path} is a symlink; refusing to follow it (backups hold device data)",
                hint="name a regular file of your own",
                arguments=["backup"],
            ) from None
        raise InvalidArgument(
            f"cannot open {{backup}} {path}: {exc.strerror}", hint="name a writable file", arguments=["backup"]
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InvalidArgument(
            f"{{backup}} {path} is not a regular file", hint="name a regular file of your own", arguments=["backup"]
        )
    if stat.S_IMODE(info.st_mode) != BACKUP_MODE:
        os.fchmod(fd, BACKUP_MODE)  # an existing file another tool created world-readable
    return os.fdopen(fd, "a", encoding="utf-8")
