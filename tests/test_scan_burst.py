"""Scanner bursts as raw key events.

A scanner types 8-20 characters and a suffix in a few ms. Keys are posted as
``events.Key`` messages from a thread, 2 ms per character, back to back (pilot.press
waits for idle after each key and cannot imitate a scanner)."""
from __future__ import annotations

import asyncio

import pytest
from textual import events, on
from textual.app import App
from textual.widgets import Input

from data.models import TicketLine
from screens.ticket_lines import TicketLines
from screens.widgets import GS, GS_SHOWN, ScanField
from tests.sale_ui_support import add_products, catalog_record, make_app, sale_screen, type_burst, wait_for


class ScanHost(App):
    """A scan field and a second input (so a Tab that moved focus would show)."""

    def __init__(self, suffixes):
        super().__init__()
        self.suffixes = suffixes
        self.got: list[str] = []

    def compose(self):
        yield ScanField(id="scan", suffixes=self.suffixes)
        yield Input(id="other")

    def on_mount(self):
        self.query_one("#scan").focus()

    @on(ScanField.Scanned)
    def _got(self, event):
        self.got.append(event.code)


def ean(i: int) -> str:
    from station.catalog import with_check_digit
    return with_check_digit(f"20{i:010d}")


@pytest.mark.parametrize("suffix", ["enter", "ctrl+j", "tab"])
async def test_scan_burst_each_suffix_in_order(suffix):
    """CR, LF and Tab suffixes (the 200-scan burst through the sale screen is below)."""
    app = ScanHost(["enter", "ctrl+j", "tab"])
    codes = [ean(i) for i in range(60)]
    async with app.run_test() as pilot:
        t = type_burst(app, codes, suffix=suffix, char_delay=0.002)
        while t.is_alive():
            await asyncio.sleep(0.05)
        await wait_for(pilot, lambda: len(app.got) >= len(codes), 120, "all scans")
        assert app.got == codes
        assert app.focused is app.query_one("#scan")       # Tab as suffix never moves focus
        assert app.query_one("#scan", ScanField).value == ""


async def test_unconfigured_suffixes():
    # only CR configured: LF is dropped (never part of a code), Tab moves focus as usual
    app = ScanHost(["enter"])
    async with app.run_test() as pilot:
        type_burst(app, ["123"], suffix="ctrl+j").join()
        await pilot.pause()
        assert app.got == [] and app.query_one("#scan", ScanField).value == "123"
        type_burst(app, ["4"], suffix="enter").join()
        await pilot.pause()
        assert app.got == ["1234"]
        type_burst(app, ["55"], suffix="tab").join()
        await pilot.pause()
        assert app.got == ["1234"]
        assert app.focused is app.query_one("#other")


async def test_group_separator_rule():
    """GS (0x1D): leading/trailing = FNC1 markers, dropped; inner = GS1 field
    separator, kept (shown as the GS symbol, posted as 0x1D)."""
    app = ScanHost(["enter"])
    async with app.run_test() as pilot:
        field = app.query_one("#scan", ScanField)

        def gs():
            app.post_message(events.Key("ctrl+right_square_bracket", GS))

        gs()
        for ch in "0104012345678901":
            app.post_message(events.Key(ch, ch))
        gs()
        for ch in "10ABC":
            app.post_message(events.Key(ch, ch))
        await pilot.pause()
        assert field.value == "0104012345678901" + GS_SHOWN + "10ABC"
        gs()
        app.post_message(events.Key("enter", "\r"))
        await pilot.pause()
        assert app.got == ["0104012345678901" + GS + "10ABC"]
        assert field.value == ""


async def test_paste_takes_first_line_and_does_not_submit():
    app = ScanHost(["enter"])
    async with app.run_test() as pilot:
        app.query_one("#scan").post_message(events.Paste("4006381333931\n5449000000996\n"))
        await pilot.pause()
        assert app.query_one("#scan", ScanField).value == "4006381333931"
        assert app.got == []
        await pilot.press("enter")
        assert app.got == ["4006381333931"]


async def test_changed_never_looks_anything_up(sqlite_ctx, monkeypatch):
    """Typing (Changed per character) calls nothing; only the suffix does."""
    from station import sale
    from tests.conftest import add_user
    add_products(sqlite_ctx)
    user = add_user(sqlite_ctx, "carla", "cashier", "1111")
    calls = []
    real = sale.scan
    monkeypatch.setattr(sale, "scan", lambda *a, **k: (calls.append(a[2]), real(*a, **k))[1])
    app = make_app(sqlite_ctx, user)
    async with app.run_test() as pilot:
        s = await sale_screen(pilot)
        for ch in "40063813339":
            app.post_message(events.Key(ch, ch))
        await pilot.pause()
        await asyncio.sleep(0.2)
        assert calls == []
        for ch in "31":
            app.post_message(events.Key(ch, ch))
        app.post_message(events.Key("enter", "\r"))
        await wait_for(pilot, lambda: s.view is not None and s.runner.pending == 0)
        assert calls == ["4006381333931"]


# ------------------------------------------------- through the sale screen ---

@pytest.fixture
def big_store(sqlite_ctx):
    from station import catalog
    from tests.conftest import add_user
    rows = [(i + 2, catalog_record({"sku": f"B{i:04d}", "barcode": ean(i), "name": f"Burst item {i:03d}",
                                    "price": f"{1 + i % 7}.{i % 100:02d}", "vat_rate": "19" if i % 2 else "7",
                                    "unit": "pc", "category": "", "active": "1"})) for i in range(200)]
    assert catalog.import_records(sqlite_ctx, rows, strict=True).committed
    user = add_user(sqlite_ctx, "carla", "cashier", "1111")
    return sqlite_ctx, user


def db_codes():
    return [ln.code for ln in TicketLine.select().order_by(TicketLine.position)]


async def test_200_scans_burst_land_as_200_lines_in_order(big_store):
    ctx, user = big_store
    codes = [ean(i) for i in range(200)]
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        t = type_burst(app, codes, suffix="enter", char_delay=0.002)
        while t.is_alive():
            await asyncio.sleep(0.05)
        await wait_for(pilot, lambda: s.runner.pending == 0 and s.view is not None
                       and len(s.view.lines) == 200, 30, "200 lines")
        assert [ln.code for ln in s.view.lines] == codes
        table = s.query_one("#sale-lines", TicketLines)
        assert table.row_count == 200
        assert [str(table.get_row_at(i)[1]) for i in (0, 199)] == ["Burst item 000", "Burst item 199"]
        assert s.misses == []
    assert db_codes() == codes


async def test_burst_of_20_while_the_lookups_are_stuck(big_store, monkeypatch):
    """A slow database: every lookup waits at a gate the test holds shut. The
    whole burst still reaches the screen (the UI is not blocked by the lookups:
    all 20 scans are queued and it says it is waiting), none is lost or
    reordered once the gate opens."""
    import threading
    from station import sale
    ctx, user = big_store
    real = sale._lookup_barcode
    gate = threading.Event()

    def stuck(code):
        assert gate.wait(60), "the test never opened the gate"
        return real(code)
    monkeypatch.setattr(sale, "_lookup_barcode", stuck)
    codes = [ean(i) for i in (5, 3, 9, 3, 1, 0, 199, 42, 42, 42, 7, 8, 100, 101, 5, 6, 150, 2, 77, 3)]
    app = make_app(ctx, user)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        t = type_burst(app, codes, suffix="tab", char_delay=0.002)
        while t.is_alive():
            await asyncio.sleep(0.05)
        # the first lookup is stuck in the worker; the UI took every key meanwhile
        await wait_for(pilot, lambda: s.runner.pending == 20, 120, "20 scans queued")
        busy = str(s.query_one("#sale-busy").render())
        assert "looking up 20 scans" in busy, busy
        gate.set()
        await wait_for(pilot, lambda: s.runner.pending == 0, 120, "20 scans looked up")
        assert str(s.query_one("#sale-busy").render()) == ""
        assert s.misses == []
    # merge_lines on: a repeated code adds to its line; the order of first appearance
    # and every count are kept
    lines = list(TicketLine.select().order_by(TicketLine.position))
    first_seen = list(dict.fromkeys(codes))
    assert [ln.code for ln in lines] == first_seen
    assert {ln.code: ln.qty // 1000 for ln in lines} == {c: codes.count(c) for c in first_seen}
