"""Counting cash per denomination (opening float, blind close).

``CountScreen(title, denominations, fmt=None, note="")`` is a full screen
(fits 80x24 with 15 denominations) that dismisses with ``{denomination:
quantity}`` or ``None`` (Escape). One row per configured note and coin; type
the number of pieces and Enter to go to the next row (Up/Down move too); a
running total is kept. Enter on the last row, or F10, finishes. A blind close
never shows the expected figure: this screen does not know it.

Validation of every quantity is :func:`station.drawer.parse_quantity` (the
service validates again): a bad row is named, focused, and nothing is returned.
"""
from __future__ import annotations

from typing import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static

from station.drawer import parse_quantity
from station.errors import StationError


def default_fmt(minor: int) -> str:
    whole, frac = divmod(minor, 100)
    return f"{whole}.{frac:02d}"


class CountRow(Horizontal):
    DEFAULT_CSS = """
    CountRow { height: 1; }
    CountRow .count-den { width: 12; content-align: right middle; padding: 0 1 0 0; }
    CountRow Input { width: 10; height: 1; border: none; padding: 0 1; background: $boost; }
    CountRow Input:focus { background: $accent 40%; }
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
        yield Input(self.value, id=f"qty-{self.denomination}", max_length=12, select_on_focus=True)
        yield Label("", classes="count-amount", id=f"amt-{self.denomination}")
        yield Label("", classes="count-error", id=f"err-{self.denomination}")


class CountScreen(Screen):
    """Count the drawer. Dismisses with {denomination: quantity} or None."""

    DEFAULT_CSS = """
    CountScreen { layout: vertical; }
    CountScreen #count-title { height: 1; text-style: bold; padding: 0 1; }
    CountScreen #count-note { height: auto; color: $text-muted; padding: 0 1; }
    CountScreen #count-rows { height: auto; }
    CountScreen #count-total { height: 1; text-style: bold; color: $success; padding: 0 1; margin-top: 1; }
    CountScreen #count-error { height: auto; color: $error; text-style: bold; padding: 0 1; }
    """

    BINDINGS = [
        Binding("f10", "done", "Done", id="count_done"),
        Binding("escape", "cancel", "Cancel", id="count_cancel"),
        Binding("up", "move(-1)", "Up", show=False, id="count_up"),
        Binding("down", "move(1)", "Down", show=False, id="count_down"),
    ]

    def __init__(self, title: str, denominations: list[int], fmt: Callable[[int], str] | None = None,
                 note: str = "", initial: dict[int, int] | None = None) -> None:
        super().__init__()
        self.count_title = title
        self.denominations = list(denominations)
        self.fmt = fmt or default_fmt
        self.note = note
        self.initial = initial or {}
        self.last_error: str | None = None

    def compose(self) -> ComposeResult:
        yield Label(self.count_title, id="count-title")
        if self.note:
            yield Static(self.note, id="count-note")
        with Vertical(id="count-rows"):
            for d in self.denominations:
                q = self.initial.get(d)
                yield CountRow(d, self.fmt, "" if not q else str(q))
        yield Label("", id="count-total")
        yield Static("", id="count-error")
        yield Footer()

    def on_mount(self) -> None:
        self._refresh_total()
        if self.denominations:
            self._input(self.denominations[0]).focus()

    # ------------------------------------------------------------ helpers ---
    def _input(self, d: int) -> Input:
        return self.query_one(f"#qty-{d}", Input)

    def _focused_index(self) -> int:
        f = self.focused
        for i, d in enumerate(self.denominations):
            if f is not None and f.id == f"qty-{d}":
                return i
        return 0

    def _row_value(self, d: int) -> int | None:
        """The row's quantity, or None when it is not a valid count."""
        try:
            return parse_quantity(self._input(d).value)
        except StationError:
            return None

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
            parse_quantity(self._input(d).value, denomination=d, ctx=getattr(self.app, "ctx", None))
        except StationError as e:
            self._show_error(d, str(e))
            self.app.bell()
            return False
        self._show_error(None, "")
        return True

    # ------------------------------------------------------------- events ---
    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._refresh_total()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        i = self._focused_index()
        d = self.denominations[i]
        if not self._check_row(d):
            return
        if i + 1 < len(self.denominations):
            self._input(self.denominations[i + 1]).focus()
        else:
            self.action_done()

    def action_move(self, delta: int) -> None:
        i = self._focused_index()
        j = max(0, min(len(self.denominations) - 1, i + delta))
        self._input(self.denominations[j]).focus()

    def action_done(self) -> None:
        out = {}
        for d in self.denominations:
            if not self._check_row(d):
                self._input(d).focus()
                return
            out[d] = parse_quantity(self._input(d).value)
        self.dismiss(out)

    def action_cancel(self) -> None:
        self.dismiss(None)
