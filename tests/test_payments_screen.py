"""The pending tender on the screen (Textual pilot, real SQLite store, the fake
provider server and the real receiver over HTTP): "waiting for the customer's
phone" with a countdown, keys still taken (cancel, switch method, retry), the
sale completed exactly once when the payment settles, and the screen saying what
happened."""
from __future__ import annotations

import asyncio

import pytest

from data.models import Tender, Ticket
from data.payments import ProviderPayment
from screens.sale import SaleScreen
from screens.tender import TenderScreen
from screens.tender_pending import PendingPanel
from screens.widgets import PickDialog, PromptDialog
from station.payments import service
from tests.payments_support import SUGAR, completed_sales, fake, shop  # noqa: F401
from tests.sale_ui_support import make_app, sale_screen, type_burst, wait_for


@pytest.fixture
def ctx(sqlite_ctx):
    return sqlite_ctx


def message(t: TenderScreen) -> str:
    return str(t.query_one("#tender-message").render())


def panel_text(t: TenderScreen) -> str:
    return str(t.query_one("#pending-text").render())


async def to_tender(pilot) -> TenderScreen:
    s = await sale_screen(pilot)
    type_burst(pilot.app, [SUGAR], char_delay=0).join()
    await wait_for(pilot, lambda: s.runner.pending == 0 and s.view is not None and s.view.lines, what="the sugar")
    await pilot.press("f10")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TenderScreen), what="the tender screen")
    t = pilot.app.screen
    await wait_for(pilot, lambda: t.start is not None, what="the tender key")
    return t


async def ask_mpesa(pilot, t: TenderScreen, phone: str | None = "0712 345 678", *, retry: bool = False) -> None:
    await pilot.press("f5")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PickDialog), what="the method list")
    await pilot.press("down", "enter")                      # voucher, [mpesa], airtel, cardpay
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PromptDialog), what="the phone prompt")
    if phone is not None:
        if retry:        # the number typed before is offered again
            assert pilot.app.screen.query_one("#prompt-input").value == phone
        else:
            await pilot.press(*[("space" if c == " " else c) for c in phone])
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TenderScreen), what="back on the tender")


async def waiting(pilot, t: TenderScreen):
    await wait_for(pilot, lambda: t.pending is not None and t.pending.waiting, what="the payment to wait")
    return t.pending


async def on_sale(pilot) -> SaleScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SaleScreen), what="back on the sale screen")
    return pilot.app.screen


async def test_paid_by_phone_while_the_screen_keeps_taking_keys(ctx, shop, fake):
    app = make_app(ctx, shop)
    async with app.run_test(size=(80, 24)) as pilot:
        t = await to_tender(pilot)
        await ask_mpesa(pilot, t)
        v = await waiting(pilot, t)
        panel = t.query_one(PendingPanel)
        assert panel.has_class("shown")
        assert "M-Pesa 150.00 to 0712 345 678: waiting for the customer's phone" in panel_text(t)
        assert panel_text(t).endswith(" s") and "Esc cancels" in str(t.query_one("#pending-note").render())
        assert fake.last_push()["PhoneNumber"] == "254712345678"
        # the screen is not blocked: keys go on being taken while it waits
        await pilot.press("2", "0")
        assert t.query_one("#tender-amount").value == "20"
        await pilot.press("backspace", "backspace")
        # F10 while waiting: one clear sentence, nothing recorded
        await pilot.press("f10")
        assert "waiting for M-Pesa: Esc cancels it" in message(t)
        # the customer confirms: the receiver records it, the till sees it, the sale completes once
        code, _ = await asyncio.to_thread(fake.mpesa_callback, fake.checkout_of(v.ref), 0, receipt="QKRSCREEN1")
        assert code == 200
        s = await on_sale(pilot)
        await wait_for(pilot, lambda: "sale 1 done" in str(s.query_one("#sale-status").render()), what="sale done")
    assert completed_sales() == 1
    [tdr] = list(Tender.select())
    assert (tdr.method, tdr.amount, tdr.reference) == ("mpesa", 15000, "QKRSCREEN1")
    assert ProviderPayment.get(ProviderPayment.ref == v.ref).status == "applied"


async def test_cash_while_waiting_cancels_first_and_a_late_success_is_flagged(ctx, shop, fake):
    app = make_app(ctx, shop)
    async with app.run_test(size=(80, 24)) as pilot:
        t = await to_tender(pilot)
        await ask_mpesa(pilot, t)
        v = await waiting(pilot, t)
        await pilot.press("2", "0", "0", "f2")               # the customer pays cash after all
        s = await on_sale(pilot)
        await wait_for(pilot, lambda: "change 50.00" in str(s.query_one("#sale-status").render()), what="change")
    assert completed_sales() == 1
    assert ProviderPayment.get(ProviderPayment.ref == v.ref).status == "abandoned"
    code, _ = await asyncio.to_thread(fake.mpesa_callback, fake.checkout_of(v.ref), 0)   # ...and M-Pesa too
    assert code == 200
    [f] = service.flagged(ctx)
    assert f.ref == v.ref and "paid twice, refund due" in f.flag
    assert completed_sales() == 1 and [x.method for x in Tender.select()] == ["cash"]


async def test_cancelled_on_the_phone_says_so_then_a_retry_is_paid(ctx, shop, fake):
    app = make_app(ctx, shop)
    async with app.run_test(size=(80, 24)) as pilot:
        t = await to_tender(pilot)
        await ask_mpesa(pilot, t)
        v = await waiting(pilot, t)
        await asyncio.to_thread(fake.mpesa_callback, fake.checkout_of(v.ref), 1032)
        await wait_for(pilot, lambda: t.pending is None, what="the failure")
        assert "the customer cancelled the M-Pesa prompt" in message(t)
        assert "Nothing was charged" in message(t) and "F5 to try again" in message(t)
        assert not t.query_one(PendingPanel).has_class("shown")
        assert completed_sales() == 0
        await ask_mpesa(pilot, t, "0712 345 678", retry=True)        # F5 again: the number is offered
        v2 = await waiting(pilot, t)
        assert v2.ref != v.ref and len(fake.pushes) == 2
        await asyncio.to_thread(fake.mpesa_callback, fake.checkout_of(v2.ref), 0)
        await on_sale(pilot)
    assert completed_sales() == 1


async def test_bad_phone_number_gets_one_message_in_the_dialog(ctx, shop, fake):
    app = make_app(ctx, shop)
    async with app.run_test(size=(80, 24)) as pilot:
        t = await to_tender(pilot)
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PickDialog), what="the method list")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PromptDialog), what="the phone prompt")
        d = pilot.app.screen
        await pilot.press("0", "7", "1", "2", "enter")
        assert "too short for a Kenyan mobile number" in str(d.query_one("#prompt-error").render())
        assert isinstance(pilot.app.screen, PromptDialog)
        await pilot.press("escape")
        await wait_for(pilot, lambda: pilot.app.screen is t, what="the tender")
        assert "M-Pesa: nothing was sent" in message(t)
        # Escape with a payment waiting cancels it; the next Escape goes back to the ticket
        await ask_mpesa(pilot, t)
        v = await waiting(pilot, t)
        await pilot.press("escape")
        await wait_for(pilot, lambda: t.pending is None, what="the cancel")
        assert "request cancelled" in message(t)
        await pilot.press("escape")
        await on_sale(pilot)
    assert fake.pushes and len(fake.pushes) == 1
    assert ProviderPayment.get(ProviderPayment.ref == v.ref).status == "abandoned" and completed_sales() == 0


async def test_after_a_restart_the_paid_payment_is_taken_up_and_the_sale_completed(ctx, shop, fake):
    """The till died while the customer was paying: the receiver recorded the
    payment. The app started again goes from the restored ticket to the tender,
    takes the payment and completes the sale, once."""
    from station import sale, tender
    from tests.payments_support import ring
    st = ring(ctx, shop)
    v = service.start(ctx, shop, st.ticket_id, "mpesa", st.due, "0712345678")
    fake.mpesa_callback(fake.checkout_of(v.ref), 0, receipt="QKRRESTART")
    assert sale.current_ticket(ctx, shop) is not None and completed_sales() == 0
    app = make_app(ctx, shop)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: any(isinstance(x, SaleScreen) for x in app.screen_stack), what="the sale")
        s = next(x for x in app.screen_stack if isinstance(x, SaleScreen))
        await wait_for(pilot, lambda: app.screen is s and "sale 1 done" in str(s.query_one("#sale-status").render()),
                       what="the sale completed")
    assert completed_sales() == 1
    assert Ticket.get_by_id(st.ticket_id).status == "completed"
    assert tender.sale_result(ctx, st.idem_key).receipt_no == 1


async def test_the_manager_sees_paid_twice_and_refunds_in_one_step(ctx, shop, fake, people):
    from textual.app import App
    from textual.widgets import DataTable
    from screens.manager import Confirm, ManagerScreen
    from station import tender
    from tests import fake_providers as fp
    from tests.payments_support import ring

    def paid_twice(receipt):
        st = ring(ctx, shop)
        v = service.start(ctx, shop, st.ticket_id, "mpesa", st.due, "0712345678")
        service.cancel(ctx, shop, v.ref)
        tender.complete_sale(ctx, shop, st.idem_key, [tender.Payment("cash", st.due)])
        fake.mpesa_callback(fake.checkout_of(v.ref), 0, receipt=receipt)
        return v.ref

    first, second = paid_twice("QKRMGR0001"), paid_twice("QKRMGR0002")

    class Host(App):
        def __init__(self):
            super().__init__()
            self.ctx, self.user = ctx, people["manager"]

        def on_mount(self):
            self.push_screen(ManagerScreen())

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        m = app.screen
        await wait_for(pilot, lambda: "2 payment(s) paid twice, refund due: F6" in str(m.query_one("#mgr-title").render()),
                       what="the flag in the title")
        await pilot.press("f6")
        t = m.query_one("#refunds-table", DataTable)
        await wait_for(pilot, lambda: t.row_count == 2, what="the refunds due")
        assert "paid after the cashier cancelled: paid twice, refund due" in str(m.query_one("#refund-detail").render())
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), what="the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: len(fake.reversals) == 1, what="the reversal")
        assert fake.reversals[0]["TransactionID"] == "QKRMGR0001"
        await wait_for(pilot, lambda: "refunding" in str(m.query_one("#status").render()), what="refunding")
        # the second was given back in cash at the counter: marked, with how
        await pilot.press("down", "m")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog), what="the note")
        await pilot.press(*"cash from T1", "enter")
        await wait_for(pilot, lambda: service.watch(ctx, second).status == "refunded", what="marked refunded")
    fp.post_json(fake.reversals[0]["ResultURL"], {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok",
                                                             "ConversationID": "AG_R1"}})
    assert service.watch(ctx, first).status == "refunded" and service.flagged(ctx) == []


async def test_the_dashboard_shows_paid_twice(ctx, shop, fake, people):
    from screens.app import StationApp
    from screens.dashboard import DashboardScreen, RefundsDue
    from station import tender
    from tests.payments_support import ring
    st = ring(ctx, shop)
    v = service.start(ctx, shop, st.ticket_id, "mpesa", st.due, "0712345678")
    service.cancel(ctx, shop, v.ref)
    tender.complete_sale(ctx, shop, st.idem_key, [tender.Payment("cash", st.due)])
    fake.mpesa_callback(fake.checkout_of(v.ref), 0, receipt="QKRDASH001")
    app = StationApp(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.action_clear()
        await pilot.press(*"mia", "enter", *"3333", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), what="the dashboard")
        panel = app.screen.query_one(RefundsDue)
        await wait_for(pilot, lambda: panel.has_class("shown"), what="the refunds-due panel")
        text = str(panel.query_one("#refunds-due-text").render())
        assert "1 payment(s), 150.00" in text and "QKRDASH001" in text and "paid twice, refund due" in text


async def test_the_screen_says_what_happened_each_way(ctx, shop, fake):
    """Provider unreachable, no answer from the phone (1037), a wrong amount, a
    malformed callback, the success twice: one message each, one sale at the end."""
    from station.payments import registry
    from tests.payments_support import completed_sales as sales
    registry.close_all(ctx)
    ctx.config.set("mpesa.base_url", "http://127.0.0.1:9")          # nothing listens there
    app = make_app(ctx, shop)
    async with app.run_test(size=(80, 24)) as pilot:
        t = await to_tender(pilot)
        await ask_mpesa(pilot, t)
        await wait_for(pilot, lambda: "cannot be reached" in message(t), what="unreachable")
        assert "nothing was charged" in message(t) and t.pending is None
        registry.close_all(ctx)
        ctx.config.set("mpesa.base_url", fake.url)
        await ask_mpesa(pilot, t, "0712 345 678", retry=True)
        v = await waiting(pilot, t)
        await asyncio.to_thread(fake.mpesa_callback, fake.checkout_of(v.ref), 1037)
        await wait_for(pilot, lambda: "no answer from the customer's phone" in message(t), what="1037")
        await ask_mpesa(pilot, t, "0712 345 678", retry=True)
        v = await waiting(pilot, t)
        await asyncio.to_thread(fake.mpesa_callback, fake.checkout_of(v.ref), 0, amount=1)
        await wait_for(pilot, lambda: "1.00 KES paid but 150.00 KES was asked" in message(t), what="wrong amount")
        assert "refund due" in message(t)
        await ask_mpesa(pilot, t, "0712 345 678", retry=True)
        v = await waiting(pilot, t)
        code, _ = await asyncio.to_thread(fake.mpesa_callback, fake.checkout_of(v.ref), raw=b"{not json")
        assert code == 400
        await pilot.pause()
        assert t.pending is not None and t.pending.waiting          # still waiting, nothing changed
        for _ in range(2):
            await asyncio.to_thread(fake.mpesa_callback, fake.checkout_of(v.ref), 0, receipt="QKRWAYS001")
        await on_sale(pilot)
    assert sales() == 1
    from data.payments import PaymentCallback
    verdicts = [c.verdict for c in PaymentCallback.select().where(PaymentCallback.source == "callback")
                .order_by(PaymentCallback.id)]
    assert verdicts == ["failed", "amount_mismatch", "malformed", "paid", "duplicate"]
