"""Remote approval through Textual's pilot: the approval dialog's F2 leaves a
request waiting and goes on when a manager elsewhere grants it (or shows the
refusal); the manager's dashboard lists what waits and grants it with PIN +
authenticator code, and shows the open drawers. Real SQLite file store."""
from __future__ import annotations

import time

import pyotp
import pytest
from textual.app import App
from textual.widgets import DataTable, Input, Static

from data.models import ApprovalRequest
from screens.approval import ApprovalDialog
from station import authority, totp_enrol
from tests.conftest import add_user
from tests.sale_ui_support import wait_for

SECRET = totp_enrol.DEMO_SECRET


def code() -> str:
    return pyotp.TOTP(SECRET).now()


class Host(App):
    def __init__(self, ctx, user, **dialog_kw):
        super().__init__()
        self.ctx, self.user, self.dialog_kw = ctx, user, dialog_kw
        self.results: list = []

    def on_mount(self) -> None:
        self.push_screen(ApprovalDialog(**self.dialog_kw), self.results.append)


@pytest.fixture
def store(sqlite_ctx):
    ctx = sqlite_ctx
    people = {"carla": add_user(ctx, "carla", "cashier", "1111"), "mia": add_user(ctx, "mia", "manager", "3333")}
    totp_enrol.enrol_known_secret(ctx, "mia", SECRET)
    return ctx, people


def pending():
    return ApprovalRequest.select().where(ApprovalRequest.status == "pending").first()


def screen_text(app) -> str:
    return " ".join(str(w.render()) for w in app.screen.query(Static))


async def test_wait_for_a_manager_elsewhere_then_go_on(store):
    ctx, p = store
    app = Host(ctx, p["carla"], action="sale.void_ticket", ref="ticket 7")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("f2")
        await wait_for(pilot, lambda: pending() is not None, what="the request")
        await wait_for(pilot, lambda: "Waiting for a manager" in screen_text(app), what="waiting")
        req = pending()
        assert (req.action, req.ref, req.requester_id) == ("sale.void_ticket", "ticket 7", p["carla"].id)
        # a manager at another terminal grants it
        a = authority.grant_request(ctx, "mia", "3333", code(), req.id)
        await wait_for(pilot, lambda: app.results, what="the dialog to close with the approval")
    assert app.results[0].id == a.id


async def test_a_refusal_is_shown_and_escape_cancels(store):
    ctx, p = store
    app = Host(ctx, p["carla"], action="sale.void_ticket", ref="ticket 8")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("f2")
        await wait_for(pilot, lambda: pending() is not None, what="the request")
        authority.refuse_request(ctx, p["mia"], pending().id, "not now")
        await wait_for(pilot, lambda: "refused by mia: not now" in screen_text(app), what="the refusal")
        assert isinstance(app.screen, ApprovalDialog) and app.screen.focused.id == "approver"
        # ask again, then stop waiting: the request is cancelled, nothing happens
        await pilot.press("f2")
        await wait_for(pilot, lambda: pending() is not None, what="a second request")
        second = pending().id
        await wait_for(pilot, lambda: app.screen.request_id == second)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.results == [None], what="the dialog to close")
        await wait_for(pilot, lambda: ApprovalRequest.get_by_id(second).status == "cancelled")


def make_app(ctx):
    from screens.app import StationApp
    return StationApp(ctx)


async def test_dashboard_lists_and_grants(store):
    from screens.dashboard import DashboardScreen, GrantDialog
    from tests.sale_helpers import open_drawer
    ctx, p = store
    open_drawer(ctx, p["carla"])
    req = authority.request_approval(ctx, p["carla"], "drawer.paid_out", amount=9000, ref="session 1",
                                     reason="supplier")
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.action_clear()
        await pilot.press(*"mia", "enter", *"3333", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), what="the dashboard")
        table = app.screen.query_one("#requests-table", DataTable)
        drawers = app.screen.query_one("#drawers-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1 and drawers.row_count == 1, what="the panels")
        row = [str(c) for c in table.get_row(str(req.id))]
        assert row[0] == str(req.id) and "Pay cash out" in row[1] and "90.00" in row[2] and row[3] == "carla"
        assert [str(c) for c in drawers.get_row(ctx.drawer)][:3] == [ctx.drawer, ctx.terminal, "carla"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GrantDialog), what="the grant dialog")
        assert "supplier" in screen_text(app)
        await pilot.press(*"3333", "enter", *code(), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), what="back on the dashboard")
        await wait_for(pilot, lambda: table.row_count == 0, what="the request to leave the list")
        assert f"request #{req.id} granted" in str(app.screen.query_one("#dash-status", Static).render())
    st = authority.request_state(ctx, req.id)
    assert (st.status, st.decided_by) == ("granted", "mia")


async def test_a_cashier_gets_the_plain_home(store):
    from screens.dashboard import DashboardScreen
    from screens.home import HomeScreen
    ctx, _p = store
    app = make_app(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.action_clear()
        await pilot.press(*"carla", "enter", *"1111", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")
        assert not isinstance(app.screen, DashboardScreen)
