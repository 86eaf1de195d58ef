"""Helpers for the sale/tender screen tests: a real store with a few
products, the app logged in on the sale screen, scanner bursts as raw key events typed from a thread."""
from __future__ import annotations

import asyncio
import threading
import time

from textual import events


# (sku, barcode, name, price, vat %, unit)
PRODUCTS = [
    ("1001", "4006381333931", "Pencil HB", "1.20", "19", "pc"),
    ("1002", "5449000000996", "Cola 0.5l", "1.49", "19", "pc"),
    ("1003", "4000417025005", "Dark Chocolate", "2.29", "7", "pc"),
    ("1004", "4006381333948", "Eraser", "0.80", "19", "pc"),
    ("1005", "", "Bread roll", "0.45", "7", "pc"),
    ("1006", "", "Apples loose", "2.99", "7", "kg"),
]
PENCIL, COLA, CHOC, ERASER = "4006381333931", "5449000000996", "4000417025005", "4006381333948"


def catalog_record(rec: dict):
    """A record for ``catalog.import_records`` (texts in COLUMNS order)."""
    from station import catalog
    return tuple(rec.get(c, "") for c in catalog.COLUMNS)


def add_products(ctx, extra: list[tuple] | None = None):
    from station import catalog
    rows = []
    for i, (sku, code, name, price, vat, unit) in enumerate(PRODUCTS + (extra or []), start=2):
        rows.append((i, catalog_record({"sku": sku, "barcode": code, "name": name, "price": price,
                                        "vat_rate": vat, "unit": unit, "category": "", "active": "1"})))
    rep = catalog.import_records(ctx, rows, strict=True)
    assert rep.committed, rep.errors


def open_drawer(ctx, user, float_amount: int = 10000):
    from station import drawer
    return drawer.open_session(ctx, user, {float_amount: 1} if float_amount in ctx.config.cash.denominations
                               else {10000: 1}, kick=False)


def make_app(ctx, user):
    """The StationApp with ``user`` logged in and the "sale" area opened through
    ``open_area``. Tests wait for the sale screen with :func:`sale_screen`."""
    import screens.app as app_module
    from pathlib import Path

    from screens.app import StationApp

    class StationHost(StationApp):
        CSS_PATH = str(Path(app_module.__file__).parent / StationApp.CSS_PATH)

        def on_mount(self) -> None:
            self.call_after_refresh(self._enter)

        def _enter(self) -> None:
            self.login_done(user)
            self.open_area("sale")

    return StationHost(ctx)


async def sale_screen(pilot, timeout: float = 10.0):
    from screens.sale import SaleScreen
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SaleScreen), timeout, "the sale screen")
    s = pilot.app.screen
    await wait_for(pilot, lambda: s.runner.pending == 0, timeout, "the ticket restore")
    return s


def key_events(code: str, suffix: str = "enter"):
    chars = {"enter": "\r", "ctrl+j": "\n", "tab": "\t"}
    for ch in code:
        name = {"*": "asterisk", ".": "full_stop", ",": "comma"}.get(ch, ch)
        yield events.Key(name, ch)
    yield events.Key(suffix, chars.get(suffix))


def type_burst(app, codes, *, suffix: str = "enter", char_delay: float = 0.002) -> threading.Thread:
    """Type ``codes`` as a scanner would: raw key events posted from a thread,
    ``char_delay`` seconds per character, back to back."""
    def run():
        for code in codes:
            for ev in key_events(code, suffix):
                app.post_message(ev)
                time.sleep(char_delay)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


async def wait_for(pilot, cond, timeout: float = 120.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    await pilot.pause()
