"""Payments that wait for someone else, against a fake provider server (real HTTP
on 127.0.0.1) and the real callback receiver, on real SQLite and PostgreSQL.

In every case: the sale is recorded exactly once or not at all, every callback is
logged, and what the till reads says what happened."""
from __future__ import annotations

import base64
import datetime as _dt
import re
import time

import peewee
import pytest

from data.models import Journal, Tender
from data.payments import PaymentCallback, ProviderPayment
from station import tender, verify
from station.errors import Conflict, NeedsApproval
from station.payments import service
from tests import fake_providers as fp
from tests.payments_support import RICE, SUGAR, completed_sales, fake, pay_with, ring, shop  # noqa: F401


def log(verdict=None) -> list[PaymentCallback]:
    q = PaymentCallback.select().order_by(PaymentCallback.id)
    return [c for c in q if verdict is None or c.verdict == verdict]


def books_balance(ctx) -> None:
    bad = [r for r in verify.run(ctx) if not r.ok]
    assert not bad, verify.report_text(bad)


def age(ref: str, field: str, seconds: int) -> None:
    """Move a payment's clock back (instead of waiting)."""
    p = ProviderPayment.get(ProviderPayment.ref == ref)
    ProviderPayment.update({field: getattr(p, field) - _dt.timedelta(seconds=seconds)}).where(
        ProviderPayment.ref == ref).execute()


def mpesa(ctx, user, st, phone="0712 345 678", amount=None):
    return service.start(ctx, user, st.ticket_id, "mpesa", st.due if amount is None else amount, phone)


# ------------------------------------------------------------- the shapes ---

def test_stk_push_has_the_daraja_shape_and_carries_our_reference(ctx, shop, fake):
    st = ring(ctx, shop)
    v = mpesa(ctx, shop, st, "+254 712-345-678")
    assert v.status == "pending" and v.waiting and v.phone == "0712 345 678"
    push = fake.last_push()
    assert re.fullmatch(r"\d{14}", push["Timestamp"])
    assert push["Password"] == base64.b64encode(f"{fp.SHORTCODE}{fp.PASSKEY}{push['Timestamp']}".encode()).decode()
    assert push["TransactionType"] == "CustomerPayBillOnline" and push["BusinessShortCode"] == fp.SHORTCODE
    assert push["Amount"] == 150 and isinstance(push["Amount"], int)           # whole shillings
    assert push["PartyA"] == push["PhoneNumber"] == "254712345678" and push["PartyB"] == fp.SHORTCODE
    assert push["CallBackURL"].endswith(f"/mpesa/callback?ref={v.ref}")
    assert 0 < len(push["AccountReference"]) <= 12 and len(push["TransactionDesc"]) <= 13
    p = ProviderPayment.get(ProviderPayment.ref == v.ref)
    assert (p.provider_ref, p.merchant_ref, p.terminal, p.ticket_id) == (push["_checkout"], push["_merchant"],
                                                                          ctx.terminal, st.ticket_id)
    # the token is cached: a second request fetches none
    service.cancel(ctx, shop, v.ref)
    mpesa(ctx, shop, st, "0722000111")
    assert fake.token_fetches == 1


# ------------------------------------------------------------ the outcomes ---

def test_success_by_callback_completes_the_sale_exactly_once(ctx, shop, fake):
    st = ring(ctx, shop, SUGAR, RICE)                 # 470.00
    v = mpesa(ctx, shop, st)
    code, body = fake.mpesa_callback(fake.checkout_of(v.ref), 0, receipt="QKR3S0JA9H")
    assert code == 200 and '"ResultCode": 0' in body.replace('":0', '": 0')
    w = service.watch(ctx, v.ref)
    assert w.paid and w.receipt == "QKR3S0JA9H" and w.paid_amount == 47000
    r = tender.complete_sale(ctx, shop, st.idem_key, [pay_with(w)])
    again = tender.complete_sale(ctx, shop, st.idem_key, [pay_with(w)])
    assert again.duplicate and again.receipt_no == r.receipt_no
    assert completed_sales() == 1
    t = Tender.get(Tender.ticket == st.ticket_id)
    assert (t.method, t.amount, t.reference) == ("mpesa", 47000, "QKR3S0JA9H")
    assert service.watch(ctx, v.ref).status == "applied"
    assert [c.verdict for c in log()] == ["sent", "paid"]
    assert log("paid")[0].payment_id is not None and log("paid")[0].remote == "127.0.0.1"
    books_balance(ctx)
    # a payment made to look unused again, or a second tender typed in: verify names it
    ProviderPayment.update(status="paid", applied_at=None).where(ProviderPayment.ref == v.ref).execute()
    problems = {r.name: r.problems for r in verify.run(ctx, only=["payments"])}
    assert any("mpesa tenders add up to 47000 but its applied mpesa payments to 0" in x
               for x in problems["payments.used_exactly_once"])
    assert any("not flagged for a refund" in x for x in problems["payments.states"])


def test_success_only_by_query_when_no_callback_comes(ctx, shop, fake):
    ctx.config.set("payments.query_after_seconds", 1)
    st = ring(ctx, shop)
    v = mpesa(ctx, shop, st)
    checkout = fake.checkout_of(v.ref)
    age(v.ref, "sent_at", 5)
    assert service.watch(ctx, v.ref).status == "pending"            # asked: "being processed"
    assert fake.queries == [checkout]
    assert service.watch(ctx, v.ref).status == "pending" and len(fake.queries) == 1   # not asked again at once
    age(v.ref, "queried_at", 60)
    fake.query_answer[checkout] = 0
    w = service.watch(ctx, v.ref)
    assert w.paid and w.paid_amount == st.due and len(fake.queries) == 2
    tender.complete_sale(ctx, shop, st.idem_key, [pay_with(w)])
    assert completed_sales() == 1
    assert [(c.source, c.verdict) for c in log()] == [("start", "sent"), ("query", "pending"), ("query", "paid")]
    # the callback that comes after all is a logged duplicate and fills in the receipt
    fake.mpesa_callback(checkout, 0, receipt="QKR9LATE01")
    assert log()[-1].verdict == "duplicate" and service.watch(ctx, v.ref).receipt == "QKR9LATE01"
    assert completed_sales() == 1


def test_not_paid_results_say_why_and_charge_nothing(ctx, shop, fake):
    st = ring(ctx, shop)
    cases = [(1032, "cancelled the M-Pesa prompt"), (1037, "no answer from the customer's phone"),
             (1, "balance is too low"), (4242, "code 4242")]
    refs = []
    for attempt, (code, words) in enumerate(cases, start=1):
        v = mpesa(ctx, shop, st)            # after a failure the cashier may try again: a new request
        assert v.attempt == attempt and v.ref not in refs and len(fake.pushes) == attempt
        refs.append(v.ref)
        assert fake.mpesa_callback(fake.checkout_of(v.ref), code)[0] == 200
        w = service.watch(ctx, v.ref)
        assert w.status == "failed" and words in w.message and w.over
        with pytest.raises(Conflict, match="failed, not paid"):
            tender.complete_sale(ctx, shop, st.idem_key, [pay_with(w)])
        assert completed_sales() == 0
    books_balance(ctx)


def test_callback_twice_is_one_payment_and_two_log_rows(ctx, shop, fake):
    st = ring(ctx, shop)
    v = mpesa(ctx, shop, st)
    checkout = fake.checkout_of(v.ref)
    first = fake.mpesa_callback(checkout, 0)
    second = fake.mpesa_callback(checkout, 0)
    assert first == second and first[0] == 200                # the same quick answer
    tender.complete_sale(ctx, shop, st.idem_key, [pay_with(service.watch(ctx, v.ref))])
    third = fake.mpesa_callback(checkout, 0)                  # even after the sale
    assert third == first
    assert [c.verdict for c in log()] == ["sent", "paid", "duplicate", "duplicate"]
    assert completed_sales() == 1 and service.flagged(ctx) == []
    books_balance(ctx)


def test_success_after_the_cashier_switched_to_cash_is_flagged_and_refunded_in_one_step(ctx, shop, fake, people):
    st = ring(ctx, shop)
    v = mpesa(ctx, shop, st)
    c = service.cancel(ctx, shop, v.ref)
    assert c.status == "abandoned"
    tender.complete_sale(ctx, shop, st.idem_key, [tender.Payment("cash", 20000)])
    assert fake.mpesa_callback(fake.checkout_of(v.ref), 0, receipt="QKRLATE001")[0] == 200
    flagged = service.flagged(ctx)
    assert [f.ref for f in flagged] == [v.ref] and "paid twice, refund due" in flagged[0].flag
    assert log()[-1].verdict == "late_success"
    assert Journal.select().where(Journal.kind == "payment.flagged").count() == 1
    assert completed_sales() == 1 and Tender.select().where(Tender.method == "mpesa").count() == 0
    # a cashier may not refund alone; nothing changes
    with pytest.raises(NeedsApproval):
        service.refund(ctx, shop, v.ref)
    assert service.watch(ctx, v.ref).status == "refund_due" and fake.reversals == []
    # one step: a manager refunds it (an M-Pesa reversal; its result comes by callback)
    r = service.refund(ctx, people["manager"], v.ref)
    assert r.status == "refunding" and fake.reversals[-1]["TransactionID"] == "QKRLATE001"
    assert fake.reversals[-1]["Amount"] == 150
    res = fp.post_json(fake.reversals[-1]["ResultURL"], {"Result": {
        "ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
        "OriginatorConversationID": "AG_1", "ConversationID": "AG_R1", "TransactionID": "QKRREV0001"}})
    assert res[0] == 200
    assert service.watch(ctx, v.ref).status == "refunded" and service.flagged(ctx) == []
    with pytest.raises(Conflict, match="nothing to refund"):
        service.refund(ctx, people["manager"], v.ref)
    assert len(fake.reversals) == 1
    books_balance(ctx)


def test_wrong_amount_or_unknown_reference_is_logged_flagged_and_never_used(ctx, shop, fake):
    st = ring(ctx, shop)
    v = mpesa(ctx, shop, st)
    checkout = fake.checkout_of(v.ref)
    assert fake.mpesa_callback(checkout, 0, amount=1)[0] == 200       # 1 shilling instead of 150
    w = service.watch(ctx, v.ref)
    assert w.status == "refund_due" and "1.00 KES paid but 150.00 KES was asked" in w.flag
    with pytest.raises(Conflict):
        tender.complete_sale(ctx, shop, st.idem_key, [pay_with(w)])
    body = fake.stk_body(checkout, 0, receipt="QKRNOBODY1")
    body["Body"]["stkCallback"]["CheckoutRequestID"] = "ws_CO_NEVER_ISSUED"
    body["Body"]["stkCallback"]["MerchantRequestID"] = "1-1-1"
    code, _ = fp.post_json(fake.receiver_url + "/mpesa/callback", body)
    assert code == 200
    assert [c.verdict for c in log()][-2:] == ["amount_mismatch", "unknown_reference"]
    orphan = [f for f in service.flagged(ctx) if f.receipt == "QKRNOBODY1"]
    assert len(orphan) == 1 and orphan[0].terminal is None and "never issued" in orphan[0].flag
    # a callback naming our reference but another request's number changes nothing
    body = fake.stk_body(checkout, 0)
    code, _ = fp.post_json(fake.receiver_url + f"/mpesa/callback?ref={v.ref}",
                           {"Body": {"stkCallback": dict(body["Body"]["stkCallback"], CheckoutRequestID="ws_CO_X")}})
    assert code == 200 and log()[-1].verdict == "mismatch"
    assert completed_sales() == 0
    books_balance(ctx)


def test_token_expiring_mid_sale_is_fetched_again(ctx, shop, fake):
    ctx.config.set("payments.query_after_seconds", 1)
    st = ring(ctx, shop)
    v = mpesa(ctx, shop, st)
    assert fake.token_fetches == 1
    fake.revoke_tokens()
    fake.query_answer[fake.checkout_of(v.ref)] = 0
    age(v.ref, "sent_at", 5)
    w = service.watch(ctx, v.ref)
    assert w.paid and fake.token_fetches == 2
    tender.complete_sale(ctx, shop, st.idem_key, [pay_with(w)])
    assert completed_sales() == 1


def test_provider_unreachable_charges_nothing_and_may_be_retried(ctx, shop, fake):
    st = ring(ctx, shop)
    fake.stop()
    v = mpesa(ctx, shop, st)
    assert v.status == "failed" and "cannot be reached" in v.message and "nothing was charged" in v.message
    assert completed_sales() == 0
    v2 = mpesa(ctx, shop, st)                 # the retry is allowed: nothing had left
    assert v2.ref != v.ref and v2.status == "failed"


def test_malformed_callback_is_logged_and_changes_nothing(ctx, shop, fake):
    st = ring(ctx, shop)
    v = mpesa(ctx, shop, st)
    code, _ = fake.mpesa_callback(fake.checkout_of(v.ref), raw=b'{"Body": {"stkCallback": ')
    assert code == 400
    code, _ = fake.mpesa_callback(fake.checkout_of(v.ref), raw=b'{"Body": {"stkCallback": {"ResultCode": 0}}}')
    assert code == 400
    assert [c.verdict for c in log()] == ["sent", "malformed", "malformed"]
    assert log()[1].body == '{"Body": {"stkCallback": '
    assert service.watch(ctx, v.ref).status == "pending" and completed_sales() == 0


def test_an_unreadable_answer_is_never_sent_twice(ctx, shop, fake):
    """The push answer is garbage: the prompt may be on the phone. A retry sends
    nothing; the callback (matched by our reference in its URL) settles it."""
    st = ring(ctx, shop)
    fake.mode = "malformed"
    v = mpesa(ctx, shop, st)
    assert v.status == "requesting" and "could not be read" in v.message
    fake.mode = "accept"
    again = mpesa(ctx, shop, st)
    assert again.ref == v.ref and len(fake.pushes) == 1
    checkout = fake.pushes[0]["_checkout"]
    assert fake.mpesa_callback(checkout, 0)[0] == 200
    w = service.watch(ctx, v.ref)
    assert w.paid and ProviderPayment.get(ProviderPayment.ref == v.ref).provider_ref == checkout
    tender.complete_sale(ctx, shop, st.idem_key, [pay_with(w)])
    assert completed_sales() == 1


def test_no_answer_in_time_gives_up_and_a_late_success_is_flagged(ctx, shop, fake):
    ctx.config.set("payments.http_timeout", 1)
    fake.mode, fake.hang_seconds = "hang", 2.5
    st = ring(ctx, shop)
    v = mpesa(ctx, shop, st)
    assert v.status == "requesting" and "did not answer" in v.message
    age(v.ref, "created_at", 600)
    w = service.watch(ctx, v.ref)
    assert w.status == "failed" and "no answer from M-Pesa" in w.message
    tender.complete_sale(ctx, shop, st.idem_key, [tender.Payment("cash", 15000)])
    assert fake.mpesa_callback(fake.pushes[0]["_checkout"], 0)[0] == 200
    assert service.watch(ctx, v.ref).status == "refund_due" and completed_sales() == 1


def test_a_retry_asks_the_earlier_request_first(ctx, shop, fake):
    st = ring(ctx, shop)
    v = mpesa(ctx, shop, st)
    checkout = fake.checkout_of(v.ref)
    again = mpesa(ctx, shop, st, "0712345678")           # the same money, typed another way
    assert again.ref == v.ref and len(fake.pushes) == 1 and fake.queries == [checkout]
    with pytest.raises(Conflict, match="still waiting"):
        mpesa(ctx, shop, st, "0733 000 111")              # another phone while one waits
    # the cashier cancelled, then retries: the earlier one is asked about and was paid
    service.cancel(ctx, shop, v.ref)
    fake.query_answer[checkout] = 0
    w = mpesa(ctx, shop, st)
    assert w.ref == v.ref and w.paid and len(fake.pushes) == 1
    tender.complete_sale(ctx, shop, st.idem_key, [pay_with(w)])
    assert completed_sales() == 1


def test_a_late_success_is_taken_by_its_own_open_sale(ctx, shop, fake):
    st = ring(ctx, shop)
    v = mpesa(ctx, shop, st)
    service.cancel(ctx, shop, v.ref)
    fake.mpesa_callback(fake.checkout_of(v.ref), 0)
    assert service.watch(ctx, v.ref).status == "refund_due"
    w = mpesa(ctx, shop, st)                             # retried on the same, still open sale
    assert w.ref == v.ref and w.paid and w.flag is None and len(fake.pushes) == 1
    tender.complete_sale(ctx, shop, st.idem_key, [pay_with(w)])
    assert completed_sales() == 1 and service.flagged(ctx) == []


def test_the_callback_log_is_insert_only(ctx, shop, fake):
    st = ring(ctx, shop)
    mpesa(ctx, shop, st)
    with pytest.raises(peewee.DatabaseError, match="insert-only"):
        PaymentCallback.update(verdict="paid").execute()
    with pytest.raises(peewee.DatabaseError, match="insert-only"):
        PaymentCallback.delete().execute()



@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown_reference"])
def test_the_same_callback_racing_itself_settles_once(ctx, shop, fake, known):
    import threading
    st = ring(ctx, shop)
    v = mpesa(ctx, shop, st)
    body = fake.stk_body(fake.checkout_of(v.ref), 0, receipt="QKRRACE001")
    if not known:
        body["Body"]["stkCallback"].update(CheckoutRequestID="ws_CO_STRAY", MerchantRequestID="9-9-9")
    n = 6
    gate = threading.Barrier(n)
    spans, codes = [], []

    def send():
        gate.wait(10)
        t0 = time.monotonic()
        codes.append(fp.post_json(fake.receiver_url + "/mpesa/callback", body)[0])
        spans.append((t0, time.monotonic()))
    threads = [threading.Thread(target=send) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert codes == [200] * n
    assert max(a for a, _ in spans) < min(b for _, b in spans)       # all were in flight together
    verdicts = sorted(c.verdict for c in log() if c.source == "callback")
    if known:
        assert verdicts == ["duplicate"] * (n - 1) + ["paid"] and service.watch(ctx, v.ref).paid
    else:
        assert verdicts == ["duplicate"] * (n - 1) + ["unknown_reference"]
        assert ProviderPayment.select().where(ProviderPayment.provider_ref == "ws_CO_STRAY").count() == 1
    books_balance(ctx)


def test_a_ticket_with_a_payment_waiting_or_paid_is_neither_voided_nor_parked(ctx, shop, fake, people):
    from station import sale
    st = ring(ctx, shop)
    v = mpesa(ctx, shop, st)
    for fn, words in ((lambda: sale.park(ctx, shop), "before you park it"),
                      (lambda: sale.void_ticket(ctx, people["manager"]), "before you void the ticket")):
        with pytest.raises(Conflict, match=f"still waiting: finish it on the tender screen \\(F10\\) {words}"):
            fn()
    fake.mpesa_callback(fake.checkout_of(v.ref), 0)
    assert service.watch(ctx, v.ref).paid
    with pytest.raises(Conflict, match="is paid: finish it"):
        sale.park(ctx, shop)
    assert sale.current_ticket(ctx, shop).id == st.ticket_id
    # given back by the cashier (flagged for a refund), the ticket may go
    service.give_back(ctx, shop, v.ref)
    sale.park(ctx, shop)
    assert [f.ref for f in service.flagged(ctx)] == [v.ref]
