"""The returns screen through Textual's pilot, keyboard only, at 80x24, on a real
SQLite store: scan the receipt's barcode, return two lines, refund to cash, the
drawer's expected cash drops by exactly that; cash back for a card sale with a
manager's approval at the till; the whole return typed as ONE burst of raw key
events while the screens it opens are still coming; a request left for a manager
and given back after approval; a post-void."""
from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from data.models import CashMovement, DrawerSession, User
from data.refund import Refund
from screens.refund_requests import RequestsScreen
from screens.returns import ReturnsScreen
from station import drawer, totp_enrol
from station.tender import Payment
from tests.conftest import add_user
from tests.refund_helpers import sell
from tests.sale_ui_support import CHOC, COLA, PENCIL, add_products, open_drawer, type_burst, wait_for


@pytest.fixture
def store(sqlite_ctx):
    ctx = sqlite_ctx
    add_products(ctx)
    carla = add_user(ctx, "carla", "cashier", "1111")
    add_user(ctx, "mia", "manager", "3333")
    totp_enrol.enrol_known_secret(ctx, "mia", totp_enrol.DEMO_SECRET)
    open_drawer(ctx, carla)
    return ctx, carla


def make_app(ctx, user):
    from screens.app import StationApp
    import screens.app as app_module

    class Host(StationApp):
        CSS_PATH = str(Path(app_module.__file__).parent / StationApp.CSS_PATH)

        def on_mount(self) -> None:   # Textual runs StationApp.on_mount too (handlers follow the MRO)
            self.call_after_refresh(self._enter)

        def _enter(self) -> None:
            self.login_done(user)
            self.open_area("returns")

    return Host(ctx)


async def returns_screen(pilot) -> ReturnsScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ReturnsScreen), what="the returns screen")
    return pilot.app.screen


def message(s) -> str:
    return s.last_message


def expected_cash(ctx) -> int:
    return DrawerSession.get(DrawerSession.status == "open").expected_cash


async def test_scan_the_receipt_return_two_lines_refund_to_cash(store):
    ctx, carla = store
    r = sell(ctx, carla, [f"2*{PENCIL}", COLA, CHOC])          # 2.40 + 1.49 + 2.29 = 6.18 cash
    before = expected_cash(ctx)
    app = make_app(ctx, carla)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await returns_screen(pilot)
        type_burst(app, ["T1-000001"], char_delay=0).join()      # the receipt's CODE128, as a scanner types it
        await wait_for(pilot, lambda: s.info is not None and not s.busy, what="the sale")
        assert s.info.receipt_no == r.receipt_no and [ln.name for ln in s.info.lines] == [
            "Pencil HB", "Cola 0.5l", "Dark Chocolate"]
        await pilot.press("f4", "down", "down", "f4")           # all the pencils, the chocolate
        await wait_for(pilot, lambda: s.plan is not None and not s.busy and s.plan.total == 240 + 229,
                       what="the amounts")
        assert "BACK 4.69: cash 4.69" in str(s.query_one("#ret-plan").render())
        await pilot.press("f10")                                 # no reason yet: the reasons come up
        await wait_for(pilot, lambda: app.screen is not s, what="the reasons")
        await pilot.press("enter")                               # "damaged"
        await wait_for(pilot, lambda: Refund.select().count() == 1 and not s.busy and s.info is None,
                       what="the refund")
        assert "refund T1/1: 4.69 back - cash 4.69" in message(s)
        assert s.query_one("#ret-scan").has_focus
    ref = Refund.get()
    assert (ref.total, ref.reason, ref.original_id) == (469, "damaged", r.ticket_id)
    assert expected_cash(ctx) == before - 469
    assert [m.amount for m in CashMovement.select().where(CashMovement.kind == "refund")] == [-469]


async def test_cash_for_a_card_sale_with_a_manager_at_the_till(store):
    ctx, carla = store
    sell(ctx, carla, [COLA])                                      # some cash in the drawer
    sell(ctx, carla, [CHOC], lambda st: [Payment("card", st.due, reference="C7")])
    before = expected_cash(ctx)
    app = make_app(ctx, carla)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await returns_screen(pilot)
        type_burst(app, ["2"], char_delay=0).join()              # receipt 2 of this terminal, typed
        await wait_for(pilot, lambda: s.info is not None and not s.busy, what="the sale")
        await pilot.press("f4", "f5")
        await wait_for(pilot, lambda: app.screen is not s, what="the reasons")
        await pilot.press("down", "down", "enter")               # "changed mind"
        await wait_for(pilot, lambda: app.screen is s and not s.busy)
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.screen is not s, what="the ways back")
        await pilot.press("down", "enter")                       # cash
        await wait_for(pilot, lambda: app.screen is s and not s.busy and s.plan is not None
                       and s.plan.cash == 229, what="cash back")
        assert "needs a manager: cash back for a sale paid by card" in str(s.query_one("#ret-plan").render())
        await pilot.press("f10")
        await wait_for(pilot, lambda: app.screen is not s and not s.busy, what="the approval question")
        await pilot.press("enter")                               # a manager approves here
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ApprovalDialog", what="the approval")
        code = pyotp.TOTP(totp_enrol.DEMO_SECRET).now()
        type_burst(app, ["mia", "3333", code], char_delay=0).join()
        await wait_for(pilot, lambda: Refund.select().count() == 1 and app.screen is s and not s.busy,
                       what="the refund")
        assert "refund T1/1: 2.29 back - cash 2.29" in message(s)
    ref = Refund.get()
    assert ref.approver_id == User.get(User.name == "mia").id and ref.reason == "changed mind"
    assert expected_cash(ctx) == before - 229


async def test_the_whole_return_typed_as_one_burst(store):
    """Receipt code, the lines, F10, the reason: ONE burst of raw key events,
    typed before the sale is even found; the same refund as typed slowly."""
    ctx, carla = store
    sell(ctx, carla, [f"2*{PENCIL}", COLA, CHOC])
    before = expected_cash(ctx)
    app = make_app(ctx, carla)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await returns_screen(pilot)
        from textual import events
        burst = [events.Key(ch, ch) for ch in "T1-000001"] + [events.Key("enter", "\r")]
        for k in ("f4", "down", "down", "f4", "f10"):
            burst.append(events.Key(k, None))
        burst.append(events.Key("enter", "\r"))
        for ev in burst:
            app.post_message(ev)
        await wait_for(pilot, lambda: Refund.select().count() == 1 and not s.busy and app.screen is s,
                       what="the refund")
    assert Refund.get().total == 469 and expected_cash(ctx) == before - 469


async def test_a_request_waits_for_a_manager_then_the_cashier_gives_back(store):
    ctx, carla = store
    ctx.config.set("limits.refund_alone", 100)
    sell(ctx, carla, [COLA, CHOC])
    app = make_app(ctx, carla)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await returns_screen(pilot)
        type_burst(app, ["1"], char_delay=0).join()
        await wait_for(pilot, lambda: s.info is not None and not s.busy, what="the sale")
        await pilot.press("f4", "f10")
        await wait_for(pilot, lambda: app.screen is not s, what="the reasons")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is not s and not s.busy
                       and app.screen.__class__.__name__ == "PickDialog", what="the approval question")
        await pilot.press("down", "enter")                       # send it to a manager elsewhere
        await wait_for(pilot, lambda: Refund.select().count() == 1 and app.screen is s and not s.busy)
        assert "request" in message(s) and Refund.get().status == "requested"
        # the manager grants it on the dashboard of another terminal (PIN + code)
        from station import authority
        (pending,) = authority.pending_requests(ctx, User.get(User.name == "mia"))
        authority.grant_request(ctx, "mia", "3333", pyotp.TOTP(totp_enrol.DEMO_SECRET).now(), pending.id)
        await pilot.press("f11")
        await wait_for(pilot, lambda: isinstance(app.screen, RequestsScreen), what="the requests")
        rq = app.screen
        await wait_for(pilot, lambda: rq.rows and rq.rows[0].status == "approved" and not rq.busy)
        before = expected_cash(ctx)
        await pilot.press("f10")
        await wait_for(pilot, lambda: Refund.get().status == "processed" and not rq.busy, what="the refund")
        assert "refund T1/1: 1.49 back" in rq.last_message
    assert expected_cash(ctx) == before - 149


async def test_post_void_by_a_manager(store):
    ctx, carla = store
    mia = User.get(User.name == "mia")
    drawer.close_session(ctx, carla, {10000: 1})
    drawer.open_session(ctx, mia, {10000: 1}, kick=False)
    sell(ctx, mia, [COLA, CHOC])
    before = expected_cash(ctx)
    app = make_app(ctx, mia)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await returns_screen(pilot)
        await pilot.press("f9")
        await wait_for(pilot, lambda: s.mode == "post_void" and s.plan is not None and not s.busy)
        assert "F10 post-voids receipt T1/1" in message(s)
        await pilot.press("f10")
        await wait_for(pilot, lambda: Refund.select().count() == 1 and not s.busy and s.info is None)
    ref = Refund.get()
    assert (ref.kind, ref.reason, ref.total) == ("post_void", "post-void", 378)
    assert expected_cash(ctx) == before - 378


async def test_refund_key_twice_is_one_refund_and_the_copy_is_marked(store, tmp_path):
    """F10 pressed twice in a row (keys queued behind the refund): one refund;
    F12 prints a copy of it, marked COPY."""
    ctx, carla = store
    out = tmp_path / "spool.bin"
    ctx.config.set("printer.kind", "file")
    ctx.config.set("printer.path", str(out))
    sell(ctx, carla, [COLA])
    app = make_app(ctx, carla)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await returns_screen(pilot)
        type_burst(app, ["1"], char_delay=0).join()
        await wait_for(pilot, lambda: s.info is not None and not s.busy, what="the sale")
        await pilot.press("f4", "f5")
        await wait_for(pilot, lambda: app.screen is not s, what="the reasons")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is s and not s.busy and s.plan is not None)
        from textual import events
        for k in ("f10", "f10"):
            app.post_message(events.Key(k, None))
        await wait_for(pilot, lambda: Refund.select().count() == 1 and not s.busy and s.info is None)
        await wait_for(pilot, lambda: "choose what comes back first" in message(s), what="the second F10")
        printer = ctx.extras["printer"]
        def refunds():   # the sale's own receipt, still queued, prints at the start too
            return [r for r in printer.results if r.ticket_id is None]
        await wait_for(pilot, lambda: len(refunds()) == 1, what="the refund receipt printed")
        await pilot.press("f12")
        await wait_for(pilot, lambda: "copy of refund T1/1" in message(s) and not s.busy)
        await wait_for(pilot, lambda: len(refunds()) == 2, what="the copy printed")
        assert all(r.ok for r in printer.results), [r.message for r in printer.results]
    assert Refund.select().count() == 1
    data = out.read_bytes().decode("cp858", "replace")
    assert data.count("REFUND") >= 2 and data.count("*** COPY ***") == 2
