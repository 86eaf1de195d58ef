"""The versioned schema. ``upgrade()`` creates or upgrades idempotently.

Each migration is a function applied together with the bump of
``schema_version``, all pending ones in ONE write transaction; concurrent
upgraders serialise on the SQLite write lock (BEGIN IMMEDIATE) or a PostgreSQL
transaction-scoped advisory lock, and read the version after taking it, so a
migration is never applied twice.
"""
from __future__ import annotations


from data import db as dbmod
from data import payments as payments_models
from data import refund as refund_tables
from data import reporting as report_tables
from data import stock as stock_tables
from data import treasury as treasury_tables
from data.models import ALL_MODELS, ApprovalRequest, JournalHead, SchemaMeta

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
    return ([f"{t}_guard_{op.lower()}" for t, op, _c, _m in _GUARDS] + ["cash_movement_guard_closed"]
            + [name for name, *_ in _SEALS]
            + payments_models.guard_names()
            + refund_tables.trigger_names()
            + stock_tables.trigger_names()
            + treasury_tables.trigger_names())


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
    for name, table, *_ in _SEALS:
        database.execute_sql(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if dbmod.is_postgres(database)
                                                                   else ""))
    payments_models.drop_guards(database)
    stock_tables.drop_guards(database)
    treasury_tables.drop_guards(database)
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


def _add_columns(database, table: str, columns: list[tuple[str, str]]) -> None:
    have = {c.name for c in database.get_columns(table)}
    for name, ddl in columns:
        if name not in have:
            database.execute_sql(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}")


def m002_running_totals(database):
    """Drawer sessions keep running totals and a running movement digest (X and Z
    read them; a session opened before has digest NULL and is recomputed once);
    tickets carry a revision number."""
    _add_columns(database, "drawer_session", [("totals", "TEXT NOT NULL DEFAULT '{}'"),
                                              ("digest", "VARCHAR(64)")])
    _add_columns(database, "ticket", [("rev", "INTEGER NOT NULL DEFAULT 0")])


def m_approval_requests(database):
    """Approvals record where the approver was (the SSH client); approval
    requests wait in the database for a manager at another terminal."""
    _add_columns(database, "approval", [("origin", "VARCHAR(128)")])
    database.create_tables([ApprovalRequest], safe=True)


#: the full-text index of product names (SQLite FTS5 over ``product.name_key``,
#: kept in step by triggers; the catalog import suspends the insert trigger and
#: indexes its new products in bulk)
PRODUCT_FTS = ("CREATE VIRTUAL TABLE IF NOT EXISTS product_fts USING fts5(name_key, content='product', "
               "content_rowid='id', prefix='2 3', detail=column)")
PRODUCT_FTS_INSERT = ("CREATE TRIGGER IF NOT EXISTS product_fts_insert AFTER INSERT ON product BEGIN "
                      "INSERT INTO product_fts(rowid, name_key) VALUES (new.id, new.name_key); END")
_PRODUCT_FTS_SYNC = [
    "CREATE TRIGGER IF NOT EXISTS product_fts_delete AFTER DELETE ON product BEGIN "
    "INSERT INTO product_fts(product_fts, rowid, name_key) VALUES ('delete', old.id, old.name_key); END",
    "CREATE TRIGGER IF NOT EXISTS product_fts_update AFTER UPDATE OF name_key ON product BEGIN "
    "INSERT INTO product_fts(product_fts, rowid, name_key) VALUES ('delete', old.id, old.name_key); "
    "INSERT INTO product_fts(rowid, name_key) VALUES (new.id, new.name_key); END",
]
#: the PostgreSQL counterpart: a GIN index over the words of ``product.name_key``
PRODUCT_WORDS_PG = ("CREATE INDEX IF NOT EXISTS product_name_words ON product "
                    "USING gin (to_tsvector('simple', name_key))")


def m004_name_search(database):
    """Names are searched word by word through a full-text index (FTS5 on SQLite,
    a tsvector GIN index on PostgreSQL); the one-row-per-word table goes."""
    if dbmod.is_postgres(database):
        database.execute_sql(PRODUCT_WORDS_PG)
    else:
        try:
            database.execute_sql(PRODUCT_FTS)
        except Exception as e:
            raise RuntimeError(f"this SQLite has no FTS5 (full-text search), which the catalog needs: {e}") from e
        for sql in [PRODUCT_FTS_INSERT, *_PRODUCT_FTS_SYNC]:
            database.execute_sql(sql)
        database.execute_sql("INSERT INTO product_fts(product_fts) VALUES ('rebuild')")
    database.execute_sql("DROP TABLE IF EXISTS search_word")


def m_journal_keyed(database):
    """From here on journal rows are chained with a keyed MAC (station/journal.py).
    The rows already there stay plain SHA-256 and still verify; the first till to
    open the store with its key signs the seq where the keyed rows begin."""
    SchemaMeta.insert(key="journal_keyed", value="pending").on_conflict_ignore().execute()


#: a completed sale is sealed: its lines and tenders can no longer change.
#: (trigger, table, operation, the ticket checked: OLD/NEW ticket_id columns)
_SEALED_MSG = "a completed sale is final"
_SEALS = [
    ("ticket_line_guard_sealed_insert", "ticket_line", "INSERT", ("NEW",)),
    ("ticket_line_guard_sealed_update", "ticket_line", "UPDATE", ("OLD", "NEW")),
    ("ticket_line_guard_sealed_delete", "ticket_line", "DELETE", ("OLD",)),
    ("tender_guard_sealed_insert", "tender", "INSERT", ("NEW",)),
]


def _seal_triggers(database):
    out = []
    for name, table, op, rows in _SEALS:
        if dbmod.is_postgres(database):
            cond = " OR ".join(f"EXISTS (SELECT 1 FROM ticket WHERE id = {r}.ticket_id AND status = 'completed')"
                               for r in rows)
            ret = "OLD" if op == "DELETE" else "NEW"
            out += [f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger AS $$ BEGIN IF {cond} THEN "
                    f"RAISE EXCEPTION '{_SEALED_MSG}'; END IF; RETURN {ret}; END; $$ LANGUAGE plpgsql",
                    f"DROP TRIGGER IF EXISTS {name} ON {table}",
                    f"CREATE TRIGGER {name} BEFORE {op} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}_fn()"]
        else:
            cond = " OR ".join(f"(SELECT status FROM ticket WHERE id = {r}.ticket_id) = 'completed'" for r in rows)
            out.append(f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON {table} WHEN {cond} "
                       f"BEGIN SELECT RAISE(ABORT, '{_SEALED_MSG}'); END")
    return out


def m_sealed_sales(database):
    """A completed sale's lines and tenders are frozen like the ticket itself."""
    for sql in _seal_triggers(database):
        database.execute_sql(sql)


def m_print_queue(database):
    """The durable print queue (receipts printed from the database, not from memory)."""
    from data.models import PrintJob
    database.create_tables([PrintJob], safe=True)


def m008_provider_payments(database):
    payments_models.create(database)


def m009_refunds(database):
    refund_tables.create_schema(database)


def m010_cost_capture(database):
    """Products carry a cost price; a ticket line keeps the cost it was sold at."""
    for table in ("product", "ticket_line"):
        _add_columns(database, table, [("cost", "BIGINT NOT NULL DEFAULT 0 CHECK (cost >= 0)")])


def m011_report_summaries(database):
    """Report summary tables (by day, hour, terminal, cashier, product, method, tax
    rate), filled from the journal by the first report read."""
    report_tables.create_schema(database)


def m012_stock(database):
    """Categories as a table; products carry stock on hand (cached), a reorder
    point and the last cost; stock movements, deliveries, counts, low-stock
    alerts and price history. Existing products are put in categories named
    after their category text."""
    from data.models import Category
    database.create_tables([Category], safe=True)
    _add_columns(database, "product", [
        ("category_id", "INTEGER REFERENCES category (id)"),
        ("on_hand", "BIGINT NOT NULL DEFAULT 0"),
        ("reorder_point", "BIGINT"),
        ("last_cost", "BIGINT NOT NULL DEFAULT 0 CHECK (last_cost >= 0)"),
    ])
    stock_tables.create_schema(database)
    stock_tables.link_categories(database)
    # sales and refunds before this step moved no stock: verify looks at the later ones
    for key, table in (("stock_from_ticket", "ticket"), ("stock_from_refund", "refund")):
        last = database.execute_sql(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]
        SchemaMeta.insert(key=key, value=str(last)).on_conflict_ignore().execute()
def m013_treasury(database):
    """Funds, their insert-only ledger, requisitions and executions, variances,
    replenishments, cash bags, counts and reconciliations (data/treasury.py)."""
    treasury_tables.create_schema(database)


#: the code's schema, in order. Never edit a released step: append a new one.
MIGRATIONS = [
    (1, "initial schema", m001_initial),
    (2, "running drawer totals, ticket revisions", m002_running_totals),
    (3, "approval origin; approval requests waiting for a manager", m_approval_requests),
    (4, "full-text search of product names", m004_name_search),
    (5, "journal chained with a keyed MAC", m_journal_keyed),
    (6, "durable print queue", m_print_queue),
    (7, "sealed sales: a completed sale's lines and tenders are final", m_sealed_sales),
    (8, "provider payments and their callback log", m008_provider_payments),
    (9, "refunds, returns, post-voids and exchanges", m009_refunds),
    (10, "cost price on products and on sold lines", m010_cost_capture),
    (11, "report summary tables", m011_report_summaries),
    (12, "stock: categories, movements, deliveries, counts, alerts, price history", m012_stock),
    (13, "treasury: funds, ledger, requisitions, variances, replenishments, cash bags", m013_treasury),
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
    """Apply every pending migration; returns what was applied (may be empty).
    All pending steps run in ONE transaction, so of several processes upgrading
    at once exactly one applies them and the others find nothing to do."""
    database = database or dbmod.current()
    applied = []
    with database.atomic():
        if dbmod.is_postgres(database):
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_KEY,))
        current = schema_version(database)
        for version, title, fn in MIGRATIONS:
            if current >= version:
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
