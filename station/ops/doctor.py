"""``station doctor``: is this till fit to sell? One line per finding.

Checks, each independent of the others' success where it can be: the database
answers and its schema is current; the key file is there, private, readable and
belongs to this store; the printer and the drawer answer (ESC/POS status bytes);
the clock is within a minute of the database server's; there is disk space; the
terminal is big enough; the log can be written. Nothing in the store is
created or changed (no key file, no database, no schema).
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from data import db as dbmod
from data import migrations
from station.ops.backup import bound, sqlite_path

OK, WARN, FAIL, INFO = "OK", "WARN", "FAIL", "INFO"
CLOCK_TOLERANCE_S = 60
DISK_FAIL_BYTES = 100 * 1024 ** 2
DISK_WARN_BYTES = 1024 ** 3
MIN_COLS, MIN_ROWS = 80, 24

PRINTER_STATUS = b"\x10\x04\x01"     # DLE EOT 1: printer status (bit 3: offline)
PAPER_STATUS = b"\x10\x04\x04"       # DLE EOT 4: roll paper sensor (bits 2-3 near end, 5-6 end)


@dataclass
class Finding:
    level: str
    name: str
    text: str

    def line(self) -> str:
        return f"{self.level:<5} {self.name}: {self.text}"


@dataclass
class Env:
    """What the checks read from outside (the tests put a skewed clock here)."""
    now: object = time.time
    disk_usage: object = shutil.disk_usage
    stdout: object = None


def _ago(seconds: float) -> str:
    s = int(abs(seconds))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def run(cfg, env: Env | None = None) -> list[Finding]:
    env = env or Env()
    out: list[Finding] = []
    database = _database(cfg, out)
    try:
        if database is not None:
            with bound(database):
                _schema(database, out)
                keys = _keys(cfg, out, database)
                _clock(cfg, database, env, out)
        else:
            keys = _keys(cfg, out, None)
        hw = SimpleNamespace(config=cfg, extras={}, keys=keys)
        _printer(cfg, hw, out)
        _drawer(cfg, hw, out)
        _disk(cfg, env, out)
        _terminal(env, out)
        _log(cfg, out)
    finally:
        if database is not None:
            database.close()
    return out


# ---------------------------------------------------------------- database ---

def _database(cfg, out):
    url = cfg.db_url
    where = dbmod.redact(url)
    if url.startswith("sqlite:"):
        path = sqlite_path(url)
        if not path.exists():
            out.append(Finding(FAIL, "database", f"no store at {path}: run 'station db upgrade' to create it"))
            return None
    try:
        database = dbmod.open_database(url, bind=False)
    except dbmod.DatabaseUnavailable as e:
        out.append(Finding(FAIL, "database", str(e)))
        return None
    if dbmod.is_postgres(database):
        version = database.execute_sql("SHOW server_version").fetchone()[0]
        what = f"PostgreSQL {version.split()[0]}"
    else:
        what = f"SQLite {database.execute_sql('SELECT sqlite_version()').fetchone()[0]}"
    out.append(Finding(OK, "database", f"{where} answers ({what})"))
    return database


def _schema(database, out) -> None:
    v = migrations.schema_version(database)
    try:
        migrations.check_version(database)
    except migrations.SchemaMismatch as e:
        out.append(Finding(FAIL, "schema", str(e)))
        return
    out.append(Finding(OK, "schema", f"version {v}, current"))


def _keys(cfg, out, database):
    from station import keys as keysmod
    from station.errors import ConfigError
    path = Path(cfg.key_file)
    if not path.exists():
        out.append(Finding(FAIL, "key", f"no key file {path}: copy this store's station.key here (mode 0600); "
                                        f"without it nobody can log in"))
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    try:
        keys = keysmod.read(path)
    except ConfigError as e:
        out.append(Finding(FAIL, "key", str(e)))
        return None
    if database is None:
        out.append(Finding(WARN, "key", f"{path} (mode {mode:04o}) is readable; not matched: no database"))
        return keys
    problem = key_mismatch(keys, database)
    if problem:
        out.append(Finding(FAIL, "key", f"{path} {problem}"))
        return keys
    out.append(Finding(OK, "key", f"{path} (mode {mode:04o}) belongs to this store"))
    return keys


def key_mismatch(keys, database) -> str | None:
    """Why the key file is not this store's, or None: the store's check value of
    its key (``station.keys``, what every till checks at start); for a store that
    has none yet, its TOTP secrets (encrypted with the key file's key: one that
    does not decrypt means another store's key, or a damaged one)."""
    from cryptography.fernet import InvalidToken
    from data.models import User
    from station import keys as keysmod
    if database.table_exists("schema_meta"):
        same = keysmod.matches_store(keys)
        if same is not None:
            return None if same else ("is not this store's key (its check value differs from the one in the "
                                      f"database): {keysmod.install_hint(Path('station.key'))}")
    if not database.table_exists("user"):
        return None
    token = (User.select(User.totp_secret).where(User.totp_secret.is_null(False))
             .order_by(User.id).limit(1).scalar())
    if token is None:
        return None
    try:
        keys.fernet().decrypt(token.encode())
    except (InvalidToken, ValueError):
        return "does not belong to this store (it cannot read the store's TOTP secrets)"
    return None


def _clock(cfg, database, env: Env, out) -> None:
    now = env.now()
    if dbmod.is_postgres(database):
        server = float(database.execute_sql("SELECT EXTRACT(EPOCH FROM clock_timestamp())").fetchone()[0])
        skew = now - server
        if abs(skew) > CLOCK_TOLERANCE_S:
            way = "ahead of" if skew > 0 else "behind"
            out.append(Finding(FAIL, "clock", f"this till's clock is {_ago(skew)} {way} the database server's: "
                                              f"receipts and reports would carry the wrong time (set up NTP)"))
        else:
            out.append(Finding(OK, "clock", f"within {_ago(skew)} of the database server's"))
        return
    # SQLite: the store is on this machine; a clock behind the newest journal entry went backwards
    from data.models import Journal
    newest = None
    if database.table_exists("journal"):
        newest = Journal.select(Journal.ts).order_by(Journal.seq.desc()).limit(1).scalar()
    if newest:
        t = _dt.datetime.strptime(newest, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.timezone.utc).timestamp()
        if t - now > CLOCK_TOLERANCE_S:
            out.append(Finding(FAIL, "clock", f"this machine's clock is {_ago(t - now)} behind the newest journal "
                                              f"entry ({newest[:19]} UTC): it was set back"))
            return
    out.append(Finding(OK, "clock", "the store is on this machine (SQLite): one clock"))


# ---------------------------------------------------------------- hardware ---

def _printer(cfg, hw, out) -> None:
    from station.hardware import transport as tp
    p = cfg.values["printer"]
    kind = p["kind"]
    if kind == "none":
        out.append(Finding(INFO, "printer", "none configured (printer.kind = none): receipts are not printed"))
        return
    try:
        t = tp.from_config(cfg)
    except tp.HardwareError as e:
        out.append(Finding(FAIL, "printer", str(e)))
        return
    if kind == "file":
        path = Path(p["path"])
        if path.exists():
            try:   # O_NONBLOCK: a FIFO or a device with nobody behind it must not hang the doctor
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
                os.close(fd)
            except OSError as e:
                out.append(Finding(FAIL, "printer", f"cannot write to {path}: {e.strerror}"))
                return
        elif not os.access(path.parent, os.W_OK):
            out.append(Finding(FAIL, "printer", f"cannot create {path}: folder not writable"))
            return
        out.append(Finding(OK, "printer", f"{t.describe()} is writable (a file printer sends no status)"))
        return
    if not hasattr(t, "exchange"):
        out.append(Finding(INFO, "printer", f"{t.describe()}: status is not read over USB"))
        return
    try:
        answer = t.exchange(PRINTER_STATUS, 1)
        if not answer:
            out.append(Finding(FAIL, "printer", f"{t.describe()} did not answer the status query (DLE EOT 1): "
                                                f"is it switched on?"))
            return
        if answer[0] & 0x08:
            out.append(Finding(FAIL, "printer", f"{t.describe()} is offline (cover open or paper out)"))
            return
        paper = t.exchange(PAPER_STATUS, 1)
    except tp.HardwareError as e:
        out.append(Finding(FAIL, "printer", str(e)))
        return
    if paper and paper[0] & 0x60:
        out.append(Finding(FAIL, "printer", f"{t.describe()}: out of paper"))
    elif paper and paper[0] & 0x0C:
        out.append(Finding(WARN, "printer", f"{t.describe()} answers; paper is running low"))
    else:
        out.append(Finding(OK, "printer", f"{t.describe()} answers, online"))


def _drawer(cfg, hw, out) -> None:
    from station.hardware import drawer as drw
    from station.hardware import transport as tp
    d = cfg.values["drawer"]
    if d["kick"] == "none":
        out.append(Finding(INFO, "drawer", "none configured (drawer.kick = none)"))
        return
    if d["status"]:
        s = drw.status(hw)
        if s.known:
            out.append(Finding(OK if not s.open else WARN, "drawer", f"answers: {s.message}"))
        else:
            out.append(Finding(FAIL, "drawer", s.message))
        return
    if d["kick"] == "serial":
        try:
            tp.open_serial(d["device"], d["baudrate"], float(d["timeout"])).close()
        except tp.HardwareError as e:
            out.append(Finding(FAIL, "drawer", str(e)))
            return
        out.append(Finding(OK, "drawer", f"serial port {d['device']} opens (status not read: drawer.status = false)"))
        return
    if cfg.values["printer"]["kind"] == "none":
        out.append(Finding(WARN, "drawer", "opened through the printer, but no printer is configured: "
                                           "the drawer is opened by hand"))
        return
    out.append(Finding(INFO, "drawer", "opened through the printer (status not read: drawer.status = false)"))


# ------------------------------------------------------------------ machine ---

def _disk(cfg, env: Env, out) -> None:
    places = {Path(cfg.data_dir)}
    if cfg.db_url.startswith("sqlite:"):
        places.add(sqlite_path(cfg.db_url).parent)
    worst = None
    for place in places:
        probe = place
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = env.disk_usage(probe).free
        if worst is None or free < worst[1]:
            worst = (place, free)
    place, free = worst
    text = f"{free / 1024 ** 3:.1f} GiB free for {place}"
    if free < DISK_FAIL_BYTES:
        out.append(Finding(FAIL, "disk", f"only {free // 1024 ** 2} MiB free for {place}: sales will fail "
                                         f"when it is full"))
    elif free < DISK_WARN_BYTES:
        out.append(Finding(WARN, "disk", f"{text}: less than 1 GiB"))
    else:
        out.append(Finding(OK, "disk", text))


def _terminal(env: Env, out) -> None:
    stream = env.stdout or sys.stdout
    term = os.environ.get("TERM", "")
    if not stream.isatty():
        out.append(Finding(INFO, "terminal", "not a terminal: run 'station doctor' on the till's own screen "
                                             "to check its size"))
        return
    cols, rows = os.get_terminal_size(stream.fileno())
    if cols < MIN_COLS or rows < MIN_ROWS:
        out.append(Finding(FAIL, "terminal", f"{cols}x{rows} is smaller than {MIN_COLS}x{MIN_ROWS} (TERM={term})"))
    else:
        out.append(Finding(OK, "terminal", f"{cols}x{rows}, TERM={term or '(unset)'}"))


def _log(cfg, out) -> None:
    path = Path(cfg.log_file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as e:
        out.append(Finding(FAIL, "log", f"cannot write {path}: {e.strerror}"))
        return
    out.append(Finding(OK, "log", f"{path} ({path.stat().st_size // 1024} KiB)"))


def exit_code(findings: list[Finding]) -> int:
    return 1 if any(f.level == FAIL for f in findings) else 0
