"""The treasury screen through Textual's pilot, keyboard only, at 80x24, on a
real SQLite store: the funds with their balances, a fund's ledger paged; a
payment executed with the TOTP dialog, also typed as ONE burst of raw key
events while the dialog is still opening; one's own request not offered; a bag
received by count and its variance decided by a second person."""
from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
from textual import events

from data.treasury import CashBag, Fund, PaymentExecution, Variance
from screens.count import CountScreen
from screens.treasury import FormDialog, TreasuryScreen, sparkline
from station import drawer
from station.treasury import payments, replenish
from tests.sale_ui_support import wait_for
from tests.treasury_helpers import SECRETS, enrol, fund_up, user


@pytest.fixture
def ctx(sqlite_ctx):
    return sqlite_ctx


@pytest.fixture
def store(ctx, people):
    enrol(ctx)
    fund_up(ctx, "petty", 50_000)
    fund_up(ctx, "safe", 100_000)
    return ctx


def make_app(ctx, who):
    from screens.app import StationApp
    import screens.app as app_module

    class Host(StationApp):
        CSS_PATH = str(Path(app_module.__file__).parent / StationApp.CSS_PATH)

        def on_mount(self) -> None:
            self.call_after_refresh(self._enter)

        def _enter(self) -> None:
            self.login_done(user(who))

    return Host(ctx)


async def treasury(pilot) -> TreasuryScreen:
    await wait_for(pilot, lambda: pilot.app.screen.__class__.__name__ in ("HomeScreen", "DashboardScreen"), what="home")
    await pilot.press("y")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TreasuryScreen), what="the treasury screen")
    s = pilot.app.screen
    await wait_for(pilot, lambda: s.rows and not s.busy, what="the funds")
    return s


def screen_text(s) -> str:
    return str(s.query_one("#tr-list").render())


def keys(app, *names) -> None:
    for k in names:
        if len(k) == 1:
            app.post_message(events.Key(k, k))
        else:
            app.post_message(events.Key(k, "\r" if k == "enter" else None))


def test_sparkline_text():
    assert sparkline([0, 0]) == "▁▁" and sparkline([0, 50, 100]) == "▁▄█"


async def test_funds_and_a_paged_ledger(store):
    ctx = store
    for i in range(20):
        replenish.transfer(ctx, user("theo"), "safe", "change", 100 + i)
    app = make_app(ctx, "theo")
    async with app.run_test(size=(80, 24)) as pilot:
        s = await treasury(pilot)
        text = screen_text(s)
        assert "petty" in text and "500.00" in text and "safe" in text
        await pilot.press("down", "down")          # change
        assert s.selected().name == "change"
        await pilot.press("enter")
        await wait_for(pilot, lambda: s.mode == "ledger" and s.rows and not s.busy, what="the ledger")
        assert [e.seq for e in s.rows][:2] == [20, 19] and len(s.rows) == 14
        await pilot.press("pagedown")
        await wait_for(pilot, lambda: not s.busy and s.rows[0].seq == 6, what="page 2")
        assert [e.seq for e in s.rows] == [6, 5, 4, 3, 2, 1]
        await pilot.press("pageup")
        await wait_for(pilot, lambda: not s.busy and s.rows[0].seq == 20, what="page 1")
        await pilot.press("escape")
        await wait_for(pilot, lambda: s.mode == "funds", what="funds again")


async def test_execute_with_the_totp_dialog_typed_as_one_burst(store):
    ctx = store
    rid = payments.request(ctx, user("mia"), "petty", "25.00", "Window cleaner")
    payments.approve(ctx, user("ada"), rid)
    app = make_app(ctx, "theo")
    async with app.run_test(size=(80, 24)) as pilot:
        s = await treasury(pilot)
        code = pyotp.TOTP(SECRETS["theo"]).now()
        keys(app, "2")
        await wait_for(pilot, lambda: s.mode == "payments" and s.rows and not s.busy, what="payments")
        keys(app, "x", *code, "enter")            # the dialog opens while the code is being typed
        await wait_for(pilot, lambda: PaymentExecution.select().count() == 1 and not s.busy
                       and app.screen is s, what="the payment")
        assert "paid: 25.00 from petty, 475.00 left" in s.last_message
        assert Fund.get(Fund.name == "petty").balance == 47_500
        keys(app, "x")                              # nothing approved is left: nothing offered twice
        await pilot.pause()
        assert PaymentExecution.select().count() == 1


async def test_own_request_not_offered_and_wrong_code_kept_in_the_dialog(store):
    ctx = store
    own = payments.request(ctx, user("theo"), "petty", 1000, "Own")
    payments.approve(ctx, user("mia"), own)
    app = make_app(ctx, "theo")
    async with app.run_test(size=(80, 24)) as pilot:
        s = await treasury(pilot)
        await pilot.press("2")
        await wait_for(pilot, lambda: s.rows and not s.busy, what="payments")
        await pilot.press("x")
        assert "your own request" in s.last_message and app.screen is s
    rid = payments.request(ctx, user("mia"), "petty", 1000, "Other")
    payments.approve(ctx, user("ada"), rid)
    app = make_app(ctx, "theo")
    async with app.run_test(size=(80, 24)) as pilot:
        s = await treasury(pilot)
        await pilot.press("2")
        await wait_for(pilot, lambda: s.rows and not s.busy, what="payments")
        assert s.selected().id == rid
        await pilot.press("x", "1", "2", "enter")
        assert isinstance(app.screen, FormDialog)
        assert "6 digits" in str(app.screen.query_one("#form-error").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is s, what="back")
    assert PaymentExecution.select().count() == 0


async def test_receive_a_bag_by_count_then_a_second_person_decides(store):
    ctx = store
    carla = user("carla")
    drawer.open_session(ctx, carla, {5000: 10}, kick=False)
    drawer.drop(ctx, carla, 10_000)
    app = make_app(ctx, "theo")
    async with app.run_test(size=(80, 24)) as pilot:
        s = await treasury(pilot)
        await pilot.press("3")
        await wait_for(pilot, lambda: s.rows and not s.busy, what="bags")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CountScreen), what="the count")
        denoms = ctx.config.get("cash.denominations")
        presses = []
        for d in denoms:
            presses += (["1"] if d in (5000, 2000) else []) + ["enter"]
        await pilot.press(*presses)               # 70.00 counted of 100.00
        await wait_for(pilot, lambda: CashBag.get().status == "received" and not s.busy, timeout=15,
                       what=f"received ({s.last_message!r}, {app.screen})")
        assert "counted 70.00 of 100.00" in s.last_message
        await pilot.press("4")
        await wait_for(pilot, lambda: s.rows and not s.busy, what="variances")
        await pilot.press("a")
        assert "you recorded this variance" in s.last_message
    assert Variance.get().status == "pending"
    app = make_app(ctx, "mia")
    async with app.run_test(size=(80, 24)) as pilot:
        s = await treasury(pilot)
        await pilot.press("4")
        await wait_for(pilot, lambda: s.rows and not s.busy, what="variances")
        await pilot.press("a")
        await wait_for(pilot, lambda: Variance.get().status == "approved" and not s.busy, what="approved")
    assert Fund.get(Fund.name == "safe").balance == 107_000


async def test_f1_lists_the_keys_of_the_view_shown(store):
    from screens.help import bindings_of
    app = make_app(store, "theo")
    async with app.run_test(size=(80, 24)) as pilot:
        s = await treasury(pilot)
        funds_keys = {d for _k, d, _i in bindings_of(s)}
        assert {"Open", "Count", "Transfer", "Payments"} <= funds_keys and "Execute" not in funds_keys
        await pilot.press("2")
        await wait_for(pilot, lambda: s.mode == "payments" and not s.busy, what="payments")
        keys_now = {(k, d) for k, d, _i in bindings_of(s)}
        assert {("x", "Execute"), ("a", "Approve"), ("n", "New")} <= keys_now
        await pilot.press("f1")
        await wait_for(pilot, lambda: app.screen is not s, what="the help")
        from textual.widgets import DataTable
        table = app.screen.query_one(DataTable)
        cells = {str(c) for i in range(table.row_count) for c in table.get_row_at(i)}
        assert "Execute" in cells and "Approve" in cells
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is s, what="back")


async def test_the_dashboard_shows_what_waits_in_the_treasury(store):
    from station.treasury import funds
    funds.set_levels(store, user("ada"), "change", reorder="10.00", target="20.00")
    payments.request(store, user("mia"), "petty", 1000, "Acme")
    app = make_app(store, "theo")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "DashboardScreen", what="the dashboard")
        text = lambda: str(app.screen.query_one("#treasury-text").render())  # noqa: E731
        await wait_for(pilot, lambda: "1 item(s) waiting" in text(), timeout=15, what="the treasury panel")
        assert "below the reorder level: change" in text()
