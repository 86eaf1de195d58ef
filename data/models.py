"""The store's tables. Money is integer minor units (cents) in BigIntegerField.

Rates are basis points (19 % = 1900, 7.5 % = 750). Quantities are thousandths
(1 piece = 1000, 0.350 kg = 350) so weighed goods need no floats.

Constraints the database enforces itself live here too (UNIQUE, CHECK, foreign
keys, partial unique indexes); insert-only triggers are in ``migrations``.
"""
from __future__ import annotations

import datetime as _dt
import time

from peewee import (
    BigIntegerField, BooleanField, CharField, Check, DateTimeField, ForeignKeyField,
    IntegerField, Model, SQL, TextField,
)

from data.db import proxy


def utcnow() -> _dt.datetime:
    return _dt.datetime.fromtimestamp(time.time(), _dt.timezone.utc).replace(tzinfo=None)


class Base(Model):
    class Meta:
        database = proxy
        legacy_table_names = False


class SchemaMeta(Base):
    key = CharField(primary_key=True, max_length=64)
    value = TextField()


# ---------------------------------------------------------------- catalog ---

class Category(Base):
    """A product category; ``parent`` groups categories one level deep. A new
    product of the category gets its default VAT rate (NULL: none)."""
    name = CharField(max_length=100, unique=True)
    parent = ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
    active = BooleanField(default=True)
    vat_rate = IntegerField(null=True, constraints=[Check("vat_rate >= 0 AND vat_rate <= 10000")])
    created_at = DateTimeField(default=utcnow)


class Product(Base):
    sku = CharField(max_length=64, unique=True)
    name = CharField(max_length=200)
    #: lower-cased, accent-free name for indexed prefix search
    name_key = CharField(max_length=200, index=True)
    price = BigIntegerField(constraints=[Check("price >= 0")])
    vat_rate = IntegerField(constraints=[Check("vat_rate >= 0 AND vat_rate <= 10000")])  # basis points
    unit = CharField(max_length=8, default="pc")  # pc | kg
    category = CharField(max_length=100, default="")
    active = BooleanField(default=True)
    updated_at = DateTimeField(default=utcnow)
    #: cost price per unit (per kg for weighed items), minor units
    cost = BigIntegerField(default=0, constraints=[Check("cost >= 0"), SQL("DEFAULT 0")])
    #: stock (station.stock): the category row (``category`` keeps its name), the
    #: cached stock on hand in thousandths (= the sum of its movements, kept by a
    #: trigger), the reorder point (NULL: no low-stock alert), the last cost paid
    category_ref = ForeignKeyField(Category, null=True, column_name="category_id", backref="products",
                                   on_delete="RESTRICT", lazy_load=False)
    on_hand = BigIntegerField(default=0, constraints=[SQL("DEFAULT 0")])
    reorder_point = BigIntegerField(null=True)
    last_cost = BigIntegerField(default=0, constraints=[Check("last_cost >= 0"), SQL("DEFAULT 0")])


class Barcode(Base):
    code = CharField(max_length=64, primary_key=True)
    product = ForeignKeyField(Product, backref="barcodes", on_delete="CASCADE", index=True)


class SearchWord(Base):
    """One row per word of a product name: the name search before the full-text
    index (migration 1 creates it, migration 3 drops it; nothing reads it)."""
    word = CharField(max_length=64)
    product = ForeignKeyField(Product, on_delete="CASCADE", index=True)

    class Meta:
        indexes = ((("word", "product"), True),)


# ----------------------------------------------------------------- people ---

ROLES = ("cashier", "supervisor", "manager", "treasurer", "admin")


class User(Base):
    name = CharField(max_length=64, unique=True)
    full_name = CharField(max_length=200, default="")
    role = CharField(max_length=16, constraints=[Check(
        "role IN ('cashier','supervisor','manager','treasurer','admin')")])
    pin_hash = CharField(max_length=256)
    active = BooleanField(default=True)
    failed_attempts = IntegerField(default=0)
    locked_until = DateTimeField(null=True)
    totp_secret = TextField(null=True)        # encrypted with the key file, never clear
    totp_last_step = BigIntegerField(null=True)  # last accepted TOTP time step
    created_at = DateTimeField(default=utcnow)


# ---------------------------------------------------------------- journal ---

class JournalHead(Base):
    """A single row (id=1): the tail of the chain. Locked for every append so
    appends from many terminals form one line with no fork and no gap."""
    id = IntegerField(primary_key=True)
    seq = BigIntegerField(default=0)
    hash = CharField(max_length=64)


class Journal(Base):
    """Insert-only (triggers refuse UPDATE and DELETE), SHA-256 hash-chained."""
    seq = BigIntegerField(unique=True)
    ts = CharField(max_length=32)              # ISO-8601 UTC, part of the hash
    terminal = CharField(max_length=64)
    user_name = CharField(max_length=64, null=True)
    kind = CharField(max_length=64, index=True)
    amount = BigIntegerField(null=True)
    ref = CharField(max_length=128, null=True)
    data = TextField(default="{}")             # canonical JSON
    prev_hash = CharField(max_length=64)
    hash = CharField(max_length=64, unique=True)


class Approval(Base):
    """One manager approval for exactly one action; used once (used_at)."""
    action = CharField(max_length=64)
    requester = ForeignKeyField(User, backref="requested_approvals")
    approver = ForeignKeyField(User, backref="given_approvals")
    amount = BigIntegerField(null=True)
    ref = CharField(max_length=128, null=True)
    reason = TextField(default="")
    terminal = CharField(max_length=64)
    created_at = DateTimeField(default=utcnow)
    used_at = DateTimeField(null=True)
    origin = CharField(max_length=128, null=True)   # where the approver was: "ssh 203.0.113.5", None at a till


REQUEST_STATUSES = ("pending", "granted", "refused", "cancelled", "expired")


class ApprovalRequest(Base):
    """An approval asked for at one terminal, waiting in the database for a
    manager at another terminal (or over SSH) to grant or refuse it. A grant
    makes the one Approval (``approval``) for exactly this action, amount and ref."""
    action = CharField(max_length=64)
    amount = BigIntegerField(null=True)
    ref = CharField(max_length=128, null=True)
    reason = TextField(default="")
    requester = ForeignKeyField(User, backref="approval_requests")
    terminal = CharField(max_length=64)
    origin = CharField(max_length=128, null=True)
    status = CharField(max_length=10, default="pending", index=True, constraints=[Check(
        "status IN ('pending','granted','refused','cancelled','expired')")])
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    decided_at = DateTimeField(null=True)
    decided_by = ForeignKeyField(User, null=True, backref="decided_requests")
    decided_origin = CharField(max_length=128, null=True)
    note = TextField(default="")                   # why it was refused
    approval = ForeignKeyField(Approval, null=True, unique=True)


# ----------------------------------------------------------------- drawer ---

class DrawerSession(Base):
    drawer = CharField(max_length=64, index=True)       # drawer id (= terminal id by default)
    terminal = CharField(max_length=64)
    cashier = ForeignKeyField(User, backref="drawer_sessions")
    status = CharField(max_length=8, default="open", constraints=[Check("status IN ('open','closed')")])
    opened_at = DateTimeField(default=utcnow)
    float_amount = BigIntegerField(constraints=[Check("float_amount >= 0")])
    #: cached running expected cash; changes in the same transaction as every movement
    expected_cash = BigIntegerField(default=0)
    #: running totals (canonical JSON: sales, tenders by method, movements by kind,
    #: movement count), kept in the same transaction as every posting (station.drawer)
    totals = TextField(default="{}", constraints=[SQL("DEFAULT '{}'")])
    #: running digest of the session's movements, in order (NULL: opened before it existed)
    digest = CharField(max_length=64, null=True)
    closed_at = DateTimeField(null=True)
    closed_by = ForeignKeyField(User, null=True, backref="closed_sessions")
    counted = BigIntegerField(null=True)
    expected_at_close = BigIntegerField(null=True)
    variance = BigIntegerField(null=True)
    close_approval = ForeignKeyField(Approval, null=True)
    close_reason = TextField(null=True)
    z_number = IntegerField(null=True)
    close_hash = CharField(max_length=64, null=True)   # digest of the closed session, for verify

    class Meta:
        indexes = ((("drawer", "z_number"), True),)
        constraints = []


class DenominationCount(Base):
    session = ForeignKeyField(DrawerSession, backref="counts", on_delete="RESTRICT")
    stage = CharField(max_length=8, constraints=[Check("stage IN ('float','close')")])
    denomination = BigIntegerField(constraints=[Check("denomination > 0")])
    quantity = IntegerField(constraints=[Check("quantity >= 0")])

    class Meta:
        indexes = ((("session", "stage", "denomination"), True),)


MOVEMENT_KINDS = ("float", "sale", "change", "paid_in", "paid_out", "drop", "refund", "no_sale")


class CashMovement(Base):
    """Every cash movement of a drawer session; expected cash = SUM(amount).
    Signs: float, sale, paid_in >= 0; change, paid_out, drop, refund <= 0; no_sale = 0."""
    session = ForeignKeyField(DrawerSession, backref="movements", on_delete="RESTRICT")
    kind = CharField(max_length=16)
    amount = BigIntegerField()
    user = ForeignKeyField(User, backref="cash_movements")
    reason = CharField(max_length=64, default="")
    note = TextField(default="")
    ticket_id = BigIntegerField(null=True, index=True)   # the sale or refund it belongs to
    approval = ForeignKeyField(Approval, null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        constraints = [Check(
            "(kind IN ('float','sale','paid_in') AND amount >= 0) OR "
            "(kind IN ('change','paid_out','drop','refund') AND amount <= 0) OR "
            "(kind = 'no_sale' AND amount = 0)")]


class ZReport(Base):
    session = ForeignKeyField(DrawerSession, unique=True, backref="z_reports")
    drawer = CharField(max_length=64)
    z_number = IntegerField()
    created_at = DateTimeField(default=utcnow)
    data = TextField()   # canonical JSON of the report, reprintable as is

    class Meta:
        indexes = ((("drawer", "z_number"), True),)


class ZCounter(Base):
    drawer = CharField(max_length=64, primary_key=True)
    last = IntegerField(default=0)


# ------------------------------------------------------------------- sale ---

TICKET_STATUSES = ("open", "parked", "completed", "voided")


class Ticket(Base):
    """A sale from the first scan to the receipt. Open tickets are durable
    (crash-safe): every change is committed as it happens."""
    terminal = CharField(max_length=64, index=True)
    cashier = ForeignKeyField(User, backref="tickets")
    status = CharField(max_length=10, default="open", constraints=[Check(
        "status IN ('open','parked','completed','voided')")])
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    parked_at = DateTimeField(null=True)
    ticket_discount = BigIntegerField(default=0, constraints=[Check("ticket_discount >= 0")])
    #: ticket discount in basis points (the amount follows the lines; sale.py)
    discount_bp = IntegerField(default=0, constraints=[Check("discount_bp >= 0 AND discount_bp <= 10000")])
    #: minted when tendering starts; UNIQUE so a retry can never make two sales
    idem_key = CharField(max_length=64, null=True, unique=True)
    receipt_no = BigIntegerField(null=True)
    session = ForeignKeyField(DrawerSession, null=True, backref="tickets")
    subtotal = BigIntegerField(null=True)
    tax_total = BigIntegerField(null=True)
    total = BigIntegerField(null=True)
    rounding = BigIntegerField(default=0)   # cash rounding applied at tender
    completed_at = DateTimeField(null=True)
    #: bumped by every change to the ticket or its lines (station.sale keeps a
    #: terminal's open ticket in memory and trusts it only at the same revision)
    rev = IntegerField(default=0, constraints=[SQL("DEFAULT 0")])

    class Meta:
        indexes = ((("terminal", "receipt_no"), True),)


class TicketLine(Base):
    ticket = ForeignKeyField(Ticket, backref="lines", on_delete="CASCADE")
    position = IntegerField()
    product = ForeignKeyField(Product, null=True)
    code = CharField(max_length=64, default="")     # what was scanned
    name = CharField(max_length=200)
    qty = BigIntegerField()                          # thousandths
    unit_price = BigIntegerField(constraints=[Check("unit_price >= 0")])
    price_override = BooleanField(default=False)
    discount = BigIntegerField(default=0, constraints=[Check("discount >= 0")])
    #: line discount in basis points; ``discount`` is its amount, recomputed with qty
    discount_bp = IntegerField(default=0, constraints=[Check("discount_bp >= 0 AND discount_bp <= 10000")])
    vat_rate = IntegerField()
    line_total = BigIntegerField(default=0)
    voided = BooleanField(default=False)
    #: the product's cost per unit when the line was rung up (profit keeps history)
    cost = BigIntegerField(default=0, constraints=[Check("cost >= 0"), SQL("DEFAULT 0")])

    class Meta:
        indexes = ((("ticket", "position"), True),)


class Tender(Base):
    ticket = ForeignKeyField(Ticket, backref="tenders", on_delete="RESTRICT")
    method = CharField(max_length=32)
    amount = BigIntegerField(constraints=[Check("amount > 0")])      # applied to the sale
    tendered = BigIntegerField(constraints=[Check("tendered >= amount")])  # handed over
    change = BigIntegerField(default=0, constraints=[Check("change >= 0")])
    reference = CharField(max_length=64, default="")
    created_at = DateTimeField(default=utcnow)


class ReceiptCounter(Base):
    terminal = CharField(max_length=64, primary_key=True)
    last = BigIntegerField(default=0)


PRINT_STATUSES = ("queued", "printed", "unconfirmed", "failed", "dismissed")


class PrintJob(Base):
    """The durable print queue: a receipt to print, written in the same transaction
    as the sale (or the reprint), so a till killed right after the commit still
    knows the receipt never printed."""
    ticket = ForeignKeyField(Ticket, backref="print_jobs", on_delete="RESTRICT")
    terminal = CharField(max_length=64)                 # the till whose printer prints it
    copy = BooleanField(default=False)
    kick = BooleanField(default=False)                  # open the drawer first (a cash sale)
    status = CharField(max_length=12, default="queued", constraints=[Check(
        "status IN ('queued','printed','unconfirmed','failed','dismissed')")])
    attempts = IntegerField(default=0)
    message = TextField(default="")
    user_name = CharField(max_length=64, null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("terminal", "status"), False),)


ALL_MODELS = [
    SchemaMeta, Category, Product, Barcode, SearchWord, User, JournalHead, Journal, Approval, ApprovalRequest,
    DrawerSession, DenominationCount, CashMovement, ZReport, ZCounter,
    Ticket, TicketLine, Tender, ReceiptCounter, PrintJob,
]
