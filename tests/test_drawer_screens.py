"""Drawer screens through Textual's pilot, keyboard only, at 80x24, on a real
SQLite store: the counting screen, the drawer screen (open, paid in, no-sale
needing approval, close -> Z report), the all-drawers overview."""
from __future__ import annotations

import pytest
from textual.app import App
from textual.widgets import DataTable, Static

from data.models import CashMovement, DrawerSession, ZReport
from screens.count import CountScreen
from station import drawer
from tests.conftest import add_user

DEN = [50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1]


class Host(App):
    def __init__(self, ctx=None, user=None, screen_factory=None):
        super().__init__()
        self.ctx, self.user = ctx, user
        self.screen_factory = screen_factory
        self.results: list = []

    def on_mount(self) -> None:
        if self.screen_factory is not None:
            self.push_screen(self.screen_factory(), self.results.append)


async def settle(pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def type_text(pilot, text: str) -> None:
    for ch in text:
        await pilot.press(ch)


def static_text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_count_screen_keyboard_only():
    app = Host(screen_factory=lambda: CountScreen("Count the float", DEN))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        # 50.00 x 2, 10.00 x 3, 1.00 x 5: digits + Enter per row, empty rows just Enter
        keys = ["enter", "enter", "enter", "2", "enter", "enter", "3", "enter", "enter", "enter", "5", "enter"]
        await pilot.press(*keys)
        scr = app.screen
        assert isinstance(scr, CountScreen)
        assert "Total counted: 135.00" in str(scr.query_one("#count-total").render())
        assert scr.query_one("#count-total").region.bottom <= 24   # fits 80x24
        for _ in range(6):
            await pilot.press("enter")
        assert app.results == [{**{d: 0 for d in DEN}, 5000: 2, 1000: 3, 100: 5}]


async def test_count_screen_bad_input_is_named_and_kept():
    app = Host(screen_factory=lambda: CountScreen("Count", DEN))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for typed, message in [("x", "whole number"), ("-1", "negative"), ("12000", "more than 10000"),
                               ("1.5", "whole number")]:
            await type_text(pilot, typed)
            await pilot.press("enter")
            scr = app.screen
            assert isinstance(scr, CountScreen) and message in (scr.last_error or ""), typed
            assert scr.current == 50000                   # stays on the bad row
            assert "1 row to fix" in str(scr.query_one("#count-total").render())
            await pilot.press("f10")                       # done refuses too
            assert app.results == [] and isinstance(app.screen, CountScreen)
            for _ in range(len(typed)):
                await pilot.press("backspace")
        await pilot.press("1", "f10")
        assert app.results == [{**{d: 0 for d in DEN}, 50000: 1}]


async def test_count_screen_escape_cancels():
    app = Host(screen_factory=lambda: CountScreen("Count", DEN))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("3", "escape")
        assert app.results == [None]


@pytest.fixture
def store(sqlite_ctx):
    ctx = sqlite_ctx
    carla = add_user(ctx, "carla", "cashier", "1111")
    sam = add_user(ctx, "sam", "supervisor", "2222")
    return ctx, carla, sam


async def test_drawer_screen_open_paid_in_no_sale_close(store):
    from screens.drawer import DrawerScreen, MovementDialog, ReportScreen
    from screens.approval import ApprovalDialog
    ctx, carla, _sam = store
    app = Host(ctx, carla, DrawerScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        ds = app.screen
        assert "No session open" in static_text(ds, "#drawer-state")
        # F2: count the float 2 x 50.00
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, CountScreen)
        await pilot.press("enter", "enter", "enter", "2", "f10")
        await settle(pilot)
        s = DrawerSession.get(DrawerSession.status == "open")
        assert s.float_amount == 10000 and s.cashier_id == carla.id
        assert "float 100.00 recorded" in ds.last_message
        assert "open it by hand" in ds.last_message                # no drawer hardware: said, not hidden
        assert "Expected" not in static_text(ds, "#drawer-state")   # blind: a cashier does not see it
        # F3 paid in 12,50 (the other separator is accepted with 'either'), reason by arrows
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, MovementDialog)
        await type_text(pilot, "12x")
        await pilot.press("enter")
        assert "not an amount" in app.screen.last_error
        await pilot.press("backspace")
        await pilot.press("enter", "down", "enter")
        await type_text(pilot, "till top")
        await pilot.press("enter")
        await settle(pilot)
        m = CashMovement.get(CashMovement.kind == "paid_in")
        assert (m.amount, m.reason, m.note) == (1200, ctx.config.values["drawer"]["reasons"][1], "till top")
        assert "Paid in: 12.00" in ds.last_message
        # F6 no-sale: a cashier needs a manager -> the approval dialog; Esc cancels, nothing recorded
        await pilot.press("f6")
        await pilot.pause()
        await pilot.press("enter")        # reason
        await pilot.press("enter")        # note (empty)
        await settle(pilot)
        assert isinstance(app.screen, ApprovalDialog) and app.screen.action == "drawer.no_sale"
        await pilot.press("escape")
        await settle(pilot)
        assert CashMovement.select().where(CashMovement.kind == "no_sale").count() == 0
        assert "nothing was recorded" in ds.last_message
        # F7 X report, blind for the cashier
        await pilot.press("f7")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        text = static_text(app.screen, "#report-text")
        assert "X REPORT" in text and "not shown before a blind close" in text and "112.00" not in text
        await pilot.press("escape")
        await pilot.pause()
        # F9 close: blind count, exact -> Z report shown (printing fails clearly: no printer)
        await pilot.press("f9")
        await settle(pilot)
        assert isinstance(app.screen, CountScreen)
        await pilot.press("enter", "enter", "enter", "2", "enter", "enter", "1", "enter", "enter", "enter",
                          "enter", "enter", "2", "f10")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen), (ds.last_message, app.screen_stack, app.results, ds.log_lines, list(DrawerSession.select().dicts()))
        text = static_text(app.screen, "#report-text")
        assert "Z REPORT No 1" in text and "Variance" in text
        assert "no printer is configured" in app.screen.message
        assert DrawerSession.get_by_id(s.id).status == "closed"
        assert ZReport.get(ZReport.session == s.id).z_number == 1
        await pilot.press("escape")
        await pilot.pause()
        assert "No session open" in static_text(ds, "#drawer-state")
        # F10: the last Z again, from the stored row, marked COPY
        await pilot.press("f10")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        text = static_text(app.screen, "#report-text")
        assert "Z REPORT No 1" in text and "*** COPY ***" in text


async def test_drawer_screen_close_with_variance_asks_for_a_manager(store):
    from screens.drawer import DrawerScreen
    from screens.approval import ApprovalDialog
    ctx, carla, _sam = store
    drawer.open_session(ctx, carla, {5000: 2})
    app = Host(ctx, carla, DrawerScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f9")
        await settle(pilot)
        await pilot.press("enter", "enter", "enter", "1", "f10")     # 50.00 counted of 100.00
        await settle(pilot)
        assert isinstance(app.screen, ApprovalDialog)
        assert app.screen.action == "drawer.close" and app.screen.amount == -5000 and app.screen.reason_required
        await pilot.press("escape")
        await settle(pilot)
        assert DrawerSession.get(DrawerSession.cashier == carla.id).status == "open"
        assert "beyond" in app.screen.last_message or "cancelled" in app.screen.last_message


async def test_overview_for_supervisor_and_refused_to_cashier(store):
    from screens.drawers_overview import DrawersOverviewScreen
    from screens.drawer import ReportScreen
    ctx, carla, sam = store
    drawer.open_session(ctx, carla, {5000: 2})
    ctx.config.set("terminal.id", "T2")
    drawer.open_session(ctx, sam, {1000: 1})
    drawer.close_session(ctx, sam, {1000: 1, 100: 1})
    app = Host(ctx, sam, DrawersOverviewScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = app.screen.query_one(DataTable)
        assert t.row_count == 2
        assert [str(c) for c in t.get_row("T1")][:4] == ["T1", "T1", "open", "carla"]
        row2 = [str(c) for c in t.get_row("T2")]
        assert row2[2] == "closed" and row2[6] == "11.00" and row2[7] == "+1.00" and row2[8] == "1"
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        assert "Z REPORT No 1" in static_text(app.screen, "#report-text")
        assert "COPY" in static_text(app.screen, "#report-text")
    app = Host(ctx, carla, DrawersOverviewScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "only a supervisor" in app.screen.last_message
        assert app.screen.query_one(DataTable).row_count == 0


async def test_drawer_screen_shows_failed_kick_and_drawer_still_open(store, tmp_path):
    """A kick that fails is shown as an error (movement kept); with drawer.status
    on, an open drawer is warned about (status answered over a pty)."""
    import os
    import select
    import threading
    import tty
    from screens.drawer import DrawerScreen
    ctx, carla, _sam = store
    ctx.config.set("drawer.kick", "serial")
    ctx.config.set("drawer.device", str(tmp_path / "ttyMISSING"))
    app = Host(ctx, carla, DrawerScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press("enter", "enter", "enter", "1", "f10")
        await settle(pilot)
        ds = app.screen
        assert DrawerSession.get(DrawerSession.status == "open").float_amount == 5000
        assert "float 50.00 recorded, but the drawer did not open" in ds.last_message
        assert "ttyMISSING" in ds.last_message
        assert ds.query_one("#drawer-message").has_class("error")
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def printer():   # answers every DLE EOT 1 with 0x00: pin 3 low = open (open_level low)
        while not stop.is_set():
            r, _, _ = select.select([master], [], [], 0.1)
            if r and os.read(master, 3):
                os.write(master, b"\x00")
    th = threading.Thread(target=printer, daemon=True)
    th.start()
    try:
        ctx.config.set("drawer.device", os.ttyname(slave))
        ctx.config.set("drawer.status", True)
        app = Host(ctx, carla, DrawerScreen)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert app.screen.last_message == "drawer still open: close the drawer"
            assert app.screen.query_one("#drawer-message").has_class("warning")
    finally:
        stop.set()
        th.join(timeout=2)
        os.close(master)
        os.close(slave)


async def test_no_sale_with_a_managers_approval_through_the_dialog(store):
    from screens.approval import ApprovalDialog
    from screens.drawer import DrawerScreen
    ctx, carla, _sam = store
    add_user(ctx, "mia", "manager", "3333")
    ctx.config.set("security.totp_roles", [])
    drawer.open_session(ctx, carla, {5000: 2})
    app = Host(ctx, carla, DrawerScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f6")
        await pilot.pause()
        await pilot.press("down", "enter")
        await type_text(pilot, "customer asked")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ApprovalDialog)
        await type_text(pilot, "mia")
        await pilot.press("enter")
        await type_text(pilot, "3333")
        await pilot.press("enter")
        await settle(pilot, 5)
        m = CashMovement.get(CashMovement.kind == "no_sale")
        assert m.approval_id is not None and m.note == "customer asked"
        assert m.reason == ctx.config.values["drawer"]["reasons"][1]
        assert "No sale" in app.screen.last_message and "recorded" in app.screen.last_message


async def test_overview_fits_80_columns(store):
    from screens.drawers_overview import DrawersOverviewScreen
    ctx, carla, sam = store
    drawer.open_session(ctx, carla, {50000: 100})
    app = Host(ctx, sam, DrawersOverviewScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = app.screen.query_one(DataTable)
        assert t.virtual_size.width <= t.size.width, (t.virtual_size, t.size)
        assert str(t.get_row("T1")[5]) == "50000.00"


async def test_drawer_areas_through_the_app_shell(store):
    """Log in on the real StationApp, open the drawer area from the home screen
    (F3), open a session, go back; a supervisor opens 'All drawers' (F4)."""
    from screens.app import StationApp
    from screens.drawer import DrawerScreen
    from screens.drawers_overview import DrawersOverviewScreen
    ctx, carla, sam = store

    async def login(pilot, name, pin):
        await settle(pilot)
        await type_text(pilot, name)
        await pilot.press("enter")
        await type_text(pilot, pin)
        await pilot.press("enter")
        await settle(pilot)

    app = StationApp(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await login(pilot, "carla", "1111")
        assert app.user is not None and app.user.name == "carla"
        await pilot.press("f3")
        await settle(pilot)
        assert isinstance(app.screen, DrawerScreen)
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press("enter", "enter", "enter", "3", "f10")
        await settle(pilot)
        assert drawer.current_session(ctx).float_amount == 15000
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, DrawerScreen)
        await pilot.press("f4")            # a cashier has no 'All drawers'
        await settle(pilot)
        assert not isinstance(app.screen, DrawersOverviewScreen)
    app = StationApp(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await login(pilot, "sam", "2222")
        await pilot.press("f4")
        await settle(pilot)
        assert isinstance(app.screen, DrawersOverviewScreen)
        assert app.screen.query_one(DataTable).row_count == 1


async def test_count_screen_keys_in_a_burst_land_on_the_right_rows():
    """Keys arriving faster than the screen repaints (a fast typist, keys bunched
    over SSH): posted as raw key events from a thread, 2 ms apart, no waiting.
    Every digit must land on the row it was typed for."""
    import threading
    import time
    from textual import events

    app = Host(screen_factory=lambda: CountScreen("Count the float", DEN))
    keys = ["enter", "enter", "enter", "2", "enter", "5", "enter", "1", "0", "enter", "up", "backspace",
            "3", "down", "enter", "enter", "7", "f10"]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()

        def burst():
            for k in keys:
                ch = k if len(k) == 1 else ({"enter": "\r", "backspace": "\x7f"}.get(k))
                app.post_message(events.Key(k, ch))
                time.sleep(0.002)

        t = threading.Thread(target=burst)
        t.start()
        while t.is_alive():
            await pilot.pause(0.01)
        for _ in range(50):
            if app.results:
                break
            await pilot.pause(0.02)
    # 50.00 x 2, 20.00 x 5, 10.00 x 10 then Up from 5.00 corrects it to 13, 1.00 x 7
    assert app.results == [{**{d: 0 for d in DEN}, 5000: 2, 2000: 5, 1000: 13, 100: 7}]
