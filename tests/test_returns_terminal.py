"""The returns screen on the real terminal: the real ``station`` process on a pty
read by pyte, keys written as bytes (a burst is ONE write). Scan a receipt
barcode, return two lines, refund to cash: the drawer's expected cash drops by
exactly that; and the same return typed as one burst at the very moment the
returns screen opens."""
from __future__ import annotations

import pytest

from tests.sale_ui_support import CHOC, COLA, PENCIL
from tests.terminal import Terminal, make_till

pytestmark = pytest.mark.slow


@pytest.fixture
def till(tmp_path):
    """A till with a cash sale T1/1: 2 pencils 2.40, cola 1.49, chocolate 2.29."""
    from data.models import User
    from station import config as configmod
    from station import drawer
    from station.context import open_station
    from tests.refund_helpers import sell
    home = tmp_path / "home"
    make_till(home)
    ctx = open_station(configmod.load(env={"STATION_HOME": str(home)}))
    try:
        carla = User.get(User.name == "carla")
        drawer.open_session(ctx, carla, {10000: 1}, kick=False)
        sell(ctx, carla, [f"2*{PENCIL}", COLA, CHOC])
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


def expected(home) -> int:
    from data.models import DrawerSession
    return look(home, lambda: DrawerSession.get(DrawerSession.status == "open").expected_cash)


def refunds(home):
    from data.refund import Refund
    return look(home, lambda: [(r.refund_no, r.total, r.reason) for r in Refund.select()])


def login(term: Terminal) -> None:
    term.wait_for("Type your user name")
    term.type("carla", "enter", "1111", "enter")
    term.wait_for("Home")


def test_scan_the_receipt_return_two_lines_refund_to_cash(till):
    before = expected(till)
    with Terminal.start(till) as term:
        login(term)
        term.type("t")
        term.wait_for("Return with a receipt")
        term.type("T1-000001", "enter")                 # the scanner: code + CR in one write
        term.wait_for("Sale T1/1")
        term.type("f4", "down", "down", "f4")
        term.wait_for("BACK 4.69")
        term.type("f10")
        term.wait_for("Why does it come back?")
        term.type("enter")
        term.wait_for("refund T1/1: 4.69 back")
    assert refunds(till) == [(1, 469, "damaged")]
    assert expected(till) == before - 469


def test_the_return_typed_as_one_burst_as_the_screen_opens(till):
    before = expected(till)
    with Terminal.start(till) as term:
        login(term)
        term.type("t", "T1-000001", "enter", "f4", "down", "down", "f4", "f10", "enter")
        term.wait_until(lambda: refunds(till) != [], "the refund")
        term.wait_for("refund T1/1: 4.69 back")
    assert refunds(till) == [(1, 469, "damaged")]
    assert expected(till) == before - 469
