"""Stock (area "stock", home key K): find a product and its stock, receive a
delivery, count by scanner, the low-stock alerts.

One scan field; what a scan does depends on the mode:

* F2 Find: the product (by barcode, sku or name words), its stock, cost and
  last movements; F6 changes its price (from the next scan on), F7 its reorder
  point;
* F3 Receive: each scan adds to the delivery (``N*CODE`` adds N, the same item
  adds up); F8 posts it (asks the supplier and the delivery note) and shows the
  receiving slip;
* F4 Count: each scan adds to the open count (F9 starts a count of the whole
  store when none is open), the counted quantity shown live; F8 completes it;
* F5 Alerts: the active low-stock alerts.

Scans are handled in the scan field's own Enter handler, one after another, so
a scanner burst loses nothing. Escape goes back.
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label, Static

from screens.approval import ApprovalDialog
from screens.base import StationScreen
from screens.format import error_text
from screens.widgets import KeyFooter, PromptDialog, ScanField
from station import money, permissions
from station.errors import InvalidInput, NeedsApproval, StationError
from station.stock import alerts, counts, movements, products, receiving
from station.stock.common import fmt, parse_qty, qty_text

MODES = {"find": "Find: scan or type a product", "receive": "Receive a delivery: scan the goods (N*CODE)",
         "count": "Count: scan every item on the shelf", "alerts": "Low-stock alerts"}


class StockScreen(StationScreen):
    AREA = "stock"
    TITLE = "Stock"

    DEFAULT_CSS = """
    StockScreen { layout: vertical; }
    StockScreen #st-mode { height: 1; text-style: bold; padding: 0 1; }
    StockScreen #st-info { height: auto; max-height: 6; padding: 0 1; }
    StockScreen DataTable { height: 1fr; }
    StockScreen #st-message { height: 1; padding: 0 1; }
    StockScreen #st-message.error { color: $error; text-style: bold; }
    """

    BINDINGS = [
        Binding("f2", "mode('find')", "Find", id="stock_find"),
        Binding("f3", "mode('receive')", "Receive", id="stock_receive"),
        Binding("f4", "mode('count')", "Count", id="stock_count"),
        Binding("f5", "mode('alerts')", "Alerts", id="stock_alerts"),
        Binding("f6", "price", "Price", id="stock_price"),
        Binding("f7", "reorder", "Reorder pt", id="stock_reorder"),
        Binding("f8", "post", "Post", id="stock_post"),
        Binding("f9", "start_count", "New count", id="stock_start_count"),
        Binding("escape", "back", "Back", id="stock_back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.mode = "find"
        self.delivery = receiving.Receiving()
        self.count_id: int | None = None
        self.product = None          # the product found last (F6 price, F7 reorder point)
        self.last_message = ""

    @property
    def ctx(self):
        return self.app.ctx

    @property
    def user(self):
        return self.app.user

    def compose(self) -> ComposeResult:
        yield Label("", id="st-mode")
        yield ScanField(id="st-scan", on_scan=self.scanned)
        yield Static("", id="st-info")
        yield DataTable(id="st-table", cursor_type="row", zebra_stripes=True)
        yield Label("", id="st-message")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.action_mode("find")

    def on_screen_resume(self) -> None:
        self.query_one("#st-scan", ScanField).focus()

    def show(self, message: str, error: bool = False) -> None:
        self.last_message = message
        m = self.query_one("#st-message", Label)
        m.update(message)
        m.set_class(error, "error")
        if error:
            self.app.bell()

    def _table(self, *columns: str) -> DataTable:
        t = self.query_one("#st-table", DataTable)
        t.clear(columns=True)
        for c in columns:
            t.add_column(c, key=c)
        return t

    def _may(self, action: str) -> bool:
        return permissions.decide(self.user.role, action) != permissions.REFUSE

    # -- modes ---------------------------------------------------------------
    def action_mode(self, mode: str) -> None:
        self.mode = mode
        self.query_one("#st-mode", Label).update(MODES[mode])
        self.query_one("#st-info", Static).update("")
        self.show("")
        self.query_one("#st-scan", ScanField).focus()
        try:
            if mode == "receive":
                self._show_delivery()
            elif mode == "count":
                c = counts.open_count(self.ctx)
                self.count_id = c.id if c else None
                self._show_count()
            elif mode == "alerts":
                self._show_alerts()
            else:
                self._table("Date", "Kind", "Qty", "Cost", "By", "Ref")
        except StationError as e:
            self.show(error_text(e), True)

    def scanned(self, text: str) -> None:
        try:
            if self.mode == "receive":
                ln = self.delivery.scan(self.ctx, text)
                self._show_delivery()
                self.show(f"{ln.name}: {qty_text(ln.qty, ln.unit)} on the delivery")
            elif self.mode == "count":
                if self.count_id is None:
                    self.show("no count is open: F9 starts one", True)
                    return
                r = counts.scan(self.ctx, self.user, self.count_id, text)
                self.show(f"{r.name}: +{qty_text(r.added, r.unit)}, counted {qty_text(r.counted, r.unit)}")
                self._count_row(r)
            else:
                self._find(text)
        except StationError as e:
            self.show(f"{text}: {error_text(e)}" if text not in str(e) else error_text(e), True)

    # -- find ------------------------------------------------------------------
    def _find(self, text: str) -> None:
        found = products.find(self.ctx, text, limit=20)
        if not found:
            self.show(f"nothing found for {text}", True)
            return
        p = self.product = found[0]
        more = f"   ({len(found) - 1} more match)" if len(found) > 1 else ""
        rp = "-" if p.reorder_point is None else qty_text(p.reorder_point, p.unit)
        self.query_one("#st-info", Static).update(
            f"[b]{p.name}[/b]  sku {p.sku}  {', '.join(p.barcodes) or ''}{more}\n"
            f"on hand [b]{qty_text(p.on_hand, p.unit)}[/b]   reorder point {rp}   price {fmt(self.ctx, p.price)}   "
            f"cost {fmt(self.ctx, p.cost)} (last {fmt(self.ctx, p.last_cost)})   {p.category or ''}")
        t = self._table("Date", "Kind", "Qty", "Cost", "By", "Ref")
        for m in movements.movements(self.ctx, p.id, limit=50):
            t.add_row(str(m.created_at)[:16], m.kind, qty_text(m.qty, p.unit), fmt(self.ctx, m.cost), m.user, m.ref)
        self.show("")

    def action_price(self) -> None:
        p = self._found()
        if p is None:
            return

        def got(text: str | None) -> None:
            self.query_one("#st-scan", ScanField).focus()
            if text is not None:
                self._edit(p, "price", price=products.parse_money_text(self.ctx, text, "price"))

        self.app.push_screen(PromptDialog(f"New price of {p.name}", f"now {fmt(self.ctx, p.price)}; the new "
                                          f"price, Enter", check=lambda t: products.parse_money_text(self.ctx, t)),
                             got)

    def action_reorder(self) -> None:
        p = self._found()
        if p is None:
            return

        def parse(text: str):
            return None if not text.strip() else (0 if text.strip() == "0" else parse_qty(text, p.unit))

        def got(text: str | None) -> None:
            self.query_one("#st-scan", ScanField).focus()
            if text is not None:
                self._edit(p, "reorder point", reorder_point=parse(text))

        self.app.push_screen(PromptDialog(f"Reorder point of {p.name}", "a quantity (empty: none), Enter",
                                          check=parse), got)

    def _found(self):
        if self.mode != "find" or self.product is None:
            self.show("find a product first (F2, then scan it)", True)
            return None
        return self.product

    def _edit(self, p, what: str, **change) -> None:
        try:
            self.product = products.edit_product(self.ctx, self.user, p.id, **change)
        except StationError as e:
            self.show(error_text(e), True)
            return
        self._find(f"#{p.id}")
        self.show(f"{p.name}: {what} changed")

    # -- receive -----------------------------------------------------------------
    def _show_delivery(self) -> None:
        t = self._table("Item", "Qty", "Cost", "Total")
        for ln in self.delivery.lines:
            t.add_row(ln.name, qty_text(ln.qty, ln.unit), fmt(self.ctx, ln.unit_cost), fmt(self.ctx, ln.cost),
                      key=str(ln.product_id))
        self.query_one("#st-info", Static).update(
            f"{len(self.delivery.lines)} line(s), {fmt(self.ctx, self.delivery.total)} at cost   F8 posts it")

    def action_post(self) -> None:
        if self.mode == "receive":
            self._post_delivery()
        elif self.mode == "count":
            self._complete_count()

    def _post_delivery(self) -> None:
        if not self.delivery.lines:
            self.show("nothing scanned yet", True)
            return

        def got_supplier(supplier: str | None) -> None:
            if supplier is None:
                self.show("not posted")
                return
            self.app.push_screen(PromptDialog("Delivery note", "its reference (may be empty), Enter"),
                                 lambda ref: self._do_post(supplier, ref))

        self.app.push_screen(PromptDialog("Receive the delivery", "supplier, Enter", check=_supplier), got_supplier)

    def _do_post(self, supplier: str, ref: str | None) -> None:
        self.query_one("#st-scan", ScanField).focus()
        if ref is None:
            self.show("not posted")
            return
        try:
            d = receiving.receive(self.ctx, self.user, supplier, ref, self.delivery.lines)
        except StationError as e:
            self.show(error_text(e), True)
            return
        self.delivery = receiving.Receiving()
        t = self._table("Receiving slip")
        for line in receiving.slip_text(self.ctx, d).splitlines():
            t.add_row(line)
        self.query_one("#st-info", Static).update("")
        self.show(f"delivery {d.id} posted: {len(d.lines)} line(s), {fmt(self.ctx, d.total_cost)} at cost")

    # -- count -----------------------------------------------------------------
    def _show_count(self) -> None:
        t = self._table("Item", "Counted")
        info = self.query_one("#st-info", Static)
        if self.count_id is None:
            info.update("no count is open" + ("   F9 starts a count of the whole store"
                                             if self._may("stock.count_manage") else ""))
            return
        rv = counts.review(self.ctx, self.count_id, every=True)
        for ln in rv.lines:
            if ln.scanned:
                t.add_row(ln.name, qty_text(ln.counted, ln.unit), key=str(ln.product_id))
        info.update(f"count {self.count_id}: {rv.counted_items} of {rv.items} items counted so far"
                    + ("   F8 completes it" if self._may("stock.count_manage") else ""))

    def _count_row(self, r) -> None:
        t = self.query_one("#st-table", DataTable)
        key = str(r.product_id)
        if key in t.rows:
            t.update_cell(key, "Counted", qty_text(r.counted, r.unit))
        else:
            t.add_row(r.name, qty_text(r.counted, r.unit), key=key)

    def action_start_count(self) -> None:
        if self.mode != "count":
            self.action_mode("count")
        try:
            c = counts.start(self.ctx, self.user, "store")
        except StationError as e:
            self.show(error_text(e), True)
            return
        self.count_id = c.id
        self._show_count()
        self.show(f"count {c.id} started: {c.items} items expected")

    def _complete_count(self, approval=None) -> None:
        if self.count_id is None:
            self.show("no count is open", True)
            return
        try:
            rv = counts.complete(self.ctx, self.user, self.count_id, approval=approval)
        except NeedsApproval as e:
            self.app.push_screen(ApprovalDialog(e.action, e.amount, e.ref),
                                 lambda a: a is not None and self._complete_count(a))
            return
        except StationError as e:
            self.show(error_text(e), True)
            return
        t = self._table("Item", "Expected", "Counted", "Difference", "Value")
        for ln in rv.lines:
            t.add_row(ln.name, qty_text(ln.expected_now, ln.unit), qty_text(ln.counted, ln.unit),
                      qty_text(ln.difference, ln.unit), fmt(self.ctx, ln.value))
        self.show(f"count {self.count_id} completed: {rv.differences} correction(s), found "
                  f"{fmt(self.ctx, rv.gain)}, missing {fmt(self.ctx, rv.loss)} at cost")
        self.count_id = None

    # -- alerts ----------------------------------------------------------------
    def _show_alerts(self) -> None:
        t = self._table("Item", "On hand", "Reorder at", "Since")
        rows = alerts.alerts(self.ctx)
        for a in rows:
            t.add_row(a.name, qty_text(a.on_hand, a.unit), qty_text(a.reorder_point, a.unit), str(a.raised_at)[:16],
                      key=str(a.id))
        self.query_one("#st-info", Static).update(f"{len(rows)} active alert(s)")

    def action_back(self) -> None:
        self.dismiss()


def _supplier(text: str) -> None:
    if not text.strip():
        raise InvalidInput("name the supplier")


class AddProductDialog(PromptDialog):
    """A product for a barcode the catalog does not know (the sale screen's F5
    after an unknown scan): name, price, VAT rate, each then Enter. Dismisses with
    (name, price, vat_rate) or None (Escape)."""

    FIELDS = (("name", "name of the product, Enter"), ("price", "price, e.g. 2.49, Enter"),
              ("vat", "VAT rate in percent, Enter"))

    def __init__(self, ctx, code: str, default_vat: str) -> None:
        super().__init__(f"Add {code}", self.FIELDS[0][1])
        self.ctx, self.code, self.default_vat = ctx, code, default_vat
        self.values: dict[str, object] = {}

    def on_input_submitted(self, event) -> None:
        event.stop()
        event.prevent_default()       # PromptDialog's own handler would dismiss with the first field
        field = self.FIELDS[len(self.values)][0]
        box = self.query_one("#prompt-input")
        text = event.value.strip()
        err = self.query_one("#prompt-error", Label)
        try:
            if field == "name":
                if not text:
                    raise StationError("the product needs a name")
                value: object = text
            elif field == "price":
                value = products.parse_money_text(self.ctx, text, "price")
            else:
                value = _vat(text)
        except StationError as e:
            err.update(error_text(e))
            self.app.bell()
            return
        err.update("")
        self.values[field] = value
        if len(self.values) == len(self.FIELDS):
            self.dismiss((self.values["name"], self.values["price"], self.values["vat"]))
            return
        label = self.FIELDS[len(self.values)]
        self.query_one("#prompt-label", Label).update(f"{self.values['name']}: {label[1]}")
        box.value = self.default_vat if label[0] == "vat" else ""


def _vat(text: str) -> int:
    try:
        return money.parse_rate(text.strip().rstrip("%").strip())
    except money.AmountError as e:
        raise InvalidInput(str(e)) from None


def default_vat(ctx) -> str:
    """The store's first VAT rate (``store.tax_letters``), as the dialog offers it."""
    for spec in ctx.config.values["store"]["tax_letters"]:
        _letter, _, rate = spec.partition("=")
        if rate.strip():
            return rate.strip()
    return ""
