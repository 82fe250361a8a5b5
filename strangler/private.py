"""Files under the stack's home that hold data or secrets are its owner's alone (0600).

The shop's database, the services', the stand-ins', Redis's snapshot and append-only
file, the logs (customers' e-mail addresses, order ids) and the tokens: any local user
could read them at the usual umask (022). Every part is started with `UMASK`, so what it
creates is private; what the runner creates itself (log files, a SQLite shop database)
is made private by the functions here, which also tighten files an older run left
readable.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

UMASK = 0o077  # files 0600, folders 0700
OTHERS = stat.S_IRWXG | stat.S_IRWXO


def others_may_read(path: Path) -> bool:
    return bool(path.stat().st_mode & OTHERS)


def make_private(path: Path) -> bool:
    """Take every group and other permission off `path`; True when there were some."""
    mode = path.stat().st_mode
    if not mode & OTHERS:
        return False
    path.chmod(stat.S_IMODE(mode) & ~OTHERS)
    return True


def private_tree(folder: Path) -> None:
    """`folder` and everything in it made private (what an older run left readable)."""
    make_private(folder)
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            path = Path(root, name)
            if not path.is_symlink():
                make_private(path)


def private_folder(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    make_private(folder)


def open_private_log(path: Path) -> int:
    """A file descriptor appending to `path`, which is (made) 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & ~OTHERS)
    return fd


def private_sqlite_file(database_url: str) -> Path | None:
    """The SQLite file a `sqlite:///` URL names, created empty (SQLite takes an empty file
    for a new database) or tightened, so it and the -wal/-shm files SQLite gives the same
    mode are 0600. None for any other database."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or ":memory:" in database_url:
        return None
    path = Path(database_url.removeprefix(prefix).split("?", 1)[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if each.exists():
            make_private(each)
    return path
