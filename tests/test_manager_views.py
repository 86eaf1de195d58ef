"""Manager views through the pilot at 80x24, keyboard only: the journal browser
(filters, keyset pages) and the users list (unlock, disable); a cashier is
refused by the services even when the screen is opened anyway."""
from __future__ import annotations

import datetime as dt

import pytest
from textual.app import App
from textual.widgets import DataTable, Static

from data.models import User
from screens.manager import Confirm, ManagerScreen
from station import audit, auth, journal
from station.errors import PermissionDenied
from tests.conftest import add_user


class Host(App):
    def __init__(self, ctx, user):
        super().__init__()
        self.ctx, self.user = ctx, user

    def on_mount(self):
        self.push_screen(ManagerScreen())


@pytest.fixture
def store(sqlite_ctx):
    ctx = sqlite_ctx
    people = {n: add_user(ctx, n, r, p) for n, r, p in
              (("carla", "cashier", "1111"), ("sam", "supervisor", "2222"), ("mia", "manager", "3333"))}
    auth.login(ctx, "carla", "1111")
    for i in range(230):
        journal.append("sale.test", terminal="T2" if i % 2 else "T1", user="carla", amount=i, ref=f"t{i}")
    return ctx, people


async def settle(pilot):
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def table(app, sel="#journal-table") -> DataTable:
    return app.screen.query_one(sel, DataTable)


def status(app) -> str:
    return str(app.screen.query_one("#status", Static).render())


def first_col(t: DataTable) -> list[str]:
    return [str(t.get_row_at(i)[0]) for i in range(t.row_count)]


async def test_journal_browser_pages_and_filters(store):
    ctx, people = store
    app = Host(ctx, people["mia"])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        t = table(app)
        total = audit.count(ctx, None)
        assert t.row_count == 100
        assert first_col(t)[0] == str(total)  # newest first
        assert f"{total} event(s); page 1" in status(app)
        await pilot.press("f7")
        await settle(pilot)
        assert first_col(table(app))[0] == str(total - 100) and "page 2" in status(app)
        await pilot.press("f7")
        await settle(pilot)
        rows = first_col(table(app))
        assert rows[-1] == "1" and len(rows) == total - 200 and "F7 older" not in status(app)
        await pilot.press("f7")  # no older page: stays
        await settle(pilot)
        assert "page 3" in status(app)
        await pilot.press("f8")
        await settle(pilot)
        assert first_col(table(app))[0] == str(total - 100)
        # filter by kind (prefix) and terminal, from the keyboard
        app.screen.query_one("#f-kind").focus()
        for ch in "login*":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot)
        kinds = {str(table(app).get_row_at(i)[4]) for i in range(table(app).row_count)}
        assert kinds == {"login"} and "1 event(s); page 1" in status(app)
        app.screen.query_one("#f-kind").value = ""
        app.screen.query_one("#f-terminal").focus()
        for ch in "T2":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot)
        assert {str(table(app).get_row_at(i)[2]) for i in range(table(app).row_count)} == {"T2"}
        assert "115 event(s)" in status(app)
        # the detail line follows the cursor
        await pilot.press("down")
        await pilot.pause()
        assert "ref t" in str(app.screen.query_one("#detail", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ManagerScreen)


async def test_users_unlock_and_disable(store):
    ctx, people = store
    User.update(locked_until=dt.datetime.utcnow() + dt.timedelta(minutes=10), failed_attempts=0) \
        .where(User.name == "carla").execute()
    app = Host(ctx, people["mia"])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        u = table(app, "#users-table")
        assert first_col(u) == ["carla", "mia", "sam"]
        assert str(u.get_row_at(0)[2]).startswith("locked until")
        assert app.focused is u and u.cursor_row == 0
        await pilot.press("u")
        await settle(pilot)
        assert User.get(User.name == "carla").locked_until is None
        assert str(table(app, "#users-table").get_row_at(0)[2]) == "active"
        # disable sam: asks first; n keeps him
        await pilot.press("down", "down")
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await settle(pilot)
        assert User.get(User.name == "sam").active
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert not User.get(User.name == "sam").active
        assert str(table(app, "#users-table").get_row_at(2)[2]) == "disabled"
        await pilot.press("e")
        await settle(pilot)
        assert User.get(User.name == "sam").active
    kinds = [e.kind for e in audit.events(ctx, None, audit.make_filters(kind="user.*"))]
    assert kinds[-3:] == ["user.unlocked", "user.disabled", "user.enabled"]


async def test_supervisor_may_unlock_but_not_disable(store):
    ctx, people = store
    app = Host(ctx, people["sam"])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert table(app).row_count == 100  # journal.view: yes
        await pilot.press("f3")
        await settle(pilot)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert "may not user manage" in status(app) or "may not" in status(app)
        assert User.get(User.name == "carla").active


async def test_cashier_is_refused_by_the_services(store):
    ctx, people = store
    carla = people["carla"]
    app = Host(ctx, carla)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert table(app).row_count == 0
        assert "may not" in status(app)
        await pilot.press("f3")
        await settle(pilot)
        assert table(app, "#users-table").row_count == 0 and "may not" in status(app)
    with pytest.raises(PermissionDenied):
        audit.events(ctx, carla)
    with pytest.raises(PermissionDenied):
        audit.users(ctx, carla)
    with pytest.raises(PermissionDenied):
        auth.unlock(ctx, carla, "sam")
    with pytest.raises(PermissionDenied):
        auth.disable(ctx, carla, "sam")


async def test_real_app_manager_area_by_role(store):
    """Through StationApp: a manager's home offers F5 Manager and opens the
    journal; a cashier's home does not (and open_area refuses)."""
    from screens.app import StationApp
    from screens.home import HomeScreen
    ctx, people = store

    async def login(pilot, name, pin):
        await pilot.pause(0.2)
        for ch in name:
            await pilot.press(ch)
        await pilot.press("enter")
        for ch in pin:
            await pilot.press(ch)
        await pilot.press("enter")
        for _ in range(100):
            if isinstance(pilot.app.screen, HomeScreen):
                break
            await pilot.pause(0.05)
        assert isinstance(pilot.app.screen, HomeScreen)

    app = StationApp(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await login(pilot, "mia", "3333")
        await pilot.press("f5")
        for _ in range(100):
            if isinstance(app.screen, ManagerScreen) and table(app).row_count:
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, ManagerScreen) and table(app).row_count == 100
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
    app = StationApp(ctx)
    async with app.run_test(size=(80, 24)) as pilot:
        await login(pilot, "carla", "1111")
        assert "Manager" not in str(app.screen.query_one("#home-areas", Static).render())
        await pilot.press("f5")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert app.open_area("manager") is False
        assert not isinstance(app.screen, ManagerScreen)
