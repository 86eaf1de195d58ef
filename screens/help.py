"""F1: every key of the current screen (its own, its focused widget's and the
app's), with what it does. Escape or F1 closes it."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from screens.base import StationModal


#: Textual's own generic keys (focus moves, copy): not this screen's keys
_GENERIC = {"command_palette", "focus_next", "focus_previous", "copy_text"}


def key_label(app, binding) -> str:
    shown = app.get_key_display(binding)
    if len(shown) <= 3 and shown[:1] == "f" and shown[1:].isdigit():
        return shown.upper()
    return shown


def bindings_of(screen) -> list[tuple[str, str, str]]:
    """(key as shown, description, binding id) of every binding active on
    ``screen``: the screen's own keys first, then the app's, then the keys of
    the focused field (marked)."""
    app = screen.app
    groups: dict[int, list[tuple[str, str, str]]] = {0: [], 1: [], 2: []}
    seen = set()
    for _key, active in screen.active_bindings.items():
        b = active.binding
        if b.action.rsplit(".", 1)[-1] in _GENERIC or not active.enabled:
            continue        # only keys the cashier can use now
        node = active.node
        group = 0 if node is screen else 1 if node is app else 2
        if group == 2:      # a text field's own editing keys: not the screen's keys
            continue
        desc = b.description or b.tooltip or b.action.replace("_", " ")
        shown = key_label(app, b)
        if (shown, desc) in seen:
            continue
        seen.add((shown, desc))
        groups[group].append((shown, desc, b.id or ""))
    return groups[0] + groups[1] + groups[2]


class HelpScreen(StationModal):
    AREA = "help"
    HELP_TITLE = "Help"

    BINDINGS = [
        Binding("escape", "close", "Close", id="help_close"),
        Binding("f1", "close", "Close", show=False, id="help_close_f1"),
    ]

    def __init__(self, title: str, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.help_title = title
        self.rows = rows

    @classmethod
    def for_screen(cls, screen) -> "HelpScreen":
        name = getattr(screen, "help_name", None)
        title = name() if name is not None else (getattr(screen, "TITLE", None) or screen.__class__.__name__)
        return cls(str(title), bindings_of(screen))

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(f"Keys: {self.help_title}", id="help-title")
            table = DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            table.add_column("Key", key="key", width=12)
            table.add_column("What it does", key="desc", width=40)
            for i, (key, desc, _id) in enumerate(self.rows):
                table.add_row(key, desc, key=str(i))
            yield table
            yield Static("Escape or F1: close", id="help-hint")

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()

    def action_close(self) -> None:
        self.dismiss(None)
