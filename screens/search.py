"""Search the catalog by name (items without a barcode).

Results as you type: each change restarts a short debounce timer; when the
cashier pauses, ONE search runs in a thread worker (``exclusive=True``: a newer
search supersedes an older one, which is right for search, never for scans).
``station.catalog.search`` is index-range + LIMIT, fast at a million products.
Up/Down move in the results, Enter picks (dismisses with the product id),
Escape cancels.
"""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from data import db as dbmod

DEBOUNCE_S = 0.15
LIMIT = 50


class SearchScreen(ModalScreen):
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

    @work(thread=True, exclusive=True, exit_on_error=False, group="search")
    def _search(self, text: str, generation: int) -> None:
        from station import catalog
        try:
            found = catalog.search(text, limit=LIMIT)
            rows = [(p.id, p.name, p.sku, p.price, p.unit) for p in found]
            err = None
        except Exception as e:  # noqa: BLE001 - shown, never raised
            from screens.widgets import error_text
            rows, err = [], error_text(e)
        finally:
            dbmod.release(self.app.ctx.db)
        self.app.call_from_thread(self._show, rows, text, generation, err)

    def _show(self, rows, text: str, generation: int, err: str | None = None) -> None:
        if generation != self._generation:
            return  # an older search finished after a newer one started
        from screens.sale import money_text
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

    def action_move(self, delta: int) -> None:
        ol = self.query_one("#search-results", OptionList)
        if ol.option_count == 0:
            return
        cur = ol.highlighted if ol.highlighted is not None else -1
        ol.highlighted = max(0, min(ol.option_count - 1, cur + delta))

    @on(Input.Submitted, "#search-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        ol = self.query_one("#search-results", OptionList)
        if self._timer is not None or self.searched_for != event.value:
            # Enter before the results of what was typed: search now, pick later
            if self._timer is not None:
                self._timer.stop()
            self._fire()
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
