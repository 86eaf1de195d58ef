"""The receipt as ESC/POS bytes, built in a python-escpos ``Dummy()`` printer.

Layout (``printer.width`` characters a line): store name (double size), address,
tax id; terminal, receipt number, date, cashier; one block per line (name, then
``qty x price   total``, a discount or price-override note); subtotal, discounts,
TOTAL (double height); tax per rate (rate, net, tax); tenders, cash rounding,
change; footer; the receipt number as a CODE128 barcode; a cut. A reprint carries
``*** COPY ***`` at the top and the bottom.

Text goes out in ONE code page (``printer.codepage``, CP858 by default, where the
euro sign is byte 0xD5) selected once with ``ESC t``; the printer profile comes
from ``printer.profile``. escpos is imported lazily through
``station.hardware.transport`` (which puts logging back after escpos's
``basicConfig``). The barcode bytes are written directly (``GS k``, CODE128 set B):
escpos's own ``barcode()`` prints a line on stdout, which would garble the TUI.

No database writes here: :func:`receipt_bytes` only reads the completed sale.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from data.models import Tender, Ticket, User
from station import money, sale
from station.errors import NotFound

BARCODE_HEIGHT = 60
BARCODE_WIDTH = 2


@dataclass
class ReceiptData:
    """Everything printed, as plain values (also handy for screens and tests)."""
    store: str
    address: list[str]
    tax_id: str
    terminal: str
    receipt_no: int
    when: _dt.datetime | None
    cashier: str
    lines: list[sale.LineView]
    subtotal: int
    discount: int
    total: int
    taxes: dict[int, int]
    net: dict[int, int]
    tenders: list[tuple[str, int, int, int, str]]   # method, amount, tendered, change, reference
    rounding: int
    change: int
    footer: list[str] = field(default_factory=list)
    copy: bool = False
    tax_inclusive: bool = True
    ticket_discount: int = 0
    ticket_discount_bp: int = 0
    tax_letters: dict[int, str] = field(default_factory=dict)

    @property
    def barcode_text(self) -> str:
        return f"{self.terminal}-{self.receipt_no:06d}"


def receipt_data(ctx, ticket_id: int | None = None, *, receipt_no: int | None = None,
                 terminal: str | None = None, copy: bool = False) -> ReceiptData:
    if ticket_id is not None:
        t = Ticket.get_or_none(Ticket.id == ticket_id)
    else:
        t = Ticket.get_or_none((Ticket.terminal == (terminal or ctx.terminal)) & (Ticket.receipt_no == receipt_no))
    if t is None or t.status != "completed":
        what = f"ticket {ticket_id}" if ticket_id is not None else \
            f"receipt {receipt_no} of terminal {terminal or ctx.terminal}"
        raise NotFound(f"{what} is not a completed sale")
    v = sale.view_of(ctx, t)
    tenders = [(x.method, x.amount, x.tendered, x.change, x.reference)
               for x in Tender.select().where(Tender.ticket == t.id).order_by(Tender.id)]
    s = ctx.config.store
    return ReceiptData(
        store=s.name, address=list(s.address), tax_id=s.tax_id, terminal=t.terminal, receipt_no=t.receipt_no,
        when=t.completed_at, cashier=User.get_by_id(t.cashier_id).name, lines=v.live_lines,
        subtotal=v.subtotal, discount=v.discount, total=t.total, taxes=v.taxes, net=v.net,
        tenders=tenders, rounding=t.rounding, change=sum(x[3] for x in tenders), footer=list(s.footer),
        copy=copy, tax_inclusive=v.tax_inclusive, ticket_discount=v.ticket_discount,
        ticket_discount_bp=v.ticket_discount_bp, tax_letters=tax_letters(ctx))


# ---------------------------------------------------------------- layout ---

def _amt(ctx, v: int) -> str:
    return money.format_amount(v, minor_units=ctx.config.store.minor_units)


def _qty(q: int, unit: str) -> str:
    if unit == "kg":
        return f"{q // 1000}.{q % 1000:03d} kg"
    return str(q // 1000) if q % 1000 == 0 else f"{q / 1000:g}"


def _rate(bp: int) -> str:
    return f"{bp // 100}.{bp % 100:02d}%"


def _lr(left: str, right: str, width: int) -> str:
    room = width - len(right) - 1
    if len(left) > room:
        left = left[:max(room, 0)]
    return left + " " * (width - len(left) - len(right)) + right


def receipt_lines(ctx, r: ReceiptData) -> list[tuple[str, str]]:
    """(style, text) rows; style is '' or one of: title, big, center, bold."""
    w = ctx.config.printer.width
    cur = ctx.config.store.currency_symbol
    out: list[tuple[str, str]] = []
    if r.copy:
        out.append(("bold-center", "*** COPY ***"))
    out.append(("title", r.store))
    for a in r.address:
        out.append(("center", a))
    if r.tax_id:
        out.append(("center", f"Tax id {r.tax_id}"))
    out.append(("", "-" * w))
    when = r.when.strftime("%Y-%m-%d %H:%M") if r.when else ""
    out.append(("", _lr(f"Receipt {r.terminal}/{r.receipt_no}", when, w)))
    out.append(("", f"Cashier {r.cashier}"))
    out.append(("", "-" * w))
    for ln in r.lines:
        out.append(("", ln.name[:w]))
        gross = money.qty_times_price(ln.qty, ln.unit_price)
        mark = " *" if ln.price_override else ""
        out.append(("", _lr(f"  {_qty(ln.qty, ln.unit)} x {_amt(ctx, ln.unit_price)}{mark}",
                            f"{_amt(ctx, gross)} {_rate_tag(ln.vat_rate, r)}", w)))
        if ln.discount:
            out.append(("", _lr(f"  discount {_rate(ln.discount_bp)}", f"-{_amt(ctx, ln.discount)}  ", w)))
    out.append(("", "-" * w))
    out.append(("", _lr("Subtotal", f"{_amt(ctx, r.subtotal)}", w)))
    if r.ticket_discount:
        out.append(("", _lr(f"Ticket discount {_rate(r.ticket_discount_bp)}", f"-{_amt(ctx, r.ticket_discount)}", w)))
    if r.discount:
        out.append(("", _lr("Discounts", f"-{_amt(ctx, r.discount)}", w)))
    out.append(("big", _lr("TOTAL", f"{_amt(ctx, r.total)} {cur}", w // 2)))
    out.append(("", ""))
    out.append(("", "Tax " + ("included" if r.tax_inclusive else "added") + ":"))
    for rate in sorted(r.taxes):
        out.append(("", _lr(f"  {_rate_tag(rate, r)} {_rate(rate)} net {_amt(ctx, r.net[rate])}",
                            _amt(ctx, r.taxes[rate]), w)))
    out.append(("", "-" * w))
    for method, amount, tendered, change, ref in r.tenders:
        label = method.capitalize() + (f" {ref}" if ref else "")
        out.append(("", _lr(label, f"{_amt(ctx, tendered)} {cur}", w)))
    if r.rounding:
        out.append(("", _lr("Cash rounding", f"{'+' if r.rounding > 0 else '-'}{_amt(ctx, abs(r.rounding))}", w)))
    if r.change:
        out.append(("bold", _lr("Change", f"{_amt(ctx, r.change)} {cur}", w)))
    out.append(("", ""))
    for f in r.footer:
        out.append(("center", f))
    if r.copy:
        out.append(("bold-center", "*** COPY ***"))
    return out


def tax_letters(ctx) -> dict[int, str]:
    """``store.tax_letters`` (``A=19``, ``B=7.5`` ...) as {basis points: letter}:
    the same letter for a rate on every receipt of the store."""
    out = {}
    for item in ctx.config.store.tax_letters or ():
        letter, _, pct = str(item).partition("=")
        try:
            out[round(float(pct) * 100)] = letter.strip()[:2]
        except ValueError:
            continue
    return out


def _rate_tag(rate: int, r: ReceiptData) -> str:
    """The rate's store-wide letter, printed after each line (a rate without
    one: its percentage)."""
    return r.tax_letters.get(rate) or _rate(rate)


def receipt_text(ctx, r: ReceiptData) -> str:
    return "\n".join(t for _s, t in receipt_lines(ctx, r)) + "\n"


# ----------------------------------------------------------------- bytes ---

def new_dummy(ctx):
    """An escpos Dummy with the configured profile and ONE code page."""
    from station.hardware.transport import import_escpos_printer  # noqa: PLC0415 (lazy: escpos is slow)
    p = import_escpos_printer()
    try:
        d = p.Dummy(profile=ctx.config.printer.profile)
    except Exception:  # noqa: BLE001 - an unknown profile name: fall back to escpos's default
        d = p.Dummy()
    d.charcode(ctx.config.printer.codepage)
    return d


def barcode_bytes(text: str) -> bytes:
    data = ("{B" + text).encode("ascii", "replace")
    return (b"\x1dh" + bytes([BARCODE_HEIGHT]) + b"\x1dw" + bytes([BARCODE_WIDTH]) + b"\x1dH\x02"
            + b"\x1dkI" + bytes([len(data)]) + data)


def render(ctx, r: ReceiptData) -> bytes:
    return render_rows(ctx, receipt_lines(ctx, r), r.barcode_text)


def render_rows(ctx, rows: list[tuple[str, str]], barcode_text: str) -> bytes:
    """ESC/POS bytes of (style, text) rows, then ``barcode_text`` as CODE128 and a cut
    (the sale receipt; the refund receipt, ``station.refund.receipt``)."""
    d = new_dummy(ctx)
    for style, text in rows:
        if style == "title":
            d.set(align="center", bold=True, double_height=True, double_width=True)
        elif style == "big":
            d.set(align="left", bold=True, double_height=True, double_width=True)
        elif style == "center":
            d.set(align="center")
        elif style == "bold-center":
            d.set(align="center", bold=True)
        elif style == "bold":
            d.set(align="left", bold=True)
        d.text(text + "\n")
        if style:
            d.set(normal_textsize=True, align="left", bold=False)
    d.set(align="center")
    d._raw(barcode_bytes(barcode_text))
    d.text("\n" + barcode_text + "\n")
    d.set(align="left")
    d.cut()
    return d.output


def receipt_bytes(ctx, ticket_id: int | None = None, *, receipt_no: int | None = None,
                  terminal: str | None = None, copy: bool = False) -> bytes:
    """ESC/POS bytes of a completed sale (by ticket id, or by receipt number of a terminal)."""
    return render(ctx, receipt_data(ctx, ticket_id, receipt_no=receipt_no, terminal=terminal, copy=copy))
