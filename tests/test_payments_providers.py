"""Airtel Money and the card gateway (signed callbacks), and what the receiver
refuses (and still logs), against the fake provider server over real HTTP.
SQLite only: the state machine and the sale are the same code on both backends
(tests/test_payments.py runs them on PostgreSQL too)."""
from __future__ import annotations

import time

import pytest

from data.payments import PaymentCallback, ProviderPayment
from station import tender
from station.errors import InvalidInput
from station.payments import receiver, registry, service
from tests import fake_providers as fp
from tests.payments_support import RICE, SUGAR, completed_sales, fake, pay_with, ring, shop  # noqa: F401


@pytest.fixture
def ctx(sqlite_ctx):
    return sqlite_ctx


def verdicts() -> list[str]:
    return [c.verdict for c in PaymentCallback.select().order_by(PaymentCallback.id)]


# --------------------------------------------------------------- Airtel ---

def test_airtel_push_has_its_shape_and_our_reference_is_the_transaction_id(ctx, shop, fake):
    st = ring(ctx, shop)
    v = service.start(ctx, shop, st.ticket_id, "airtel", st.due, "0733 123 456")
    assert v.status == "pending" and v.label == "Airtel Money"
    body = fake.airtel[v.ref]["body"]
    assert body["transaction"] == {"amount": 150, "country": "KE", "currency": "KES", "id": v.ref}
    assert body["subscriber"] == {"country": "KE", "currency": "KES", "msisdn": "733123456"}
    assert fake.airtel_callback(v.ref, "TS", airtel_money_id="MP1")[0] == 200
    w = service.watch(ctx, v.ref)
    assert w.paid and w.receipt == "MP1"
    tender.complete_sale(ctx, shop, st.idem_key, [pay_with(w)])
    assert completed_sales() == 1 and verdicts() == ["sent", "paid"]


def test_airtel_failure_query_and_refund(ctx, shop, fake, people):
    ctx.config.set("payments.query_after_seconds", 1)
    st = ring(ctx, shop, SUGAR, RICE)
    v = service.start(ctx, shop, st.ticket_id, "airtel", 15000, "0733123456")
    assert fake.airtel_callback(v.ref, "TF")[0] == 200
    assert service.watch(ctx, v.ref).status == "failed"
    # the retry: a new transaction id; its answer only by the status enquiry
    v2 = service.start(ctx, shop, st.ticket_id, "airtel", 15000, "0733123456")
    assert v2.ref != v.ref
    fake.airtel[v2.ref].update(status="TS", airtel_money_id="MP2")
    p = ProviderPayment.get(ProviderPayment.ref == v2.ref)
    p.sent_at = p.sent_at.replace(year=p.sent_at.year - 1)
    p.save()
    w = service.watch(ctx, v2.ref)
    assert w.paid and w.receipt == "MP2"
    r = tender.complete_sale(ctx, shop, st.idem_key, [pay_with(w), tender.Payment("cash", 32000)])
    assert r.receipt_no == 1 and completed_sales() == 1
    # a return refunds the Airtel part through Airtel (the whole payment)
    got = service.refund(ctx, people["manager"], v2.ref)
    assert got.status == "refunded" and fake.airtel_refunds == [{"transaction": {"airtel_money_id": "MP2"}}]


def test_airtel_callback_hash_is_checked_when_configured(ctx, shop, fake):
    registry.close_all(ctx)
    ctx.config.set("airtel.callback_key", "k3y")
    st = ring(ctx, shop)
    v = service.start(ctx, shop, st.ticket_id, "airtel", st.due, "0733123456")
    assert fake.airtel_callback(v.ref, "TS", hash_="bm90IHRoZSBoYXNo")[0] == 401
    assert fake.airtel_callback(v.ref, "TS")[0] == 401                  # no hash at all
    assert service.watch(ctx, v.ref).status == "pending"
    assert fake.airtel_callback(v.ref, "TS", key="k3y")[0] == 200
    assert service.watch(ctx, v.ref).paid
    assert verdicts() == ["sent", "bad_signature", "bad_signature", "paid"]


# --------------------------------------------------------- card gateway ---

def test_card_callback_with_a_bad_hmac_is_refused_and_logged(ctx, shop, fake):
    st = ring(ctx, shop)
    v = service.start(ctx, shop, st.ticket_id, "cardpay", st.due)
    assert v.status == "pending" and "present the card" in v.message
    assert fake.card_callback(v.ref, "approved", secret="not-the-secret")[0] == 401
    assert fake.card_callback(v.ref, "approved", t=int(time.time()) - 3600)[0] == 401   # replayed
    body = b'{"reference": "%s", "status": "approved", "amount": 15000}' % v.ref.encode()
    assert fake.card_callback(v.ref, raw=body, secret="wrong")[0] == 401
    assert service.watch(ctx, v.ref).status == "pending" and completed_sales() == 0
    bad = PaymentCallback.select().where(PaymentCallback.verdict == "bad_signature")
    assert bad.count() == 3 and all(c.signature_ok is False for c in bad)
    assert fake.card_callback(v.ref, "approved")[0] == 200
    w = service.watch(ctx, v.ref)
    assert w.paid and w.receipt == "A1B2C3"
    tender.complete_sale(ctx, shop, st.idem_key, [pay_with(w)])
    assert completed_sales() == 1
    assert PaymentCallback.get(PaymentCallback.verdict == "paid").signature_ok is True


def test_card_cancel_asks_the_gateway_and_a_partial_refund_keeps_the_sale(ctx, shop, fake, people):
    st = ring(ctx, shop, SUGAR, RICE)
    v = service.start(ctx, shop, st.ticket_id, "cardpay", st.due)
    c = service.cancel(ctx, shop, v.ref)
    assert c.status == "failed" and fake.card[v.ref]["status"] == "cancelled"   # the gateway confirmed
    v2 = service.start(ctx, shop, st.ticket_id, "cardpay", st.due)
    fake.card[v2.ref]["status"] = "approved"                                     # approved on the pad meanwhile
    c2 = service.cancel(ctx, shop, v2.ref)
    assert c2.paid                                                               # too late to cancel: the sale takes it
    tender.complete_sale(ctx, shop, st.idem_key, [pay_with(c2)])
    r = service.refund(ctx, people["manager"], v2.ref, 15000, reason="sugar returned")
    assert r.status == "applied" and r.refund_amount == 15000 and fake.card_refunds[-1]["amount"] == 15000
    assert completed_sales() == 1


# ------------------------------------------------------------- receiver ---

def test_receiver_refuses_and_logs_what_it_cannot_take(ctx, shop, fake):
    st = ring(ctx, shop)
    v = service.start(ctx, shop, st.ticket_id, "mpesa", st.due, "0712345678")
    url = fake.receiver_url
    assert fp.post_json(url + "/mpesa/callback", None, raw=b"x" * (70 * 1024))[0] == 413
    assert fp.post_json(url + "/mpesa/callback", None, raw=b"not json")[0] == 400
    assert fp.post_json(url + "/nowhere", {})[0] == 404
    assert verdicts() == ["sent", "malformed", "malformed"]
    # a source outside the allowed networks: refused, logged, nothing changes
    ctx.config.set("payments.allow_networks", ["196.201.214.0/24"])
    rec2 = receiver.Running(ctx)
    try:
        code, _ = fake.mpesa_callback(fake.checkout_of(v.ref), 0, url=f"{rec2.url}/mpesa/callback?ref={v.ref}")
        assert code == 403
    finally:
        rec2.stop()
    assert verdicts()[-1] == "source_refused"
    assert service.watch(ctx, v.ref).status == "pending"


def test_methods_that_settle_at_the_till_are_providers_too(ctx, shop):
    assert registry.provider_for(ctx, "cash").waits is False
    assert registry.provider_for(ctx, "card").kind == "manual" and not registry.provider_for(ctx, "card").waits
    assert registry.provider_for(ctx, "mpesa").waits and registry.provider_for(ctx, "cardpay").can_cancel
    st = ring(ctx, shop)
    with pytest.raises(InvalidInput, match="settled at the till"):
        service.start(ctx, shop, st.ticket_id, "card", st.due)
    # an M-Pesa payment cannot be typed in: it is confirmed by M-Pesa
    with pytest.raises(InvalidInput, match="cannot be typed"):
        tender.complete_sale(ctx, shop, st.idem_key, [tender.Payment("mpesa", st.due, reference="QKRFAKE")])
    assert completed_sales() == 0


def test_bad_phone_numbers_and_amounts_get_one_message_and_change_nothing(ctx, shop, fake):
    st = ring(ctx, shop)
    for text, words in [
        ("", "type the customer's phone number"),
        ("07123", "too short"),
        ("071234567890", "too long"),
        ("0712abc678", "digits only"),
        ("+255712345678", "not a Kenyan number"),
        ("0202345678", "not a mobile number"),
    ]:
        with pytest.raises(InvalidInput, match=words) as e:
            service.start(ctx, shop, st.ticket_id, "mpesa", st.due, text)
        assert "\n" not in str(e.value)
    for amount, words in [
        (15050, "whole shillings"),
        (0, "more than zero"),
        (-100, "more than zero"),
        (15100, "more than is left to pay"),
        (10 ** 12, "maximum"),
    ]:
        with pytest.raises(InvalidInput, match=words):
            service.start(ctx, shop, st.ticket_id, "mpesa", amount, "0712345678")
    assert ProviderPayment.select().count() == 0 and fake.pushes == [] and verdicts() == []


def test_paid_twice_shows_on_the_x_and_z_reports(ctx, shop, fake, people):
    from station import drawer, reports
    st = ring(ctx, shop)
    v = service.start(ctx, shop, st.ticket_id, "mpesa", st.due, "0712345678")
    service.cancel(ctx, shop, v.ref)
    tender.complete_sale(ctx, shop, st.idem_key, [tender.Payment("cash", st.due)])
    fake.mpesa_callback(fake.checkout_of(v.ref), 0, receipt="QKRXREPORT")
    x = drawer.x_report(ctx, shop)
    assert x["refund_due"] == {"count": 1, "total": 15000, "items": [
        {"ref": v.ref, "method": "mpesa", "amount": 15000, "receipt": "QKRXREPORT", "status": "refund_due"}]}
    text = "\n".join(reports.lines(x))
    assert "PAID TWICE, REFUND DUE (1)" in text and "mpesa QKRXREPORT" in text
