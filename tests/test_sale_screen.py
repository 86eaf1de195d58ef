"""Sale screen through the Textual pilot on a real SQLite store."""
from __future__ import annotations

import pytest

from data.models import Ticket, TicketLine
from screens.sale import SaleScreen
from screens.ticket_lines import TicketLines
from screens.widgets import ScanField
from tests.sale_ui_support import (
    CHOC, COLA, PENCIL, add_products, make_app, sale_screen, type_burst, wait_for,
)


@pytest.fixture
def store(sqlite_ctx):
    from tests.conftest import add_user
    add_products(sqlite_ctx)
    cashier = add_user(sqlite_ctx, "carla", "cashier", "1111")
    manager = add_user(sqlite_ctx, "mia", "manager", "3333")
    return sqlite_ctx, cashier, manager


async def settle(pilot, screen, timeout=10):
    await wait_for(pilot, lambda: screen.runner.pending == 0, timeout, "the serial queue to drain")


def table_rows(screen):
    t = screen.query_one("#sale-lines", TicketLines)
    return [t.get_row_at(i) for i in range(t.row_count)]


async def scan(pilot, screen, code):
    type_burst(pilot.app, [code], char_delay=0).join()
    await pilot.pause()
    await settle(pilot, screen)


async def test_scan_adds_lines_and_totals(store):
    ctx, cashier, _ = store
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
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


def bells(app):
    rung = []
    app.bell = lambda: rung.append(1)
    return rung


async def test_unknown_and_invalid_codes_go_to_the_miss_list(store):
    ctx, cashier, _ = store
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        rung = bells(app)
        await settle(pilot, s)
        await scan(pilot, s, PENCIL)
        before = [(ln.id, ln.qty, ln.unit_price) for ln in TicketLine.select()]
        await scan(pilot, s, "999999")             # unknown
        await scan(pilot, s, "4006381333932")      # wrong check digit
        await scan(pilot, s, "3*")                 # malformed quantity
        assert s.misses == ["999999", "4006381333932", "3*"]
        misses = str(s.query_one("#sale-misses").render())
        assert "999999" in misses and "4006381333932" in misses
        assert "Not found (3)" in str(s.query_one("#sale-misses-title").render())
        status = str(s.query_one("#sale-status").render())
        assert "3*" in status
        assert len(rung) == 3
        field = s.query_one(ScanField)
        assert field.value == "" and app.focused is field
        assert [(ln.id, ln.qty, ln.unit_price) for ln in TicketLine.select()] == before
        assert Ticket.select().count() == 1
        assert len(table_rows(s)) == 1
        await scan(pilot, s, COLA)                 # the next scan works at once
        assert len(table_rows(s)) == 2


async def test_quantity_star_code_and_quantity_key(store):
    from screens.widgets import PromptDialog
    ctx, cashier, _ = store
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        await settle(pilot, s)
        await scan(pilot, s, "3*" + PENCIL)
        await scan(pilot, s, COLA)
        assert [r[2] for r in table_rows(s)] == ["3", "1"]
        # the cursor is on the last line (Cola); Up selects the pencil
        await pilot.press("up")
        assert s.selected_line().name == "Pencil HB"
        await pilot.press("5", "f3")              # typed number + F3: quantity of the selected line
        await settle(pilot, s)
        assert [r[2] for r in table_rows(s)] == ["5", "1"]
        assert s.query_one(ScanField).value == ""
        await pilot.press("down", "f3")           # empty field: a prompt
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        dlg = app.screen
        dlg.query_one("Input").value = ""
        await pilot.press("a", "b", "c", "enter")  # bad quantity: message, dialog stays
        assert app.screen is dlg and "quantity" in str(dlg.query_one("#prompt-error").render())
        dlg.query_one("Input").value = ""
        await pilot.press("4", "enter")
        await wait_for(pilot, lambda: app.screen is s)
        await settle(pilot, s)
        assert [r[2] for r in table_rows(s)] == ["5", "4"]
        assert s.view.total == 5 * 120 + 4 * 149
    assert [ln.qty for ln in TicketLine.select().order_by(TicketLine.position)] == [5000, 4000]


async def test_void_line(store):
    ctx, cashier, _ = store
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        await settle(pilot, s)
        for c in (PENCIL, COLA, CHOC):
            await scan(pilot, s, c)
        await pilot.press("up")                   # Cola
        await pilot.press("f4")
        await settle(pilot, s)
        assert s.view.total == 120 + 229
        voided = [ln.name for ln in TicketLine.select().where(TicketLine.voided == True)]  # noqa: E712
        assert voided == ["Cola 0.5l"]
        assert len(table_rows(s)) == 3            # shown struck through, total 0
        assert table_rows(s)[1][4] == "0.00"
        rung = bells(app)
        await pilot.press("f4")                   # the voided line is not selectable for a change
        assert rung and "select a line" in str(s.query_one("#sale-status").render())


async def test_search_and_pick(store):
    from screens.search import SearchScreen
    from station import catalog
    from tests.sale_ui_support import catalog_record
    ctx, cashier, _ = store
    extra = [(20 + i, catalog_record({"sku": sku, "name": name, "price": "1.00", "vat_rate": "7", "unit": "pc",
                                      "active": "1"}))
             for i, (sku, name) in enumerate([("2001", "Chocolate bar"), ("2002", "Chocolate cookies")])]
    assert catalog.import_records(ctx, extra, strict=True).committed
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        await settle(pilot, s)
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
        srch = app.screen
        await pilot.press("b", "r")
        await wait_for(pilot, lambda: srch.searched_for == "br", what="search results")
        assert [r[1] for r in srch.results] == ["Bread roll"]
        srch.query_one("Input").value = ""
        await pilot.press("e")                    # Eraser; the chocolate has no word starting with e
        await wait_for(pilot, lambda: srch.searched_for == "e")
        names = [r[1] for r in srch.results]
        assert names == ["Eraser"]
        srch.query_one("Input").value = ""
        await pilot.press("p", "e", "n")
        await wait_for(pilot, lambda: srch.searched_for == "pen")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is s)
        await settle(pilot, s)
        assert [r[1] for r in table_rows(s)] == ["Pencil HB"]
        assert app.focused is s.query_one(ScanField)
        # arrows move in the results, Enter picks the highlighted one
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
        srch = app.screen
        await pilot.press("c", "h", "o", "c")
        await wait_for(pilot, lambda: srch.searched_for == "choc")
        assert [r[1] for r in srch.results] == ["Chocolate bar", "Chocolate cookies", "Dark Chocolate"]
        await pilot.press("down", "down", "up", "down", "enter")
        await wait_for(pilot, lambda: app.screen is s)
        await settle(pilot, s)
        assert [r[1] for r in table_rows(s)] == ["Pencil HB", "Dark Chocolate"]
        # Escape cancels: nothing added
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, SearchScreen))
        await pilot.press("b", "escape")
        await wait_for(pilot, lambda: app.screen is s)
        await settle(pilot, s)
        assert len(table_rows(s)) == 2


async def test_park_and_resume(store):
    from screens.widgets import PickDialog
    ctx, cashier, _ = store
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        await settle(pilot, s)
        await scan(pilot, s, PENCIL)
        await scan(pilot, s, COLA)
        parked_id = s.view.id
        await pilot.press("f8")
        await settle(pilot, s)
        assert s.view is None and table_rows(s) == []
        assert Ticket.get_by_id(parked_id).status == "parked"
        await scan(pilot, s, CHOC)                # serve the next customer
        await pilot.press("f9")                   # refused: this ticket is not finished
        assert "park or finish" in str(s.query_one("#sale-status").render())
        await pilot.press("f8")
        await settle(pilot, s)
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, PickDialog))
        await pilot.press("enter")                # the first parked ticket (oldest)
        await wait_for(pilot, lambda: app.screen is s)
        await settle(pilot, s)
        assert s.view.id == parked_id
        assert [r[1] for r in table_rows(s)] == ["Pencil HB", "Cola 0.5l"]
    assert Ticket.get_by_id(parked_id).status == "open"


async def test_open_ticket_restored_on_mount(store):
    from station import sale
    ctx, cashier, _ = store
    sale.scan(ctx, cashier, PENCIL)
    sale.scan(ctx, cashier, "2*" + COLA)
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        await settle(pilot, s)
        assert [(r[1], r[2]) for r in table_rows(s)] == [("Pencil HB", "1"), ("Cola 0.5l", "2")]
        assert s.view.total == 120 + 298
        assert "restored" in str(s.query_one("#sale-status").render())


async def test_price_override_needs_a_manager(store):
    from screens.approval import ApprovalDialog
    from screens.widgets import PromptDialog
    ctx, cashier, manager = store
    ctx.config.set("security.totp_roles", [])      # PIN-only approvers for this test
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        await settle(pilot, s)
        await scan(pilot, s, PENCIL)
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        await pilot.press("0", ".", "9", "9", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalDialog), what="approval dialog")
        dlg = app.screen
        assert dlg.action == "sale.price_override" and dlg.amount == 99
        await pilot.press("escape")               # cancelled: nothing changes
        await wait_for(pilot, lambda: app.screen is s)
        assert TicketLine.get().unit_price == 120
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        await pilot.press("0", ".", "9", "9", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalDialog))
        await pilot.press("m", "i", "a", "enter", "3", "3", "3", "3", "enter")
        await wait_for(pilot, lambda: app.screen is s, what="approved")
        await settle(pilot, s)
        assert s.view.lines[0].unit_price == 99 and s.view.lines[0].price_override
    ln = TicketLine.get()
    assert ln.unit_price == 99 and ln.price_override


async def test_line_discount_within_the_cashier_limit(store):
    from screens.widgets import PromptDialog
    ctx, cashier, _ = store
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        await settle(pilot, s)
        await scan(pilot, s, "10*" + PENCIL)
        await pilot.press("f6")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptDialog))
        await pilot.press("5", "enter")
        await wait_for(pilot, lambda: app.screen is s)
        await settle(pilot, s)
        assert s.view.total == 1200 - 60


SALE_IDS = {"sale_search", "sale_quantity", "sale_void_line", "sale_price_override", "sale_discount_line",
            "sale_discount_ticket", "sale_park", "sale_resume", "sale_tender", "sale_void_ticket",
            "sale_reprint", "sale_line_up", "sale_line_down", "sale_back"}


async def test_every_key_has_an_id_in_help_and_footer(store):
    from textual.widgets import Footer
    from screens.help import HelpScreen
    ctx, cashier, _ = store
    assert {b.id for b in SaleScreen.BINDINGS} == SALE_IDS
    for b in SaleScreen.BINDINGS:      # F-keys and plain keys only (they survive SSH)
        assert not any(k.startswith(("ctrl+", "alt+", "shift+")) for k in b.key.split(","))
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        footer = s.query_one(Footer)
        shown = {b.id for b in SaleScreen.BINDINGS if b.show}
        keys_in_footer = {w.key for w in footer.query("FooterKey")}
        assert {b.key for b in SaleScreen.BINDINGS if b.show} <= keys_in_footer
        for w in footer.query("FooterKey"):   # all visible at 80 columns
            assert w.region.right <= 80 and w.region.width >= len(w.description) + 2
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        ids = {row[2] for row in app.screen.rows}
        assert SALE_IDS <= ids and shown <= ids


async def test_keymap_remaps_a_sale_key(store):
    from screens.tender import TenderScreen
    ctx, cashier, _ = store
    ctx.config.set("keymap.bindings", {"sale_tender": "pagedown"})
    from tests.sale_ui_support import open_drawer
    open_drawer(ctx, cashier)
    app = make_app(ctx, cashier)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        await scan(pilot, s, PENCIL)
        await pilot.press("f10")                  # no longer the tender key
        await pilot.pause()
        assert app.screen is s
        await pilot.press("pagedown")
        await wait_for(pilot, lambda: isinstance(app.screen, TenderScreen), what="tender via remapped key")
