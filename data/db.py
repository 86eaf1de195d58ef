"""Open the store database from a URL, and the one way to write to it.

SQLite (the default, one file, embedded):
  * WAL journal so readers never block the writer;
  * ``synchronous=FULL``: a committed sale survives a power cut, not only a crash
    of the process (NORMAL in WAL may lose the last commits on power loss; a
    cashier who handed over change must never see the sale vanish);
  * ``foreign_keys=1`` and a busy timeout;
  * every ``atomic()`` is ``BEGIN IMMEDIATE`` (``lock_type``): the write lock is
    taken at the start, so two terminals never both read-then-write and the
    loser waits (busy timeout) instead of failing with "database is locked".

PostgreSQL (``postgresql://user@host:port/db``): terminals share one server;
a value that is read and then written is read with ``FOR UPDATE`` (see
:func:`locked`).
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, unquote

import peewee
from peewee import DatabaseProxy

#: every model binds to this proxy; :func:`open_database` initialises it.
proxy = DatabaseProxy()

BUSY_TIMEOUT_MS = 15000


class DatabaseUnavailable(Exception):
    """The database cannot be reached (server down, file unreadable, bad URL)."""


def sqlite_pragmas() -> dict:
    return {
        "journal_mode": "wal",
        "synchronous": "full",
        "foreign_keys": 1,
        "busy_timeout": BUSY_TIMEOUT_MS,
        "cache_size": -64 * 1024,  # 64 MiB page cache
    }


def make_database(url: str) -> peewee.Database:
    """Build (but do not open) a peewee database for ``url``."""
    if not url or not isinstance(url, str):
        raise DatabaseUnavailable("no database URL given")
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "sqlite":
        # sqlite:////abs/path.db or sqlite:///rel/path.db
        path = unquote(url[len("sqlite://"):])
        if path.startswith("/"):
            path = path[1:]   # sqlite:////abs/path -> /abs/path; sqlite:///rel -> rel
        if path in ("", ":memory:", "/:memory:"):
            raise DatabaseUnavailable("an in-memory SQLite database cannot be shared; give a file path")
        p = Path(path)
        if not p.parent.exists():
            raise DatabaseUnavailable(f"folder {p.parent} does not exist for SQLite database {p}")
        return peewee.SqliteDatabase(
            str(p), pragmas=sqlite_pragmas(), lock_type="IMMEDIATE",
            timeout=BUSY_TIMEOUT_MS / 1000.0, check_same_thread=False,
        )
    if scheme in ("postgres", "postgresql"):
        if not parsed.path or parsed.path == "/":
            raise DatabaseUnavailable(f"no database name in URL {redact(url)}")
        kwargs = {}
        if parsed.hostname:
            kwargs["host"] = parsed.hostname
        if parsed.port:
            kwargs["port"] = parsed.port
        if parsed.username:
            kwargs["user"] = unquote(parsed.username)
        if parsed.password:
            kwargs["password"] = unquote(parsed.password)
        kwargs["connect_timeout"] = 5
        return peewee.PostgresqlDatabase(parsed.path.lstrip("/"), **kwargs)
    raise DatabaseUnavailable(
        f"unsupported database URL {redact(url)!r}: use sqlite:////path/store.db or postgresql://user@host:port/db")


def redact(url: str) -> str:
    p = urlparse(url)
    if p.password:
        return url.replace(":" + p.password + "@", ":***@")
    return url


def open_database(url: str, *, bind: bool = True) -> peewee.Database:
    """Open ``url``, check it answers, and (by default) bind the models to it."""
    db = make_database(url)
    try:
        db.connect(reuse_if_open=True)
        db.execute_sql("SELECT 1")
    except peewee.OperationalError as e:
        raise DatabaseUnavailable(f"cannot open database {redact(url)}: {first_line(e)}") from e
    except peewee.DatabaseError as e:
        raise DatabaseUnavailable(f"cannot open database {redact(url)}: {first_line(e)}") from e
    if bind:
        proxy.initialize(db)
    return db


def first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else e.__class__.__name__


def is_postgres(db: peewee.Database | None = None) -> bool:
    db = db or proxy.obj
    return isinstance(db, peewee.PostgresqlDatabase)


def is_sqlite(db: peewee.Database | None = None) -> bool:
    db = db or proxy.obj
    return isinstance(db, peewee.SqliteDatabase)


def current() -> peewee.Database:
    if proxy.obj is None:
        raise DatabaseUnavailable("no database is open")
    return proxy.obj


def write():
    """The one way to start a write transaction: ``with write(): ...``.

    SQLite: ``BEGIN IMMEDIATE`` (the database's ``lock_type``). PostgreSQL:
    READ COMMITTED plus explicit row locks via :func:`locked`. Nested calls
    become savepoints.
    """
    return current().atomic()


def locked(query):
    """``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the IMMEDIATE
    transaction already holds the write lock, so the query is returned as is."""
    if is_postgres():
        return query.for_update()
    return query


def release(db: peewee.Database | None = None) -> None:
    """End of a worker thread's database work: close this thread's own connection
    (peewee keeps one per thread) unless a transaction is still open."""
    db = db or proxy.obj
    try:
        if db is not None and not db.is_closed() and not db.in_transaction():
            db.close()
    except Exception:  # noqa: BLE001 - closing is best effort
        pass


TRANSIENT = (peewee.OperationalError, peewee.InterfaceError)


def retrying(fn, *, attempts: int = 3, delay: float = 0.2):
    """Run ``fn()`` (which must open its own transaction) again after a transient
    database error: a dropped PostgreSQL connection, a busy SQLite file. Each
    attempt is a whole transaction, so a retry never half-repeats anything."""
    last = None
    for i in range(attempts):
        try:
            return fn()
        except TRANSIENT as e:
            last = e
            db = proxy.obj
            try:
                if db is not None and not db.is_closed() and not db.in_transaction():
                    db.close()
            except Exception:
                pass
            time.sleep(delay * (i + 1))
    raise DatabaseUnavailable(f"the database is not answering: {first_line(last)}") from last


def default_data_dir() -> Path:
    base = os.environ.get("STATION_HOME")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_DATA_HOME")
    return Path(xdg) / "station" if xdg else Path.home() / ".local" / "share" / "station"
