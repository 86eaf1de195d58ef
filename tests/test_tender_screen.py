"""Tender screen through the Textual pilot on a real SQLite store."""
from __future__ import annotations

import asyncio

import pytest
from textual import events

from data.models import CashMovement, Tender, Ticket
from screens.sale import SaleScreen
from screens.tender import TenderScreen
from screens.widgets import PromptDialog
from tests.sale_ui_support import (
    COLA, PENCIL, add_products, make_app, open_drawer, sale_screen, type_burst, wait_for,
)


@pytest.fixture
def store(sqlite_ctx):
    from tests.conftest import add_user
    add_products(sqlite_ctx)
    cashier = add_user(sqlite_ctx, "carla", "cashier", "1111")
    open_drawer(sqlite_ctx, cashier)
    return sqlite_ctx, cashier


async def ring_up(pilot, codes=(PENCIL, COLA)) -> SaleScreen:
    s = await sale_screen(pilot)
    type_burst(pilot.app, list(codes), char_delay=0).join()
    await wait_for(pilot, lambda: s.runner.pending == 0 and s.view is not None
                   and len(s.view.lines) >= 1)
    return s


async def to_tender(pilot) -> TenderScreen:
    await pilot.press("f10")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TenderScreen), what="tender screen")
    t = pilot.app.screen
    await wait_for(pilot, lambda: t.start is not None)
    return t


def message(t: TenderScreen) -> str:
    return str(t.query_one("#tender-message").render())


def completed():
    return list(Ticket.select().where(Ticket.status == "completed"))


async def back_on_sale(pilot) -> SaleScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SaleScreen), what="back on the sale screen")
    return pilot.app.screen


async def test_cash_with_change(store):
    ctx, user = store
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        await ring_up(pilot)
        t = await to_tender(pilot)
        assert t.start.due == 120 + 149
        assert t.query_one("#tender-due").value == "2.69"
        await pilot.press("5", "enter")
        s = await back_on_sale(pilot)
        assert s.view is None                       # the next sale starts at once
        assert s.query_one("#sale-change").value == "2.31"      # change shown large
        assert s.query_one("#sale-lines").row_count == 0
        assert app.focused is s.query_one("#sale-scan")
    [tk] = completed()
    assert tk.total == 269 and tk.receipt_no == 1
    [cash] = list(Tender.select())
    assert (cash.method, cash.amount, cash.tendered, cash.change) == ("cash", 269, 500, 231)
    kinds = sorted((m.kind, m.amount) for m in CashMovement.select().where(CashMovement.ticket_id == tk.id))
    assert kinds == [("change", -231), ("sale", 500)]


async def test_exact_and_quick_amount(store):
    ctx, user = store
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        await ring_up(pilot)
        await to_tender(pilot)
        await pilot.press("f3")                     # exact
        s = await back_on_sale(pilot)
        await ring_up(pilot, [COLA])
        await to_tender(pilot)
        await pilot.press("f6")                     # quick amount 10.00
        s = await back_on_sale(pilot)
        assert s.query_one("#sale-change").value == "8.51"
    tenders = [(t.amount, t.tendered, t.change) for t in Tender.select().order_by(Tender.id)]
    assert tenders == [(269, 269, 0), (149, 1000, 851)]


async def test_split_cash_and_card(store):
    ctx, user = store
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        await ring_up(pilot)
        t = await to_tender(pilot)
        await pilot.press("1", ".", "0", "0", "f4")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        await pilot.press("4", "2", "4", "2", "enter")
        await wait_for(pilot, lambda: app.screen is t)
        assert [(p.method, p.amount, p.reference) for p in t.payments] == [("card", 100, "4242")]
        assert "1.69" in str(t.query_one("#tender-info").render())
        await pilot.press("2", "enter")
        await back_on_sale(pilot)
    [tk] = completed()
    rows = sorted((x.method, x.amount, x.tendered, x.change, x.reference) for x in Tender.select())
    assert rows == [("card", 100, 100, 0, "4242"), ("cash", 169, 200, 31, "")]
    assert tk.total == 269


async def test_voucher_then_exact_cash(store):
    ctx, user = store
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        await ring_up(pilot)
        t = await to_tender(pilot)
        await pilot.press("2", "f5")              # the one other method: voucher
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        await pilot.press("V", "1", "enter")
        await wait_for(pilot, lambda: app.screen is t)
        assert [(p.method, p.amount, p.reference) for p in t.payments] == [("voucher", 200, "V1")]
        await pilot.press("f9")                   # undo it, then again
        assert t.payments == []
        await pilot.press("2", "f5")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        await pilot.press("V", "2", "enter")
        await wait_for(pilot, lambda: app.screen is t)
        await pilot.press("f3")                   # exact cash for the rest
        await back_on_sale(pilot)
    rows = sorted((x.method, x.amount, x.reference) for x in Tender.select())
    assert rows == [("cash", 69, ""), ("voucher", 200, "V2")]


async def test_cash_rounding_shown(store):
    ctx, user = store
    ctx.config.set("cash.rounding_step", 5)
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        await ring_up(pilot)
        t = await to_tender(pilot)
        info = str(t.query_one("#tender-info").render())
        assert "rounded to 0.05" in info and "2.70" in info
        await pilot.press("f3")
        await back_on_sale(pilot)
    [cash] = list(Tender.select())
    assert cash.amount == 270
    assert completed()[0].rounding == 1


BAD_AMOUNTS = [
    ("-3", "negative"), ("1e9", "not an amount"), ("abc", "not an amount"),
    ("", "type the cash"), ("99999999", "maximum"), ("12,50", "separator"), ("1.234", "decimals"),
]


async def test_bad_amounts_change_nothing(store):
    """Each bad amount: a clear message, nothing added, nothing recorded (one app
    session for all of them, to keep the suite fast)."""
    ctx, user = store
    ctx.config.set("store.decimal_separator", ".")
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        await ring_up(pilot)
        t = await to_tender(pilot)
        for typed, expect in BAD_AMOUNTS:
            t.query_one("#tender-amount").value = ""
            t.say("")
            for ch in typed:
                app.post_message(events.Key({"-": "minus", ".": "full_stop", ",": "comma"}.get(ch, ch), ch))
            await pilot.pause()
            assert t.query_one("#tender-amount").value == typed
            await pilot.press("enter")
            assert expect in message(t), (typed, message(t))
            assert t.payments == [] and t.result is None and app.screen is t
            t.say("")
            await pilot.press("f2")                  # the cash key says the same
            assert expect in message(t) or (typed == "" and "type the cash" in message(t)), (typed, message(t))
            assert t.payments == []
        assert t.figures()["still"] == t.start.due
    assert completed() == [] and Tender.select().count() == 0
    assert Ticket.get().status == "open"


async def test_card_may_not_exceed_due(store):
    ctx, user = store
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        await ring_up(pilot)
        t = await to_tender(pilot)
        await pilot.press("5", "f4")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        await pilot.press("9", "9", "enter")
        await wait_for(pilot, lambda: app.screen is t)
        assert "may not pay more" in message(t)
        assert t.payments == []
    assert Tender.select().count() == 0


async def test_double_enter_makes_one_sale(store):
    ctx, user = store
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        await ring_up(pilot)
        t = await to_tender(pilot)
        for ch in "500":
            app.post_message(events.Key(ch, ch))
        # Enter, Enter, F10, Enter back to back (a bouncing key, an impatient cashier)
        for k, c in (("enter", "\r"), ("enter", "\r"), ("f10", None), ("enter", "\r")):
            app.post_message(events.Key(k, c))
        s = await back_on_sale(pilot)
        await asyncio.sleep(0.3)
        await pilot.pause()
        assert t.commits_started == 1
        assert s.view is None and s.runner.pending == 0
    assert len(completed()) == 1
    assert Tender.select().count() == 1
    assert Ticket.select().count() == 1


async def test_commit_error_then_retry_is_one_sale(store, monkeypatch):
    """A database error at the commit that did NOT record the sale: the screen
    checked (by the ticket's key) and says so, payments kept; F10 retries with
    the same key and makes exactly one sale, printed once."""
    from station import tender
    ctx, user = store
    real = tender.complete_sale
    calls = []

    def flaky(*a, **k):
        calls.append(a[2])
        if len(calls) == 1:
            raise tender.Unavailable("the database is not answering")
        return real(*a, **k)
    monkeypatch.setattr(tender, "complete_sale", flaky)
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        await ring_up(pilot)
        t = await to_tender(pilot)
        await pilot.press("5", "enter")
        await wait_for(pilot, lambda: not t.committing and "F10 tries again" in message(t))
        assert "NOT recorded" in message(t)
        assert app.screen is t and len(t.payments) == 1
        await pilot.press("f10")
        await back_on_sale(pilot)
    assert calls[0] == calls[1]
    assert len(completed()) == 1 and Tender.select().count() == 1
    printer = ctx.extras["printer"]
    printer.wait_idle(10)
    assert [r.ticket_id for r in printer.results] == [completed()[0].id]


async def test_printer_failure_is_a_warning_and_reprint(store, tmp_path):
    ctx, user = store
    ctx.config.set("printer.kind", "file")
    ctx.config.set("printer.path", str(tmp_path / "missing-dir" / "receipts.bin"))
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await ring_up(pilot)
        await to_tender(pilot)
        await pilot.press("f3")
        s = await back_on_sale(pilot)
        printer = ctx.extras["printer"]
        printer.wait_idle(10)
        await wait_for(pilot, lambda: "printer" in str(s.query_one("#sale-status").render()),
                       what="printer warning")
        # the next sale starts at once
        await ring_up(pilot, [COLA])
        assert s.view is not None and len(s.view.lines) == 1
        # the printer comes back: F12 reprints the last receipt as a copy
        (tmp_path / "missing-dir").mkdir()
        await pilot.press("f12")
        await wait_for(pilot, lambda: s.runner.pending == 0)
        printer.wait_idle(10)
        await pilot.pause()
    data = (tmp_path / "missing-dir" / "receipts.bin").read_bytes()
    assert b"*** COPY ***" in data
    assert len(completed()) == 1


async def test_no_drawer_open_is_said_and_nothing_is_charged(sqlite_ctx):
    from tests.conftest import add_user
    add_products(sqlite_ctx)
    user = add_user(sqlite_ctx, "carla", "cashier", "1111")
    app = make_app(sqlite_ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        await ring_up(pilot)
        t = await to_tender(pilot)
        assert "no drawer session is open" in message(t)
        await pilot.press("f3")
        await wait_for(pilot, lambda: not t.committing and "nothing was charged" in message(t))
        assert app.screen is t and t.result is None
    assert completed() == [] and Tender.select().count() == 0


async def test_an_error_after_the_commit_says_the_sale_is_recorded(store, monkeypatch):
    """The commit went through but its answer was lost (an error on the way
    back): the screen asks the database by the ticket's key, says the sale IS
    recorded, and goes on to the next sale; one sale, never charged twice."""
    from station import tender
    ctx, user = store
    real = tender.complete_sale

    def lost_answer(*args, **kwargs):
        real(*args, **kwargs)
        raise OSError("connection reset by peer")
    monkeypatch.setattr(tender, "complete_sale", lost_answer)
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await ring_up(pilot)
        await to_tender(pilot)
        await pilot.press("f3")
        s = await back_on_sale(pilot)
        assert "sale 1 done" in str(s.query_one("#sale-status").render())
        assert any("IS recorded" in n.message for n in app._notifications)
    assert len(completed()) == 1 and Tender.select().count() == 1


async def test_an_error_when_the_database_cannot_be_asked_says_so(store, monkeypatch):
    from station import tender
    ctx, user = store

    def down(*args, **kwargs):
        raise OSError("server closed the connection")
    monkeypatch.setattr(tender, "complete_sale", down)
    monkeypatch.setattr(tender, "sale_result", down)
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        await ring_up(pilot)
        t = await to_tender(pilot)
        await pilot.press("f3")
        await wait_for(pilot, lambda: not t.committing and "cannot tell" in message(t))
        assert "F10 retries safely" in message(t) and "nothing was charged" not in message(t)
        assert app.screen is t and t.result is None
    assert completed() == []
