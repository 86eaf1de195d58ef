"""The real-terminal harness: the real ``station`` process on a pty, its screen
read by a VT emulator (pyte), keys written as bytes. Tests see what a cashier
sees; a burst is ONE write, as a scanner or an SSH packet delivers it.

    with Terminal.start(home) as term:          # station with STATION_HOME=home, 80x24
        term.wait_for("User")                   # text anywhere on the screen
        term.type("carla", "enter", "1111", "enter")   # written as one burst
        term.wait_for(lambda text: "Sale" in text)
        print(term.text())

``keys(...)`` turns key names (``enter``, ``f2``, ``escape``, ``up`` ...) and
plain text into the bytes an xterm sends. Waiting is always on a condition (the
screen, or the caller's own check) with a generous timeout that only fails a
hung run; nothing here measures time.

A lone Escape is told apart from the start of an escape sequence by a pause
(Textual waits about 100 ms): inside one write, ESC followed by a character is
Alt+character, exactly as on a real terminal. Put Escape at the end of a write.

``till`` (a pytest fixture in tests/test_terminal_bursts.py and reusable from
any test module) prepares a SQLite store with users, products and settings for
a quick, quiet till: no idle lock, no printer, no drawer kick, cheap PIN hashes.
"""
from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Callable

import pyte

ROOT = Path(__file__).resolve().parent.parent

KEYS = {
    "enter": b"\r", "tab": b"\t", "escape": b"\x1b", "backspace": b"\x7f", "space": b" ",
    "up": b"\x1b[A", "down": b"\x1b[B", "right": b"\x1b[C", "left": b"\x1b[D",
    "home": b"\x1b[H", "end": b"\x1b[F", "pageup": b"\x1b[5~", "pagedown": b"\x1b[6~", "delete": b"\x1b[3~",
    "f1": b"\x1bOP", "f2": b"\x1bOQ", "f3": b"\x1bOR", "f4": b"\x1bOS",
    "f5": b"\x1b[15~", "f6": b"\x1b[17~", "f7": b"\x1b[18~", "f8": b"\x1b[19~",
    "f9": b"\x1b[20~", "f10": b"\x1b[21~", "f11": b"\x1b[23~", "f12": b"\x1b[24~",
    "ctrl+q": b"\x11", "ctrl+j": b"\n",
}


def keys(*items: str) -> bytes:
    """Key names (see KEYS) and plain text -> the bytes a terminal sends."""
    out = b""
    for item in items:
        out += KEYS[item] if item in KEYS else item.encode()
    return out


def station_command() -> list[str]:
    """The ``station`` console script's entry point (``screens.main``) of the
    checkout these tests belong to (run from ROOT, so ROOT's code is started)."""
    return [sys.executable, "-m", "screens.main"]


class Terminal:
    """One ``station`` process on a pty of ``cols`` x ``rows``."""

    def __init__(self, argv: list[str], env: dict, cols: int = 80, rows: int = 24) -> None:
        self.cols, self.rows = cols, rows
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.changed = threading.Condition()
        self.output = 0                      # bytes read so far
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.master = master
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=str(ROOT),
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self._reader = threading.Thread(target=self._read, daemon=True, name="pty-reader")
        self._reader.start()

    @classmethod
    def start(cls, home: Path, *args: str, cols: int = 80, rows: int = 24, env: dict | None = None) -> "Terminal":
        e = {k: v for k, v in os.environ.items() if not k.startswith(("STATION_", "TEXTUAL", "COLORTERM"))}
        e.update({"STATION_HOME": str(home), "TERM": "xterm-256color", "LANG": "C.UTF-8",
                  "COLUMNS": str(cols), "LINES": str(rows)})
        e.update(env or {})
        return cls(station_command() + list(args), e, cols, rows)

    # ------------------------------------------------------------- output ---
    def _read(self) -> None:
        while True:
            try:
                r, _, _ = select.select([self.master], [], [], 0.5)
            except (OSError, ValueError):
                return
            if not r:
                if self.proc.poll() is not None:
                    with self.changed:
                        self.changed.notify_all()
                    return
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                data = b""
            with self.changed:
                if data:
                    self.stream.feed(data)
                    self.output += len(data)
                self.changed.notify_all()
            if not data:
                return

    def text(self) -> str:
        """The screen as text, one line per row."""
        with self.changed:
            return "\n".join(self.screen.display)

    def wait_for(self, what: str | Callable[[str], bool], timeout: float = 30.0) -> str:
        """Until the screen shows ``what`` (or ``what(text)`` is true); the
        screen text. AssertionError (with the screen) when the process ended or
        the generous timeout passed: a hung run."""
        cond = (lambda t: what in t) if isinstance(what, str) else what
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                text = "\n".join(self.screen.display)
                if cond(text):
                    return text
                if self.proc.poll() is not None:
                    raise AssertionError(f"station exited ({self.proc.returncode}) while waiting for "
                                         f"{what!r}; screen:\n{text}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what!r}; screen:\n{text}")
                self.changed.wait(min(left, 0.5))

    def wait_until(self, check: Callable[[], bool], what: str = "condition", timeout: float = 30.0) -> None:
        """Until ``check()`` (e.g. a database row) is true, re-checked whenever the
        screen changes (and at least every half second)."""
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc.poll() is not None:
                raise AssertionError(f"station exited ({self.proc.returncode}) while waiting for {what}; "
                                     f"screen:\n{self.text()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; screen:\n{self.text()}")
            with self.changed:
                self.changed.wait(min(left, 0.5))

    # -------------------------------------------------------------- input ---
    def write(self, data: bytes) -> None:
        """Bytes to the terminal, in ONE write (a burst)."""
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def type(self, *items: str) -> None:
        """Key names and text, as one burst."""
        self.write(keys(*items))

    # -------------------------------------------------------------- close ---
    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.write(keys("ctrl+q"))
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        try:
            os.close(self.master)
        except OSError:
            pass
        self._reader.join(timeout=5)

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------- a till ---

TILL_SETTINGS = """
[security]
scrypt_n = 1024
idle_lock_minutes = 0

[printer]
kind = "none"

[drawer]
kick = "none"
"""


def make_till(home: Path, extra_settings: str = "") -> Path:
    """A SQLite store in ``home`` (``home/station.toml`` points at it) with a
    cashier (carla 1111), a manager with TOTP (mia 3333) and the products of
    tests.sale_ui_support. Returns the database path."""
    from station import config as configmod
    from station import totp_enrol
    from station.context import open_station
    from tests.conftest import add_user
    from tests.sale_ui_support import add_products
    home.mkdir(parents=True, exist_ok=True)
    db = home / "store.db"
    (home / "station.toml").write_text(f'[database]\nurl = "sqlite:///{db}"\n' + TILL_SETTINGS + extra_settings)
    ctx = open_station(configmod.load(env={"STATION_HOME": str(home)}), upgrade=True)
    try:
        add_user(ctx, "carla", "cashier", "1111")
        add_user(ctx, "mia", "manager", "3333")
        totp_enrol.enrol_known_secret(ctx, "mia", totp_enrol.DEMO_SECRET)
        add_products(ctx)
    finally:
        ctx.db.close()
    return db
