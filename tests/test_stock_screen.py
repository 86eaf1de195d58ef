"""The stock screen and the sale screen's "unknown: F5 add" through the Textual
pilot on a real SQLite store; scanner bursts as raw key events from a thread."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from data.models import Product, TicketLine
from screens.stock import StockScreen
from station.stock import movements
from tests.sale_ui_support import (
    COLA, PENCIL, add_products, make_app, open_drawer, sale_screen, type_burst, wait_for,
)

NEW = "4012345678901"


@pytest.fixture
def store(sqlite_ctx):
    from tests.conftest import add_user
    sqlite_ctx.config.set("security.totp_roles", [])
    add_products(sqlite_ctx)
    cashier = add_user(sqlite_ctx, "carla", "cashier", "1111")
    manager = add_user(sqlite_ctx, "mia", "manager", "3333")
    return sqlite_ctx, cashier, manager


async def type_text(pilot, text: str) -> None:
    names = {" ": "space", ".": "full_stop", ",": "comma", "*": "asterisk"}
    await pilot.press(*[names.get(ch, ch) for ch in text])


async def settle(pilot, screen, timeout=10):
    await wait_for(pilot, lambda: screen.runner.pending == 0, timeout, "the serial queue to drain")


def status(screen) -> str:
    return str(screen.query_one("#sale-status").render())


async def test_unknown_barcode_added_by_a_manager_and_sold_at_once(store):
    ctx, _cashier, manager = store
    open_drawer(ctx, manager)
    app = make_app(ctx, manager)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        type_burst(app, [PENCIL, NEW], char_delay=0).join()
        await wait_for(pilot, lambda: "F5 add" in status(s), 10, "the unknown code")
        assert status(s) == f"unknown: {NEW}  F5 add"
        t0 = time.monotonic()
        await pilot.press("f5")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "AddProductDialog", 10, "the add dialog")
        await type_text(pilot, "Oat drink")
        await pilot.press("enter")
        await type_text(pilot, "1e9")
        await pilot.press("enter")
        assert "is not a price" in str(app.screen.query_one("#prompt-error").render())
        await pilot.press(*["backspace"] * 3)
        await type_text(pilot, "2.29")
        await pilot.press("enter")
        assert app.screen.query_one("#prompt-input").value == "19"       # the store's first VAT rate
        await pilot.press("backspace", "backspace", "7", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, type(s)), 10, "back on the sale screen")
        await settle(pilot, s)
        assert time.monotonic() - t0 < 60                                 # added and sold in the same minute
        p = Product.get(Product.sku == NEW)
        assert (p.name, p.price, p.vat_rate) == ("Oat drink", 229, 700)
        assert [(ln.name, ln.unit_price) for ln in TicketLine.select().order_by(TicketLine.position)] == [
            ("Pencil HB", 120), ("Oat drink", 229)]
        assert "Oat drink added to the catalog and rung up" in status(s)
        assert NEW not in s.misses


async def test_cashier_adds_with_a_managers_approval(store):
    ctx, cashier, _manager = store
    open_drawer(ctx, cashier)
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        type_burst(app, [NEW], char_delay=0).join()
        await wait_for(pilot, lambda: "F5 add" in status(s), 10, "the unknown code")
        await pilot.press("f5")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "AddProductDialog", 10, "the add dialog")
        await type_text(pilot, "Gum")
        await pilot.press("enter")
        await type_text(pilot, "0.99")
        await pilot.press("enter", "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ApprovalDialog", 10, "the approval")
        assert not Product.select().where(Product.sku == NEW).exists()
        await type_text(pilot, "mia")
        await pilot.press("enter")
        await type_text(pilot, "3333")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, type(s)), 10, "back on the sale screen")
        await wait_for(pilot, lambda: TicketLine.select().count() == 1, 10, "the new line")
        await settle(pilot, s)
        assert Product.get(Product.sku == NEW).vat_rate == 1900
        assert [ln.name for ln in TicketLine.select()] == ["Gum"]


def stock_app(ctx, user):
    import screens.app as app_module
    from screens.app import StationApp

    class Host(StationApp):
        CSS_PATH = str(Path(app_module.__file__).parent / StationApp.CSS_PATH)

        def on_mount(self) -> None:
            self.call_after_refresh(self._enter)

        def _enter(self) -> None:
            self.login_done(user)
            self.open_area("stock")

    return Host(ctx)


def message(screen) -> str:
    return str(screen.query_one("#st-message").render())


async def test_receive_count_and_find_on_the_stock_screen(store):
    ctx, _cashier, manager = store
    app = stock_app(ctx, manager)
    pencil = Product.get(Product.sku == "1001")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, StockScreen), 10, "the stock screen")
        s = app.screen
        await pilot.press("f3")
        type_burst(app, [f"12*{PENCIL}", PENCIL, COLA, COLA], char_delay=0.001).join()
        await wait_for(pilot, lambda: s.query_one("#st-table").row_count == 2 and "Cola" in message(s)
                       and sum(ln.qty for ln in s.delivery.lines) == 15000, 10, "the delivery lines")
        await pilot.press("f8")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "PromptDialog", 10, "the supplier")
        await pilot.press("enter")                                   # empty: refused, stays
        assert "name the supplier" in str(app.screen.query_one("#prompt-error").render())
        await type_text(pilot, "Paper Co")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "reference" in str(app.screen.query_one("#prompt-label").render()), 10,
                       "the delivery note")
        await type_text(pilot, "DN 5")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "posted" in message(s), 10, "the posting")
        assert movements.on_hand(pencil.id) == 13000
        slip = [str(s.query_one("#st-table").get_row_at(i)[0]) for i in range(s.query_one("#st-table").row_count)]
        assert any("RECEIVING SLIP" in x for x in slip) and any("Paper Co" in x for x in slip)

        await pilot.press("f4")
        assert "no count is open" in str(s.query_one("#st-info").render())
        await pilot.press("f9")
        await wait_for(pilot, lambda: s.count_id is not None, 10, "the count")
        type_burst(app, [f"10*{PENCIL}", PENCIL, COLA], char_delay=0.001).join()
        await wait_for(pilot, lambda: "Cola" in message(s), 10, "the count scans")
        assert "counted 1" in message(s)
        await pilot.press("f8")
        await wait_for(pilot, lambda: "completed" in message(s), 10, "the completion")
        assert movements.on_hand(pencil.id) == 11000
        assert movements.on_hand(Product.get(Product.sku == "1002").id) == 1000

        await pilot.press("f2")
        type_burst(app, [PENCIL], char_delay=0).join()
        await wait_for(pilot, lambda: "Pencil HB" in str(s.query_one("#st-info").render()), 10, "the product")
        assert "on hand 11" in str(s.query_one("#st-info").render())
        kinds = [str(s.query_one("#st-table").get_row_at(i)[1]) for i in range(s.query_one("#st-table").row_count)]
        assert kinds == ["count", "receipt"]
        await pilot.press("f6")                                      # a new price from the next scan on
        await wait_for(pilot, lambda: type(app.screen).__name__ == "PromptDialog", 10, "the price")
        await type_text(pilot, "1e9")
        await pilot.press("enter")
        assert "is not a price" in str(app.screen.query_one("#prompt-error").render())
        await pilot.press(*["backspace"] * 3)
        await type_text(pilot, "1.35")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "price changed" in message(s), 10, "the price change")
        assert Product.get_by_id(pencil.id).price == 135
        assert "price 1.35" in str(s.query_one("#st-info").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, StockScreen), 10, "back home")
