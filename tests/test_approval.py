"""The manager-override dialog through Textual's pilot (approve, wrong code,
wrong PIN, same person, cancel), on a tiny host App (not the real shell) with
``ctx`` and ``user`` attributes. Real SQLite file store."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pyotp
import pytest
from textual.app import App
from textual.widgets import Input, Static

from data.models import Approval, Journal, User
from screens.approval import ApprovalDialog, action_words, amount_words
from station import authority, totp_enrol
from station.errors import NeedsApproval, PermissionDenied
from tests.conftest import add_user

SECRET = totp_enrol.DEMO_SECRET
#: the TOTP clock of these tests: the middle of a time step, frozen, so a test that
#: runs long on a loaded machine never crosses into the next code
T0 = (int(time.time()) // 30) * 30 + 15.0


class Host(App):
    """Minimal host: the dialog only needs app.ctx and app.user."""

    def __init__(self, ctx, user, **dialog_kw):
        super().__init__()
        self.ctx = ctx
        self.user = user
        self.dialog_kw = dialog_kw
        self.results: list = []

    def on_mount(self) -> None:
        self.push_screen(ApprovalDialog(**self.dialog_kw), self.results.append)


@pytest.fixture
def store(sqlite_ctx, monkeypatch):
    monkeypatch.setattr(authority, "time", SimpleNamespace(time=lambda: T0))
    ctx = sqlite_ctx
    carla = add_user(ctx, "carla", "cashier", "1111")
    add_user(ctx, "mia", "manager", "3333")
    add_user(ctx, "sam", "supervisor", "2222")
    totp_enrol.enrol_known_secret(ctx, "mia", SECRET)
    return ctx, carla


def code_now(offset_steps: int = 0) -> str:
    return pyotp.TOTP(SECRET).at(T0 + 30 * offset_steps)


async def type_into(pilot, selector: str, text: str) -> None:
    inp = pilot.app.screen.query_one(selector, Input)
    inp.focus()
    await pilot.pause()
    inp.value = ""
    for ch in text:
        await pilot.press(ch)
    await pilot.press("enter")


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def error_text(pilot) -> str:
    return str(pilot.app.screen.query_one("#approval-error", Static).render())


async def test_approve_with_pin_and_code(store):
    ctx, carla = store
    app = Host(ctx, carla, action="sale.void_ticket", ref="ticket 7")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ApprovalDialog)
        await type_into(pilot, "#approver", "mia")
        await type_into(pilot, "#pin", "3333")
        # mia is a manager: the code field appears and has the focus
        assert not app.screen.query_one("#code-row").has_class("hidden")
        assert app.screen.focused.id == "code"
        await type_into(pilot, "#code", code_now())
        await settle(pilot)
    assert len(app.results) == 1
    a = app.results[0]
    assert isinstance(a, Approval) and a.used_at is None
    assert (a.action, a.ref, a.requester_id) == ("sale.void_ticket", "ticket 7", carla.id)
    # the service takes exactly this approval, once
    from data import db as dbmod
    with dbmod.write():
        assert authority.require(ctx, carla, "sale.void_ticket", ref="ticket 7", approval=a).id == a.id
    with pytest.raises(PermissionDenied):
        with dbmod.write():
            authority.require(ctx, carla, "sale.void_ticket", ref="ticket 7", approval=a)
    assert Journal.select().where(Journal.kind == "override.approved").count() == 1


async def test_wrong_code_then_right_code(store):
    ctx, carla = store
    app = Host(ctx, carla, action="sale.price_override", amount=199, ref="line 3")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await type_into(pilot, "#approver", "mia")
        await type_into(pilot, "#pin", "3333")
        good = code_now()
        bad = "%06d" % ((int(good) + 1) % 1_000_000)
        await type_into(pilot, "#code", bad)
        await settle(pilot)
        assert isinstance(app.screen, ApprovalDialog), "a wrong code must not close the dialog"
        assert "wrong TOTP code" in error_text(pilot)
        assert app.screen.focused.id == "code" and app.screen.focused.value == ""
        assert app.results == []
        # retry with the right code: the PIN is still there
        await type_into(pilot, "#code", good)
        await settle(pilot)
    assert len(app.results) == 1 and app.results[0].amount == 199
    kinds = [j.kind for j in Journal.select().order_by(Journal.seq)]
    assert kinds.count("totp.failed") == 1 and kinds.count("override.approved") == 1


async def test_wrong_pin_and_reused_code(store):
    ctx, carla = store
    # mia's current code is used once already (outside the dialog)
    first = authority.approve(ctx, carla, "mia", "3333", code_now(), "sale.void_ticket", ref="t1")
    assert first.id
    app = Host(ctx, carla, action="sale.void_ticket", ref="t2")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await type_into(pilot, "#approver", "mia")
        await type_into(pilot, "#pin", "9999")
        await type_into(pilot, "#code", code_now())
        await settle(pilot)
        assert "wrong PIN" in error_text(pilot)
        assert app.screen.focused.id == "pin"
        await type_into(pilot, "#pin", "3333")
        await type_into(pilot, "#code", code_now())
        await settle(pilot)
        assert "already used" in error_text(pilot)
        assert isinstance(app.screen, ApprovalDialog)
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]
    assert Approval.select().count() == 1  # only the first one


async def test_cancel_with_escape_records_nothing(store):
    ctx, carla = store
    before = Journal.select().count()
    app = Host(ctx, carla, action="drawer.no_sale", reason_required=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await type_into(pilot, "#approver", "mia")
        await pilot.press("3", "3")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ApprovalDialog)
    assert app.results == [None]
    assert Approval.select().count() == 0
    assert Journal.select().count() == before


async def test_requester_cannot_approve_themselves(store):
    ctx, _ = store
    mia = User.get(User.name == "mia")
    # a manager asks for something only to show the same-person rule; use a
    # requester equal to the approver
    app = Host(ctx, mia, action="sale.void_ticket", ref="t9")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await type_into(pilot, "#approver", "mia")
        await type_into(pilot, "#pin", "3333")
        await type_into(pilot, "#code", code_now())
        await settle(pilot)
        assert "someone else" in error_text(pilot)
        assert app.screen.focused.id == "approver"
    assert Approval.select().count() == 0
    assert Journal.select().where(Journal.kind == "override.refused").count() == 1


async def test_reason_and_supervisor_role_shown(store):
    ctx, carla = store
    # sam (supervisor) has no TOTP enrolled: one clear message, no approval
    app = Host(ctx, carla, action="sale.discount", amount=2500, reason_required=True, title="Discount")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen._set_code_visible(True)
        await pilot.pause()
        # everything (all four fields, the error line, the keys) fits on 80x24
        for w in app.screen.query("Input, #approval-error, #approval-keys"):
            r = w.region
            assert r.width > 0 and r.y >= 0 and r.bottom <= 24 and r.right <= 80, (w.id, r)
        app.screen._set_code_visible(False)
        what = str(app.screen.query_one("#approval-what", Static).render())
        assert "Give a discount" in what and "25 %" in what and "carla" in what
        await type_into(pilot, "#approver", "sam")
        await type_into(pilot, "#pin", "2222")
        await type_into(pilot, "#code", "123456")
        await type_into(pilot, "#reason", "")
        assert "reason is required" in error_text(pilot)
        await type_into(pilot, "#reason", "loyal customer")
        await settle(pilot)
        assert "no TOTP enrolled" in error_text(pilot)
    assert Approval.select().count() == 0


def test_words():
    assert action_words("drawer.no_sale") == "Open the drawer without a sale"
    assert action_words("treasury.move_funds") == "Treasury move funds"
    assert amount_words(None, "sale.discount", 1250) == "12.5 %"
    assert amount_words(None, "drawer.paid_out", 12345) == "123.45"


def test_service_without_approval_needs_it(store):
    """The same rule without any UI: the service gate refuses."""
    ctx, carla = store
    from data import db as dbmod
    with pytest.raises(NeedsApproval):
        with dbmod.write():
            authority.require(ctx, carla, "sale.void_ticket", ref="t1")
