"""``station.log``: where every warning and unexpected error (with its traceback)
goes, rotated by size, shared by every station process of one data dir (the
till, a manager's SSH sessions, the CLI).

Several processes write one file: each record is written under an ``flock`` on
``station.log.lock``; the process that finds the file full rotates it
(``station.log`` -> ``.1`` -> ... -> ``.N``), and a process whose open file was
rotated by another reopens the new one before writing, so no record lands in a
rotated file after the fact or is lost.

``tail(cfg, n)`` / ``follow(cfg)`` serve ``station log tail`` and the manager's
log view.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import logging.handlers
import os
import sys
import time
import warnings
from pathlib import Path

from station.errors import StationError

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"

log = logging.getLogger("station")


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler several processes can share (see the module doc)."""

    def __init__(self, filename: str | os.PathLike, max_bytes: int, keep: int):
        super().__init__(filename, maxBytes=max_bytes, backupCount=keep, encoding="utf-8", delay=True)
        self._lock_fd: int | None = None

    def _open(self):
        """The log file, created private (0600) as every rotated one is."""
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, getattr(self, "file_mode", 0o600))
        return os.fdopen(fd, "a", encoding=self.encoding)

    def _lockfile(self) -> int:
        if self._lock_fd is None:
            self._lock_fd = os.open(self.baseFilename + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        return self._lock_fd

    def _reopen_if_rotated(self) -> None:
        if self.stream is None:
            return
        try:
            now = os.stat(self.baseFilename)
            mine = os.fstat(self.stream.fileno())
            if (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                return
        except FileNotFoundError:
            pass
        self.stream.close()
        self.stream = None   # reopened by the next emit/shouldRollover

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fd = self._lockfile()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                self._reopen_if_rotated()
                if self.shouldRollover(record):
                    self.doRollover()
                logging.FileHandler.emit(self, record)
                if self.stream is not None:
                    self.stream.flush()
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except Exception:  # noqa: BLE001 - logging must never break the till
            self.handleError(record)

    def close(self) -> None:
        super().close()
        if self._lock_fd is not None:
            try:
                os.close(self._lock_fd)
            except OSError:
                pass
            self._lock_fd = None


def _is_console(h: logging.Handler) -> bool:
    """A handler printing on the terminal (``logging.basicConfig``'s, python-escpos
    calls it on import): under the app it would garble the screen."""
    return type(h) is logging.StreamHandler and getattr(h, "stream", None) in (sys.stderr, sys.stdout)


def setup(cfg, *, level: int = logging.INFO) -> logging.Handler:
    """Send this process's log records (``station.*`` from INFO, everything else
    from WARNING) and Python warnings to ``cfg.log_file``. Idempotent; a second
    call with another file moves the log there. Falls back to a NullHandler when
    the file cannot be opened (a till keeps working without its log)."""
    path = Path(cfg.log_file)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_station", False):
            if isinstance(h, SharedRotatingFileHandler) and h.baseFilename == str(path.resolve()):
                return h
            root.removeHandler(h)
            h.close()
        elif _is_console(h):
            root.removeHandler(h)
    values = cfg.values["log"]
    try:
        from station import files   # the data dir and the log are private (0700 / 0600)
        files.make_private_dir(path.parent, group=cfg.security.store_group)
        mode = 0o660 if cfg.security.store_group else 0o600
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode))
        handler: logging.Handler = SharedRotatingFileHandler(path, values["max_kb"] * 1024, values["keep"])
        handler.file_mode = mode   # type: ignore[attr-defined]
    except (OSError, StationError):
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler._station = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    log.setLevel(level)
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    return handler


# ------------------------------------------------------------------- tail ---

@contextlib.contextmanager
def _log_lock(path: Path):
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _rotated_after(cfg, ino: int) -> list[Path]:
    """The rotated files written after the file with inode ``ino``, oldest first
    (all of them when that file is gone)."""
    rotated = files(cfg)[:-1] if Path(cfg.log_file).exists() else files(cfg)
    inodes = [p.stat().st_ino for p in rotated]
    return rotated[inodes.index(ino) + 1:] if ino in inodes else rotated


def files(cfg) -> list[Path]:
    """The log and its rotated copies, oldest first, those that exist."""
    base = Path(cfg.log_file)
    keep = cfg.values["log"]["keep"]
    out = [Path(f"{base}.{i}") for i in range(keep, 0, -1)] + [base]
    return [p for p in out if p.exists()]


def tail(cfg, n: int = 50) -> list[str]:
    """The last ``n`` lines of the log, across rotation (a traceback that began
    before the rotation is shown whole from the older file)."""
    lines: list[str] = []
    for p in reversed(files(cfg)):
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        lines = text.splitlines() + lines
        if len(lines) >= n:
            break
    return lines[-n:] if n > 0 else []


def follow(cfg, emit, *, poll: float = 0.5, stop=lambda: False, ready=lambda: None) -> None:
    """Call ``emit(line)`` for every line appended to the log from now on,
    following it across rotations, until ``stop()`` is true (or Ctrl+C).
    ``ready()`` is called once "now" is fixed (the end of the log is found)."""
    path = Path(cfg.log_file)
    f = None
    ino = None
    pending = ""
    try:
        f = open(path, encoding="utf-8", errors="replace")
        f.seek(0, os.SEEK_END)
        ino = os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        ino = -1    # no log yet: the first one is read from its start
    ready()
    try:
        while not stop():
            if f is None:
                try:
                    f = open(path, encoding="utf-8", errors="replace")
                    ino = os.fstat(f.fileno()).st_ino
                except FileNotFoundError:
                    time.sleep(poll)
                    continue
            chunk = f.read()
            if chunk:
                pending += chunk
                *done, pending = pending.split("\n")
                for line in done:
                    emit(line)
                continue
            try:
                rotated = os.stat(path).st_ino != ino
            except FileNotFoundError:
                rotated = True
            if rotated:
                # finish the old file, then every file rotated after it, then the
                # new log from its start; under the log's lock, so no writer
                # rotates while we catch up
                with _log_lock(path):
                    rest = f.read()
                    f.close()
                    f = None
                    for older in _rotated_after(cfg, ino):
                        rest += older.read_text(encoding="utf-8", errors="replace")
                    try:
                        f = open(path, encoding="utf-8", errors="replace")
                        ino = os.fstat(f.fileno()).st_ino
                        rest += f.read()
                    except FileNotFoundError:
                        ino = -1
                if rest:
                    pending += rest
                    *done, pending = pending.split("\n")
                    for line in done:
                        emit(line)
                continue
            time.sleep(poll)
    finally:
        if f is not None:
            f.close()
