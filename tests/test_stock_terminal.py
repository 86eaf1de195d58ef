"""Stock on the real terminal: the real ``station`` process on a pty read by pyte,
keys written as bytes (a scanner burst is ONE write). Count scans typed as one
burst at the very moment the stock screen opens lose nothing; an unknown barcode
is added from the sale screen with a manager's approval and sold at once."""
from __future__ import annotations

import pyotp
import pytest

from tests.sale_ui_support import COLA, PENCIL
from tests.terminal import Terminal, make_till

pytestmark = pytest.mark.slow

NEW = "4012345678901"


@pytest.fixture
def till(tmp_path):
    """A till with an open drawer and a count of the whole store started by mia."""
    from data.models import User
    from station import config as configmod
    from station import drawer
    from station.context import open_station
    from station.stock import counts
    home = tmp_path / "home"
    make_till(home)
    ctx = open_station(configmod.load(env={"STATION_HOME": str(home)}))
    try:
        drawer.open_session(ctx, User.get(User.name == "carla"), {10000: 1}, kick=False)
        counts.start(ctx, User.get(User.name == "mia"), "store")
    finally:
        ctx.db.close()
    return home


def look(home, fn):
    from station import config as configmod
    from station.context import open_station
    ctx = open_station(configmod.load(env={"STATION_HOME": str(home)}))
    try:
        return fn()
    finally:
        ctx.db.close()


def counted(home) -> dict[str, int]:
    from data.models import Product
    from data.stock import CountScan
    from peewee import fn
    return look(home, lambda: {name: int(q) for name, q in CountScan.select(Product.name, fn.SUM(CountScan.qty))
                               .join(Product).group_by(Product.name).tuples()})


def login(term: Terminal) -> None:
    term.wait_for("Type your user name")
    term.type("carla", "enter", "1111", "enter")
    term.wait_for("Home")


def test_count_scans_typed_as_the_stock_screen_opens(till):
    with Terminal.start(till) as term:
        login(term)
        term.type("k", "f4", f"3*{PENCIL}", "enter", PENCIL, "enter", COLA, "enter", f"2*{COLA}", "enter")
        term.wait_until(lambda: counted(till) == {"Pencil HB": 4000, "Cola 0.5l": 3000}, "every scan counted")
        term.wait_for("counted 3")
        screen = term.wait_for("Pencil HB")
        assert "Count: scan every item" in screen
        term.type(PENCIL, "enter")
        term.wait_for("counted 5")
    assert counted(till) == {"Pencil HB": 5000, "Cola 0.5l": 3000}


def test_unknown_barcode_added_with_approval_and_sold(till):
    from station import totp_enrol
    with Terminal.start(till) as term:
        login(term)
        term.type("f2")
        term.wait_for("scan or type a code")
        term.type(NEW, "enter")
        term.wait_for("F5 add")
        term.type("f5")
        term.wait_for(f"Add {NEW}")
        term.type("Oat drink", "enter", "2.29", "enter", "enter")
        term.wait_for("Manager approval")
        term.type("mia", "enter", "3333", "enter")
        term.wait_for("Authenticator code")
        term.type(pyotp.TOTP(totp_enrol.DEMO_SECRET).now(), "enter")
        term.wait_for("Oat drink added to the catalog and rung up")
        screen = term.wait_for("2.29")
        assert "Oat drink" in screen

    from data.models import Product, TicketLine
    assert look(till, lambda: [(ln.name, ln.unit_price) for ln in TicketLine.select()]) == [("Oat drink", 229)]
    assert look(till, lambda: Product.get(Product.sku == NEW).vat_rate) == 1900
