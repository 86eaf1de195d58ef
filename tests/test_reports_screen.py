"""The reports screen and the dashboard's Today panel through the pilot at 80x24,
keyboard only, over the hand-computed data set (tests/reports_data.py): the same
figures as the service, the CLI, CSV and JSON, and the exports the screen writes."""
from __future__ import annotations

import csv
import io
import json

import pytest
from textual.widgets import DataTable, Sparkline, Static

from screens.reports import RangeDialog, ReportsScreen
from tests.conftest import add_user
from tests.reports_data import build, z
from tests.sale_ui_support import make_app, wait_for


@pytest.fixture
def shop(sqlite_ctx, station_home, sqlite_url, monkeypatch):
    data = build(sqlite_ctx, station_home, sqlite_url, monkeypatch)
    data["boss"] = add_user(sqlite_ctx, "mia", "manager", "3333")
    return sqlite_ctx, data


def manager_app(ctx, user):
    app = make_app(ctx, user)
    app._enter = lambda: (app.login_done(user), app.open_area("reports"))
    return app


def text(app, sel) -> str:
    return str(app.screen.query_one(sel).render())


def rows(app) -> list[list[str]]:
    t = app.screen.query_one(DataTable)
    return [[str(c) for c in t.get_row_at(i)] for i in range(t.row_count)]


async def shown(pilot):
    """The report the last key asked for is on screen."""
    def done():
        s = pilot.app.screen
        return isinstance(s, ReportsScreen) and s.asked and s.shown == s.asked
    await wait_for(pilot, done, 30, "the report asked for")
    return pilot.app.screen


async def test_reports_screen_figures_breakdowns_and_exports(shop):
    ctx, data = shop
    app = manager_app(ctx, data["boss"])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ReportsScreen), 30, "the reports screen")
        await shown(pilot)                       # today (a real day: nothing sold)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, RangeDialog), 10, "the range dialog")
        for key in ["ctrl+a", "ctrl+k", *"2026-03-28", "enter", "ctrl+a", "ctrl+k", *"2026-03-30", "enter"]:
            await pilot.press(key)
        s = await shown(pilot)
        assert "Sales  2026-03-28 .. 2026-03-30  by day" in text(app, "#rp-title")
        figs = text(app, "#rp-figures")
        for part in ("Gross 28.66", "Discounts 1.38", "Sales 27.28", "Refunds 8.99", "Net sales 18.29",
                     "Tickets 4", "Avg ticket 6.82", "Items/tkt 2.50", "Line voids 1", "Line v val 2.49"):
            assert part in figs, part
        assert [r[:4] for r in rows(app)] == [["2026-03-28", "Sat", "2", "14.91"], ["2026-03-29", "Sun", "1", "9.16"],
                                              ["2026-03-30", "Mon", "1", "3.21"]]
        assert app.screen.query_one(Sparkline).data == [1491, 916, 321]
        assert "sales per day: 03-28 .. 03-30, highest 14.91" in text(app, "#rp-plot-label")
        await pilot.press("b")                      # by hour
        await shown(pilot)
        hours = {r[0]: r[2] for r in rows(app) if r[1] != "0"}
        assert hours == {"03": "3.54", "04": "9.16", "10": "11.37", "12": "3.21"}
        for _ in range(4):                          # weekday, terminal, cashier, method
            await pilot.press("b")
        await shown(pilot)
        assert [r[:5] for r in rows(app)] == [["card", "2", "8.54", "0.00", "8.54"], ["cash", "3", "18.74", "8.99", "9.75"]]
        await pilot.press("e")
        csv_path = ctx.config.data_dir / "exports" / "sales-method-2026-03-28-2026-03-30.csv"
        assert f"exported to {csv_path}" in s.last_message
        got = {r["method"]: r["net"] for r in csv.DictReader(io.StringIO(csv_path.read_text()))}
        assert got == {"cash": "9.75", "card": "8.54"}
        await pilot.press("j")
        doc = json.loads(csv_path.with_suffix(".json").read_text())
        assert {f["key"]: f["value"] for f in doc["figures"]}["net"] == 1829
        assert (csv_path.stat().st_mode & 0o777) == 0o600
        await pilot.press("4")                      # profit by product
        await shown(pilot)
        assert "Margin 5.00" in text(app, "#rp-figures")
        assert [(r[0], r[4]) for r in rows(app)] == [("W1", "1.80"), ("M1", "1.42"), ("B1", "1.33"), ("12345", "0.45")]
        await pilot.press("2")                      # top products by net sales, with the trend
        await shown(pilot)
        first = rows(app)[0]
        assert first[1:3] == ["W1", "Red wine"] and first[7] == "8.09" and first[10] == "██▁"
        await pilot.press("6")                      # tax
        await shown(pilot)
        assert [(r[0], r[3], r[-1]) for r in rows(app)] == [("7", "0.67", "0.67"), ("19", "2.73", "1.29")]
        await pilot.press("7")
        await shown(pilot)
        assert "stock is not tracked in this store yet" in text(app, "#rp-figures")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ReportsScreen), 10, "back")


async def test_dashboard_today_panel(shop, monkeypatch):
    ctx, data = shop
    data["clock"].at(z(2026, 3, 30, 14, 30))      # Monday 16:30 CEST
    import station.reporting.service as service
    real = service.dashboard
    monkeypatch.setattr(service, "dashboard", lambda c, u, now=None: real(c, u, now=data["clock"].now))
    app = make_app(ctx, data["boss"])
    app._enter = lambda: app.login_done(data["boss"])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "Sales" in str(app.screen.query_one("#today-figures", Static).render())
                       if app.screen.query("#today-figures") else False, 30, "the Today panel")
        figs = str(app.screen.query_one("#today-figures", Static).render())
        assert "Sales 3.21 (0.00)" in figs and "Tickets 1 (0)" in figs and "Refunds 8.99" in figs
        assert "2026-03-23" in str(app.screen.query_one("#today-title").render())
        assert app.screen.query_one("#today-plot", Sparkline).data[8] == 321     # 04h .. 16h: 12h is the 9th
        assert app.screen.query_one("#dash-today").region.bottom <= 22            # above the key bar at 80x24
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportsScreen), 10, "reports from the dashboard")
