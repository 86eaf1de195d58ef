"""Sale screen through the Textual pilot on a real SQLite store (engineer E)."""
from __future__ import annotations

import pytest
from textual.widgets import DataTable

from data.models import Ticket, TicketLine
from screens.sale import SaleScreen
from screens.widgets import ScanField
from tests.sale_ui_support import (
    CHOC, COLA, ERASER, PENCIL, add_products, make_app, type_burst, wait_for,
)


@pytest.fixture
def store(sqlite_ctx):
    from tests.conftest import add_user
    add_products(sqlite_ctx)
    cashier = add_user(sqlite_ctx, "carla", "cashier", "1111")
    manager = add_user(sqlite_ctx, "mia", "manager", "3333")
    return sqlite_ctx, cashier, manager


def sale_screen(app) -> SaleScreen:
    s = app.screen
    assert isinstance(s, SaleScreen), s
    return s


async def settle(pilot, screen, timeout=10):
    await wait_for(pilot, lambda: screen.runner.pending == 0, timeout, "the serial queue to drain")


def table_rows(screen):
    t = screen.query_one("#sale-lines", DataTable)
    return [[str(c) for c in t.get_row(k)] for k in t.rows]


async def scan(pilot, screen, code):
    type_burst(pilot.app, [code], char_delay=0).join()
    await pilot.pause()
    await settle(pilot, screen)


async def test_scan_adds_lines_and_totals(store):
    ctx, cashier, _ = store
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = sale_screen(app)
        await settle(pilot, s)
        assert app.focused is s.query_one(ScanField)
        for code in (PENCIL, COLA, PENCIL, CHOC):
            await scan(pilot, s, code)
        rows = table_rows(s)
        assert [r[1] for r in rows] == ["Pencil HB", "Cola 0.5l", "Dark Chocolate"]
        assert rows[0][2] == "2" and rows[0][4] == "2.40"
        assert s.view.total == 240 + 149 + 229
        assert s.query_one("#sale-total").value == "6.18"
        side = str(s.query_one("#sale-totals").render())
        assert "VAT 19%" in side and "VAT 7%" in side
        assert app.focused is s.query_one(ScanField)
