"""Backup and restore of a store, while the tills keep selling.

SQLite: the online backup API copies the whole file in ONE step inside one read
transaction: in WAL mode writers are never blocked, and the copy is the store
exactly as it was at one commit (a step-wise copy would restart on every commit
of a busy store). The copy is a single self-contained file (journal_mode DELETE),
checked with ``PRAGMA integrity_check`` and ``station verify`` before it is
renamed into place.

PostgreSQL: ``pg_dump --format=custom`` (one snapshot); the copy is verified by
restoring it into a scratch database (which needs CREATEDB) and running the
checks there.

The key file is NOT in the backup (it never is in the database): PIN hashes,
TOTP secrets and the journal depend on it, so it must be kept apart; every
backup says so.

Restore refuses to overwrite a store whose journal goes further than the
backup's (newer data), or whose journal is another store's, unless forced; the
store as it was is first copied aside (``<store>.before-restore-<time>``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from data import db as dbmod
from data import migrations
from station.errors import Conflict, InvalidInput, StationError, Unavailable


@dataclass
class Head:
    """Where a store's journal ends: the last seq and its hash (0 / genesis for none)."""
    seq: int
    hash: str
    ts: str | None = None
    schema: int = 0


@dataclass
class BackupResult:
    path: Path
    backend: str
    size: int
    head: Head
    seconds: float
    problems: list[str] = field(default_factory=list)
    verified: bool = False

    @property
    def ok(self) -> bool:
        return self.verified and not self.problems


KEY_NOTE = ("the key file ({key}) is NOT in the backup: keep a copy of it apart from the backup "
            "(PINs, TOTP codes and the journal cannot be checked without it)")


def sqlite_path(url: str) -> Path:
    path = url[len("sqlite://"):]
    return Path(path[1:] if path.startswith("/") else path)


def backend_of(url: str) -> str:
    scheme = urlparse(url).scheme.lower()
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgres", "postgresql"):
        return "postgresql"
    raise InvalidInput(f"unsupported database URL scheme {scheme!r}")


# ----------------------------------------------------------- verification ---

@contextlib.contextmanager
def bound(database):
    """Point the models at ``database`` for the block (this thread's process-wide
    proxy), then back at the store."""
    before = dbmod.proxy.obj
    dbmod.proxy.initialize(database)
    try:
        yield database
    finally:
        dbmod.proxy.initialize(before)


def head_of(database) -> Head:
    """The journal head of an open database (0 when it has no schema yet)."""
    from data.models import Journal, JournalHead
    with bound(database):
        v = migrations.schema_version(database)
        if v == 0 or not database.table_exists("journal_head"):
            return Head(0, migrations.GENESIS_HASH, None, v)
        h = JournalHead.get_or_none(JournalHead.id == 1)
        if h is None:
            return Head(0, migrations.GENESIS_HASH, None, v)
        last = Journal.select(Journal.ts).where(Journal.seq == h.seq).scalar()
        return Head(h.seq, h.hash, last, v)


def journal_hash_at(database, seq: int) -> str | None:
    from data.models import Journal
    if seq == 0:
        return migrations.GENESIS_HASH
    with bound(database):
        return Journal.select(Journal.hash).where(Journal.seq == seq).scalar()


def open_copy(url: str):
    """Open a backup or a copy to read it: a SQLite file is opened as it is
    (read-only, its journal mode untouched), PostgreSQL as usual."""
    if backend_of(url) == "sqlite":
        import peewee
        path = sqlite_path(url)
        if not path.is_file():
            raise InvalidInput(f"no database file {path}")
        database = peewee.SqliteDatabase(str(path), pragmas={"query_only": 1, "foreign_keys": 1})
        database.connect()
        return database
    return dbmod.open_database(url, bind=False)


def verify_copy(ctx, url: str) -> list[str]:
    """Run ``station verify`` (every registered check) on the database at
    ``url`` with this store's config and keys; returns the problems found."""
    from station import verify
    database = open_copy(url)
    try:
        with bound(database):
            v = migrations.schema_version(database)
            if v != migrations.CODE_VERSION:
                return [f"the copy has schema version {v}, this station {migrations.CODE_VERSION}: not checked"]
            results = verify.run(dataclasses.replace(ctx, db=database))
        out = []
        for r in results:
            out += [f"{r.name}: {p}" for p in r.problems]
            if r.error:
                out.append(f"{r.name}: could not run: {r.error}")
        return out
    finally:
        database.close()


# ----------------------------------------------------------------- backup ---

def backup(ctx, dest: str | os.PathLike, *, overwrite: bool = False, verify: bool = True) -> BackupResult:
    """A consistent copy of the store in ``dest`` while it is in use; verified
    unless ``verify`` is False. Raises StationError when no copy could be made."""
    dest = Path(dest).resolve()
    if dest.exists() and not overwrite:
        raise Conflict(f"{dest} already exists: choose another file (or --overwrite)")
    if not dest.parent.is_dir():
        raise InvalidInput(f"folder {dest.parent} does not exist")
    url = ctx.config.db_url
    kind = backend_of(url)
    t0 = time.monotonic()
    if kind == "sqlite":
        res = _backup_sqlite(ctx, sqlite_path(url), dest, verify)
    else:
        res = _backup_postgres(ctx, url, dest, verify)
    res.seconds = time.monotonic() - t0
    return res


def _backup_sqlite(ctx, src: Path, dest: Path, verify: bool) -> BackupResult:
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=dbmod.BUSY_TIMEOUT_MS / 1000)
        target = sqlite3.connect(tmp)
        try:
            source.backup(target)          # one step: one snapshot, writers never blocked (WAL)
            target.execute("PRAGMA journal_mode=DELETE")   # one self-contained file
            ok = target.execute("PRAGMA integrity_check").fetchone()[0]
            target.commit()
        finally:
            target.close()
            source.close()
        if ok != "ok":
            raise StationError(f"the copy failed its integrity check: {ok}")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except sqlite3.Error as e:
        raise Unavailable(f"cannot back up {src}: {e}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    copy = open_copy(f"sqlite:///{dest}")
    try:
        head = head_of(copy)
    finally:
        copy.close()
    res = BackupResult(path=dest, backend="sqlite", size=dest.stat().st_size, head=head, seconds=0.0)
    if verify:
        res.problems = verify_copy(ctx, f"sqlite:///{dest}")
        res.verified = True
    return res


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Unavailable(f"{name} is not installed: install the PostgreSQL client tools "
                          f"(Debian: apt-get install postgresql-client)")
    return path


def _run(cmd: list[str], what: str) -> None:
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        err = (p.stderr or p.stdout).strip().splitlines()
        raise Unavailable(f"{what} failed: {err[-1] if err else f'exit {p.returncode}'}")


def _admin_url(url: str, dbname: str) -> str:
    p = urlparse(url)
    return p._replace(path="/" + dbname).geturl()


@contextlib.contextmanager
def scratch_database(url: str):
    """A throwaway PostgreSQL database beside the store's (dropped afterwards)."""
    import psycopg2
    p = urlparse(url)
    name = f"{p.path.lstrip('/')}_check_{uuid.uuid4().hex[:8]}"
    admin = dict(host=p.hostname, port=p.port or 5432, user=p.username, password=p.password,
                 dbname="postgres", connect_timeout=5)
    try:
        c = psycopg2.connect(**{k: v for k, v in admin.items() if v is not None})
    except psycopg2.Error as e:
        raise Unavailable(f"cannot reach the server to check the copy: {dbmod.first_line(e)}") from None
    c.autocommit = True
    try:
        with c.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    except psycopg2.Error as e:
        c.close()
        raise Unavailable(f"cannot create a scratch database to check the copy: {dbmod.first_line(e)}") from None
    try:
        yield _admin_url(url, name)
    finally:
        with c.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.close()


def _backup_postgres(ctx, url: str, dest: Path, verify: bool) -> BackupResult:
    pg_dump = _pg_tool("pg_dump")
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        _run([pg_dump, "--format=custom", "--no-owner", f"--file={tmp}", f"--dbname={url}"], "pg_dump")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    res = BackupResult(path=dest, backend="postgresql", size=dest.stat().st_size, head=pg_dump_head(dest),
                       seconds=0.0)
    if verify:
        with scratch_database(url) as scratch:
            _run([_pg_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={scratch}", str(dest)],
                 "pg_restore (checking the copy)")
            res.problems = verify_copy(ctx, scratch)
        res.verified = True
    return res


def pg_dump_head(path: Path) -> Head:
    """The journal head stored in a pg_dump file (its one journal_head row)."""
    p = subprocess.run([_pg_tool("pg_restore"), "--data-only", "--table=journal_head", "--file=-", str(path)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise InvalidInput(f"{path} is not a station backup (pg_restore: "
                           f"{(p.stderr.strip().splitlines() or ['unreadable'])[-1]})")
    lines = p.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("COPY ") and "journal_head" in line:
            row = lines[i + 1].split("\t")
            cols = [c.strip() for c in line[line.index("(") + 1:line.index(")")].split(",")]
            rec = dict(zip(cols, row))
            return Head(int(rec["seq"]), rec["hash"])
    return Head(0, migrations.GENESIS_HASH)


# ---------------------------------------------------------------- restore ---

@dataclass
class RestoreResult:
    store_before: Head
    backup: Head
    saved_as: Path | None
    problems: list[str]


def compare(store: Head, backup_head: Head, store_hash_at_backup_seq: str | None,
            backup_hash_at_store_seq: str | None) -> str | None:
    """Why restoring ``backup_head`` over ``store`` would lose data, or None."""
    if store.seq == 0:
        return None
    if store.seq > backup_head.seq:
        when = f", the last at {store.ts[:19].replace('T', ' ')} UTC" if store.ts else ""
        return (f"the store has {store.seq - backup_head.seq} journal entries newer than the backup "
                f"(up to seq {store.seq}{when})")
    if backup_hash_at_store_seq is not None and backup_hash_at_store_seq != store.hash:
        return f"the store's journal and the backup's differ at seq {store.seq}: they are different stores"
    if store_hash_at_backup_seq is not None and store_hash_at_backup_seq != backup_head.hash:
        return f"the store's journal and the backup's differ at seq {backup_head.seq}: they are different stores"
    return None


def restore(ctx_cfg, src: str | os.PathLike, *, force: bool = False, ctx=None) -> RestoreResult:
    """Put the backup ``src`` in place of the configured store. ``ctx_cfg`` is the
    store's Config; ``ctx`` (its open context) is used to verify the backup first."""
    src = Path(src).resolve()
    if not src.is_file():
        raise InvalidInput(f"no backup file {src}")
    url = ctx_cfg.db_url
    if backend_of(url) == "sqlite":
        return _restore_sqlite(ctx_cfg, sqlite_path(url).resolve(), src, force, ctx)
    return _restore_postgres(ctx_cfg, url, src, force)


def _open_backup_sqlite(src: Path):
    with open(src, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise InvalidInput(f"{src} is not a station backup (not a SQLite file; "
                               f"a PostgreSQL store restores from a pg_dump file)")
    database = open_copy(f"sqlite:///{src}")
    with bound(database):
        v = migrations.schema_version(database)
    if v == 0:
        database.close()
        raise InvalidInput(f"{src} is not a station backup (no station schema in it)")
    return database


def _restore_sqlite(cfg, store: Path, src: Path, force: bool, ctx) -> RestoreResult:
    if src == store:
        raise InvalidInput("the backup is the store itself")
    bk = _open_backup_sqlite(src)
    try:
        bk_head = head_of(bk)
        ok = bk.execute_sql("PRAGMA integrity_check").fetchone()[0]
    finally:
        bk.close()
    if bk_head.schema > migrations.CODE_VERSION:
        raise Conflict(f"the backup has schema version {bk_head.schema}, newer than this station's "
                       f"{migrations.CODE_VERSION}: restore it with the newer station")
    problems = [] if ok == "ok" else [f"integrity check: {ok}"]
    if ctx is not None and not problems and bk_head.schema == migrations.CODE_VERSION:
        problems = verify_copy(ctx, f"sqlite:///{src}")
    if problems and not force:
        raise Conflict(f"the backup does not check out ({problems[0]}): nothing was changed "
                       f"(restore --force to restore it anyway)")
    store_head = Head(0, migrations.GENESIS_HASH)
    saved = None
    if store.exists():
        cur = dbmod.open_database(f"sqlite:///{store}", bind=False)
        try:
            store_head = head_of(cur)
            at_bk = journal_hash_at(cur, bk_head.seq) if store_head.seq >= bk_head.seq else None
        finally:
            cur.close()
        bk = open_copy(f"sqlite:///{src}")
        try:
            at_store = journal_hash_at(bk, store_head.seq) if store_head.seq <= bk_head.seq else None
        finally:
            bk.close()
        why = compare(store_head, bk_head, at_bk, at_store)
        if why and not force:
            raise Conflict(f"{why}: nothing was changed (restore --force to overwrite it)")
        if store_head.seq or store_head.schema:
            stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            saved = store.with_name(f"{store.name}.before-restore-{stamp}")
            a = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=dbmod.BUSY_TIMEOUT_MS / 1000)
            b = sqlite3.connect(saved)
            try:
                a.backup(b)
                b.execute("PRAGMA journal_mode=DELETE")
            finally:
                b.close()
                a.close()
    else:
        store.parent.mkdir(parents=True, exist_ok=True)
    # the backup API writes the whole store in one transaction: other
    # connections see either the old store or the restored one
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(store, timeout=dbmod.BUSY_TIMEOUT_MS / 1000)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as e:
        raise Unavailable(f"cannot restore into {store}: {e}") from None
    finally:
        target.close()
        source.close()
    return RestoreResult(store_before=store_head, backup=bk_head, saved_as=saved, problems=problems)


def _restore_postgres(cfg, url: str, src: Path, force: bool) -> RestoreResult:
    bk_head = pg_dump_head(src)
    try:
        cur = dbmod.open_database(url, bind=False)
    except dbmod.DatabaseUnavailable as e:
        raise Unavailable(str(e)) from None
    try:
        store_head = head_of(cur)
        at_bk = journal_hash_at(cur, bk_head.seq) if store_head.seq >= bk_head.seq else None
    finally:
        cur.close()
    at_store = bk_head.hash if store_head.seq == bk_head.seq else None
    why = compare(store_head, bk_head, at_bk, at_store)
    if why and not force:
        raise Conflict(f"{why}: nothing was changed (restore --force to overwrite it)")
    _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
          "--exit-on-error", f"--dbname={url}", str(src)], "pg_restore")
    return RestoreResult(store_before=store_head, backup=bk_head, saved_as=None, problems=[])
