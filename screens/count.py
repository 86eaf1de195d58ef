"""Counting cash per denomination (opening float, blind close).

``CountScreen(title, denominations, fmt=None, note="")`` is a full screen
(fits 80x24 with 15 denominations) that dismisses with ``{denomination:
quantity}`` or ``None`` (Escape). One row per configured note and coin; type
the number of pieces and Enter to go to the next row (Up/Down move too); a
running total is kept. All keys go to ONE entry field that edits the current
row, so keys typed faster than the screen repaints never land on the wrong row.
Enter on the last row, or F10, finishes. A blind close
never shows the expected figure: this screen does not know it.

Validation of every quantity is :func:`station.drawer.parse_quantity` (the
service validates again): a bad row is named, focused, and nothing is returned.
"""
from __future__ import annotations

from typing import Callable

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from screens.base import StationScreen
from screens.widgets import KeyFooter
from station.drawer import parse_quantity
from station.errors import StationError


def default_fmt(minor: int) -> str:
    whole, frac = divmod(minor, 100)
    return f"{whole}.{frac:02d}"


class CountEntry(Input):
    """The ONE field all counting keys go to. Enter, Up and Down are handled in
    its own key handler, synchronously, so a fast typist (or keys arriving in a
    burst over SSH) can never have a digit land on the wrong row: there is no
    focus change in flight between keys."""

    NAV_KEYS = ("enter", "up", "down")
    EDIT_KEYS = ("backspace", "delete")

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if key in self.NAV_KEYS or key in self.EDIT_KEYS:
            return True
        return super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        if event.key in self.NAV_KEYS:
            event.stop()
            event.prevent_default()
            self.screen.navigate(event.key)   # type: ignore[attr-defined]
            return
        if event.key in self.EDIT_KEYS:
            # handled here, in key order, not by a binding (bindings can run
            # ahead of the keys still queued for this field)
            event.stop()
            event.prevent_default()
            if event.key == "backspace":
                self.action_delete_left()
            else:
                self.action_delete_right()
            return


class CountRow(Horizontal):
    DEFAULT_CSS = """
    CountRow { height: 1; }
    CountRow .count-den { width: 12; content-align: right middle; padding: 0 1 0 0; }
    CountRow .count-qty { width: 10; padding: 0 1; background: $boost; }
    CountRow.current .count-qty { background: $accent 40%; text-style: bold; }
    CountRow.current .count-den { text-style: bold; }
    CountRow .count-amount { width: 16; content-align: right middle; }
    CountRow .count-error { width: 1fr; color: $error; padding: 0 0 0 1; }
    """

    def __init__(self, denomination: int, fmt: Callable[[int], str], value: str = "") -> None:
        super().__init__(id=f"row-{denomination}")
        self.denomination = denomination
        self.fmt = fmt
        self.value = value

    def compose(self) -> ComposeResult:
        yield Label(self.fmt(self.denomination), classes="count-den")
        yield Label(self.value, classes="count-qty", id=f"qty-{self.denomination}")
        yield Label("", classes="count-amount", id=f"amt-{self.denomination}")
        yield Label("", classes="count-error", id=f"err-{self.denomination}")


class CountScreen(StationScreen):
    """Count the drawer. Dismisses with {denomination: quantity} or None."""

    DEFAULT_CSS = """
    CountScreen { layout: vertical; }
    CountScreen #count-title { height: 1; text-style: bold; padding: 0 1; }
    CountScreen #count-note { height: auto; color: $text-muted; padding: 0 1; }
    CountScreen #count-rows { height: auto; }
    CountScreen #count-entry-row { height: 1; }
    CountScreen #count-entry-label { width: 24; content-align: right middle; padding: 0 1 0 0; }
    CountScreen #count-entry { width: 14; height: 1; border: none; padding: 0 1; background: $accent 40%; }
    CountScreen #count-total { height: 1; text-style: bold; color: $success; padding: 0 1; }
    CountScreen #count-error { height: auto; color: $error; text-style: bold; padding: 0 1; }
    """

    BINDINGS = [
        Binding("f10", "done", "Done", id="count_done"),
        Binding("escape", "cancel", "Cancel", id="count_cancel"),
    ]

    def __init__(self, title: str, denominations: list[int], fmt: Callable[[int], str] | None = None,
                 note: str = "", initial: dict[int, int] | None = None) -> None:
        super().__init__()
        self.count_title = title
        self.denominations = list(denominations)
        self.fmt = fmt or default_fmt
        self.note = note
        self.initial = initial or {}
        self.values: dict[int, str] = {d: ("" if not self.initial.get(d) else str(self.initial[d]))
                                       for d in self.denominations}
        self.index = 0
        self.last_error: str | None = None

    def help_name(self) -> str:
        return self.count_title

    @property
    def current(self) -> int | None:
        return self.denominations[self.index] if self.denominations else None

    def compose(self) -> ComposeResult:
        yield Label(self.count_title, id="count-title")
        if self.note:
            yield Static(self.note, id="count-note")
        with Vertical(id="count-rows"):
            for d in self.denominations:
                yield CountRow(d, self.fmt, self.values[d])
        with Horizontal(id="count-entry-row"):
            yield Label("", id="count-entry-label")
            yield CountEntry("", id="count-entry", max_length=12)
        yield Label("", id="count-total")
        yield Static("", id="count-error")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._go(0)
        self.entry.focus()

    # ------------------------------------------------------------ helpers ---
    @property
    def entry(self) -> CountEntry:
        return self.query_one("#count-entry", CountEntry)

    def _text(self, d: int) -> str:
        """The row's typed text; the current row's lives in the entry field."""
        if d == self.current and self.is_mounted:
            return self.entry.value
        return self.values[d]

    def _row_value(self, d: int) -> int | None:
        """The row's quantity, or None when it is not a valid count."""
        try:
            return parse_quantity(self._text(d))
        except StationError:
            return None

    def _store(self) -> None:
        if self.current is not None:
            self.values[self.current] = self.entry.value
            self.query_one(f"#qty-{self.current}", Label).update(self.entry.value)

    def _go(self, i: int) -> None:
        """Make row ``i`` current: the entry now edits it (synchronously)."""
        if not self.denominations:
            return
        for j, d in enumerate(self.denominations):
            self.query_one(f"#row-{d}", CountRow).set_class(j == i, "current")
        self.index = i
        d = self.denominations[i]
        self.entry.value = self.values[d]
        self.entry.cursor_position = len(self.entry.value)
        self.query_one("#count-entry-label", Label).update(f"pieces of {self.fmt(d)}:")
        self._refresh_total()

    def _refresh_total(self) -> None:
        total, bad = 0, 0
        for d in self.denominations:
            q = self._row_value(d)
            if q is None:
                bad += 1
                self.query_one(f"#amt-{d}", Label).update("?")
            else:
                total += d * q
                self.query_one(f"#amt-{d}", Label).update(self.fmt(d * q) if q else "")
        text = f"Total counted: {self.fmt(total)}"
        if bad:
            text += f"   ({bad} row{'s' if bad > 1 else ''} to fix)"
        self.query_one("#count-total", Label).update(text)

    def total(self) -> int:
        return sum(d * (self._row_value(d) or 0) for d in self.denominations)

    def _show_error(self, d: int | None, message: str) -> None:
        self.last_error = message or None
        self.query_one("#count-error", Static).update(message)
        for x in self.denominations:
            self.query_one(f"#err-{x}", Label).update("")
        if d is not None:
            self.query_one(f"#err-{d}", Label).update("!")

    def _check_row(self, d: int) -> bool:
        try:
            parse_quantity(self._text(d), denomination=d, ctx=getattr(self.app, "ctx", None))
        except StationError as e:
            self._show_error(d, str(e))
            self.app.bell()
            return False
        self._show_error(None, "")
        return True

    # ------------------------------------------------------------- events ---
    @on(Input.Changed, "#count-entry")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._refresh_total()

    def navigate(self, key: str) -> None:
        """Enter (check the row, then next row; on the last row: done), Up, Down.
        Called synchronously from the entry's key handler."""
        if not self.denominations:
            return
        self._store()
        i = self.index
        if key == "enter":
            if not self._check_row(self.denominations[i]):
                return
            if i + 1 < len(self.denominations):
                self._go(i + 1)
            else:
                self.action_done()
        else:
            self._go(max(0, min(len(self.denominations) - 1, i + (1 if key == "down" else -1))))

    def action_done(self) -> None:
        self._store()
        out = {}
        for i, d in enumerate(self.denominations):
            if not self._check_row(d):
                if i != self.index:
                    self._go(i)
                return
            out[d] = parse_quantity(self.values[d])
        self.dismiss(out)

    def action_cancel(self) -> None:
        self.dismiss(None)
