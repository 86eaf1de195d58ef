"""The app shell through Textual's pilot: PIN login (masked; wrong PIN, locked,
disabled, unknown user), home (who, role, terminal, store; only the areas the
role may use), F1 help listing the current screen's keys, logout, lazy areas
(a missing module is a notification), the keymap from config, and failures
shown as notifications instead of crashes. At 80x24."""
from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Input, Static

from station import auth
from station.context import open_station
from tests.conftest import add_user, make_config

SIZE = (80, 24)


@pytest.fixture
def shop(sqlite_url, station_home):
    ctx = open_station(make_config(station_home, sqlite_url, **{"security.max_failed_attempts": 3}),
                       upgrade=True)
    add_user(ctx, "carla", "cashier", "1111")
    add_user(ctx, "mia", "manager", "3333")
    add_user(ctx, "theo", "treasurer", "4444")
    yield ctx
    ctx.db.close()


def make_app(ctx):
    from screens.app import StationApp
    return StationApp(ctx)


async def wait_for(pilot, cond, timeout=10.0):
    for _ in range(int(timeout / 0.05)):
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def type_login(pilot, name, pin):
    app = pilot.app
    app.screen.action_clear()
    await pilot.press(*name, "enter", *pin, "enter")


def message(app) -> str:
    return str(app.screen.query_one("#login-message", Static).render())


async def test_login_then_home_shows_who_where_and_keys(shop):
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        from screens.home import HomeScreen
        from screens.login import LoginScreen
        assert isinstance(app.screen, LoginScreen)
        assert app.screen.query_one("#login-pin", Input).password is True
        await type_login(pilot, "mia", "3333")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.is_mounted)
        assert app.user.name == "mia"
        await pilot.pause(0.3)   # let the home screen finish mounting before the app closes
        text = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "mia" in text and "manager" in text and "T1" in text and shop.config.store.name in text
        # a manager sees every area
        keys = {b.binding.key for b in app.screen.active_bindings.values()}
        assert {"f2", "f3", "f4", "f5", "f9", "f10"} <= keys
        # F1: help lists every key of the home screen
        await pilot.press("f1")
        from screens.help import HelpScreen
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = app.screen.rows
        assert ("F2", "Sale", "home_sale") in rows and ("F9", "Logout", "home_logout") in rows
        assert ("F10", "Quit", "home_quit") in rows and ("F1", "Help", "app_help") in rows
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.is_mounted)
        # logout from the keyboard: back to the login, nobody logged in
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        assert app.user is None
    await asyncio.sleep(0.2)
    from data.models import Journal
    kinds = [j.kind for j in Journal.select().order_by(Journal.seq)]
    assert "login" in kinds and "logout" in kinds


async def test_cashier_sees_only_her_areas(shop):
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        from screens.home import HomeScreen
        await type_login(pilot, "carla", "1111")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.is_mounted)
        keys = {b.binding.key for b in app.screen.active_bindings.values()}
        assert "f2" in keys and "f3" in keys
        assert "f4" not in keys and "f5" not in keys      # all drawers, manager: not for a cashier
        text = str(app.screen.query_one("#home-areas", Static).render())
        assert "Sale" in text and "Manager" not in text and "All drawers" not in text
        assert app.open_area("manager") is False          # refused even when asked directly
        assert isinstance(app.screen, HomeScreen)


async def test_treasurer_has_no_sale(shop):
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        from screens.home import HomeScreen
        await type_login(pilot, "theo", "4444")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.is_mounted)
        keys = {b.binding.key for b in app.screen.active_bindings.values()}
        assert "f2" not in keys and "f4" in keys


async def test_login_messages(shop):
    auth.disable(shop, None, "mia")
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        from screens.login import LoginScreen
        pin = app.screen.query_one("#login-pin", Input)
        await type_login(pilot, "carla", "9999")
        await wait_for(pilot, lambda: "wrong PIN" in message(app))
        assert pin.value == "" and app.screen.phase == "pin"   # ready for the PIN again
        await type_login(pilot, "nobody", "1111")
        await wait_for(pilot, lambda: "Unknown user or wrong PIN" in message(app) and pin.value == "")
        await type_login(pilot, "mia", "3333")
        await wait_for(pilot, lambda: "disabled" in message(app))
        # the 3rd wrong PIN locks carla (max_failed_attempts = 3), then even the right PIN is refused
        await type_login(pilot, "carla", "9998")
        await wait_for(pilot, lambda: "Unknown user or wrong PIN" in message(app) and pin.value == "")
        await type_login(pilot, "carla", "9997")
        await wait_for(pilot, lambda: "Locked" in message(app))
        await type_login(pilot, "carla", "1111")
        await wait_for(pilot, lambda: "locked until" in message(app))
        assert isinstance(app.screen, LoginScreen) and app.user is None
        # Escape clears both fields
        await pilot.press("escape")
        assert app.screen.query_one("#login-name", Input).value == "" and pin.value == ""


async def test_pin_is_masked_on_screen(shop):
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*"carla", "enter", *"1357")
        await pilot.pause()
        pin = app.screen.query_one("#login-pin", Input)
        assert pin.value == "1357"
        assert "1357" not in str(pin.render_line(1).text if hasattr(pin, "render_line") else "")
        # the rendered screen never shows the digits
        svg = app.export_screenshot()
        assert "1357" not in svg and "carla" in svg


async def test_help_on_login_screen(shop):
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        from screens.help import HelpScreen
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        descs = {d for _k, d, _i in app.screen.rows}
        assert {"Clear", "Quit", "Help"} <= descs
        await pilot.press("f1")                       # F1 again closes it
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_missing_area_module_is_a_notification(shop, monkeypatch):
    import screens
    monkeypatch.setitem(screens.AREAS, "ghost", "screens.no_such_module:Ghost")
    app = make_app(shop)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        from screens.home import HomeScreen
        await type_login(pilot, "mia", "3333")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.is_mounted)
        assert app.open_area("ghost") is False
        assert app.open_area("nowhere") is False
        await pilot.pause()
        texts = [n.message for n in app._notifications]
        assert any("ghost screen is not available" in t for t in texts), texts
        assert any("no 'nowhere' area" in t for t in texts), texts
        assert isinstance(app.screen, HomeScreen) and app.is_running


async def test_worker_failures_are_notifications_not_crashes(shop):
    app = make_app(shop)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        def boom():
            raise RuntimeError("printer on fire")
        app.run_worker(boom, thread=True, exit_on_error=False, name="boom")
        await wait_for(pilot, lambda: any("printer on fire" in n.message for n in app._notifications))
        app.run_worker(boom, thread=True, name="boom2")          # exit_on_error=True: still no crash
        await wait_for(pilot, lambda: sum("printer on fire" in n.message for n in app._notifications) >= 2)
        await pilot.pause(0.3)
        assert sum("printer on fire" in n.message for n in app._notifications) == 2   # once each
        assert app.is_running
        from screens.login import LoginScreen
        assert isinstance(app.screen, LoginScreen)


async def test_keymap_from_config_remaps_bindings(sqlite_url, station_home):
    ctx = open_station(make_config(station_home, sqlite_url,
                                   **{"keymap.bindings": {"home_logout": "f7", "app_help": "f12"}}),
                       upgrade=True)
    add_user(ctx, "mia", "manager", "3333")
    app = make_app(ctx)
    async with app.run_test(size=SIZE) as pilot:
        from screens.help import HelpScreen
        from screens.home import HomeScreen
        from screens.login import LoginScreen
        await type_login(pilot, "mia", "3333")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.is_mounted)
        await pilot.press("f9")                                   # no longer logout
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("f12")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert ("F7", "Logout", "home_logout") in app.screen.rows
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.is_mounted)
        await pilot.press("f7")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
    ctx.db.close()


async def test_open_area_pushes_the_screen_and_escape_comes_home(shop, monkeypatch):
    """A real area hung on the shell by name (a tiny stand-in module)."""
    import sys
    import types
    from textual.binding import Binding
    from textual.screen import Screen
    from textual.widgets import Label

    class Probe(Screen):
        BINDINGS = [Binding("escape", "back", "Back", id="probe_back")]

        def compose(self):
            yield Label(f"probe for {self.app.user.name}")

        def action_back(self):
            self.app.pop_screen()

    mod = types.ModuleType("screens._probe_area")
    mod.Probe = Probe
    monkeypatch.setitem(sys.modules, "screens._probe_area", mod)
    import screens
    monkeypatch.setitem(screens.AREAS, "probe", "screens._probe_area:Probe")
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        from screens.home import HomeScreen
        await type_login(pilot, "carla", "1111")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.is_mounted)
        assert app.open_area("probe") is True
        await wait_for(pilot, lambda: isinstance(app.screen, Probe))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.is_mounted)


async def test_login_typed_in_a_burst_never_puts_the_pin_in_the_name_field(shop):
    """Name, Enter, PIN, Enter arriving faster than the screen repaints (raw key
    events from a thread, 2 ms apart): the PIN must go to the masked field, never
    show in clear in the name field, and the login must succeed."""
    import threading
    import time
    from textual import events
    from screens.home import HomeScreen
    app = make_app(shop)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.3)   # the login screen is up (Header mounted), as a person sees it
        keys = [*"mia", "enter", *"3333", "enter"]

        def burst():
            for k in keys:
                app.post_message(events.Key(k, "\r" if k == "enter" else k))   # all at once, as
                time.sleep(0)                                                   # a terminal delivers them

        t = threading.Thread(target=burst)
        t.start()
        while t.is_alive():
            await pilot.pause(0.01)
        await wait_for(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.is_mounted)
        assert app.user.name == "mia"
        await pilot.pause(0.3)   # let the home screen finish mounting before the app closes


def test_dashboard_area_keys_wrap_between_keys_only():
    from rich.text import Text

    from screens.dashboard import key_lines
    keys = [f"[b]{k}[/b] {name}" for k, name in [("F2", "Sale"), ("F3", "Drawer"), ("F4", "All drawers"),
                                                 ("F5", "Manager"), ("t", "Returns"), ("o", "Reports"),
                                                 ("y", "Treasury"), ("k", "Stock"), ("F10", "Quit")]]
    text = Text.from_markup(key_lines(keys, 78)).plain
    lines = text.splitlines()
    assert len(lines) == 2 and all(len(line) <= 78 for line in lines)
    assert lines[1].startswith("y Treasury")
    assert Text.from_markup(key_lines(keys, 400)).plain.count("\n") == 0
