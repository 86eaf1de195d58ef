"""Search the catalog by name (items without a barcode).

Results as you type: each change restarts a short debounce timer; when the
cashier pauses, the search goes to the app's ONE search thread
(:class:`Searcher`), which keeps its database connection, and so its page
cache, from one search to the next (a thread per search would open a
connection and fill a page cache each time). A newer search replaces one still
waiting, which is right for search, never for scans. ``station.catalog.search``
is an index range or a full-text index lookup with a LIMIT, fast at a million
products.
Up/Down move in the results, Enter picks (dismisses with the product id),
Escape cancels.
"""
from __future__ import annotations

import threading
from typing import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from screens.base import StationModal
from screens.format import error_text, money_text
from station import catalog
from station.context import release_thread_connection

DEBOUNCE_S = 0.15
LIMIT = 50


class Searcher:
    """The app's search thread. ``request(text, deliver)``: ``deliver(rows,
    error)`` is called from the thread with the result; a request still waiting
    when a newer one comes is dropped. The thread keeps its connection; after an
    error it closes it, so the next search opens a fresh one."""

    def __init__(self, ctx):
        self.ctx = ctx
        self._cond = threading.Condition()
        self._next: tuple[str, Callable] | None = None
        self._thread = threading.Thread(target=self._run, name="catalog-search", daemon=True)
        self._thread.start()

    @classmethod
    def of(cls, ctx) -> "Searcher":
        s = ctx.extras.get("search.thread")
        if s is None:
            s = ctx.extras.setdefault("search.thread", cls(ctx))
        return s

    def request(self, text: str, deliver: Callable[[list, str | None], None]) -> None:
        with self._cond:
            self._next = (text, deliver)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._next is None:
                    self._cond.wait()
                text, deliver = self._next
                self._next = None
            try:
                found = catalog.search(text, limit=LIMIT)
                rows, err = [(p.id, p.name, p.sku, p.price, p.unit) for p in found], None
            except Exception as e:  # noqa: BLE001 - shown, never raised
                rows, err = [], error_text(e)
                release_thread_connection(self.ctx)
            deliver(rows, err)


class SearchScreen(StationModal):
    HELP_TITLE = "Search the catalog"
    """Dismisses with the picked product id (int) or None."""

    DEFAULT_CSS = """
    SearchScreen { align: center middle; }
    SearchScreen > Vertical { width: 76; max-width: 100%; height: 22; max-height: 100%;
                              border: thick $accent; background: $surface; padding: 0 1; }
    SearchScreen #search-title { text-style: bold; }
    SearchScreen #search-results { height: 1fr; }
    SearchScreen #search-status { height: 1; color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="search_cancel"),
        # priority: the text field (an Input) binds these keys too
        Binding("down", "move(1)", "Next", priority=True, id="search_down"),
        Binding("up", "move(-1)", "Previous", priority=True, id="search_up"),
        Binding("pagedown", "move(10)", "Page down", show=False, priority=True, id="search_page_down"),
        Binding("pageup", "move(-10)", "Page up", show=False, priority=True, id="search_page_up"),
    ]

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self._initial = text
        self._timer = None
        self._generation = 0
        self.results: list = []
        self.searched_for: str | None = None
        self._hold = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Search by name, sku or code (Up/Down, Enter picks, Esc cancels)", id="search-title")
            yield Input(self._initial, id="search-input", placeholder="type part of the name")
            yield OptionList(id="search-results")
            yield Label("", id="search-status")

    def on_mount(self) -> None:
        self.query_one("#search-input", Input).focus()
        if self._initial:
            self._schedule()

    @on(Input.Changed, "#search-input")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_S, self._fire)

    def _fire(self) -> None:
        self._timer = None
        text = self.query_one("#search-input", Input).value
        self._generation += 1
        if not text.strip():
            self._show([], text, self._generation)
            return
        self.query_one("#search-status", Label).update("searching...")
        self._search(text, self._generation)

    def _search(self, text: str, generation: int) -> None:
        Searcher.of(self.app.ctx).request(
            text, lambda rows, err: self.from_thread(self._show, rows, text, generation, err))

    def _show(self, rows, text: str, generation: int, err: str | None = None) -> None:
        if generation != self._generation:
            return  # an older search finished after a newer one started
        if self._hold is not None:    # keys typed meanwhile (Down, Enter) now see these results
            self._hold.release()
            self._hold = None
        ol = self.query_one("#search-results", OptionList)
        ol.clear_options()
        self.results = rows
        self.searched_for = text
        ctx = self.app.ctx
        for pid, name, sku, price, unit in rows:
            price_s = money_text(ctx, price) + ("/kg" if unit == "kg" else "")
            ol.add_option(Option(f"{name[:44]:<44} {price_s:>12}  {sku}", id=str(pid)))
        if rows:
            ol.highlighted = 0
        status = err or (f"{len(rows)} found" + (" (first 50)" if len(rows) >= LIMIT else "")
                         if text.strip() else "")
        self.query_one("#search-status", Label).update(status)

    def _stale(self) -> bool:
        """The results are not those of the text typed: search now, and hand the
        key that needs them out again once they are in (typed ahead, Down or
        Enter pick exactly what they would pick typed slowly)."""
        text = self.query_one("#search-input", Input).value
        if self._timer is None and self.searched_for == text and self._hold is None:
            return False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        stream = getattr(self.app, "input", None)
        if stream is None or not stream.retry_key():
            self._fire()
            return True
        if self._hold is None:
            self._hold = self.hold("searching")
            self._fire()
        return True

    def action_move(self, delta: int) -> None:
        if self._stale():
            return
        ol = self.query_one("#search-results", OptionList)
        if ol.option_count == 0:
            return
        cur = ol.highlighted if ol.highlighted is not None else -1
        ol.highlighted = max(0, min(ol.option_count - 1, cur + delta))

    @on(Input.Submitted, "#search-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        ol = self.query_one("#search-results", OptionList)
        if self._stale():
            return
        if ol.highlighted is None or ol.option_count == 0:
            self.app.bell()
            return
        self.dismiss(int(ol.get_option_at_index(ol.highlighted).id))

    @on(OptionList.OptionSelected, "#search-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
