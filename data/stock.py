"""The tables of stock: movements, deliveries, counts, alerts, price history,
and the database's own guards on them.

Quantities are thousandths (1 piece = 1000, 0.350 kg = 350), money integer
minor units (as in ``data.models``).

* ``StockMovement``: every change of stock, insert-only. Its sign follows its
  kind (CHECK): sale and transfer-out take away, refund, receipt and
  transfer-in put back, adjustment and count correction either way. A trigger
  adds each movement to ``product.on_hand`` in the same statement, so the cached
  figure can never drift from the sum of the movements whatever the code does.
  One movement per sale line and per refund line (partial UNIQUE indexes).
* ``Delivery``: a receipt of goods (supplier, delivery note); its lines are its
  receipt movements. Insert-only.
* ``StockCount``: a count (whole store, a category or a list); at most one open
  (partial UNIQUE index); final once completed or cancelled. ``watermark`` is the
  last movement id when it started: later movements are the sales (and receipts)
  during the count. ``StockCountItem`` freezes the expected quantity per product
  at the start; ``CountScan`` rows add up what was counted (insert-only, so two
  terminals counting into one count never overwrite each other).
* ``StockAlert``: a low-stock alert. Raised by a trigger when a product's stock
  falls to or below its reorder point (from above: once, not per sale), resolved
  by a trigger when it is back above, or by a manager with a note; one active
  alert per product (partial UNIQUE index).
* ``PriceHistory``: every price change, old and new. Insert-only.
"""
from __future__ import annotations

from peewee import BigIntegerField, CharField, Check, DateTimeField, ForeignKeyField, IntegerField, TextField

from data import db as dbmod
from data.models import Approval, Base, Category, Product, Ticket, User, utcnow

MOVEMENT_KINDS = ("sale", "refund", "receipt", "adjustment", "count", "transfer_out", "transfer_in")


class Delivery(Base):
    supplier = CharField(max_length=100)
    reference = CharField(max_length=64, default="")          # the supplier's delivery note
    user = ForeignKeyField(User, backref="deliveries")
    terminal = CharField(max_length=64)
    lines = IntegerField(constraints=[Check("lines > 0")])
    total_cost = BigIntegerField(constraints=[Check("total_cost >= 0")])
    note = TextField(default="")
    created_at = DateTimeField(default=utcnow)


COUNT_SCOPES = ("store", "category", "list")
COUNT_STATUSES = ("open", "completed", "cancelled")


class StockCount(Base):
    scope = CharField(max_length=10, constraints=[Check("scope IN ('store','category','list')")])
    category = ForeignKeyField(Category, null=True, on_delete="RESTRICT")
    status = CharField(max_length=10, default="open", constraints=[Check(
        "status IN ('open','completed','cancelled')")])
    watermark = BigIntegerField(default=0)
    started_by = ForeignKeyField(User, backref="counts_started")
    started_at = DateTimeField(default=utcnow)
    terminal = CharField(max_length=64)
    finished_by = ForeignKeyField(User, null=True, backref="counts_finished")
    finished_at = DateTimeField(null=True)
    approval = ForeignKeyField(Approval, null=True)
    note = TextField(default="")


class StockCountItem(Base):
    count = ForeignKeyField(StockCount, backref="items", on_delete="RESTRICT")
    product = ForeignKeyField(Product, on_delete="RESTRICT")
    expected = BigIntegerField()           # on hand when the count started

    class Meta:
        indexes = ((("count", "product"), True),)


class CountScan(Base):
    count = ForeignKeyField(StockCount, backref="scans", on_delete="RESTRICT")
    product = ForeignKeyField(Product, on_delete="RESTRICT")
    qty = BigIntegerField(constraints=[Check("qty <> 0")])
    user = ForeignKeyField(User)
    terminal = CharField(max_length=64)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("count", "product"), False),)


class StockMovement(Base):
    product = ForeignKeyField(Product, on_delete="RESTRICT")
    kind = CharField(max_length=12)
    qty = BigIntegerField()
    cost = BigIntegerField(default=0, constraints=[Check("cost >= 0")])   # per unit
    user = ForeignKeyField(User, null=True)
    terminal = CharField(max_length=64, default="")
    created_at = DateTimeField(default=utcnow)
    ticket = ForeignKeyField(Ticket, null=True, on_delete="RESTRICT")
    ticket_line_id = BigIntegerField(null=True)
    refund_id = BigIntegerField(null=True)
    refund_line = IntegerField(null=True)         # the refund line's position
    delivery = ForeignKeyField(Delivery, null=True, on_delete="RESTRICT")
    count = ForeignKeyField(StockCount, null=True, on_delete="RESTRICT")
    reason = CharField(max_length=64, default="")
    note = TextField(default="")

    class Meta:
        indexes = ((("product", "id"), False),)
        constraints = [Check(
            "(kind IN ('sale','transfer_out') AND qty < 0) OR "
            "(kind IN ('refund','receipt','transfer_in') AND qty > 0) OR "
            "(kind IN ('adjustment','count') AND qty <> 0)")]


ALERT_STATUSES = ("active", "resolved")


class StockAlert(Base):
    product = ForeignKeyField(Product, on_delete="RESTRICT")
    status = CharField(max_length=10, default="active", constraints=[Check("status IN ('active','resolved')")])
    on_hand = BigIntegerField()               # when raised
    reorder_point = BigIntegerField()
    raised_at = DateTimeField(default=utcnow)
    resolved_at = DateTimeField(null=True)
    resolved_by = ForeignKeyField(User, null=True)
    note = TextField(default="")


class PriceHistory(Base):
    product = ForeignKeyField(Product, on_delete="RESTRICT")
    old_price = BigIntegerField(null=True)          # NULL: the product was added
    new_price = BigIntegerField(constraints=[Check("new_price >= 0")])
    user = ForeignKeyField(User, null=True)
    reason = CharField(max_length=64, default="")
    approval = ForeignKeyField(Approval, null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("product", "id"), False),)


MODELS = [Delivery, StockCount, StockCountItem, CountScan, StockMovement, StockAlert, PriceHistory]

# ---------------------------------------------------------------- guards ---

#: (trigger name, table, BEFORE op, condition, message)
_FROZEN = [
    ("stock_movement_guard_update", "stock_movement", "UPDATE", None, "stock movements are insert-only"),
    ("stock_movement_guard_delete", "stock_movement", "DELETE", None, "stock movements are insert-only"),
    ("delivery_guard_update", "delivery", "UPDATE", None, "deliveries are insert-only"),
    ("delivery_guard_delete", "delivery", "DELETE", None, "deliveries are insert-only"),
    ("count_scan_guard_update", "count_scan", "UPDATE", None, "count scans are insert-only"),
    ("count_scan_guard_delete", "count_scan", "DELETE", None, "count scans are insert-only"),
    ("stock_count_item_guard_update", "stock_count_item", "UPDATE", None, "the expected quantities of a count are frozen"),
    ("stock_count_item_guard_delete", "stock_count_item", "DELETE", None, "the expected quantities of a count are frozen"),
    ("stock_count_guard_update", "stock_count", "UPDATE", "OLD.status <> 'open'", "a finished count is final"),
    ("stock_count_guard_delete", "stock_count", "DELETE", None, "counts are never deleted"),
    ("stock_alert_guard_update", "stock_alert", "UPDATE", "OLD.status = 'resolved'", "a resolved alert is final"),
    ("stock_alert_guard_delete", "stock_alert", "DELETE", None, "alerts are never deleted"),
    ("price_history_guard_update", "price_history", "UPDATE", None, "price history is insert-only"),
    ("price_history_guard_delete", "price_history", "DELETE", None, "price history is insert-only"),
]

#: a count correction must belong to a count that is being completed (still open in its transaction)
_COUNT_OPEN_MSG = "a count correction must belong to an open count"

#: the cached stock figure follows every movement
_ON_HAND_SQL = "UPDATE product SET on_hand = on_hand + NEW.qty WHERE id = NEW.product_id"

#: low stock: from above the reorder point to at or below it -> one active alert
_RAISE_WHEN = ("NEW.reorder_point IS NOT NULL AND NEW.on_hand <= NEW.reorder_point "
               "AND (OLD.reorder_point IS NULL OR OLD.on_hand > OLD.reorder_point)")
_RESOLVE_WHEN = ("OLD.reorder_point IS NOT NULL AND OLD.on_hand <= OLD.reorder_point "
                 "AND (NEW.reorder_point IS NULL OR NEW.on_hand > NEW.reorder_point)")
_RAISE_SQL = ("INSERT INTO stock_alert (product_id, status, on_hand, reorder_point, raised_at, note) "
              "SELECT NEW.id, 'active', NEW.on_hand, NEW.reorder_point, {now}, '' "
              "WHERE NOT EXISTS (SELECT 1 FROM stock_alert WHERE product_id = NEW.id AND status = 'active')")
_RESOLVE_SQL = ("UPDATE stock_alert SET status = 'resolved', resolved_at = {now}, "
                "note = 'stock back above the reorder point' WHERE product_id = NEW.id AND status = 'active'")
_NOW = {"sqlite": "strftime('%Y-%m-%d %H:%M:%f', 'now')", "pg": "(now() AT TIME ZONE 'UTC')"}

KEEPING_TRIGGERS = [("stock_movement_guard_on_hand", "stock_movement"), ("stock_movement_guard_count_open", "stock_movement"),
                    ("product_guard_alert_raise", "product"), ("product_guard_alert_resolve", "product")]


def trigger_names() -> list[str]:
    return [t[0] for t in _FROZEN] + [t[0] for t in KEEPING_TRIGGERS]


def _sqlite_triggers() -> list[str]:
    out = []
    for name, table, op, cond, msg in _FROZEN:
        when = f" WHEN {cond}" if cond else ""
        out.append(f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON {table}{when} "
                   f"BEGIN SELECT RAISE(ABORT, '{msg}'); END")
    now = _NOW["sqlite"]
    out += [
        f"CREATE TRIGGER IF NOT EXISTS stock_movement_guard_on_hand AFTER INSERT ON stock_movement BEGIN {_ON_HAND_SQL}; END",
        "CREATE TRIGGER IF NOT EXISTS stock_movement_guard_count_open BEFORE INSERT ON stock_movement "
        "WHEN NEW.kind = 'count' AND NOT EXISTS (SELECT 1 FROM stock_count WHERE id = NEW.count_id "
        f"AND status = 'open') BEGIN SELECT RAISE(ABORT, '{_COUNT_OPEN_MSG}'); END",
        f"CREATE TRIGGER IF NOT EXISTS product_guard_alert_raise AFTER UPDATE OF on_hand, reorder_point ON product "
        f"WHEN {_RAISE_WHEN} BEGIN {_RAISE_SQL.format(now=now)}; END",
        f"CREATE TRIGGER IF NOT EXISTS product_guard_alert_resolve AFTER UPDATE OF on_hand, reorder_point ON product "
        f"WHEN {_RESOLVE_WHEN} BEGIN {_RESOLVE_SQL.format(now=now)}; END",
    ]
    return out


def _pg_function(name: str, body: str) -> str:
    return f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger AS $$ BEGIN {body} END; $$ LANGUAGE plpgsql"


def _postgres_triggers() -> list[str]:
    out = []
    for name, table, op, cond, msg in _FROZEN:
        out.append(_pg_function(name, f"RAISE EXCEPTION '{msg}';"))
        when = f" WHEN ({cond})" if cond else ""
        out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        out.append(f"CREATE TRIGGER {name} BEFORE {op} ON {table} FOR EACH ROW{when} EXECUTE FUNCTION {name}_fn()")
    now = _NOW["pg"]
    # once per statement (a count's 50,000 corrections are one): one UPDATE of the
    # cached figures of its products, in id order (a sale's few rows: a nested
    # loop over the sorted sums, so two terminals lock products in the same order
    # and never wait on each other in a circle); and a count correction must
    # belong to an open count
    for name, body in [
        ("stock_movement_guard_on_hand",
         "UPDATE product p SET on_hand = p.on_hand + d.q FROM (SELECT product_id, SUM(qty) AS q FROM new_rows "
         "GROUP BY product_id ORDER BY product_id) d WHERE p.id = d.product_id; RETURN NULL;"),
        ("stock_movement_guard_count_open",
         "IF EXISTS (SELECT 1 FROM new_rows n WHERE n.kind = 'count' AND NOT EXISTS (SELECT 1 FROM stock_count c "
         f"WHERE c.id = n.count_id AND c.status = 'open')) THEN RAISE EXCEPTION '{_COUNT_OPEN_MSG}'; END IF; "
         "RETURN NULL;"),
    ]:
        out.append(_pg_function(name, body))
        out.append(f"DROP TRIGGER IF EXISTS {name} ON stock_movement")
        out.append(f"CREATE TRIGGER {name} AFTER INSERT ON stock_movement REFERENCING NEW TABLE AS new_rows "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {name}_fn()")
    for name, table, event, when, body in [
        ("product_guard_alert_raise", "product", "AFTER UPDATE OF on_hand, reorder_point", _RAISE_WHEN,
         f"{_RAISE_SQL.format(now=now)} ON CONFLICT DO NOTHING; RETURN NULL;"),
        ("product_guard_alert_resolve", "product", "AFTER UPDATE OF on_hand, reorder_point", _RESOLVE_WHEN,
         f"{_RESOLVE_SQL.format(now=now)}; RETURN NULL;"),
    ]:
        out.append(_pg_function(name, body))
        out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        out.append(f"CREATE TRIGGER {name} {event} ON {table} FOR EACH ROW WHEN ({when}) "
                   f"EXECUTE FUNCTION {name}_fn()")
    return out


_INDEXES = [
    "CREATE UNIQUE INDEX IF NOT EXISTS stock_movement_one_per_sale_line ON stock_movement (ticket_line_id) "
    "WHERE ticket_line_id IS NOT NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS stock_movement_one_per_refund_line ON stock_movement (refund_id, refund_line) "
    "WHERE refund_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS stock_movement_count ON stock_movement (count_id) WHERE count_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS stock_movement_delivery ON stock_movement (delivery_id) WHERE delivery_id IS NOT NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS stock_alert_one_active ON stock_alert (product_id) WHERE status = 'active'",
    "CREATE UNIQUE INDEX IF NOT EXISTS stock_count_one_open ON stock_count (status) WHERE status = 'open'",
    "CREATE INDEX IF NOT EXISTS product_category_id ON product (category_id)",
]


def create_schema(database) -> None:
    """Tables, indexes and triggers of stock (a migration step calls it)."""
    database.create_tables(MODELS, safe=True)
    for sql in _INDEXES:
        database.execute_sql(sql)
    for sql in (_postgres_triggers() if dbmod.is_postgres(database) else _sqlite_triggers()):
        database.execute_sql(sql)


def drop_guards(database) -> None:
    """For tamper tests only: drop every stock trigger."""
    tables = {name: table for name, table, *_ in _FROZEN}
    tables.update(dict(KEEPING_TRIGGERS))
    for name, table in tables.items():
        if dbmod.is_postgres(database):
            database.execute_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        else:
            database.execute_sql(f"DROP TRIGGER IF EXISTS {name}")


def link_categories(database) -> None:
    """Every product with a category text gets the category of that name (created
    when missing): after a catalog import, and once for the products already there."""
    database.execute_sql("INSERT INTO category (name, active, created_at) SELECT DISTINCT p.category, "
                         + ("TRUE" if dbmod.is_postgres(database) else "1") + ", "
                         + (_NOW["pg"] if dbmod.is_postgres(database) else _NOW["sqlite"])
                         + " FROM product p WHERE p.category <> '' AND NOT EXISTS "
                         "(SELECT 1 FROM category c WHERE c.name = p.category)")
    database.execute_sql("UPDATE product SET category_id = (SELECT c.id FROM category c WHERE c.name = "
                         "product.category) WHERE category <> '' AND (category_id IS NULL OR category_id <> "
                         "(SELECT c.id FROM category c WHERE c.name = product.category))")
    database.execute_sql("UPDATE product SET category_id = NULL WHERE category = '' AND category_id IS NOT NULL")
