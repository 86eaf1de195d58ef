"""Tables of payments that finish elsewhere (mobile money, card gateways).

``ProviderPayment``: one row per request sent to a provider, written BEFORE the
request leaves (status ``requesting``), so a crash at any point leaves a row to
find and settle. Its ``ref`` is our idempotency reference, carried by the
request. The status moves only along ``TRANSITIONS`` (the service enforces it
with conditional UPDATEs; the CHECK keeps the vocabulary).

``PaymentCallback``: every callback (valid or not) and every status answer we
asked for, as received; insert-only (triggers refuse UPDATE and DELETE).
"""
from __future__ import annotations

from peewee import (
    BigIntegerField, BooleanField, CharField, Check, DateTimeField, ForeignKeyField, IntegerField, TextField,
)

from data import db as dbmod
from data.models import Base, Ticket, User, utcnow

#: requesting -> the request is being sent (or was sent and its answer is unknown)
#: pending    -> the provider accepted it; waiting for the customer
#: paid       -> the provider confirms the money; not yet in a sale
#: applied    -> in the completed sale (``ticket``)                               final
#: failed     -> not paid (cancelled, timed out, refused, never sent)            final*
#: abandoned  -> the cashier stopped waiting; the provider's answer is not known
#: refund_due -> money received that no sale uses ("paid twice, refund due")
#: refunding  -> a refund was asked of the provider; its answer comes later
#: refunded   -> given back                                                      final
#: (* a success that still arrives for a failed or abandoned payment makes it refund_due)
STATUSES = ("requesting", "pending", "paid", "applied", "failed", "abandoned",
            "refund_due", "refunding", "refunded")

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "requesting": ("pending", "paid", "failed", "abandoned", "refund_due"),
    "pending": ("paid", "failed", "abandoned", "refund_due"),
    "paid": ("applied", "refund_due"),
    "applied": ("refunding", "refunded"),
    "failed": ("refund_due",),
    "abandoned": ("requesting", "pending", "paid", "failed", "refund_due"),   # -> pending/paid: the same request resumed
    "refund_due": ("paid", "refunding", "refunded"),   # -> paid: the late payment taken for its own sale after all
    "refunding": ("refunded", "refund_due", "applied"),
    "refunded": (),
}

#: states whose outcome at the provider is still open (a till waits, reconcile asks)
OPEN = ("requesting", "pending", "abandoned")


def _in(values) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


class ProviderPayment(Base):
    ref = CharField(max_length=40, unique=True)           # our idempotency reference
    method = CharField(max_length=32)                     # the tender method (mpesa, airtel, card ...)
    provider = CharField(max_length=16)                   # mpesa | airtel | card_gateway
    terminal = CharField(max_length=64, null=True, index=True)   # NULL: a callback nobody asked for
    ticket = ForeignKeyField(Ticket, null=True, backref="provider_payments", on_delete="RESTRICT")
    attempt = IntegerField(default=1)
    #: minor units asked (0 only for a payment nobody asked for whose amount the provider does not say)
    amount = BigIntegerField(constraints=[Check("amount > 0 OR terminal IS NULL"), Check("amount >= 0")])
    currency = CharField(max_length=8, default="")
    phone = CharField(max_length=16, default="")          # normalised MSISDN (mobile money)
    status = CharField(max_length=12, default="requesting",
                       constraints=[Check(f"status IN {_in(STATUSES)}")])
    provider_ref = CharField(max_length=64, null=True)    # CheckoutRequestID / gateway id
    merchant_ref = CharField(max_length=64, null=True)    # MerchantRequestID
    receipt = CharField(max_length=64, null=True)         # MpesaReceiptNumber / airtel_money_id / auth code
    paid_amount = BigIntegerField(null=True)              # what the provider says it received (minor units)
    result_code = CharField(max_length=32, null=True)
    message = CharField(max_length=200, default="")       # the last answer, in a sentence
    flag = CharField(max_length=200, null=True)           # why a refund is due
    user = ForeignKeyField(User, null=True, backref="provider_payments")
    created_at = DateTimeField(default=utcnow)
    sent_at = DateTimeField(null=True)
    queried_at = DateTimeField(null=True)
    updated_at = DateTimeField(default=utcnow)
    settled_at = DateTimeField(null=True)                 # paid / failed known
    applied_at = DateTimeField(null=True)                 # used in the sale
    refund_amount = BigIntegerField(default=0, constraints=[Check("refund_amount >= 0")])   # given back
    refund_pending = BigIntegerField(default=0, constraints=[Check("refund_pending >= 0")])  # asked, no answer yet
    refund_ref = CharField(max_length=64, null=True)

    class Meta:
        table_name = "provider_payment"
        indexes = ((("provider", "provider_ref"), True), (("status", "created_at"), False))


class PaymentCallback(Base):
    """Insert-only: what a provider told us (a callback, or the answer to a query)."""
    received_at = DateTimeField(default=utcnow, index=True)
    provider = CharField(max_length=16)
    source = CharField(max_length=12, default="callback")   # callback | query | statement
    remote = CharField(max_length=64, default="")
    path = CharField(max_length=200, default="")
    body = TextField(default="")                          # as received (truncated at 64 KiB)
    signature_ok = BooleanField(null=True)                # NULL: the provider signs nothing
    verdict = CharField(max_length=24)                    # what we did with it (see service.VERDICTS)
    detail = CharField(max_length=200, default="")
    payment = ForeignKeyField(ProviderPayment, null=True, backref="callbacks", on_delete="RESTRICT")
    provider_ref = CharField(max_length=64, null=True, index=True)
    result_code = CharField(max_length=32, null=True)

    class Meta:
        table_name = "payment_callback"


MODELS = [ProviderPayment, PaymentCallback]

#: insert-only guards of this area, named like the journal's
GUARDS = [
    ("payment_callback", "UPDATE", "payment callbacks are insert-only"),
    ("payment_callback", "DELETE", "payment callbacks are insert-only"),
    ("provider_payment", "DELETE", "provider payments are never deleted"),
]


def guard_names() -> list[str]:
    return [f"{t}_guard_{op.lower()}" for t, op, _m in GUARDS]


def create(database) -> None:
    """The tables, indexes and guards (one migration step)."""
    database.create_tables(MODELS, safe=True)
    pg = dbmod.is_postgres(database)
    for table, op, msg in GUARDS:
        name = f"{table}_guard_{op.lower()}"
        if pg:
            database.execute_sql(f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger AS $$ BEGIN "
                                 f"RAISE EXCEPTION '{msg}'; END; $$ LANGUAGE plpgsql")
            database.execute_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            database.execute_sql(f"CREATE TRIGGER {name} BEFORE {op} ON {table} FOR EACH ROW "
                                 f"EXECUTE FUNCTION {name}_fn()")
        else:
            database.execute_sql(f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {op} ON {table} "
                                 f"BEGIN SELECT RAISE(ABORT, '{msg}'); END")


def drop_guards(database) -> None:
    for table, op, _m in GUARDS:
        name = f"{table}_guard_{op.lower()}"
        if dbmod.is_postgres(database):
            database.execute_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        else:
            database.execute_sql(f"DROP TRIGGER IF EXISTS {name}")
