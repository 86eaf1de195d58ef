"""Helpers and fixtures of the payment tests: a store configured for M-Pesa,
Airtel Money and a card gateway at the fake providers, the receiver running, a
ticket to pay. A test module takes the fixtures with
``from tests.payments_support import fake, shop  # noqa: F401``."""
from __future__ import annotations

import pytest

from data import db as dbmod
from data.models import Barcode, Product, Ticket
from station import sale, tender
from station.payments import receiver, registry
from tests import fake_providers as fp
from tests.sale_helpers import open_drawer

SUGAR = "6001234500016"      # 150.00
RICE = "6001234500023"       # 320.00

METHODS = ["cash", "card", "voucher", "mpesa", "airtel", "cardpay"]


def configure(ctx, fake, receiver_url: str = "", **settings) -> None:
    """Point the store's payment settings at the fake providers (before any
    provider object is made: they read their settings once)."""
    registry.close_all(ctx)
    c = ctx.config
    c.set("store.currency", "KES")
    c.set("store.currency_symbol", "KES")
    c.set("cash.tender_methods", list(METHODS))
    c.set("payments.methods", {"mpesa": "mpesa", "airtel": "airtel", "cardpay": "card_gateway"})
    c.set("payments.callback_url", receiver_url)
    c.set("payments.http_timeout", 2)
    c.set("mpesa.base_url", fake.url)
    c.set("mpesa.consumer_key", fp.CONSUMER_KEY)
    c.set("mpesa.consumer_secret", fp.CONSUMER_SECRET)
    c.set("mpesa.shortcode", fp.SHORTCODE)
    c.set("mpesa.passkey", fp.PASSKEY)
    c.set("mpesa.initiator", "apiop")
    c.set("mpesa.security_credential", "c2VjcmV0")
    c.set("airtel.base_url", fake.url)
    c.set("airtel.client_id", fp.AIRTEL_ID)
    c.set("airtel.client_secret", fp.AIRTEL_SECRET)
    c.set("card_gateway.base_url", fake.url)
    c.set("card_gateway.api_key", fp.CARD_KEY)
    c.set("card_gateway.webhook_secret", fp.CARD_SECRET)
    for k, v in settings.items():
        c.set(k.replace("__", "."), v)


def make_goods() -> None:
    with dbmod.write():
        for sku, name, price, code in (("SUG", "Sugar 1kg", 15000, SUGAR), ("RICE", "Rice 2kg", 32000, RICE)):
            p = Product.create(sku=sku, name=name, name_key=name.lower(), price=price, vat_rate=1600)
            Barcode.create(code=code, product=p)


def ring(ctx, user, *codes) -> tender.TenderStart:
    for c in codes or (SUGAR,):
        sale.scan(ctx, user, c)
    return tender.begin_tender(ctx, user)


def pay_with(view) -> tender.Payment:
    """The tender payment a settled provider payment makes."""
    return tender.Payment(view.method, view.amount, reference=view.receipt or view.ref, payment_ref=view.ref)


def completed_sales() -> int:
    return Ticket.select().where(Ticket.status == "completed").count()


@pytest.fixture
def fake():
    f = fp.FakeProviders()
    yield f
    f.stop()


@pytest.fixture
def shop(ctx, people, fake):
    """The receiver running for ``ctx``'s store, the providers at the fake, goods,
    the cashier's drawer open: the cashier."""
    rec = receiver.Running(ctx)
    configure(ctx, fake, rec.url)
    fake.receiver_url = rec.url
    make_goods()
    open_drawer(ctx, people["cashier"])
    yield people["cashier"]
    registry.close_all(ctx)
    rec.stop()
