"""The sale screen's lines and totals: purpose-built widgets that repaint in place.

``TicketLines`` draws one row per ticket line through Textual's line API
(``render_line``). Each row is rendered once into a ``Strip`` and kept; a scan
that adds a line renders that row only and asks Textual to repaint that row's
region (or, when the line falls below the view, to shift the view by one and
repaint it from the kept strips). Nothing in it changes its size, so a new line
never asks for a layout of the screen. (A ``DataTable`` changes its virtual
size on every ``add_row``, which relayouts the whole screen, and re-renders
every visible cell through Rich: measured in bench/bench_screen.py.)

``FixedDigits`` is ``Digits`` in a box of fixed size: a new total repaints
its three rows from the digit font directly (no relayout, no Rich render), and
the same total is not repainted at all. ``TextRows`` shows a few lines of
text (the totals block) and repaints only the lines that changed.

``line_cells`` is how a ticket line reads on screen (one place).
"""
from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.renderables.digits import DIGITS, DIGITS3X3, DIGITS3X3_BOLD
from textual.widgets import Digits

from screens.format import money_text, qty_text

#: (title, width or None for the rest, right-aligned)
COLUMNS = (("#", 3, True), ("Item", None, False), ("Qty", 6, True), ("Price", 8, True), ("Total", 9, True))
GAP = 1
MIN_NAME = 8


def line_cells(ctx, line) -> tuple[str, str, str, str, str]:
    """A ``station.sale.LineView`` as its five cells."""
    name = line.name + (" *" if line.price_override else "")
    if line.discount:
        name += f" -{money_text(ctx, line.discount)}"
    return (str(line.position), name, qty_text(line.qty, line.unit), money_text(ctx, line.unit_price),
            money_text(ctx, 0 if line.voided else line.line_total))


class TicketLines(Widget, can_focus=False):
    """Rows keyed by line id, a cursor (the selected line), a header. Up/Down
    move the cursor; the view follows it."""

    DEFAULT_CSS = """
    TicketLines { height: 1fr; background: $surface; }
    TicketLines > .ticket-lines--header { text-style: bold; background: $panel; color: $text; }
    TicketLines > .ticket-lines--odd { background: $surface-lighten-1; }
    TicketLines > .ticket-lines--cursor { background: $accent 50%; text-style: bold; }
    TicketLines > .ticket-lines--voided { text-style: strike dim; }
    """
    COMPONENT_CLASSES = {"ticket-lines--header", "ticket-lines--odd", "ticket-lines--cursor",
                         "ticket-lines--voided"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._rows: list[tuple[str, tuple[str, ...], bool]] = []   # (key, cells, voided)
        self._index: dict[str, int] = {}
        self._strips: dict[tuple[int, int, bool], Strip] = {}
        self._styles: dict[str, Style] | None = None
        self.cursor_row = 0
        self.top = 0              # the first row in view
        self.ticket_id = None     # the ticket whose lines are shown

    # -- what the sale screen calls -------------------------------------------
    def show(self, ctx, view, *, select_last: bool = False) -> None:
        """Show ``view`` (a ``station.sale.TicketView``, or None). When it is the
        ticket already shown and says which line it changed, only that row is
        drawn; otherwise every row is set again."""
        if view is None:
            self.clear()
            return
        changed = getattr(view, "changed", None)
        if changed is not None and view.id == self.ticket_id and len(view.lines) in (len(self._rows),
                                                                                    len(self._rows) + 1):
            key = str(changed.id)
            cells = line_cells(ctx, changed)
            if key in self._index:
                self.update_row(key, cells, voided=changed.voided)
            else:
                self.append_row(key, cells, voided=changed.voided, select=select_last)
            return
        self.clear()
        self.ticket_id = view.id
        for line in view.lines:
            self._add(str(line.id), line_cells(ctx, line), line.voided)
        self._place(len(self._rows) - 1 if select_last or not self._rows else 0)
        self.refresh()

    def append_row(self, key: str, cells, *, voided: bool = False, select: bool = True) -> int:
        row = self._add(key, tuple(cells), voided)
        if select:
            self.move_cursor(row=row)
        else:
            self._refresh_row(row)
        return row

    def update_row(self, key: str, cells, *, voided: bool = False) -> None:
        row = self._index[key]
        self._rows[row] = (key, tuple(cells), voided)
        self._forget(row)
        self._refresh_row(row)

    def clear(self) -> None:
        self._rows.clear()
        self._index.clear()
        self._strips.clear()
        self.cursor_row = self.top = 0
        self.ticket_id = None
        self.refresh()

    def move_cursor(self, *, row: int) -> None:
        if not self._rows:
            return
        row = max(0, min(len(self._rows) - 1, row))
        old, old_top = self.cursor_row, self.top
        self._place(row)
        if self.top != old_top:
            self.refresh()
        else:
            self._refresh_row(old)
            self._refresh_row(row)

    # -- reading it (the screen and the tests) --------------------------------
    @property
    def row_count(self) -> int:
        return len(self._rows)

    def key_at(self, row: int) -> str | None:
        return self._rows[row][0] if 0 <= row < len(self._rows) else None

    def get_row_at(self, row: int) -> list[str]:
        return list(self._rows[row][1])

    @property
    def selected_key(self) -> str | None:
        return self.key_at(self.cursor_row)

    # -- drawing ----------------------------------------------------------------
    def _add(self, key: str, cells: tuple, voided: bool) -> int:
        self._index[key] = len(self._rows)
        self._rows.append((key, cells, voided))
        return len(self._rows) - 1

    def _forget(self, row: int) -> None:
        for k in [k for k in self._strips if k[0] == row]:
            del self._strips[k]

    @property
    def _visible(self) -> int:
        return max(1, self.size.height - 1)

    def _place(self, row: int) -> None:
        """Cursor on ``row``; the view follows it."""
        self.cursor_row = row
        if row < self.top:
            self.top = row
        elif row >= self.top + self._visible:
            self.top = row - self._visible + 1

    def _refresh_row(self, row: int) -> None:
        """Repaint one row if it is in view (a row out of view is drawn when it comes in)."""
        y = 1 + row - self.top
        if 1 <= y <= self._visible:
            self.refresh(Region(0, y, self.size.width, 1))

    def on_resize(self) -> None:
        self._strips.clear()
        if self._rows:
            self._place(self.cursor_row)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._strips.clear()

    def _style(self, name: str) -> Style:
        if self._styles is None:
            base = self.rich_style
            self._styles = {"base": base}
            for part in ("header", "odd", "cursor", "voided"):
                self._styles[part] = base + self.get_component_rich_style(f"ticket-lines--{part}")
        return self._styles[name]

    def _widths(self, width: int) -> list[int]:
        fixed = sum(w for _t, w, _r in COLUMNS if w) + GAP * (len(COLUMNS) - 1)
        return [w if w else max(MIN_NAME, width - fixed) for _t, w, _r in COLUMNS]

    def _strip(self, cells, width: int, style: Style, text_style: Style | None = None) -> Strip:
        segments = []
        widths = self._widths(width)
        for i, ((_t, _w, right), w, text) in enumerate(zip(COLUMNS, widths, cells)):
            if cell_len(text) > w:
                text = set_cell_size(text, w)
            pad = " " * (w - cell_len(text))
            text = pad + text if right else text + pad
            segments.append(Segment(text, style + text_style if text_style else style))
            if i < len(COLUMNS) - 1:
                segments.append(Segment(" " * GAP, style))
        used = sum(widths) + GAP * (len(COLUMNS) - 1)
        if used < width:
            segments.append(Segment(" " * (width - used), style))
        return Strip(segments).crop(0, width)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            titles = [t for t, _w, _r in COLUMNS]
            if self.top:
                titles[1] = f"Item ({self.top} above)"
            return self._strip(titles, width, self._style("header"))
        row = self.top + y - 1
        if row >= len(self._rows):
            return Strip.blank(width, self._style("base"))
        selected = row == self.cursor_row
        key = (row, width, selected)
        strip = self._strips.get(key)
        if strip is None:
            _key, cells, voided = self._rows[row]
            style = self._style("cursor" if selected else ("odd" if row % 2 else "base"))
            strip = self._strip(cells, width, style, self._style("voided") if voided else None)
            self._strips[key] = strip
        return strip


class FixedDigits(Digits):
    """``Digits`` in a box of fixed size: a new value repaints its rows (drawn
    from the digit font here), never relayouts; the same value does nothing."""

    def update(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("value must be a str")
        if value == self._value:
            return
        self._value = value
        self.refresh()

    def render_line(self, y: int) -> Strip:
        style = self.rich_style
        font = DIGITS3X3_BOLD if style.bold else DIGITS3X3
        row = ""
        if y < 3:
            for ch in self._value.replace(".", "\u2022"):
                i = DIGITS.find(ch)
                row += font[i * 3 + y].ljust(3) if i >= 0 else (ch if y == 2 else " ")
        width = self.size.width
        return Strip([Segment(set_cell_size(row, width), style)], width)


class TextRows(Widget, can_focus=False):
    """A few lines of plain text; :meth:`update` repaints only the lines that changed."""

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._lines = text.split("\n") if text else []

    def update(self, text: str) -> None:
        new = text.split("\n") if text else []
        old, self._lines = self._lines, new
        width = self.size.width
        for y in range(max(len(old), len(new))):
            if (old[y] if y < len(old) else None) != (new[y] if y < len(new) else None):
                self.refresh(Region(0, y, width, 1))

    def render(self) -> str:
        return "\n".join(self._lines)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        text = self._lines[y] if y < len(self._lines) else ""
        return Strip([Segment(set_cell_size(text, width), self.rich_style)], width)
