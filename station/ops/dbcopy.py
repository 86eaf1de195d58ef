"""``station db copy --to postgresql://...``: move a store to PostgreSQL, for a
shop that grows from one till to several.

Every table of the store is copied (found in the database itself, so the tables
of every area come along) in foreign-key order, in ONE transaction on the
target, from one read snapshot of the source. The target must be an empty
PostgreSQL database (its schema is created first, at this station's version).
The database's own guards (insert-only and closed-session triggers) are off for
that transaction only: the rows are copied as they are, not replayed.

Then it is checked: the same number of rows in every table, the same sum of
every integer column of every table (money, quantities, counters), the same
journal head, and ``station verify`` on the copy.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from data import db as dbmod
from data import migrations
from data import treasury as treasury_tables
from station.errors import Conflict, InvalidInput, StationError, Unavailable
from station.ops.backup import backend_of, bound, head_of, verify_copy

BATCH = 5000
INTEGER_TYPES = ("integer", "bigint", "smallint", "int", "int4", "int8")


@dataclass
class CopyResult:
    target: str
    rows: dict[str, int]
    sums: dict[str, int]
    mismatches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.problems


def _search_index_tables(database) -> set[str]:
    """SQLite's full-text index tables (a virtual table and its shadow tables):
    an index over rows that are copied, built by the target's own schema."""
    if not dbmod.is_sqlite(database):
        return set()
    virtual = [r[0] for r in database.execute_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")]
    return {t for t in database.get_tables() for v in virtual if t == v or t.startswith(v + "_")}


def tables_in_order(database) -> list[str]:
    """The store's tables, every table after the tables it refers to."""
    skip = _search_index_tables(database)
    names = [t for t in database.get_tables() if not t.startswith("sqlite_") and t not in skip]
    deps = {t: {fk.dest_table for fk in database.get_foreign_keys(t) if fk.dest_table != t} for t in names}
    out: list[str] = []
    while deps:
        ready = sorted(t for t, d in deps.items() if not (d & set(deps)))
        if not ready:
            raise StationError(f"circular foreign keys between {', '.join(sorted(deps))}")
        for t in ready:
            out.append(t)
            del deps[t]
    return out


def _columns(database, table: str) -> dict[str, str]:
    return {c.name: c.data_type.lower() for c in database.get_columns(table)}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _counts_and_sums(database, tables: list[str], columns: dict[str, dict[str, str]]):
    """Row count of every table, and the sum of every integer column (booleans
    as how many are true); ``columns`` are the PostgreSQL column types."""
    rows, sums = {}, {}
    for t in tables:
        ints = [c for c, kind in columns[t].items()
                if (kind.split("(")[0] in INTEGER_TYPES or kind == "boolean") and c != "id"]
        exprs = ["COUNT(*)"] + [
            f"COALESCE(SUM(CASE WHEN {_q(c)} THEN 1 ELSE 0 END), 0)" if columns[t][c] == "boolean"
            else f"COALESCE(SUM({_q(c)}), 0)" for c in ints]
        got = database.execute_sql(f"SELECT {', '.join(exprs)} FROM {_q(t)}").fetchone()
        rows[t] = int(got[0])
        for c, v in zip(ints, got[1:]):
            sums[f"{t}.{c}"] = int(v)
    return rows, sums


@contextlib.contextmanager
def _snapshot(source):
    """One read snapshot of the source: a deferred read transaction on SQLite
    (WAL: the tills are not blocked), a repeatable-read one on PostgreSQL."""
    if dbmod.is_sqlite(source):
        source.execute_sql("BEGIN")
        try:
            yield
        finally:
            source.execute_sql("COMMIT")
    else:
        with source.atomic():
            source.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield


def _rows_held(target, table: str) -> int:
    """Rows of ``table`` that are data: the funds every new store starts with
    (created by the migrations, untouched) are not."""
    sql = f"SELECT COUNT(*) FROM {_q(table)}"
    params: tuple = ()
    if table == "fund":
        sql += " WHERE NOT (balance = 0 AND (name, kind) IN (" + ", ".join(["(%s, %s)"] * len(treasury_tables.DEFAULT_FUNDS)) + "))"
        params = tuple(v for pair in treasury_tables.DEFAULT_FUNDS for v in pair)
    return target.execute_sql(sql, params).fetchone()[0]


def copy_store(ctx, to_url: str, *, progress=None) -> CopyResult:
    """Copy the store of ``ctx`` into the empty PostgreSQL database ``to_url``
    and check the copy. ``progress(text)`` hears about each table."""
    say = progress or (lambda _t: None)
    if backend_of(to_url) != "postgresql":
        raise InvalidInput("db copy moves a store to PostgreSQL (postgresql://user@host:port/db); "
                           "for another SQLite file use 'station backup'")
    if to_url == ctx.config.db_url:
        raise InvalidInput("the target is the store itself")
    t0 = time.monotonic()
    source = ctx.db
    try:
        target = dbmod.open_database(to_url, bind=False)
    except dbmod.DatabaseUnavailable as e:
        raise Unavailable(str(e)) from None
    try:
        with bound(target):
            migrations.upgrade(target)
            head = head_of(target)
            tables = tables_in_order(source)
            missing = sorted(set(tables) - set(target.get_tables()))
            if missing:
                raise Conflict(f"the target has no table {', '.join(missing)}: is it the same station version?")
            data_tables = [t for t in tables if t != "schema_meta"]
            busy = {t: n for t in data_tables if t != "journal_head" for n in [_rows_held(target, t)] if n}
            if head.seq or busy:
                what = ", ".join(f"{n} in {t}" for t, n in sorted(busy.items())[:3]) or f"{head.seq} journal entries"
                raise Conflict(f"the target database already holds data ({what}): copy only into an empty database")
        src_cols = {t: _columns(source, t) for t in data_tables}
        dst_cols = {t: _columns(target, t) for t in data_tables}
        for t in data_tables:
            if set(src_cols[t]) != set(dst_cols[t]):
                raise Conflict(f"table {t} has other columns in the target: is it the same station version?")
        with _snapshot(source):
            with target.atomic():
                cur = target.cursor()
                for t in data_tables:
                    cur.execute(f"ALTER TABLE {_q(t)} DISABLE TRIGGER USER")
                cur.execute("DELETE FROM journal_head")
                cur.execute("DELETE FROM fund")
                for t in data_tables:
                    n = _copy_table(source, cur, t, list(src_cols[t]), dst_cols[t])
                    say(f"{t}: {n} rows")
                # what schema_meta says about the data travels with it: the store's key check
                # value and where its keyed journal begins (the schema version is the target's own)
                for key, value in source.execute_sql(
                        "SELECT key, value FROM schema_meta WHERE key <> 'schema_version'").fetchall():
                    cur.execute("INSERT INTO schema_meta (key, value) VALUES (%s, %s) "
                                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (key, value))
                for t in data_tables:
                    cur.execute(f"ALTER TABLE {_q(t)} ENABLE TRIGGER USER")
                    if "id" in dst_cols[t]:
                        cur.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                                    f"COALESCE((SELECT MAX(id) FROM {_q(t)}), 0) + 1, false)", (t,))
            src_rows, src_sums = _counts_and_sums(source, data_tables, dst_cols)
        dst_rows, dst_sums = _counts_and_sums(target, data_tables, dst_cols)
        res = CopyResult(target=dbmod.redact(to_url), rows=dst_rows, sums=dst_sums)
        for t in data_tables:
            if src_rows[t] != dst_rows[t]:
                res.mismatches.append(f"{t}: {src_rows[t]} rows in the store, {dst_rows[t]} in the copy")
        for k, v in src_sums.items():
            if dst_sums.get(k) != v:
                res.mismatches.append(f"{k}: sum {v} in the store, {dst_sums.get(k)} in the copy")
        if head_of(source) != head_of(target):
            res.mismatches.append("the journal heads differ")
    finally:
        target.close()
    say("running the checks on the copy")
    res.problems = verify_copy(ctx, to_url)
    res.seconds = time.monotonic() - t0
    return res


def _copy_table(source, cur, table: str, cols: list[str], dst_types: dict[str, str]) -> int:
    from psycopg2.extras import execute_values
    booleans = {i for i, c in enumerate(cols) if dst_types[c] == "boolean"}
    order = "id" if "id" in cols else ", ".join(_q(c) for c in cols)
    sql_in = f"SELECT {', '.join(_q(c) for c in cols)} FROM {_q(table)} ORDER BY {order}"
    sql_out = f"INSERT INTO {_q(table)} ({', '.join(_q(c) for c in cols)}) VALUES %s"
    n = 0
    rows_cur = source.execute_sql(sql_in)
    while True:
        batch = rows_cur.fetchmany(BATCH)
        if not batch:
            return n
        if booleans:
            batch = [tuple(bool(v) if i in booleans and v is not None else v for i, v in enumerate(r))
                     for r in batch]
        execute_values(cur, sql_out, batch, page_size=BATCH)
        n += len(batch)
