"""Open the store database from a URL, and the ways to write to it.

SQLite (the default, one file, embedded):
  * WAL journal so readers never block the writer;
  * durability by what is at stake (:func:`write` / :func:`edit`):
    ``synchronous=FULL`` for every transaction that commits a sale, moves money,
    writes the journal or uses an approval (it survives a power cut, not only a
    crash of the process); ``NORMAL`` for ticket edits (a scan, a quantity): in WAL
    that loses nothing when the process dies and, on a power cut, at most the
    newest edits, as a consistent prefix (the next FULL commit makes every
    earlier edit durable too). The pragma is set before BEGIN (SQLite cannot
    change it inside a transaction), and back to FULL before any other write;
  * ``foreign_keys=1``; a page cache sized for the machine (:func:`page_cache_kib`,
    per connection; the OS file cache serves the rest to every process);
  * every transaction is ``BEGIN IMMEDIATE`` (``lock_type``): the write lock is
    taken at the start, so two terminals never both read-then-write;
  * writers queue (:class:`SqliteStore`): before BEGIN a writer takes an
    exclusive ``flock`` on ``<db>-writer`` and waits in the kernel, woken the
    moment the writer ahead releases it (SQLite's own busy handler sleeps 1, 2,
    5 ... 100 ms and often sleeps while the lock is free); the busy timeout stays
    as the backstop for writers from outside (the sqlite3 shell);
  * WAL checkpoints run off the commit path: one checkpointer per store
    (:func:`start_checkpointer`, started by the app) copies the WAL back every
    100 ms; ``wal_autocheckpoint`` is only a backstop for a store without one.

PostgreSQL (``postgresql://user@host:port/db``): terminals share one server;
a value that is read and then written is read with ``FOR UPDATE`` (see
:func:`locked`). :class:`PostgresStore` saves round trips: BEGIN travels with
the transaction's first statement, and writes whose result nobody reads
(:func:`defer`) travel with the next statement or the COMMIT.
"""
from __future__ import annotations

import fcntl
import logging
import os
import select
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlparse, unquote

import peewee
from peewee import DatabaseProxy

log = logging.getLogger("station.db")

#: every model binds to this proxy; :func:`open_database` initialises it.
proxy = DatabaseProxy()

BUSY_TIMEOUT_MS = 15000


class DatabaseUnavailable(Exception):
    """The database cannot be reached (server down, file unreadable, bad URL)."""


#: frames (pages) in the WAL before a commit checkpoints it itself: the backstop
#: for a store whose checkpointer is not running (SQLite's default is 1000)
WAL_AUTOCHECKPOINT_BACKSTOP = 10_000


def page_cache_kib() -> int:
    """SQLite page cache per connection, sized for the machine: 1/1024 of its
    memory, between 2 and 8 MiB (a terminal process has a few connections: the
    UI's, the sale worker's, the search thread's; the OS file cache, shared by
    every process, holds the rest of the store)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 1 << 30
    return max(2 * 1024, min(8 * 1024, total // 1024 // 1024))


def sqlite_pragmas() -> dict:
    return {
        "journal_mode": "wal",
        "synchronous": FULL,
        "foreign_keys": 1,
        "busy_timeout": BUSY_TIMEOUT_MS,
        "cache_size": -page_cache_kib(),
        "wal_autocheckpoint": WAL_AUTOCHECKPOINT_BACKSTOP,
        "journal_size_limit": 64 * 1024 * 1024,
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
        return SqliteStore(
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
        kwargs.update(parse_qsl(parsed.query))   # libpq options: ?sslmode=require&sslrootcert=...
        return ReconnectingPostgresStore(parsed.path.lstrip("/"), **kwargs)
    raise DatabaseUnavailable(
        f"unsupported database URL {redact(url)!r}: use sqlite:////path/store.db or postgresql://user@host:port/db")


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:`` URL (None for any other URL)."""
    if not isinstance(url, str) or not url.lower().startswith("sqlite:"):
        return None
    path = unquote(url[len("sqlite://"):])
    path = path[1:] if path.startswith("/") else path
    return Path(path) if path not in ("", ":memory:", "/:memory:") else None


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


# ------------------------------------------------------------ durability ---

FULL, NORMAL = "full", "normal"


def write():
    """A durable write transaction: ``with write(): ...`` (synchronous=FULL).

    For everything that commits a sale, moves money, writes the journal or uses
    an approval. SQLite: ``BEGIN IMMEDIATE`` (the database's ``lock_type``).
    PostgreSQL: READ COMMITTED plus explicit row locks via :func:`locked`.
    Nested calls become savepoints.
    """
    return _Transaction(current(), FULL)


def edit():
    """A ticket edit (a scan, a quantity): ``with edit(): ...``. Commits without
    waiting for the disk (SQLite synchronous=NORMAL, PostgreSQL
    synchronous_commit=off): nothing is lost when the process dies; a power cut
    may lose the newest edits (never a committed sale: its FULL commit makes
    every edit before it durable). Never for money, the journal or approvals
    (:func:`require_durable` refuses them inside an edit)."""
    return _Transaction(current(), NORMAL)


def require_durable() -> None:
    """Refuse (a programming error) when the open transaction is a ticket edit."""
    if getattr(current()._state, "station_durability", FULL) != FULL:
        raise RuntimeError("this write must be durable: open its transaction with dbmod.write(), not edit()")


class _Transaction:
    """``write()`` / ``edit()``: the durability is set before BEGIN; nested calls
    are savepoints of the outer transaction (whose durability holds). The outer
    one is a peewee transaction (on the connection's transaction stack, commit
    callbacks run), without peewee's two wrapper objects per transaction."""

    __slots__ = ("db", "durability", "_savepoint", "_outer")

    def __init__(self, db, durability: str):
        self.db, self.durability = db, durability

    def __enter__(self):
        db = self.db
        st = db._state
        self._outer = not st.transactions
        if not self._outer:
            if self.durability == FULL:
                require_durable()
            self._savepoint = db.savepoint()
            return self._savepoint.__enter__()
        set_durability = getattr(db, "set_durability", None)
        if set_durability is not None:
            set_durability(self.durability)
        st.station_durability = self.durability
        try:
            db.begin()
        except BaseException:
            self._rest()
            raise
        db.push_transaction(self)
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self._outer:
            return self._savepoint.__exit__(exc_type, exc, tb)
        db = self.db
        try:
            db.pop_transaction()
            if exc_type is not None:
                db.rollback()
                db._clear_commit_callbacks()
                return False
            try:
                db.commit()
            except BaseException:
                db.rollback()
                db._clear_commit_callbacks()
                raise
            db._run_commit_callbacks()
            return False
        finally:
            self._rest()

    def _rest(self) -> None:
        st = self.db._state
        st.station_durability = FULL
        st.station_want = FULL


def q(sql: str) -> str:
    """SQL written with ``?`` placeholders, for the open database (``%s`` on PostgreSQL)."""
    if isinstance(proxy.obj, PostgresStore):
        out = _PG_SQL.get(sql)
        if out is None:
            out = _PG_SQL[sql] = sql.replace("?", "%s")
        return out
    return sql


_PG_SQL: dict[str, str] = {}


def defer(sql: str, params=()) -> None:
    """A write inside the open transaction whose result nobody reads: executed
    now on SQLite; on PostgreSQL sent with the next statement or the COMMIT (one
    round trip). Its errors surface there, inside the same transaction."""
    db = current()
    if isinstance(db, PostgresStore) and db.in_transaction():
        db.defer(sql, params)
    else:
        db.execute_sql(sql, params)


def param_time(t):
    """A datetime as a raw-SQL parameter, stored as peewee stores it."""
    return t if isinstance(proxy.obj, PostgresStore) else str(t)


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

#: what the storage under the database says, as the drivers word it -> a sentence
_STORAGE = (
    (("database or disk is full", "no space left on device", "could not extend file", "disk quota exceeded"),
     "the disk of the store database is full: nothing was recorded. Free some space, then try again"),
    (("attempt to write a readonly database", "read-only file system", "readonly database",
      "read-only transaction"),
     "the store database is read-only (its file, folder or disk): nothing was recorded"),
    (("permission denied", "unable to open database file", "access to database denied"),
     "no permission to use the store database (check the owner and mode of its file and folder): "
     "nothing was recorded"),
    (("disk i/o error", "input/output error"),
     "the disk of the store database reports an I/O error: nothing was recorded"),
)


def storage_problem(e: BaseException | None) -> str | None:
    """A sentence naming a full disk, a read-only store or a permission problem
    anywhere in ``e``'s chain (SQLite reports a full disk, then peewee's rollback
    says "cannot rollback - no transaction is active": the first cause counts);
    None for anything else."""
    seen = 0
    while e is not None and seen < 10:
        text = str(e).lower()
        for needles, sentence in _STORAGE:
            if any(n in text for n in needles):
                return sentence
        e = e.__cause__ or e.__context__
        seen += 1
    return None



def retrying(fn, *, attempts: int = 3, delay: float = 0.2):
    """Run ``fn()`` (which must open its own transaction) again after a transient
    database error: a dropped PostgreSQL connection, a busy SQLite file. Each
    attempt is a whole transaction, so a retry never half-repeats anything."""
    last = None
    for i in range(attempts):
        try:
            return fn()
        except TRANSIENT as e:
            named = storage_problem(e)
            if named:   # a full disk or a read-only file does not go away by trying again
                log.error("%s", named, exc_info=e)
                raise DatabaseUnavailable(named) from e
            last = e
            db = proxy.obj
            try:
                if db is not None and not db.is_closed() and not db.in_transaction():
                    db.close()
            except Exception:
                pass
            time.sleep(delay * (i + 1))
    raise DatabaseUnavailable(f"the database is not answering: {first_line(last)}") from last


_PEEWEE_LOG = logging.getLogger("peewee")
_EXC = getattr(peewee, "__exception_wrapper__")


# ------------------------------------------------- SQLite: writers queue ---

class _GateFd:
    """This thread's descriptor of the writer lock file (closed with the thread)."""

    __slots__ = ("fd", "held")

    def __init__(self, fd: int):
        self.fd, self.held = fd, False

    def __del__(self):
        try:
            os.close(self.fd)
        except OSError:
            pass


class SqliteStore(peewee.SqliteDatabase):
    """SQLite whose writers queue on a lock file instead of sleeping.

    ``begin()`` takes an exclusive ``flock`` on ``<db>-writer`` before ``BEGIN
    IMMEDIATE``; ``commit()`` / ``rollback()`` release it. A waiting writer
    sleeps in the kernel and wakes the moment the lock is free (flock is per
    open file: every thread has its own descriptor, so threads queue too; a
    killed process releases it). Where the lock file cannot be made (a
    read-only folder), writers fall back to SQLite's busy timeout."""

    def init(self, database, **kwargs):
        super().init(database, **kwargs)
        self._gate_path = f"{database}-writer"
        self._gate_local = threading.local()

    def _gate(self) -> _GateFd | None:
        g = getattr(self._gate_local, "g", False)
        if g is False:
            try:
                mode = os.stat(self.database).st_mode & 0o666
            except OSError:
                mode = 0o600
            try:
                g = _GateFd(os.open(self._gate_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode))
            except OSError:
                g = None
            self._gate_local.g = g
        return g

    def begin(self, lock_type=None):
        g = self._gate()
        if g is not None and not g.held:
            fcntl.flock(g.fd, fcntl.LOCK_EX)
            g.held = True
        try:
            self._apply_durability()        # opens the connection when needed
            with _EXC:
                self._state.conn.execute(f"BEGIN {lock_type or self._lock_type or ''}")
        except BaseException:
            self._release_gate()
            raise

    def _release_gate(self) -> None:
        g = getattr(self._gate_local, "g", None)
        if g is not None and g.held:
            g.held = False
            fcntl.flock(g.fd, fcntl.LOCK_UN)

    def commit(self):
        try:
            if self._state.closed:
                raise peewee.InterfaceError("Cannot commit, database connection not open.")
            with _EXC:
                self._state.conn.execute("COMMIT")
        finally:
            self._release_gate()

    def rollback(self):
        try:
            if self._state.closed:
                raise peewee.InterfaceError("Cannot rollback, database connection not open.")
            with _EXC:
                self._state.conn.execute("ROLLBACK")
        finally:
            self._release_gate()

    def _close(self, conn):
        self._release_gate()
        super()._close(conn)

    # synchronous per transaction (see write / edit): set before BEGIN. After an
    # edit the connection stays at NORMAL until the next transaction that is not
    # an edit, or the next statement outside a transaction that is not a read.
    def set_durability(self, durability: str) -> None:
        self._state.station_want = durability

    def _set_sync(self, want: str) -> None:
        st = self._state
        conn = self.connection()
        if getattr(st, "station_sync_conn", None) is not conn:
            st.station_sync_conn, st.station_sync = conn, FULL    # the pragma it was opened with
        if st.station_sync != want:
            conn.execute(f"PRAGMA synchronous={want}")
            st.station_sync = want

    def _apply_durability(self) -> None:
        st = self._state
        want = getattr(st, "station_want", FULL)
        st.station_want = FULL
        self._set_sync(want)

    def execute_sql(self, sql, params=None):
        st = self._state
        if getattr(st, "station_sync", FULL) != FULL and not st.transactions \
                and not sql.lstrip()[:6].upper().startswith(("SELECT", "PRAGMA", "WITH")):
            self._set_sync(FULL)          # a write outside a transaction is durable
        if self.query_hooks or st.closed or _PEEWEE_LOG.isEnabledFor(logging.DEBUG):
            return super().execute_sql(sql, params)
        with _EXC:                        # the hot path: straight to sqlite3, errors as peewee's
            return st.conn.execute(sql, params or ())


# ------------------------------------------------- SQLite: checkpointer ---

class Checkpointer:
    """The store's one WAL checkpointer: a daemon thread that copies the WAL back
    into the database (``wal_checkpoint(PASSIVE)``: never waits for, nor blocks,
    readers or writers) every ``every`` seconds when the WAL changed. Of all the
    processes on one store, the one holding ``<db>-checkpointer`` (flock) does
    it; when it exits another takes over."""

    def __init__(self, path: str, every: float = 0.1):
        self.path, self.every = path, every
        self.stop_event = threading.Event()
        self.checkpoints = 0
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)

    def start(self) -> "Checkpointer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5)

    def _run(self) -> None:
        import sqlite3
        wal = f"{self.path}-wal"
        fd = con = None
        seen = None
        try:
            fd = os.open(f"{self.path}-checkpointer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            owner = False
            while not self.stop_event.wait(self.every):
                if not owner:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        owner = True
                    except BlockingIOError:
                        continue
                try:
                    st = os.stat(wal)
                except FileNotFoundError:
                    continue
                mark = (st.st_mtime_ns, st.st_size)
                if mark == seen:
                    continue
                if con is None:
                    con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                    con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.checkpoints += 1
                seen = mark
        except Exception:  # noqa: BLE001 - the backstop (wal_autocheckpoint) still holds
            pass
        finally:
            if con is not None:
                con.close()
            if fd is not None:
                os.close(fd)


def start_checkpointer(db: peewee.Database | None = None) -> Checkpointer | None:
    """Start this process's WAL checkpointer for the SQLite store ``db`` (None on
    PostgreSQL). The app starts it next to its database."""
    db = db or current()
    if not isinstance(db, peewee.SqliteDatabase):
        return None
    return Checkpointer(db.database).start()


# ------------------------------------------------ PostgreSQL: round trips ---


class PostgresStore(peewee.PostgresqlDatabase):
    """PostgreSQL with fewer round trips per transaction.

    ``begin()`` sends nothing: BEGIN (and, for a ticket edit,
    ``SET LOCAL synchronous_commit = off``) travels in front of the
    transaction's first statement. :meth:`defer` queues a write whose result
    nobody reads; queued writes travel in front of the next statement, or with
    the COMMIT. A transaction that ran nothing sends nothing."""

    def _pending(self) -> list:
        st = self._state
        p = getattr(st, "station_pending", None)
        if p is None:
            p = st.station_pending = []
        return p

    def set_durability(self, durability: str) -> None:
        self._state.station_want = durability

    def begin(self, isolation_level=None):
        if self.is_closed():
            self.connect()      # before the transaction is pushed (connect resets the stack)
        st = self._state
        want = getattr(st, "station_want", FULL)
        st.station_want = FULL
        head = [b"BEGIN"]
        if want != FULL:
            head.append(b"SET LOCAL synchronous_commit = off")
        st.station_pending = head
        st.station_begun = False

    def defer(self, sql: str, params=()) -> None:
        if self.is_closed():
            self.connect()
        cur = self._state.conn.cursor()
        self._pending().append(cur.mogrify(sql, params or ()))

    def _take(self) -> list:
        st = self._state
        p = getattr(st, "station_pending", None) or []
        st.station_pending = []
        if p:
            st.station_begun = True
        return p

    def execute_sql(self, sql, params=None):
        if not getattr(self._state, "station_pending", None):
            return super().execute_sql(sql, params)
        if self.is_closed():
            self.connect()
        self._log_query(sql, params)
        start = time.perf_counter() if self.query_hooks else None
        try:
            with _EXC:
                cur = self._state.conn.cursor()
                parts = self._take()
                parts.append(cur.mogrify(sql, params or ()))
                cur.execute(b"; ".join(parts))
        except Exception as exc:
            if start is not None:
                self._notify_hooks(sql, params, start, exc)
            raise
        if start is not None:
            self._notify_hooks(sql, params, start, None)
        return cur

    def cursor(self, named_cursor=None):
        cur = super().cursor(named_cursor)
        parts = self._take()
        if parts:
            with _EXC:
                cur.execute(b"; ".join(parts))
        return cur

    def commit(self):
        st = self._state
        parts = self._take()
        if parts and not (parts[0] == b"BEGIN" and all(p.startswith((b"BEGIN", b"SET LOCAL")) for p in parts)):
            with _EXC:
                self._state.conn.cursor().execute(b"; ".join(parts + [b"COMMIT"]))
            return
        if parts:                 # BEGIN was never sent: nothing to commit
            return
        if getattr(st, "station_begun", True):
            super().commit()

    def rollback(self):
        st = self._state
        begun = getattr(st, "station_begun", True)
        st.station_pending = []
        if begun:
            super().rollback()

    def _close(self, conn):
        self._state.station_pending = []
        super()._close(conn)


# ---------------------------------------------------------- reconnecting ---

#: how psycopg2 words a connection that the server (restarted, stopped) has cut
_LOST = ("server closed the connection", "connection already closed", "terminating connection",
         "could not receive data from server", "could not send data to server", "ssl connection has been closed",
         "no connection to the server", "connection not open", "the connection is closed")


def connection_lost(e: BaseException) -> bool:
    text = str(e).lower()
    return isinstance(e, (peewee.OperationalError, peewee.InterfaceError)) and any(n in text for n in _LOST)


def _is_read(sql: str) -> bool:
    head = sql.lstrip()[:10].upper()
    return head.startswith(("SELECT", "WITH", "SHOW"))


class ReconnectingPostgresStore(PostgresStore):
    """PostgreSQL whose connections come back after the server restarts, in every
    thread (peewee keeps one connection per thread, and a connection the server
    cut stays dead in a long-lived thread -- a scan worker, the printer -- until
    it is replaced).

    * Before a transaction or a statement outside one, an idle connection whose
      socket already has something to read (the server's "terminating
      connection" notice, or EOF) is replaced: no round trip, one ``select``.
    * A transaction's first statement carries its BEGIN (:class:`PostgresStore`):
      if that finds the connection cut, nothing happened on the server, so it is
      sent again, BEGIN and all, on a new connection. A transaction that loses
      its connection later fails as a whole (``retrying`` runs it again).
    * A read outside a transaction that finds its connection cut is run once
      more on a new connection (any statement when nothing was sent at all).
    """

    def _dead(self) -> bool:
        conn = self._state.conn
        if conn is None or self._state.closed:
            return False
        try:
            return bool(conn.closed) or bool(select.select([conn.fileno()], [], [], 0)[0])
        except Exception:  # noqa: BLE001 - no socket: dead
            return True

    def _drop(self) -> None:
        """Forget this thread's connection (no transaction is open on it)."""
        conn = self._state.conn
        self._state.reset()
        self._state.station_pending = []
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - it is dead already
                pass

    def _replace_connection(self) -> None:
        """A new connection under the open transaction, which has sent nothing yet."""
        old = self._state.conn
        try:
            old.close()
        except Exception:  # noqa: BLE001
            pass
        conn = self._connect()
        self._initialize_connection(conn)
        self._state.conn, self._state.closed = conn, False

    def begin(self, isolation_level=None):
        if not self._state.transactions and self._dead():
            self._drop()
        return super().begin(isolation_level)

    def execute_sql(self, sql, params=None):
        st = self._state
        pending = list(getattr(st, "station_pending", None) or [])
        opens = bool(pending) and pending[0] == b"BEGIN"      # this statement opens the transaction
        outside = not st.transactions
        if outside and self._dead():
            self._drop()
        try:
            return super().execute_sql(sql, params)
        except (peewee.OperationalError, peewee.InterfaceError) as e:
            if not connection_lost(e):
                raise
            if outside:
                self._drop()
                if not (_is_read(sql) or isinstance(e, peewee.InterfaceError)):
                    raise
                return super().execute_sql(sql, params)
            if not opens:
                raise
            self._replace_connection()
            st.station_pending = pending
            return super().execute_sql(sql, params)


def default_data_dir() -> Path:
    base = os.environ.get("STATION_HOME")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_DATA_HOME")
    return Path(xdg) / "station" if xdg else Path.home() / ".local" / "share" / "station"
