"""The tables of refunds, returns, post-voids and exchanges, and the database's
own guards on them.

Money is integer minor units; quantities are thousandths (as in ``data.models``).

* ``Refund``: one return, post-void or exchange credit. Its status runs
  requested -> approved -> processed, or -> rejected (the manager's decision is
  carried by its ``approval_request``, see ``station.authority``); a refund made at
  once is inserted processed. Once processed or rejected it is final (trigger).
  ``refund_no`` is gapless per terminal in its own series (``RefundCounter``),
  given when the refund is processed; ``idem_key`` is UNIQUE so a retry can never
  make two refunds.
* ``RefundLine``: what comes back, per original sale line (or per product for a
  return without a receipt). Insert-only.
* ``RefundTender``: one negative row per way the money goes back (``method``),
  charged against the sale's method (``against``). Insert-only.
* ``ReturnedQty`` / ``RefundedAmount``: per original sale line the quantity
  returned, per sale and method the amount refunded, kept by triggers on every
  refund line / refund tender inserted and every refund rejected, each with a
  CHECK that it never exceeds what was sold / paid. Two terminals returning the
  same line at once can never return more than was sold, whatever the code does.
"""
from __future__ import annotations

from peewee import (
    BigIntegerField, CharField, Check, CompositeKey, DateTimeField, ForeignKeyField, IntegerField,
    TextField,
)

from data import db as dbmod
from data.models import Approval, ApprovalRequest, Base, DrawerSession, Product, Ticket, TicketLine, User, utcnow

REFUND_KINDS = ("return", "post_void", "exchange")
REFUND_STATUSES = ("requested", "approved", "processed", "rejected")


class Refund(Base):
    terminal = CharField(max_length=64, index=True)
    refund_no = BigIntegerField(null=True)
    kind = CharField(max_length=16, constraints=[Check("kind IN ('return','post_void','exchange')")])
    status = CharField(max_length=10, constraints=[Check(
        "status IN ('requested','approved','processed','rejected')")])
    #: the sale it returns; NULL only for a return without a receipt
    original = ForeignKeyField(Ticket, null=True, backref="refunds", on_delete="RESTRICT")
    reason = CharField(max_length=64)
    note = TextField(default="")
    cashier = ForeignKeyField(User, backref="refunds")
    approver = ForeignKeyField(User, null=True, backref="approved_refunds")
    approval = ForeignKeyField(Approval, null=True)
    #: a request left for a manager elsewhere: the approval request that carries the decision
    approval_request = ForeignKeyField(ApprovalRequest, null=True)
    #: the approval action it needs (``station.refund.rules``) and why, for the queue
    needs = CharField(max_length=64, null=True)
    why = TextField(default="")
    idem_key = CharField(max_length=64, unique=True)
    session = ForeignKeyField(DrawerSession, null=True, backref="refunds")
    #: where the money goes: NULL = back to the sale's own methods
    method = CharField(max_length=32, null=True)
    total = BigIntegerField(constraints=[Check("total >= 0")])     # what the returned goods were paid
    tax_total = BigIntegerField(default=0)
    rounding = BigIntegerField(default=0)                         # cash rounding on the way back
    #: an exchange: the new sale the credit went into
    exchange_ticket = ForeignKeyField(Ticket, null=True, backref="exchange_credits")
    created_at = DateTimeField(default=utcnow)
    decided_at = DateTimeField(null=True)
    processed_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("terminal", "refund_no"), True),)


class RefundLine(Base):
    refund = ForeignKeyField(Refund, backref="lines", on_delete="RESTRICT")
    position = IntegerField()
    original_line = ForeignKeyField(TicketLine, null=True, backref="refund_lines")
    product = ForeignKeyField(Product, null=True)
    code = CharField(max_length=64, default="")
    name = CharField(max_length=200)
    qty = BigIntegerField(constraints=[Check("qty > 0")])      # thousandths
    unit_price = BigIntegerField(constraints=[Check("unit_price >= 0")])
    amount = BigIntegerField(constraints=[Check("amount >= 0")])   # what goes back for this quantity
    tax = BigIntegerField(default=0)
    vat_rate = IntegerField()

    class Meta:
        indexes = ((("refund", "position"), True),)


class RefundTender(Base):
    refund = ForeignKeyField(Refund, backref="tenders", on_delete="RESTRICT")
    method = CharField(max_length=32)                  # how the money goes back
    against = CharField(max_length=32, null=True)      # the sale's method it is charged against
    amount = BigIntegerField(constraints=[Check("amount < 0")])
    reference = CharField(max_length=64, default="")
    created_at = DateTimeField(default=utcnow)


class RefundCounter(Base):
    terminal = CharField(max_length=64, primary_key=True)
    last = BigIntegerField(default=0)


class ReturnedQty(Base):
    """Kept by triggers: per sale line, the quantity sold, and the quantity returned
    so far with what it gave back (amount and tax in it)."""
    line = ForeignKeyField(TicketLine, primary_key=True, on_delete="RESTRICT")
    sold = BigIntegerField()
    returned = BigIntegerField(constraints=[Check("returned >= 0 AND returned <= sold")])
    amount = BigIntegerField(default=0, constraints=[Check("amount >= 0")])
    tax = BigIntegerField(default=0)


class RefundedAmount(Base):
    """Kept by triggers: per sale and tender method, the amount paid and refunded so far."""
    ticket = ForeignKeyField(Ticket, on_delete="RESTRICT")
    method = CharField(max_length=32)
    paid = BigIntegerField()
    refunded = BigIntegerField(constraints=[Check("refunded >= 0 AND refunded <= paid")])

    class Meta:
        primary_key = CompositeKey("ticket", "method")


MODELS = [Refund, RefundLine, RefundTender, RefundCounter, ReturnedQty, RefundedAmount]


# ---------------------------------------------------------------- guards ---

#: (trigger name, table, BEFORE op, condition, message): rows that never change
_FROZEN = [
    ("refund_guard_update", "refund", "UPDATE", "OLD.status IN ('processed','rejected')",
     "a processed or rejected refund is final"),
    ("refund_guard_delete", "refund", "DELETE", None, "refunds are never deleted"),
    ("refund_line_guard_update", "refund_line", "UPDATE", None, "refund lines are insert-only"),
    ("refund_line_guard_delete", "refund_line", "DELETE", None, "refund lines are insert-only"),
    ("refund_tender_guard_update", "refund_tender", "UPDATE", None, "refund tenders are insert-only"),
    ("refund_tender_guard_delete", "refund_tender", "DELETE", None, "refund tenders are insert-only"),
    ("returned_qty_guard_delete", "returned_qty", "DELETE", None, "returned quantities are never deleted"),
    ("refunded_amount_guard_delete", "refunded_amount", "DELETE", None, "refunded amounts are never deleted"),
]

_NOT_A_SALE_LINE = "a refund line must be a live line of the completed sale it returns"

#: the statements of each keeping trigger, shared by both backends (NEW.x works in both)
_LINE_SQL = [
    # the original line must be a live line of the refund's own completed sale
    "SELECT 1 FROM ticket_line l JOIN ticket t ON t.id = l.ticket_id JOIN refund r ON r.id = NEW.refund_id "
    "WHERE l.id = NEW.original_line_id AND l.voided = {false} AND t.status = 'completed' "
    "AND r.original_id = t.id",
    "INSERT INTO returned_qty (line_id, sold, returned, amount, tax) SELECT id, qty, 0, 0, 0 FROM ticket_line "
    "WHERE id = NEW.original_line_id AND NOT EXISTS (SELECT 1 FROM returned_qty WHERE line_id = NEW.original_line_id)",
    "UPDATE returned_qty SET returned = returned + NEW.qty, amount = amount + NEW.amount, tax = tax + NEW.tax "
    "WHERE line_id = NEW.original_line_id",
]
_TENDER_SQL = [
    "INSERT INTO refunded_amount (ticket_id, method, paid, refunded) "
    "SELECT r.original_id, NEW.against, (SELECT COALESCE(SUM(x.amount), 0) FROM tender x "
    "WHERE x.ticket_id = r.original_id AND x.method = NEW.against), 0 FROM refund r "
    "WHERE r.id = NEW.refund_id AND r.original_id IS NOT NULL AND NOT EXISTS "
    "(SELECT 1 FROM refunded_amount a WHERE a.ticket_id = r.original_id AND a.method = NEW.against)",
    "UPDATE refunded_amount SET refunded = refunded - NEW.amount WHERE method = NEW.against "
    "AND ticket_id = (SELECT original_id FROM refund WHERE id = NEW.refund_id)",
]
_REJECT_SQL = [
    "UPDATE returned_qty SET "
    + ", ".join(f"{col} = {col} - (SELECT COALESCE(SUM(rl.{src}), 0) FROM refund_line rl "
                f"WHERE rl.refund_id = NEW.id AND rl.original_line_id = returned_qty.line_id)"
                for col, src in (("returned", "qty"), ("amount", "amount"), ("tax", "tax")))
    + " WHERE line_id IN (SELECT original_line_id FROM refund_line WHERE refund_id = NEW.id "
    "AND original_line_id IS NOT NULL)",
]
_REJECT_WHEN = "NEW.status = 'rejected' AND OLD.status <> 'rejected'"

KEEPING_TRIGGERS = ["refund_line_guard_returned", "refund_tender_guard_refunded", "refund_guard_rejected"]


def trigger_names() -> list[str]:
    return [t[0] for t in _FROZEN] + KEEPING_TRIGGERS


def _sqlite_triggers() -> list[str]:
    out = []
    for name, table, op, cond, msg in _FROZEN:
        when = f" WHEN {cond}" if cond else ""
        out.append(f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON {table}{when} "
                   f"BEGIN SELECT RAISE(ABORT, '{msg}'); END")
    check_line, *keep_line = _LINE_SQL
    out.append(
        "CREATE TRIGGER IF NOT EXISTS refund_line_guard_returned AFTER INSERT ON refund_line "
        "WHEN NEW.original_line_id IS NOT NULL BEGIN "
        f"SELECT RAISE(ABORT, '{_NOT_A_SALE_LINE}') WHERE NOT EXISTS ({check_line.format(false='0')}); "
        + "; ".join(keep_line) + "; END")
    out.append(
        "CREATE TRIGGER IF NOT EXISTS refund_tender_guard_refunded AFTER INSERT ON refund_tender "
        "WHEN NEW.against IS NOT NULL BEGIN " + "; ".join(_TENDER_SQL) + "; END")
    out.append(
        f"CREATE TRIGGER IF NOT EXISTS refund_guard_rejected AFTER UPDATE OF status ON refund "
        f"WHEN {_REJECT_WHEN} BEGIN " + "; ".join(_REJECT_SQL) + "; END")
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
    check_line, *keep_line = _LINE_SQL
    body = (f"IF NOT EXISTS ({check_line.format(false='false')}) THEN RAISE EXCEPTION '{_NOT_A_SALE_LINE}'; "
            f"END IF; " + "; ".join(keep_line) + "; RETURN NULL;")
    for name, table, event, when, stmts in [
        ("refund_line_guard_returned", "refund_line", "AFTER INSERT", "NEW.original_line_id IS NOT NULL", body),
        ("refund_tender_guard_refunded", "refund_tender", "AFTER INSERT", "NEW.against IS NOT NULL",
         "; ".join(_TENDER_SQL) + "; RETURN NULL;"),
        ("refund_guard_rejected", "refund", "AFTER UPDATE OF status", _REJECT_WHEN,
         "; ".join(_REJECT_SQL) + "; RETURN NULL;"),
    ]:
        out.append(_pg_function(name, stmts))
        out.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        out.append(f"CREATE TRIGGER {name} {event} ON {table} FOR EACH ROW WHEN ({when}) "
                   f"EXECUTE FUNCTION {name}_fn()")
    return out


def create_schema(database) -> None:
    """Tables, indexes and triggers of refunds (a migration step calls it)."""
    database.create_tables(MODELS, safe=True)
    database.execute_sql("CREATE INDEX IF NOT EXISTS ticket_completed_at ON ticket (completed_at)")
    database.execute_sql("CREATE INDEX IF NOT EXISTS refund_open_requests ON refund (status) "
                         "WHERE status IN ('requested','approved')")
    for sql in (_postgres_triggers() if dbmod.is_postgres(database) else _sqlite_triggers()):
        database.execute_sql(sql)


def drop_guards(database) -> None:
    """For tamper tests only: drop every refund trigger."""
    tables = {name: table for name, table, *_ in _FROZEN}
    tables.update({"refund_line_guard_returned": "refund_line", "refund_tender_guard_refunded": "refund_tender",
                   "refund_guard_rejected": "refund"})
    for name, table in tables.items():
        if dbmod.is_postgres(database):
            database.execute_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        else:
            database.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
