"""Reports as a manager meets them: the real ``station`` process on a pty read by
pyte at 80x24, keys as bytes (a burst is one write). Today's two sales show on
the dashboard's Today panel and in the reports screen (O typed in the same
burst as the PIN, while the dashboard opens); a breakdown, another report and a
CSV export from the keyboard."""
from __future__ import annotations

import csv
import datetime as _dt
import io

import pytest

from tests.terminal import Terminal, make_till

pytestmark = pytest.mark.slow


@pytest.fixture
def till(tmp_path):
    from data.models import User
    from station import config as configmod
    from station.context import open_station
    from tests.refund_helpers import sell
    from tests.sale_ui_support import COLA, PENCIL, open_drawer
    home = tmp_path / "home"
    make_till(home)
    ctx = open_station(configmod.load(env={"STATION_HOME": str(home)}))
    carla = User.get(User.name == "carla")
    open_drawer(ctx, carla)
    sell(ctx, carla, [PENCIL, COLA])          # 1.20 + 1.49
    sell(ctx, carla, [PENCIL])                # 1.20
    ctx.db.close()
    return home


def test_reports_on_the_real_terminal(till):
    home = till
    with Terminal.start(home) as term:
        term.wait_for("Type your user name")
        term.type("mia", "enter", "3333", "enter", "o")       # O while the dashboard is opening
        screen = term.wait_for(lambda t: "Sales  today" in t and "Net sales 3.89" in t and "1 row." in t)
        assert "Tickets 2" in screen and "Avg ticket 1.95" in screen and "Gross 3.89" in screen
        today = _dt.datetime.now(_dt.timezone.utc).date().isoformat()
        assert today in screen
        assert len(screen.splitlines()) == 24 and all(len(line) <= 80 for line in screen.splitlines())
        term.type("b")                                         # by hour: the sparkline and its numbers
        screen = term.wait_for(lambda t: "by hour" in t and "24 rows." in t)
        assert "sales per hour of the day" in screen
        term.type("2")                                         # top products
        screen = term.wait_for(lambda t: "Top products" in t and "Pencil HB" in t and "Cola 0.5l" in t)
        pencil = next(line for line in screen.splitlines() if "Pencil HB" in line)
        assert "2.000" in pencil and "2.40" in pencil
        term.type("1", "b", "b", "b", "b")                     # sales by method (from hour: 4 steps on)
        term.wait_for(lambda t: "by method" in t and "cash" in t and "1 row." in t)
        term.type("e")
        term.wait_for("exported to")
        path = home / "exports" / f"sales-method-{today}-{today}.csv"
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert [(r["method"], r["amount"]) for r in rows] == [("cash", "3.89")]
        term.type("escape")
        term.wait_for("Today")
        screen = term.wait_for(lambda t: "Sales 3.89" in t)
        assert "Tickets 2 (0)" in screen
