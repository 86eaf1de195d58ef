"""Processes the screen benchmark runs on a pseudo-terminal (see bench_screen).

``python -m bench.screen_children station HOME URL``  the real station app, logged in
    as ``bench``, on the sale screen, on the store at URL;
``python -m bench.screen_children bare DBPATH``  a bare Textual app: a text field and
    the same kind of line widget as the sale screen; Enter looks the code up with
    bare sqlite3 and appends one line (the raw limit of scan -> line on screen);
    ``plain`` instead of ``bare``: the same with Textual's own frame timing.
"""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from bench.common import config


def lines_widget():
    """(widget factory, append(widget, key, cells)) of the sale screen's line widget."""
    try:
        from screens.ticket_lines import TicketLines
    except ImportError:
        from textual.widgets import DataTable

        def make():
            t = DataTable(id="lines", cursor_type="row", zebra_stripes=True)
            t.can_focus = False
            for key, width in (("pos", 3), ("name", 19), ("qty", 6), ("price", 8), ("total", 9)):
                t.add_column(key, key=key, width=width)
            return t

        def append(w, key, cells):
            w.add_row(*cells, key=key)
            w.move_cursor(row=w.row_count - 1)
        return make, append

    def make():
        return TicketLines(id="lines")

    def append(w, key, cells):
        w.append_row(key, cells)
    return make, append


def bare_app(db_path: str | None, prompt_frames: bool = True):
    """The floor: the sale screen's scan field and line widget, nothing else; Enter
    appends one line (looked up with bare sqlite3 when a store is given). With
    ``prompt_frames`` its screen paints as the sale screen does (screens.frames),
    where that exists."""
    from textual.app import App
    from textual.containers import Horizontal
    from textual.screen import Screen
    from textual.widgets import Static

    from screens.widgets import ScanField

    make, append = lines_widget()
    base = Screen
    if prompt_frames:
        try:
            from screens.frames import PromptFrames
            base = type("BareScreen", (PromptFrames, Screen), {})
        except ImportError:
            pass

    class Bare(App):
        CSS = "#lines { width: 1fr; height: 1fr; } #side { width: 24; } #field { height: 3; }"

        def __init__(self):
            super().__init__()
            self.n = 0
            self.con = sqlite3.connect(db_path) if db_path else None

        def get_default_screen(self):
            return base(id="_default")

        def compose(self):
            try:
                yield ScanField(id="field", on_scan=self.scanned)
            except TypeError:        # a ScanField that only posts Scanned
                yield ScanField(id="field")
            with Horizontal():
                yield make()
                yield Static("TOTAL", id="side")

        def on_mount(self):
            self.query_one("#field", ScanField).focus()

        def on_scan_field_scanned(self, event: ScanField.Scanned) -> None:
            self.scanned(event.code)

        def scanned(self, code: str) -> None:
            name = code
            if self.con is not None:
                row = self.con.execute("SELECT p.name, p.price FROM barcode b JOIN product p ON p.id = b.product_id "
                                       "WHERE b.code = ?", (code,)).fetchone()
                name = row[0] if row else code
            self.n += 1
            append(self.query_one("#lines"), str(self.n), (str(self.n), name, "1", "1.00", "1.00"))
    return Bare


def station_app(home: str, url: str):
    from data.models import User
    from screens.app import StationApp
    from station.context import open_station

    ctx = open_station(config(Path(home), url))
    user = User.get(User.name == "bench")

    class Host(StationApp):
        def on_mount(self) -> None:
            super().on_mount()
            self.call_after_refresh(self._enter)

        def _enter(self) -> None:
            self.login_done(user)
            self.open_area("sale")
    return Host(ctx)


def main(argv: list[str]) -> None:
    if argv[0] == "station":
        station_app(argv[1], argv[2]).run()
    else:
        bare_app(argv[1] if len(argv) > 1 else None, prompt_frames=argv[0] == "bare")().run()


if __name__ == "__main__":
    main(sys.argv[1:])
