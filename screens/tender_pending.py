"""The tender screen's panel of a payment that waits for someone else (the
customer's phone, the card terminal): what was asked, a countdown and a bar.
It only shows; the tender screen decides."""
from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

from screens.format import money_text


class PendingPanel(Vertical):
    """Line 1: what was asked, of whom, and the seconds left. Line 2: the bar and
    the provider's last word."""

    DEFAULT_CSS = """
    PendingPanel { height: 2; display: none; }
    PendingPanel.shown { display: block; }
    PendingPanel #pending-text { width: 1fr; height: 1; color: $warning; text-style: bold; }
    PendingPanel #pending-row { height: 1; }
    PendingPanel #pending-bar { width: 26; height: 1; }
    PendingPanel #pending-note { width: 1fr; height: 1; }
    """

    def __init__(self) -> None:
        super().__init__(id="tender-pending")
        self.view = None
        self.total = 1
        self.deadline = 0.0
        self.note = ""

    def compose(self) -> ComposeResult:
        yield Label("", id="pending-text")
        with Horizontal(id="pending-row"):
            yield ProgressBar(total=1, show_eta=False, show_percentage=False, id="pending-bar")
            yield Label("", id="pending-note")

    def show(self, ctx, view, total_seconds: int, note: str = "") -> None:
        """``view``: the waiting payment (station.payments.service.PaymentView)."""
        if self.view is None or self.view.ref != view.ref:
            self.total = max(1, total_seconds)
            self.deadline = time.monotonic() + view.seconds_left
        self.view = view
        self.note = note or view.message
        self._what = (f"{view.label} {money_text(ctx, view.amount)}"
                      + (f" to {view.phone}" if view.phone else ""))
        self.add_class("shown")
        self.tick()

    def asking(self, ctx, label: str, amount: int, phone: str) -> None:
        """Before the provider answered at all."""
        self.view = None
        self._what = f"{label} {money_text(ctx, amount)}" + (f" to {phone}" if phone else "")
        self.note = f"asking {label}..."
        self.total, self.deadline = 1, time.monotonic()
        self.add_class("shown")
        self.query_one("#pending-text", Label).update(f"{self._what}: {self.note}")
        self.query_one("#pending-note", Label).update("Esc cancels")
        self.query_one("#pending-bar", ProgressBar).update(total=1, progress=0)

    @property
    def seconds_left(self) -> int:
        return max(0, int(round(self.deadline - time.monotonic())))

    def tick(self) -> None:
        if self.view is None:
            return
        left = self.seconds_left
        if left:
            waiting = "waiting for the customer's phone" if self.view.phone else "waiting for the card terminal"
            self.query_one("#pending-text", Label).update(f"{self._what}: {waiting}  {left} s")
            note = f"Esc cancels   {self.note}"
        else:
            self.query_one("#pending-text", Label).update(f"{self._what}: no answer yet")
            note = "keep waiting, or Esc to cancel and take another method"
        self.query_one("#pending-note", Label).update(note)
        self.query_one("#pending-bar", ProgressBar).update(total=self.total, progress=self.total - left)

    def hide(self) -> None:
        self.view = None
        self.remove_class("shown")
