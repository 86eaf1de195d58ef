"""Files the station creates are private: the data dir 0700 and the SQLite store
0600 (the WAL and shared-memory files SQLite adds take the database file's mode).

With ``security.store_group`` set (the tills of one machine run as different OS
users of one group) the dir is 2770 (setgid: new files stay in the group) and
the database 0660, owned by that group. Nothing is ever made world-readable.
A dir or file that already exists is left as it is (``station doctor`` reports
one that others can read).
"""
from __future__ import annotations

import grp
import os
from pathlib import Path

from station.errors import ConfigError


def _gid(group: str) -> int | None:
    if not group:
        return None
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ConfigError(f"key security.store_group: there is no OS group {group!r}") from None


def make_private_dir(path: Path, *, group: str = "") -> None:
    """Create ``path`` (and missing parents) 0700, or 2770 for a store group."""
    gid = _gid(group)
    path = Path(path)
    if path.exists():
        return
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if gid is not None:
            os.chown(path, -1, gid)
            os.chmod(path, 0o2770)
    except PermissionError as e:
        raise ConfigError(f"cannot set up the data dir {path}: {e.strerror}") from None


def make_private_file(path: Path, *, group: str = "") -> None:
    """Create an empty ``path`` 0600 (0660 for a store group) before SQLite opens it."""
    gid = _gid(group)
    mode = 0o660 if gid is not None else 0o600
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        os.close(fd)
        if gid is not None:
            os.chown(path, -1, gid)
            os.chmod(path, mode)
    except FileExistsError:
        pass
    except FileNotFoundError:
        return   # no such folder: the database layer says so in its own words
    except PermissionError as e:
        raise ConfigError(f"cannot create the store database {path}: {e.strerror}") from None

