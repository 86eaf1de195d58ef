"""Keys typed ahead, through the real terminal: the real ``station`` process on a
pty, its screen read by pyte, every burst ONE write (as a scanner, a quick
cashier or an SSH packet delivers it), keys typed at the very moment a screen
opens or closes. What is checked is what a cashier would find: the screen and
the rows in the store."""
from __future__ import annotations

import pyotp
import pytest

from tests.sale_ui_support import CHOC, COLA, ERASER, PENCIL
from tests.terminal import Terminal, make_till

pytestmark = pytest.mark.slow


@pytest.fixture
def till(tmp_path):
    home = tmp_path / "home"
    make_till(home)
    return home


def store(home):
    """A fresh read-only look at the store (its own connection)."""
    from station import config as configmod
    from station.context import open_station
    return open_station(configmod.load(env={"STATION_HOME": str(home)}))


def rows(home, query):
    """``query(models)`` on a short-lived connection; its result."""
    from data import models
    ctx = store(home)
    try:
        return query(models)
    finally:
        ctx.db.close()


def open_drawer_for(home, name="carla", float_amount=10000):
    from data.models import User
    from station import drawer
    ctx = store(home)
    try:
        drawer.open_session(ctx, User.get(User.name == name), {float_amount: 1}, kick=False)
    finally:
        ctx.db.close()


def code_now() -> str:
    from station import totp_enrol
    return pyotp.TOTP(totp_enrol.DEMO_SECRET).now()


def login(term: Terminal, name="carla", pin="1111") -> None:
    term.wait_for("Type your user name")
    term.type(name, "enter", pin, "enter")
    term.wait_for("f9 Logout")        # home (a manager's home is the dashboard)


def session(models):
    return models.DrawerSession.select().order_by(models.DrawerSession.id.desc()).first()


def movements(kind):
    return lambda m: [(c.kind, c.amount) for c in m.CashMovement.select().where(m.CashMovement.kind == kind)]


# ---------------------------------------------------------------- 1. counts ---

def test_float_counted_the_instant_the_count_screen_is_asked_for(till):
    """Home, F3 (drawer), F2 (open: count), the counts and F10 typed in one
    burst on a freshly started app: 0 x 500, 0 x 200, 1 x 100, 1 x 50, 1 x 20,
    1 x 10 = 180.00, every count on its row."""
    with Terminal.start(till) as term:
        login(term)
        term.type("f3", "f2", "0", "enter", "0", "enter", "1", "enter", "1", "enter", "1", "enter", "1", "enter",
                  "f10")
        term.wait_until(lambda: rows(till, session) is not None, "the drawer session")
        term.wait_for("float 180.00 recorded")
    assert rows(till, lambda m: session(m).float_amount) == 18000


# ------------------------------------------------------- 2. double Enter ---

def test_no_sale_double_enter_then_escape_keeps_the_drawer_screen(till):
    """F6 (no sale), Enter (reason), then Enter Enter together: the dialog
    closes once, the approval dialog gets the second Enter, Escape cancels it:
    nothing recorded, the app still on the drawer screen."""
    open_drawer_for(till)
    with Terminal.start(till) as term:
        login(term)
        term.type("f3")
        term.wait_for("Session")
        term.type("f6", "enter", "enter", "enter")
        term.wait_for("Manager approval")
        term.type("escape")
        term.wait_for("cancelled: nothing was recorded")
        assert "Drawer T1" in term.text()
        term.type("f7")                               # the screen still works: the X report
        term.wait_for("X REPORT")
    assert rows(till, movements("no_sale")) == []
    assert rows(till, lambda m: m.Journal.select().where(m.Journal.kind == "override.approved").count()) == 0


def test_no_sale_approved_in_the_same_burst(till):
    open_drawer_for(till)
    with Terminal.start(till) as term:
        login(term)
        term.type("f3")
        term.wait_for("Session")
        term.type("f6", "enter", "enter", "mia", "enter", "3333", "enter", code_now(), "enter")
        term.wait_until(lambda: rows(till, movements("no_sale")) != [], "the no-sale")
        term.wait_for("No sale")
        assert "Drawer T1" in term.text()
    assert rows(till, lambda m: m.Journal.select().where(m.Journal.kind == "override.approved").count()) == 1


def test_paid_in_with_two_enters_on_the_note_stays_on_the_drawer(till):
    """Amount, reason, note, Enter Enter, then Escape: one paid-in, the second
    Enter is a key for the drawer screen (nothing), Escape goes home."""
    open_drawer_for(till)
    with Terminal.start(till) as term:
        login(term)
        term.type("f3")
        term.wait_for("Session")
        term.type("f3", "12.50", "enter", "enter", "float", "enter", "enter")
        term.wait_until(lambda: rows(till, movements("paid_in")) != [], "the paid-in")
        term.wait_for("recorded")
        assert "Drawer T1" in term.text()
        term.type("escape")
        term.wait_for("F8  Lock")
    assert rows(till, movements("paid_in")) == [("paid_in", 1250)]


# ------------------------------------------------------ 3. after the sale ---

def test_cash_enter_then_the_next_customers_scan(till):
    """Scan, F10, "50 Enter" and at once the next customer's scan: sale 1 is
    recorded with 50.00 handed over, the scan starts ticket 2."""
    open_drawer_for(till)
    with Terminal.start(till) as term:
        login(term)
        term.type("f2")
        term.wait_for("TOTAL")
        term.type(PENCIL, "enter", "f10", "50", "enter", COLA, "enter")
        term.wait_until(lambda: rows(till, lambda m: m.TicketLine.select().where(
            m.TicketLine.code == COLA).count()) == 1, "the next customer's line")
        term.wait_for("Cola")
    tickets = rows(till, lambda m: [(t.status, [ln.code for ln in t.lines]) for t in
                                    m.Ticket.select().order_by(m.Ticket.id)])
    assert tickets == [("completed", [PENCIL]), ("open", [COLA])]
    assert rows(till, lambda m: [(t.method, t.amount, t.tendered) for t in m.Tender.select()]) == \
        [("cash", 120, 5000)]


# ------------------------------------------------------- 4. Home -> F2 ---

def test_scans_the_instant_the_sale_screen_is_asked_for(till):
    with Terminal.start(till) as term:
        login(term)
        term.type("f2", PENCIL, "enter", COLA, "enter", CHOC, "enter")
        term.wait_until(lambda: rows(till, lambda m: m.TicketLine.select().count()) == 3, "three lines")
        term.wait_for("Dark Chocolate")
    assert rows(till, lambda m: [ln.code for ln in m.TicketLine.select().order_by(m.TicketLine.position)]) == \
        [PENCIL, COLA, CHOC]


# ----------------------------------------------------- 5. approval burst ---

def test_approval_typed_as_one_burst(till):
    """Void the ticket (a cashier needs a manager) and the manager's name, PIN
    and code in the same burst: each lands in its field."""
    with Terminal.start(till) as term:
        login(term)
        term.type("f2")
        term.wait_for("TOTAL")
        term.type(PENCIL, "enter", ERASER, "enter", "f11", "mia", "enter", "3333", "enter", code_now(), "enter")
        term.wait_until(lambda: rows(till, lambda m: m.Ticket.select().where(
            m.Ticket.status == "voided").count()) == 1, "the voided ticket")
        term.wait_for("ticket voided")
    assert rows(till, lambda m: m.Journal.select().where(m.Journal.kind == "override.approved").count()) == 1


# ------------------------------------------- 6. every dialog, Enter Enter ---

def test_quantity_prompt_double_enter_then_scan(till):
    """F3 with nothing typed opens the quantity prompt: "3 Enter Enter" and a
    scan: the quantity is set once, the second Enter is an empty scan (nothing),
    the scan adds a line."""
    with Terminal.start(till) as term:
        login(term)
        term.type("f2")
        term.wait_for("TOTAL")
        term.type(PENCIL, "enter", "f3", "backspace", "3", "enter", "enter", COLA, "enter")
        term.wait_until(lambda: rows(till, lambda m: m.TicketLine.select().count()) == 2, "two lines")
        term.wait_for("Cola")
    assert rows(till, lambda m: [(ln.code, ln.qty) for ln in m.TicketLine.select().order_by(
        m.TicketLine.position)]) == [(PENCIL, 3000), (COLA, 1000)]


def test_numbers_before_f3_are_consumed_never_glued_to_the_next_scan(till):
    with Terminal.start(till) as term:
        login(term)
        term.type("f2")
        term.wait_for("TOTAL")
        term.type(PENCIL, "enter", "4", "f3", COLA, "enter", "7", "f6", ERASER, "enter")
        term.wait_until(lambda: rows(till, lambda m: m.TicketLine.select().count()) == 3, "three lines")
        term.wait_for("Eraser")
    assert rows(till, lambda m: [(ln.code, ln.qty) for ln in m.TicketLine.select().order_by(
        m.TicketLine.position)]) == [(PENCIL, 4000), (COLA, 1000), (ERASER, 1000)]
    assert rows(till, lambda m: m.TicketLine.get(m.TicketLine.code == COLA).discount) > 0


def test_search_enter_enter_picks_once(till):
    """F2 on the sale screen, part of a name and Enter Enter typed at once:
    the first Enter picks the first match (as it would typed slowly), the second
    is an empty scan on the sale screen."""
    with Terminal.start(till) as term:
        login(term)
        term.type("f2")
        term.wait_for("TOTAL")
        term.type("f2", "bread", "enter", "enter", PENCIL, "enter")
        term.wait_until(lambda: rows(till, lambda m: m.TicketLine.select().count()) == 2, "two lines")
        term.wait_for("Pencil")
    assert rows(till, lambda m: [ln.name for ln in m.TicketLine.select().order_by(m.TicketLine.position)]) == \
        ["Bread roll", "Pencil HB"]


def test_tender_enter_enter_escape(till):
    """Exact cash (F3) completes the sale; Enter Enter after it are empty scans
    of the next sale, Escape goes home: one sale, the app alive at home."""
    open_drawer_for(till)
    with Terminal.start(till) as term:
        login(term)
        term.type("f2")
        term.wait_for("TOTAL")
        term.type(COLA, "enter", "f10", "f3", "enter", "enter", "escape")
        term.wait_for("F8  Lock")
    assert rows(till, lambda m: [t.status for t in m.Ticket.select()]) == ["completed"]


def test_lock_unlock_and_on_in_one_burst(till):
    """F8 locks; the PIN, Enter, F2 and a scan typed in the same burst: the
    PIN unlocks (never lands anywhere else), F2 and the scan reach the sale."""
    with Terminal.start(till) as term:
        login(term)
        term.type("f8", "1111", "enter", "f2", PENCIL, "enter")
        term.wait_until(lambda: rows(till, lambda m: m.TicketLine.select().count()) == 1, "the line")
        term.wait_for("Pencil HB")
    kinds = rows(till, lambda m: [j.kind for j in m.Journal.select().order_by(m.Journal.seq)])
    assert "terminal.locked" in kinds and "terminal.unlocked" in kinds, kinds


# ----------------------------------------------------------------- 80x24 ---

def test_every_key_is_named_at_80x24(till):
    """The key bars of the drawer, manager and overview screens show every key
    (nothing cut at the right edge); headers fit; F1 names the screen. Each is
    waited for: the screen shows them, a hung run fails."""
    with Terminal.start(till) as term:
        login(term, "mia", "3333")
        term.type("f3")
        term.wait_for(lambda t: all(k in t for k in ("f10 Last Z", "f9 Close", "esc Back")))
        term.type("f1")
        term.wait_for("Keys: Drawer")
        term.type("escape")
        term.wait_for(lambda t: "Keys:" not in t)
        term.type("escape")
        term.wait_for("f9 Logout")
        term.type("f5")
        term.wait_for(lambda t: all(k in t for k in ("event(s)", "amount", "f8 Newer")))
        term.type("f3")
        term.wait_for("u unlock")
        term.type("escape")
        term.wait_for("f9 Logout")
        term.type("f4")
        assert "Opene" not in term.wait_for("Since")
