"""The treasury's tables (the store's money beyond the drawers) and the
database's own guards on them. Money is integer minor units.

* ``Fund``: the safe, petty cash, the change fund, bank accounts, "in transit".
  ``balance`` is the cached sum of its ledger, changed in the same transaction
  as every entry (``station.treasury.ledger``); a cash fund (every kind but
  ``bank``) can never go below zero (CHECK). ``head`` and ``entries`` are the
  tail of the fund's own hash chain.
* ``LedgerEntry``: insert-only (triggers); per fund a gapless ``seq`` chained by
  ``prev_hash`` -> ``hash``; each one also has its journal row (``journal_seq``).
* ``Reconciliation``: insert-only; an entry or a requisition matched against a
  bank statement reference (never an update of the ledger row).
* ``Requisition``: a request to pay money out of a fund; ``approver <> requester``.
* ``PaymentExecution``: insert-only, one per paid requisition (UNIQUE) and per
  idempotency key (UNIQUE); ``executor <> requester`` (CHECK, and a trigger that
  the requester is the requisition's own).
* ``Variance``: a difference found by a count, a bag received or a settlement;
  applied to the fund only when approved by someone else than its recorder
  (CHECK); decided once (trigger).
* ``Replenishment``: at most one pending automatic request per fund (partial
  unique index).
* ``CashBag``: a sealed bag of cash (a drop, a drawer close, a bank deposit);
  unique number; one bag per drop movement.
* ``FundCount`` / ``FundCountLine``: a count by denomination (a fund counted, a
  bag received), insert-only.
"""
from __future__ import annotations

from peewee import (
    BigIntegerField, BooleanField, CharField, Check, DateTimeField, ForeignKeyField, IntegerField, TextField,
)

from data import db as dbmod
from data.models import Base, User, utcnow

FUND_KINDS = ("safe", "petty_cash", "change", "bank", "transit")
#: kinds whose balance is cash in a place: never below zero
CASH_KINDS = ("safe", "petty_cash", "change", "transit")
ENTRY_KINDS = ("debit", "credit", "adjustment")
REF_TYPES = ("opening", "drawer_session", "drop", "bag", "requisition", "variance", "replenishment",
             "transfer", "deposit")
REQ_STATUSES = ("requested", "approved", "rejected", "executing", "paid", "failed", "reconciled")
METHODS = ("cash", "bank_transfer", "mobile_money")
VARIANCE_SOURCES = ("count", "bag", "settlement", "deposit")
BAG_KINDS = ("drop", "close", "deposit")
BAG_STATUSES = ("in_transit", "received", "banked")


def _in(col: str, values) -> str:
    return f"{col} IN (" + ",".join(f"'{v}'" for v in values) + ")"


class Fund(Base):
    name = CharField(max_length=64, unique=True)
    kind = CharField(max_length=12, constraints=[Check(_in("kind", FUND_KINDS))])
    currency = CharField(max_length=3, default="EUR")
    reorder_level = BigIntegerField(default=0, constraints=[Check("reorder_level >= 0")])
    target_level = BigIntegerField(default=0, constraints=[Check("target_level >= 0")])
    #: a debit below the reorder level asks for a replenishment from ``replenish_from``
    auto_replenish = BooleanField(default=False)
    replenish_from = ForeignKeyField("self", null=True, backref="replenishes")
    active = BooleanField(default=True)
    balance = BigIntegerField(default=0)
    entries = BigIntegerField(default=0)
    head = CharField(max_length=64, default="0" * 64)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "fund"
        constraints = [Check("kind = 'bank' OR balance >= 0"), Check("target_level >= reorder_level")]


class LedgerEntry(Base):
    fund = ForeignKeyField(Fund, backref="ledger", on_delete="RESTRICT")
    seq = BigIntegerField()
    kind = CharField(max_length=10, constraints=[Check(_in("kind", ENTRY_KINDS))])
    amount = BigIntegerField()
    balance_after = BigIntegerField()
    counter_fund = ForeignKeyField(Fund, null=True, on_delete="RESTRICT")
    ref_type = CharField(max_length=16, constraints=[Check(_in("ref_type", REF_TYPES))])
    ref_id = BigIntegerField(null=True)
    memo = CharField(max_length=200, default="")
    user = ForeignKeyField(User, on_delete="RESTRICT")
    terminal = CharField(max_length=64)
    created_at = DateTimeField(default=utcnow)
    prev_hash = CharField(max_length=64)
    hash = CharField(max_length=64, unique=True)
    journal_seq = BigIntegerField(unique=True)

    class Meta:
        table_name = "ledger_entry"
        indexes = ((("fund", "seq"), True), (("fund", "created_at"), False), (("ref_type", "ref_id"), False))
        constraints = [Check("(kind = 'credit' AND amount > 0) OR (kind = 'debit' AND amount < 0) "
                             "OR (kind = 'adjustment' AND amount <> 0)")]


class Requisition(Base):
    fund = ForeignKeyField(Fund, backref="requisitions", on_delete="RESTRICT")
    requester = ForeignKeyField(User, on_delete="RESTRICT")
    amount = BigIntegerField(constraints=[Check("amount > 0")])
    payee = CharField(max_length=120, constraints=[Check("payee <> ''")])
    purpose = CharField(max_length=200, default="")
    method = CharField(max_length=16, constraints=[Check(_in("method", METHODS))])
    destination = CharField(max_length=120, default="")
    status = CharField(max_length=10, default="requested", index=True,
                       constraints=[Check(_in("status", REQ_STATUSES))])
    approver = ForeignKeyField(User, null=True, on_delete="RESTRICT")
    approved_at = DateTimeField(null=True)
    decided_note = TextField(default="")
    retry_count = IntegerField(default=0, constraints=[Check("retry_count >= 0")])
    max_retries = IntegerField(default=3, constraints=[Check("max_retries >= 0")])
    last_error = TextField(default="")
    terminal = CharField(max_length=64)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "requisition"
        constraints = [Check("approver_id IS NULL OR approver_id <> requester_id"),
                       Check("retry_count <= max_retries")]


class PaymentExecution(Base):
    requisition = ForeignKeyField(Requisition, unique=True, on_delete="RESTRICT")
    idem_key = CharField(max_length=64, unique=True)
    executor = ForeignKeyField(User, on_delete="RESTRICT")
    requester = ForeignKeyField(User, on_delete="RESTRICT")
    amount = BigIntegerField(constraints=[Check("amount > 0")])
    entry = ForeignKeyField(LedgerEntry, unique=True, on_delete="RESTRICT")
    terminal = CharField(max_length=64)
    origin = CharField(max_length=128, default="console")
    totp_step = BigIntegerField()
    reference = CharField(max_length=120, default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "payment_execution"
        constraints = [Check("executor_id <> requester_id")]


class Variance(Base):
    fund = ForeignKeyField(Fund, backref="variances", on_delete="RESTRICT")
    source = CharField(max_length=12, constraints=[Check(_in("source", VARIANCE_SOURCES))])
    ref_id = BigIntegerField(null=True)
    original = BigIntegerField()
    adjusted = BigIntegerField()
    variance = BigIntegerField(constraints=[Check("variance <> 0")])
    reason = TextField(default="")
    status = CharField(max_length=10, default="pending", index=True,
                       constraints=[Check("status IN ('pending','approved','rejected')")])
    recorded_by = ForeignKeyField(User, on_delete="RESTRICT")
    recorded_at = DateTimeField(default=utcnow)
    decided_by = ForeignKeyField(User, null=True, on_delete="RESTRICT")
    decided_at = DateTimeField(null=True)
    entry = ForeignKeyField(LedgerEntry, null=True, unique=True, on_delete="RESTRICT")
    terminal = CharField(max_length=64)

    class Meta:
        table_name = "variance"
        constraints = [Check("variance = adjusted - original"),
                       Check("decided_by_id IS NULL OR decided_by_id <> recorded_by_id"),
                       Check("(status = 'pending') = (decided_by_id IS NULL)"),
                       Check("(status = 'approved') = (entry_id IS NOT NULL)")]


class Replenishment(Base):
    fund = ForeignKeyField(Fund, backref="replenishments", on_delete="RESTRICT")
    source = ForeignKeyField(Fund, null=True, on_delete="RESTRICT")
    automatic = BooleanField(default=False)
    balance_snapshot = BigIntegerField()
    amount = BigIntegerField(constraints=[Check("amount > 0")])
    status = CharField(max_length=10, default="pending", index=True,
                       constraints=[Check("status IN ('pending','approved','funded','rejected')")])
    requested_by = ForeignKeyField(User, null=True, on_delete="RESTRICT")
    requested_at = DateTimeField(default=utcnow)
    decided_by = ForeignKeyField(User, null=True, on_delete="RESTRICT")
    decided_at = DateTimeField(null=True)
    entry = ForeignKeyField(LedgerEntry, null=True, unique=True, on_delete="RESTRICT")
    note = TextField(default="")

    class Meta:
        table_name = "replenishment"
        constraints = [Check("decided_by_id IS NULL OR requested_by_id IS NULL OR decided_by_id <> requested_by_id")]


class CashBag(Base):
    number = CharField(max_length=32, unique=True)
    kind = CharField(max_length=8, constraints=[Check(_in("kind", BAG_KINDS))])
    status = CharField(max_length=10, default="in_transit", index=True,
                       constraints=[Check(_in("status", BAG_STATUSES))])
    declared = BigIntegerField(constraints=[Check("declared > 0")])
    movement_id = BigIntegerField(null=True, unique=True)      # the drawer drop it carries
    session_id = BigIntegerField(null=True)                    # the drawer session it came from
    from_fund = ForeignKeyField(Fund, null=True, on_delete="RESTRICT")   # a deposit: the safe
    sealed_by = ForeignKeyField(User, on_delete="RESTRICT")
    sealed_at = DateTimeField(default=utcnow)
    terminal = CharField(max_length=64)
    transit_entry = ForeignKeyField(LedgerEntry, unique=True, on_delete="RESTRICT")
    received_by = ForeignKeyField(User, null=True, on_delete="RESTRICT")
    received_at = DateTimeField(null=True)
    counted = BigIntegerField(null=True)
    slip_ref = CharField(max_length=120, null=True)
    #: the entry that took it in (the safe for a drop/close bag, the bank for a deposit)
    in_entry = ForeignKeyField(LedgerEntry, null=True, unique=True, on_delete="RESTRICT")

    class Meta:
        table_name = "cash_bag"
        constraints = [Check("(status = 'in_transit') = (in_entry_id IS NULL)"),
                       Check("(kind = 'deposit') = (from_fund_id IS NOT NULL)")]


class FundCount(Base):
    fund = ForeignKeyField(Fund, on_delete="RESTRICT")
    bag = ForeignKeyField(CashBag, null=True, on_delete="RESTRICT")
    counted_by = ForeignKeyField(User, on_delete="RESTRICT")
    expected = BigIntegerField()
    total = BigIntegerField(constraints=[Check("total >= 0")])
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "fund_count"


class FundCountLine(Base):
    count = ForeignKeyField(FundCount, backref="lines", on_delete="RESTRICT")
    denomination = BigIntegerField(constraints=[Check("denomination > 0")])
    quantity = IntegerField(constraints=[Check("quantity >= 0")])

    class Meta:
        table_name = "fund_count_line"
        indexes = ((("count", "denomination"), True),)


class Reconciliation(Base):
    entry = ForeignKeyField(LedgerEntry, null=True, unique=True, on_delete="RESTRICT")
    requisition = ForeignKeyField(Requisition, null=True, unique=True, on_delete="RESTRICT")
    bag = ForeignKeyField(CashBag, null=True, unique=True, on_delete="RESTRICT")
    statement_ref = CharField(max_length=120, constraints=[Check("statement_ref <> ''")])
    settled = BigIntegerField()
    variance = ForeignKeyField(Variance, null=True, on_delete="RESTRICT")
    by = ForeignKeyField(User, on_delete="RESTRICT")
    created_at = DateTimeField(default=utcnow)
    terminal = CharField(max_length=64)

    class Meta:
        table_name = "reconciliation"


MODELS = [Fund, LedgerEntry, Requisition, PaymentExecution, Variance, Replenishment, CashBag, FundCount,
          FundCountLine, Reconciliation]

# ---------------------------------------------------------------- guards ---

#: (trigger name, table, BEFORE op, condition, message)
_GUARDS = [
    ("ledger_entry_guard_update", "ledger_entry", "UPDATE", None, "ledger entries are insert-only"),
    ("ledger_entry_guard_delete", "ledger_entry", "DELETE", None, "ledger entries are insert-only"),
    ("payment_execution_guard_update", "payment_execution", "UPDATE", None, "payment executions are insert-only"),
    ("payment_execution_guard_delete", "payment_execution", "DELETE", None, "payment executions are insert-only"),
    ("reconciliation_guard_update", "reconciliation", "UPDATE", None, "reconciliations are insert-only"),
    ("reconciliation_guard_delete", "reconciliation", "DELETE", None, "reconciliations are insert-only"),
    ("fund_count_guard_update", "fund_count", "UPDATE", None, "fund counts are insert-only"),
    ("fund_count_guard_delete", "fund_count", "DELETE", None, "fund counts are insert-only"),
    ("fund_count_line_guard_update", "fund_count_line", "UPDATE", None, "fund counts are insert-only"),
    ("fund_count_line_guard_delete", "fund_count_line", "DELETE", None, "fund counts are insert-only"),
    ("variance_guard_update", "variance", "UPDATE", "OLD.status <> 'pending'", "a decided variance is final"),
    ("variance_guard_delete", "variance", "DELETE", None, "variances are never deleted"),
    ("requisition_guard_delete", "requisition", "DELETE", None, "requisitions are never deleted"),
    ("cash_bag_guard_delete", "cash_bag", "DELETE", None, "cash bags are never deleted"),
    ("fund_guard_delete", "fund", "DELETE", None, "funds are never deleted"),
]

_NOT_REQUESTER = "the executor of a payment may not be its requester"
#: the execution's requester must be the requisition's own (so the CHECK means what it says)
_EXEC_SQL = ("SELECT 1 FROM requisition r WHERE r.id = NEW.requisition_id AND r.requester_id = NEW.requester_id "
             "AND r.requester_id <> NEW.executor_id")


def trigger_names() -> list[str]:
    return [g[0] for g in _GUARDS] + ["payment_execution_guard_requester"]


def _sqlite_triggers() -> list[str]:
    out = []
    for name, table, op, cond, msg in _GUARDS:
        when = f" WHEN {cond}" if cond else ""
        out.append(f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON {table}{when} "
                   f"BEGIN SELECT RAISE(ABORT, '{msg}'); END")
    out.append("CREATE TRIGGER IF NOT EXISTS payment_execution_guard_requester BEFORE INSERT ON payment_execution "
               f"WHEN NOT EXISTS ({_EXEC_SQL}) BEGIN SELECT RAISE(ABORT, '{_NOT_REQUESTER}'); END")
    return out


def _postgres_triggers() -> list[str]:
    out = []
    for name, table, op, cond, msg in _GUARDS:
        out.append(f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger AS $$ BEGIN "
                   f"RAISE EXCEPTION '{msg}'; END; $$ LANGUAGE plpgsql")
        when = f" WHEN ({cond})" if cond else ""
        out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        out.append(f"CREATE TRIGGER {name} BEFORE {op} ON {table} FOR EACH ROW{when} EXECUTE FUNCTION {name}_fn()")
    name = "payment_execution_guard_requester"
    out.append(f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger AS $$ BEGIN "
               f"IF NOT EXISTS ({_EXEC_SQL}) THEN RAISE EXCEPTION '{_NOT_REQUESTER}'; END IF; RETURN NEW; END; "
               f"$$ LANGUAGE plpgsql")
    out.append(f"DROP TRIGGER IF EXISTS {name} ON payment_execution")
    out.append(f"CREATE TRIGGER {name} BEFORE INSERT ON payment_execution FOR EACH ROW EXECUTE FUNCTION {name}_fn()")
    return out


#: the funds every store starts with (name, kind); ``station.treasury`` settings name them
DEFAULT_FUNDS = [("safe", "safe"), ("petty", "petty_cash"), ("change", "change"), ("bank", "bank"),
                 ("transit", "transit")]


#: schema_meta: the last drawer movement made before the treasury existed
DROPS_AFTER = "treasury_drops_after"


def create_schema(database) -> None:
    """Tables, indexes, triggers and the default funds (a migration step calls it)."""
    database.create_tables(MODELS, safe=True)
    database.execute_sql("CREATE UNIQUE INDEX IF NOT EXISTS replenishment_one_pending_auto ON replenishment "
                         "(fund_id) WHERE status = 'pending' AND automatic")
    database.execute_sql("CREATE INDEX IF NOT EXISTS requisition_open ON requisition (status) "
                         "WHERE status IN ('requested','approved','executing')")
    for sql in (_postgres_triggers() if dbmod.is_postgres(database) else _sqlite_triggers()):
        database.execute_sql(sql)
    for name, kind in DEFAULT_FUNDS:
        Fund.insert(name=name, kind=kind).on_conflict_ignore().execute()
    # drops made before the treasury existed have no bag (verify checks the later ones)
    database.execute_sql(f"INSERT INTO schema_meta (key, value) SELECT '{DROPS_AFTER}', "
                         "CAST(COALESCE(MAX(id), 0) AS TEXT) FROM cash_movement WHERE true ON CONFLICT (key) DO NOTHING")


def drop_guards(database) -> None:
    """For tamper tests only: drop every treasury trigger."""
    tables = {g[0]: g[1] for g in _GUARDS}
    tables["payment_execution_guard_requester"] = "payment_execution"
    for name, table in tables.items():
        if dbmod.is_postgres(database):
            database.execute_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        else:
            database.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
