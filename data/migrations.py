"""The versioned schema. ``upgrade()`` creates or upgrades idempotently.

Each migration is a function applied inside ONE write transaction together with
the bump of ``schema_version``; concurrent upgraders serialise on the SQLite write
lock (BEGIN IMMEDIATE) or a PostgreSQL transaction-scoped advisory lock, and
re-read the version after taking it, so a migration is never applied twice.
"""
from __future__ import annotations

import hashlib

from data import db as dbmod
from data.models import ALL_MODELS, JournalHead, SchemaMeta

GENESIS_HASH = "0" * 64
ADVISORY_KEY = 0x5747A7104  # "station" schema lock


def _partial_indexes():
    return [
        "CREATE UNIQUE INDEX IF NOT EXISTS drawer_session_one_open_per_drawer "
        "ON drawer_session (drawer) WHERE status = 'open'",
        "CREATE UNIQUE INDEX IF NOT EXISTS drawer_session_one_open_per_cashier "
        "ON drawer_session (cashier_id) WHERE status = 'open'",
        "CREATE UNIQUE INDEX IF NOT EXISTS ticket_one_open_per_terminal "
        "ON ticket (terminal) WHERE status = 'open'",
    ]


#: (table, what is refused, condition) -> insert-only / freeze-after-close rules
_GUARDS = [
    ("journal", "UPDATE", None, "journal is insert-only"),
    ("journal", "DELETE", None, "journal is insert-only"),
    ("z_report", "UPDATE", None, "z reports are insert-only"),
    ("z_report", "DELETE", None, "z reports are insert-only"),
    ("cash_movement", "UPDATE", None, "cash movements are insert-only"),
    ("cash_movement", "DELETE", None, "cash movements are insert-only"),
    ("tender", "UPDATE", None, "tenders are insert-only"),
    ("tender", "DELETE", None, "tenders are insert-only"),
    ("drawer_session", "UPDATE", "OLD.status = 'closed'", "a closed drawer session is final"),
    ("drawer_session", "DELETE", None, "drawer sessions are never deleted"),
    ("ticket", "UPDATE", "OLD.status = 'completed'", "a completed sale is final"),
    ("ticket", "DELETE", "OLD.status = 'completed'", "a completed sale is final"),
]


def _triggers_sqlite():
    out = []
    for table, op, cond, msg in _GUARDS:
        name = f"{table}_guard_{op.lower()}"
        when = f" WHEN {cond}" if cond else ""
        out.append(f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON {table}{when} "
                   f"BEGIN SELECT RAISE(ABORT, '{msg}'); END")
    return out


def _triggers_postgres():
    out = []
    for table, op, cond, msg in _GUARDS:
        fn = f"{table}_guard_{op.lower()}_fn"
        name = f"{table}_guard_{op.lower()}"
        out.append(
            f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger AS $$ BEGIN "
            f"RAISE EXCEPTION '{msg}'; END; $$ LANGUAGE plpgsql")
        when = f" WHEN ({cond})" if cond else ""
        out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        out.append(f"CREATE TRIGGER {name} BEFORE {op} ON {table} FOR EACH ROW{when} "
                   f"EXECUTE FUNCTION {fn}()")
    return out


def guard_trigger_names():
    return [f"{t}_guard_{op.lower()}" for t, op, _c, _m in _GUARDS] + ["cash_movement_guard_closed"]


#: no cash movement may land in a closed drawer session (whatever the code does)
_CLOSED_SESSION_MSG = "the drawer session is closed"


def _closed_session_guard(database):
    if dbmod.is_postgres(database):
        return [
            "CREATE OR REPLACE FUNCTION cash_movement_guard_closed_fn() RETURNS trigger AS $$ BEGIN "
            "IF EXISTS (SELECT 1 FROM drawer_session WHERE id = NEW.session_id AND status = 'closed') THEN "
            f"RAISE EXCEPTION '{_CLOSED_SESSION_MSG}'; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql",
            "DROP TRIGGER IF EXISTS cash_movement_guard_closed ON cash_movement",
            "CREATE TRIGGER cash_movement_guard_closed BEFORE INSERT ON cash_movement FOR EACH ROW "
            "EXECUTE FUNCTION cash_movement_guard_closed_fn()",
        ]
    return [
        "CREATE TRIGGER IF NOT EXISTS cash_movement_guard_closed BEFORE INSERT ON cash_movement "
        "WHEN (SELECT status FROM drawer_session WHERE id = NEW.session_id) = 'closed' "
        f"BEGIN SELECT RAISE(ABORT, '{_CLOSED_SESSION_MSG}'); END",
    ]


def drop_guards(database=None):
    """For tamper tests only: drop the insert-only triggers."""
    database = database or dbmod.current()
    if dbmod.is_postgres(database):
        database.execute_sql("DROP TRIGGER IF EXISTS cash_movement_guard_closed ON cash_movement")
    else:
        database.execute_sql("DROP TRIGGER IF EXISTS cash_movement_guard_closed")
    for table, op, _c, _m in _GUARDS:
        name = f"{table}_guard_{op.lower()}"
        if dbmod.is_postgres(database):
            database.execute_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        else:
            database.execute_sql(f"DROP TRIGGER IF EXISTS {name}")


def m001_initial(database):
    database.create_tables(ALL_MODELS, safe=True)
    for sql in _partial_indexes():
        database.execute_sql(sql)
    if dbmod.is_postgres(database):   # indexed LIKE 'prefix%' for catalog search (any collation)
        database.execute_sql("CREATE INDEX IF NOT EXISTS product_name_key_prefix "
                             "ON product (name_key varchar_pattern_ops)")
        database.execute_sql("CREATE INDEX IF NOT EXISTS search_word_prefix "
                             "ON search_word (word varchar_pattern_ops)")
    for sql in (_triggers_postgres() if dbmod.is_postgres(database) else _triggers_sqlite()):
        database.execute_sql(sql)
    for sql in _closed_session_guard(database):
        database.execute_sql(sql)
    JournalHead.insert(id=1, seq=0, hash=GENESIS_HASH).on_conflict_ignore().execute()


#: the code's schema, in order. Never edit a released step: append a new one.
MIGRATIONS = [
    (1, "initial schema", m001_initial),
]
CODE_VERSION = MIGRATIONS[-1][0]


def schema_version(database=None) -> int:
    """The database's schema version; 0 when it has no schema yet."""
    database = database or dbmod.current()
    if not database.table_exists("schema_meta"):
        return 0
    row = SchemaMeta.get_or_none(SchemaMeta.key == "schema_version")
    return int(row.value) if row else 0


def upgrade(database=None) -> list[str]:
    """Apply every pending migration; returns what was applied (may be empty)."""
    database = database or dbmod.current()
    applied = []
    for version, title, fn in MIGRATIONS:
        with database.atomic():
            if dbmod.is_postgres(database):
                database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_KEY,))
            if schema_version(database) >= version:
                continue
            fn(database)
            SchemaMeta.insert(key="schema_version", value=str(version)).on_conflict(
                conflict_target=[SchemaMeta.key], update={SchemaMeta.value: str(version)}).execute()
            applied.append(f"{version}: {title}")
    return applied


class SchemaMismatch(Exception):
    pass


def check_version(database=None) -> None:
    """Raise SchemaMismatch with one sentence telling what to run."""
    v = schema_version(database)
    if v == CODE_VERSION:
        return
    if v < CODE_VERSION:
        raise SchemaMismatch(
            f"the store database has schema version {v} but this station needs {CODE_VERSION}: "
            f"run 'station db upgrade'")
    raise SchemaMismatch(
        f"the store database has schema version {v}, newer than this station's {CODE_VERSION}: "
        f"install the newer station on this terminal")
