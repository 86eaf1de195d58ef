"""Locking the terminal: the idle deadline (pure logic), and through the pilot on
a tiny host App: after the idle minutes the lock screen covers everything; the
same user's PIN returns to exactly where they were (screen, field contents, the
open ticket); another user gets a fresh start and the first user's ticket is
parked for them, not inherited."""
from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from data.models import Journal, Ticket, User
from screens.lock import IdleLock, LockScreen
from station import idle, sale
from station.errors import AuthFailed
from tests.conftest import add_user
from tests.sale_helpers import MILK, make_products


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_idle_clock_pure_logic():
    c = FakeClock()
    ic = idle.IdleClock(minutes=5, clock=c)
    assert ic.deadline() == 1300.0 and not ic.expired()
    c.t = 1299.9
    assert not ic.expired() and ic.remaining() == pytest.approx(0.1)
    ic.touch()  # a key: starts again
    c.t = 1599.0
    assert not ic.expired()
    c.t = 1599.9 + 0.1
    assert ic.expired()
    never = idle.IdleClock(minutes=0, clock=c)
    c.t = 10 ** 9
    assert not never.enabled and never.deadline() is None and not never.expired()


def test_clock_from_config(sqlite_ctx):
    assert idle.clock_for(sqlite_ctx).minutes == sqlite_ctx.config.security.idle_lock_minutes == 5


class Home(Screen):
    def compose(self) -> ComposeResult:
        yield Label("home", id="home-label")


class Work(Screen):
    """Stands for the sale screen: an input holding what the cashier typed."""

    def compose(self) -> ComposeResult:
        yield Label("sale", id="work-label")
        yield Input(id="work-input")

    def on_mount(self):
        self.query_one(Input).focus()


class Host(App):
    def __init__(self, ctx, user, clock):
        super().__init__()
        self.ctx, self.user, self.clock = ctx, user, clock
        self.homes = 0

    def on_mount(self):
        self.push_screen(Home())
        self.push_screen(Work())
        self.idle_lock = IdleLock(self, clock=self.clock, check_every=0.05)
        self.idle_lock.install()

    async def on_event(self, event):  # the one hook the real app needs
        from textual import events
        if isinstance(event, events.InputEvent):
            self.idle_lock.touch()
        await super().on_event(event)

    def go_home(self):
        self.homes += 1
        while not isinstance(self.screen, Home):
            self.pop_screen()


@pytest.fixture
def store(sqlite_ctx):
    ctx = sqlite_ctx
    carla = add_user(ctx, "carla", "cashier", "1111")
    add_user(ctx, "dora", "cashier", "2222")
    make_products()
    return ctx, carla


async def wait_for(pilot, cond, n=60):
    for _ in range(n):
        if cond():
            return
        await pilot.pause(0.05)
    assert cond()


async def settle(pilot):
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_same_user_returns_exactly_where_they_were(store):
    ctx, carla = store
    sale.scan(ctx, carla, MILK)
    clock = FakeClock()
    app = Host(ctx, carla, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for ch in "2*40":
            await pilot.press(ch)
        clock.t += 4 * 60  # not yet
        await pilot.pause(0.2)
        assert isinstance(app.screen, Work)
        await pilot.press("0")  # a key resets the idle time
        clock.t += 4 * 60
        await pilot.pause(0.2)
        assert isinstance(app.screen, Work)
        clock.t += 61
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen))
        # the locked screen shows nothing of the sale, and keys go nowhere else
        assert app.screen.query_one("#lock-name", Input).value == "carla"
        await pilot.press("escape")
        assert isinstance(app.screen, LockScreen)
        # wrong PIN first: one message, still locked
        for ch in "9999":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, LockScreen)
        assert "wrong PIN" in str(app.screen.query_one("#lock-error", Static).render())
        for ch in "1111":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, Work))
        assert app.screen.query_one("#work-input", Input).value == "2*400"
        assert app.focused is app.screen.query_one("#work-input", Input)
        assert app.user.id == carla.id and app.homes == 0
    t = sale.current_ticket(ctx, carla)
    assert t is not None and t.item_count >= 1
    kinds = [j.kind for j in Journal.select().order_by(Journal.seq)]
    assert "terminal.locked" in kinds and "unlock.failed" in kinds and kinds[-1] == "terminal.unlocked"


async def test_other_user_does_not_inherit(store):
    ctx, carla = store
    view = sale.scan(ctx, carla, MILK)
    clock = FakeClock()
    app = Host(ctx, carla, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for ch in "abc":
            await pilot.press(ch)
        app.idle_lock.lock_now()
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen))
        # dora: Tab back to the user field, type her name
        await pilot.press("shift+tab")
        name = app.screen.query_one("#lock-name", Input)
        assert app.focused is name
        name.value = ""
        for ch in "dora":
            await pilot.press(ch)
        await pilot.press("enter")
        for ch in "2222":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, Home))
        assert app.user.name == "dora" and app.homes == 1
        assert not any(isinstance(s, Work) for s in app.screen_stack)
    # carla's ticket is parked for her, not open on the terminal for dora
    assert sale.current_ticket(ctx) is None
    parked = Ticket.get_by_id(view.id)
    assert parked.status == "parked" and parked.cashier_id == carla.id
    kinds = [j.kind for j in Journal.select().order_by(Journal.seq)]
    assert kinds[-3:] == ["sale.parked", "logout", "login"]


def test_unlock_service_bad_input(store):
    ctx, carla = store
    with pytest.raises(AuthFailed):
        idle.unlock(ctx, carla, "carla", "0000")
    with pytest.raises(AuthFailed):
        idle.unlock(ctx, carla, "nobody", "0000")
    assert User.get(User.name == "carla").failed_attempts == 1
    res = idle.unlock(ctx, carla, "carla", "1111")
    assert res.same and res.user.id == carla.id and res.parked_ticket is None


async def test_nobody_logged_in_never_locks(store):
    ctx, _ = store
    clock = FakeClock()
    app = Host(ctx, None, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        clock.t += 3600
        await pilot.pause(0.2)
        assert not isinstance(app.screen, LockScreen)


# ------------------------------------------------- with the real app shell ---

async def login(pilot, name, pin):
    from screens.login import LoginScreen
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LoginScreen))
    scr = pilot.app.screen
    scr.query_one("#login-name", Input).focus()
    for ch in name:
        await pilot.press(ch)
    await pilot.press("enter")
    for ch in pin:
        await pilot.press(ch)
    await pilot.press("enter")


async def test_real_app_idle_lock_keeps_the_sale(store):
    """StationApp: cashier logs in, opens the sale (ticket with milk), goes idle:
    locked; her PIN brings back the very same sale screen; a manager area is not
    offered to her."""
    from screens.app import StationApp
    from screens.home import HomeScreen
    ctx, carla = store
    sale.scan(ctx, carla, MILK)
    app = StationApp(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await login(pilot, "carla", "1111")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen))
        assert app.user.name == "carla"
        assert not app.may_open("manager")
        await pilot.press("f5")  # the manager key does nothing for a cashier
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("f2")
        # (the sale screen keeps a long-lived scan consumer worker: wait on state, not on workers)
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SaleScreen")
        await pilot.pause(0.3)
        sale_screen = app.screen
        assert sale_screen.__class__.__name__ == "SaleScreen"
        stack = list(app.screen_stack)
        # idle: make the clock run out instead of waiting minutes
        app.idle_lock.clock.last -= ctx.config.security.idle_lock_minutes * 60 + 1
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen), n=100)
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "lock-pin")
        for ch in "1111":
            await pilot.press(ch)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is sale_screen, n=100)
        assert list(app.screen_stack) == stack
    assert sale.current_ticket(ctx).item_count >= 1
