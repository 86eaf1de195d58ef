"""The sale screen's lines and totals on screen: a scan appends one row (no
relayout, the rows already shown are not drawn again), and a scan with nothing
queued shows its line, the totals and the cleared field in ONE frame, drawn as
soon as the screen is idle (screens.frames). Real store, the Textual pilot, and
every frame rendered to the bytes a terminal would get."""
from __future__ import annotations

import re

import pytest
from textual.app import App
from textual.screen import Screen

import screens.sale as sale_screen_module
from screens.ticket_lines import TicketLines, line_cells
from tests.sale_ui_support import add_products, key_events, make_app, sale_screen, wait_for


def plain(frame: str) -> str:
    """A frame's text without its escape sequences."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", frame)


class Frames:
    """App mixin: every frame rendered to terminal text and kept."""

    frames: list[str]

    def _display(self, screen, renderable) -> None:
        from textual._compositor import CompositorUpdate
        if isinstance(renderable, CompositorUpdate):
            self.frames.append(renderable.render_segments(self.console))
        super()._display(screen, renderable)


@pytest.fixture
def store(sqlite_ctx):
    from tests.conftest import add_user
    extra = [(f"20{i:02d}", f"40000000{i:04d}", f"Extra item {i:02d}", "1.00", "19", "pc") for i in range(30)]
    from station.catalog import with_check_digit
    extra = [(sku, with_check_digit(code), name, price, vat, unit) for sku, code, name, price, vat, unit in extra]
    add_products(sqlite_ctx, extra)
    return sqlite_ctx, add_user(sqlite_ctx, "carla", "cashier", "1111"), extra


async def _type(app, pilot, code: str) -> None:
    for ev in key_events(code):
        app.post_message(ev)
    await pilot.pause()


async def test_a_scan_is_one_frame_with_line_totals_and_cleared_field(store, monkeypatch):
    ctx, cashier, extra = store
    monkeypatch.setattr(sale_screen_module, "SCAN_WAIT_S", 60.0)   # this test waits for the answer, whatever the load
    base = type(make_app(ctx, cashier))

    class Host(Frames, base):
        pass
    app = Host(ctx)
    app.frames = []
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        await pilot.pause()
        for i, (_sku, code, name, *_r) in enumerate(extra[:3]):
            events = list(key_events(code))
            for ev in events[:-1]:
                app.post_message(ev)
            await pilot.pause()
            app.frames.clear()
            app.post_message(events[-1])           # Enter
            await wait_for(pilot, lambda: any(name in plain(f) for f in app.frames), 30, "the line on screen")
            first = plain(app.frames[0])
            assert name in first                                   # the line ...
            assert f"Items     {i + 1}" in first                   # ... the totals ...
            assert code not in first and "scan or type a code" in first   # ... and the cleared field
            assert s.runner.pending == 0


async def test_appending_a_line_redraws_that_row_only_and_never_lays_out(store, monkeypatch):
    """Textual is asked to repaint the new row's region (and the row the cursor
    left), never the whole list nor a layout; rows already drawn keep their strips."""
    ctx, cashier, extra = store
    app = make_app(ctx, cashier)
    layouts = []
    real_layout = Screen._refresh_layout

    def counting(self, *a, **k):
        if self is app.screen:
            layouts.append(self)
        return real_layout(self, *a, **k)
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        lines = s.query_one("#sale-lines", TicketLines)
        for _sku, code, *_r in extra[:2]:
            await _type(app, pilot, code)
            await wait_for(pilot, lambda: s.runner.pending == 0, 30, "the scan")
        await pilot.pause()
        monkeypatch.setattr(Screen, "_refresh_layout", counting)
        refreshed = []
        real_refresh = TicketLines.refresh

        def spy(self, *regions, **kw):
            refreshed.append(regions)
            return real_refresh(self, *regions, **kw)
        monkeypatch.setattr(TicketLines, "refresh", spy)
        built = []
        real_strip = TicketLines._strip

        def counting_strip(self, cells, *a, **k):
            built.append(cells[0])
            return real_strip(self, cells, *a, **k)
        monkeypatch.setattr(TicketLines, "_strip", counting_strip)
        for _sku, code, *_r in extra[2:6]:
            await _type(app, pilot, code)
            await wait_for(pilot, lambda: s.runner.pending == 0, 30, "the scan")
            await pilot.pause()
        assert layouts == []
        assert refreshed and all(len(r) == 1 and r[0].height == 1 for r in refreshed), refreshed
        assert set(built) <= {"2", "3", "4", "5", "6"}      # the header and line 1 are never drawn again
        assert lines.row_count == 6 and lines.cursor_row == 5


async def test_partial_frames_add_up_to_the_full_screen_and_skip_what_is_covered(store):
    """Every frame the sale screen draws (its compositor renders only the rows
    under changed regions, screens.frames.DirtyCompositor), played into a VT
    emulator, leaves the terminal showing exactly what a full render shows,
    after scans that append, scroll the list and change the totals; the
    containers behind the changed widgets are not rendered for them."""
    import pyte
    from textual.containers import Horizontal, Vertical
    from textual.widget import Widget

    from screens.frames import DirtyCompositor
    ctx, cashier, extra = store
    base = type(make_app(ctx, cashier))

    class Host(Frames, base):
        pass
    app = Host(ctx)
    app.frames = []
    rendered = []      # what partial frames rendered
    real_partial = DirtyCompositor.render_partial_update
    real_render_lines = Widget.render_lines
    partial = [False]

    def in_partial(self):
        partial[0] = True
        try:
            return real_partial(self)
        finally:
            partial[0] = False

    def spy(self, crop):
        if partial[0]:
            rendered.append(type(self))
        return real_render_lines(self, crop)

    def text(frames) -> list[str]:
        term = pyte.Screen(80, 24)
        stream = pyte.ByteStream(term)
        for f in frames:
            stream.feed(f.encode("utf-8"))
        return [line.rstrip() for line in term.display]
    async with app.run_test(size=(80, 24)) as pilot:
        s = await sale_screen(pilot)
        assert isinstance(s._compositor, DirtyCompositor)
        await pilot.pause()
        app.frames.clear()
        app.frames.append(s._compositor.render_update(full=True).render_segments(app.console))
        Widget.render_lines = spy
        DirtyCompositor.render_partial_update = in_partial
        try:
            for _sku, code, *_r in extra[:24]:              # more lines than the list shows: it scrolls
                await _type(app, pilot, code)
                await wait_for(pilot, lambda: s.runner.pending == 0, 30, "the scan")
                await pilot.pause()
        finally:
            Widget.render_lines = real_render_lines
            DirtyCompositor.render_partial_update = real_partial
        full = s._compositor.render_update(full=True).render_segments(app.console)
    shown = text(app.frames)
    assert "Extra item 23" in "\n".join(shown)
    assert shown == text([full])
    assert TicketLines in rendered and Horizontal not in rendered and Vertical not in rendered


async def test_the_list_follows_the_cursor_and_shows_what_is_above():
    class Bare(App):
        def compose(self):
            yield TicketLines(id="lines")
    app = Bare()
    async with app.run_test(size=(60, 8)) as pilot:         # 7 rows of lines under the header
        lines = app.query_one(TicketLines)
        for i in range(1, 21):
            lines.append_row(str(i), (str(i), f"Item {i}", "1", "1.00", "1.00"))
        await pilot.pause()
        assert lines.cursor_row == 19 and lines.top == 13
        shown = app.screen._compositor.render_update(full=True).render_segments(app.console)
        assert "Item 20" in shown and "Item 12" not in shown and "(13 above)" in shown
        lines.move_cursor(row=0)
        await pilot.pause()
        assert lines.top == 0
        lines.update_row("1", ("1", "Item 1 changed", "2", "1.00", "2.00"), voided=True)
        assert lines.get_row_at(0)[1] == "Item 1 changed"
        lines.clear()
        assert lines.row_count == 0 and lines.selected_key is None


def test_line_cells_say_override_discount_and_void(sqlite_ctx):
    from station.sale import LineView
    ln = LineView(7, 3, "c", "Cola", 2000, "pc", 149, 30, 268, 1900, False, True, 1000, 1)
    assert line_cells(sqlite_ctx, ln) == ("3", "Cola * -0.30", "2", "1.49", "2.68")
    assert line_cells(sqlite_ctx, ln._replace(voided=True))[4] == "0.00"


async def test_searches_share_one_thread_and_its_connection(sqlite_ctx):
    """Every search of the app runs on one thread, which keeps its connection."""
    import threading

    from data import db as dbmod
    from screens.search import Searcher
    add_products(sqlite_ctx)
    seen = []
    got = threading.Event()

    def deliver(rows, err):
        seen.append((threading.get_ident(), id(dbmod.current()._state.conn), [r[1] for r in rows], err))
        got.set()
    s = Searcher.of(sqlite_ctx)
    assert Searcher.of(sqlite_ctx) is s
    for text in ("pencil", "cola", "dark choc"):
        got.clear()
        s.request(text, deliver)
        assert got.wait(30)
    assert len({(t, c) for t, c, _n, _e in seen}) == 1
    assert [n for _t, _c, n, _e in seen] == [["Pencil HB"], ["Cola 0.5l"], ["Dark Chocolate"]]
    assert threading.get_ident() != seen[0][0]


@pytest.mark.slow
def test_thirty_scans_in_one_burst_through_a_pty(tmp_path):
    """The real station on a pty: 30 codes in ONE write, as a scanner queue
    delivers them. Every line is rung up in order, the list shows the newest
    ones with the count of those above, and the totals say 30 items."""
    from station import config as configmod
    from station.catalog import with_check_digit
    from station.context import open_station
    from tests.terminal import Terminal, keys, make_till
    home = tmp_path / "home"
    make_till(home)
    ctx = open_station(configmod.load(env={"STATION_HOME": str(home)}))
    extra = [(f"30{i:02d}", with_check_digit(f"40100000{i:04d}"), f"Burst line {i:02d}", "1.00", "19", "pc")
             for i in range(30)]
    try:
        add_products(ctx, extra)
    finally:
        ctx.db.close()
    with Terminal.start(home) as term:
        term.wait_for("Type your user name")
        term.type("carla", "enter", "1111", "enter")
        term.type("f2")
        term.wait_for("TOTAL")
        term.write(b"".join(keys(code, "enter") for _s, code, *_r in extra))
        term.wait_for("Items     30")
        term.wait_for("Burst line 29")
        text = term.text()
        assert "above)" in text and "Burst line 00" not in text
        shown = [n for n in (f"Burst line {i:02d}" for i in range(30)) if n in text]
        assert shown == sorted(shown) and len(shown) >= 10
    ctx = open_station(configmod.load(env={"STATION_HOME": str(home)}))
    try:
        from data.models import TicketLine
        assert [ln.code for ln in TicketLine.select().order_by(TicketLine.position)] == [c for _s, c, *_r in extra]
    finally:
        ctx.db.close()


async def test_screens_pushed_and_popped_leave_no_footer_keys_behind():
    """Every push and pop recomposes the footer; the old keys must be freed
    (Textual 8.2.8 keeps them through a data-binding watcher: KeyFooter drops it)."""
    import gc

    from textual.binding import Binding
    from textual.screen import ModalScreen
    from textual.widgets import Label
    from textual.widgets._footer import FooterKey

    from screens.widgets import KeyFooter

    class Main(Screen):
        BINDINGS = [Binding(f"f{i}", f"noop{i}", f"Key {i}") for i in range(2, 10)]

        def compose(self):
            yield Label("main")
            yield KeyFooter()

    class Dialog(ModalScreen):
        def compose(self):
            yield Label("dialog")

    class Host(App):
        def on_mount(self):
            self.push_screen(Main())

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for _ in range(20):
            app.push_screen(Dialog())
            await pilot.pause()
            app.pop_screen()
            await pilot.pause()
        gc.collect()
        live = [o for o in gc.get_objects() if isinstance(o, FooterKey)]
        assert len(live) <= 2 * len(Main.BINDINGS), len(live)
