"""The scan field caps a code's length (case 8 of issue 15): a 10,000-character
paste froze the field for 24 s and Enter then sent it; now longer input is refused
at once with a short message, and the Enter after it sends nothing."""
from __future__ import annotations

import asyncio

from textual import events, on
from textual.app import App

from screens.widgets import ScanField


class ScanHost(App):
    def __init__(self):
        super().__init__()
        self.got: list[str] = []
        self.refused: list[str] = []

    def compose(self):
        yield ScanField(id="scan", suffixes=["enter"])

    def on_mount(self):
        self.query_one("#scan").focus()

    @on(ScanField.Scanned)
    def _got(self, event):
        self.got.append(event.code)

    def on_scan_field_refused(self, event):       # ScanField.Refused
        self.refused.append(event.reason)


async def test_a_10000_character_paste_is_refused_at_once():
    """Before: the field took it all and froze for 24 s; Enter then sent it."""
    app = ScanHost()
    async with app.run_test() as pilot:
        field = app.query_one("#scan", ScanField)
        field.post_message(events.Paste("7" * 10_000))
        await pilot.pause()
        assert field.value == "" and len(app.refused) == 1 and "too long" in app.refused[0]
        await pilot.press("enter")
        assert app.got == []                      # the Enter after refused input sends nothing
        await pilot.press(*"4006381333931", "enter")
        assert app.got == ["4006381333931"]


async def test_a_runaway_key_burst_is_refused_and_the_next_scan_works():
    app = ScanHost()
    async with app.run_test() as pilot:
        field = app.query_one("#scan", ScanField)
        for _ in range(2_000):
            field.post_message(events.Key("8", "8"))
        field.post_message(events.Key("enter", "\r"))
        for ch in "4006381333931":
            field.post_message(events.Key(ch, ch))
        field.post_message(events.Key("enter", "\r"))
        for _ in range(20):
            await asyncio.sleep(0.02)
            await pilot.pause()
            if app.got:
                break
        assert app.got == ["4006381333931"] and len(app.refused) == 1
        assert field.value == ""
