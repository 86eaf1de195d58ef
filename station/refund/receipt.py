"""The refund receipt as ESC/POS bytes (a python-escpos ``Dummy``), in the layout
and code page of the sale receipt (:mod:`station.receipt`).

``REFUND`` (or ``POST-VOID``, ``EXCHANGE``) in large letters, the refund number
and the receipt it returns, cashier and approver, the reason; one block per line
(name, ``qty x price  -amount``); the total going back, the tax in it per rate;
one line per way the money went back (with its reference), cash rounding; a line
for the customer's signature (``refund.signature_line``); the footer; the refund's
code as CODE128 (``R/T1-000007``, which the returns screen also finds the sale
by); a cut. A reprint says ``*** COPY ***`` at the top and the bottom.

Printing goes through the terminal's print queue (``station.printing.Printer``):
the drawer opens first on a cash refund; every outcome is journalled; a failure
never touches the refund, which is committed before the job is queued.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from data import db as dbmod
from data.models import Ticket
from data.refund import Refund
from station import authority, journal, money, printing, receipt
from station.errors import NotFound, StationError
from station.refund import lookup, service

TITLES = {"return": "REFUND", "post_void": "POST-VOID", "exchange": "EXCHANGE"}


@dataclass
class RefundReceipt:
    store: str
    address: list[str]
    tax_id: str
    terminal: str
    refund_no: int
    kind: str
    when: _dt.datetime | None
    cashier: str
    approver: str | None
    reason: str
    original: str | None                 # "T1/42 of 2026-05-01"
    exchange_receipt: str | None         # the new sale of an exchange
    lines: list[tuple[str, int, str, int, int, int]]   # name, qty, unit, unit price, amount, vat rate
    total: int
    taxes: dict[int, tuple[int, int]]    # rate -> (net, tax)
    tenders: list[tuple[str, int, str]]  # method, amount (negative), reference
    rounding: int
    signature: bool
    footer: list[str] = field(default_factory=list)
    copy: bool = False

    @property
    def barcode_text(self) -> str:
        return lookup.refund_code(self.terminal, self.refund_no)


def refund_receipt_data(ctx, refund_id: int | None = None, *, refund_no: int | None = None,
                        terminal: str | None = None, copy: bool = False) -> RefundReceipt:
    v = service.refund_view(ctx, refund_id, refund_no=refund_no, terminal=terminal)
    r = v.result
    if r.status != "processed":
        raise NotFound(f"refund request {r.refund_id} is {r.status}: nothing was refunded yet")
    units = {}
    if v.original is not None:
        units = {ln.line_id: ln.unit for ln in v.original.lines}
    taxes: dict[int, list[int]] = {}
    lines = []
    for ln in v.lines:
        unit = units.get(ln.original_line_id, "kg" if ln.qty % 1000 else "pc")
        lines.append((ln.name, ln.qty, unit, ln.unit_price, ln.amount, ln.vat_rate))
        t = taxes.setdefault(ln.vat_rate, [0, 0])
        t[0] += ln.amount - ln.tax
        t[1] += ln.tax
    exch = None
    if r.exchange_ticket is not None:
        nt = Ticket.get_by_id(r.exchange_ticket)
        exch = f"{nt.terminal}/{nt.receipt_no}"
    s = ctx.config.store
    o = v.original
    return RefundReceipt(
        store=s.name, address=list(s.address), tax_id=s.tax_id, terminal=r.terminal, refund_no=r.refund_no,
        kind=r.kind, when=v.processed_at, cashier=v.cashier, approver=v.approver, reason=r.reason,
        original=None if o is None else f"{o.terminal}/{o.receipt_no} of {o.completed_at:%Y-%m-%d}",
        exchange_receipt=exch, lines=lines, total=r.total,
        taxes={k: (a, b) for k, (a, b) in taxes.items()},
        tenders=[(t.method, t.amount, t.reference) for t in r.tenders], rounding=r.rounding,
        signature=ctx.config.refund.signature_line, footer=list(s.footer), copy=copy)


def _amt(ctx, v: int) -> str:
    return money.format_amount(v, minor_units=ctx.config.store.minor_units)


def _qty(q: int, unit: str) -> str:
    if unit == "kg":
        return f"{q // 1000}.{q % 1000:03d} kg"
    return str(q // 1000) if q % 1000 == 0 else f"{q / 1000:g}"


def _lr(left: str, right: str, width: int) -> str:
    room = width - len(right) - 1
    left = left[:max(room, 0)]
    return left + " " * (width - len(left) - len(right)) + right


def refund_receipt_lines(ctx, r: RefundReceipt) -> list[tuple[str, str]]:
    """(style, text) rows, styles as :func:`station.receipt.receipt_lines`."""
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
    out.append(("title", TITLES.get(r.kind, "REFUND")))
    when = r.when.strftime("%Y-%m-%d %H:%M") if r.when else ""
    out.append(("", _lr(f"Refund {r.terminal}/{r.refund_no}", when, w)))
    if r.original:
        out.append(("", f"of receipt {r.original}"[:w]))
    else:
        out.append(("", "without a receipt"))
    if r.exchange_receipt:
        out.append(("", f"credit to receipt {r.exchange_receipt}"[:w]))
    out.append(("", f"Cashier {r.cashier}" + (f"  approved by {r.approver}" if r.approver else "")[:w]))
    out.append(("", f"Reason: {r.reason}"[:w]))
    out.append(("", "-" * w))
    rates = sorted(r.taxes)
    for name, qty, unit, price, amount, rate in r.lines:
        tag = chr(ord("A") + rates.index(rate) % 26) if rate in rates else ""
        out.append(("", name[:w]))
        out.append(("", _lr(f"  {_qty(qty, unit)} x {_amt(ctx, price)}", f"-{_amt(ctx, amount)} {tag}", w)))
    out.append(("", "-" * w))
    out.append(("big", _lr("REFUND", f"-{_amt(ctx, r.total)} {cur}", w // 2)))
    out.append(("", ""))
    out.append(("", "Tax in it:"))
    for i, rate in enumerate(rates):
        net, tax = r.taxes[rate]
        out.append(("", _lr(f"  {chr(ord('A') + i % 26)} {rate // 100}.{rate % 100:02d}% net -{_amt(ctx, net)}",
                            f"-{_amt(ctx, tax)}", w)))
    out.append(("", "-" * w))
    for method, amount, ref in r.tenders:
        label = ("Credit to new sale" if method == service.EXCHANGE else method.capitalize()) + \
            (f" {ref}" if ref else "")
        out.append(("", _lr(label, f"{_amt(ctx, amount)} {cur}", w)))
    if r.rounding:
        out.append(("", _lr("Cash rounding", f"{'+' if r.rounding > 0 else '-'}{_amt(ctx, abs(r.rounding))}", w)))
    if r.signature:
        out.append(("", ""))
        out.append(("", "Customer signature:"))
        out.append(("", ""))
        out.append(("", "_" * min(w, 32)))
    out.append(("", ""))
    for f in r.footer:
        out.append(("center", f))
    if r.copy:
        out.append(("bold-center", "*** COPY ***"))
    return out


def refund_receipt_text(ctx, r: RefundReceipt) -> str:
    return "\n".join(t for _s, t in refund_receipt_lines(ctx, r)) + "\n"


def render(ctx, r: RefundReceipt) -> bytes:
    return receipt.render_rows(ctx, refund_receipt_lines(ctx, r), r.barcode_text)


def refund_receipt_bytes(ctx, refund_id: int | None = None, *, refund_no: int | None = None,
                         terminal: str | None = None, copy: bool = False) -> bytes:
    return render(ctx, refund_receipt_data(ctx, refund_id, refund_no=refund_no, terminal=terminal, copy=copy))


# ---------------------------------------------------------------- printing ---

def print_refund_now(ctx, refund_id: int, *, kick: bool = False, copy: bool = False,
                     user=None) -> printing.PrintResult:
    """Print one refund receipt in the calling thread (the print worker's job; the
    CLI). The drawer opens first when ``kick`` (a cash refund). Never raises: the
    outcome is returned and journalled."""
    no = None
    kicked, kick_msg = None, ""
    try:
        r = Refund.get_or_none(Refund.id == refund_id)
        if r is None or r.status != "processed":
            raise NotFound(f"refund {refund_id} is not a processed refund")
        no = r.refund_no
        if kick:
            kicked, kick_msg = _kick(ctx, user, r)
        data = refund_receipt_bytes(ctx, refund_id, copy=copy)
        if ctx.config.printer.kind == "none":
            return printing.PrintResult(True, f"refund {no} not printed: no printer is configured "
                                        f"(printer.kind = none)", None, no, copy, kicked, kick_msg, skipped=True)
        where = printing.send_bytes(ctx, data)
        res = printing.PrintResult(True, f"refund {no}{' (copy)' if copy else ''} printed on {where}", None, no,
                                   copy, kicked, kick_msg)
        printing._journal(ctx, "refund.printed", user, f"R{no}", data={"refund": refund_id, "copy": copy,
                                                                     "bytes": len(data)})
    except StationError as e:
        res = printing.PrintResult(False, f"refund {no or ''} not printed: {e}".replace("  ", " "), None, no, copy,
                                   kicked, kick_msg)
    except Exception as e:  # noqa: BLE001 - a printer must never crash the till
        res = printing.PrintResult(False, f"refund {no or ''} not printed: {e.__class__.__name__}: {e}"
                                   .replace("  ", " "), None, no, copy, kicked, kick_msg)
    if not res.ok:
        res.message += ": print it again with 'station refund reprint'"
        printing._journal(ctx, "refund.print_failed", user, None if no is None else f"R{no}",
                          data={"refund": refund_id, "copy": copy, "why": res.message})
    return res


def _kick(ctx, user, r: Refund) -> tuple[bool, str]:
    from station import drawer  # noqa: PLC0415
    try:
        k = drawer.kick(ctx, user, "refund", ref=f"R{r.refund_no}")
        return k.ok, k.message
    except Exception as e:  # noqa: BLE001
        return False, f"the drawer did not open: {e}"


def submit(printer: printing.Printer, ctx, refund_id: int, *, cash: bool, user=None) -> None:
    """Queue the receipt of a refund just made on the terminal's printer (the
    drawer opens first when cash went back). Returns at once."""
    printer.submit_job(lambda: print_refund_now(ctx, refund_id, kick=cash, user=user))


def mark_reprint(ctx, user, refund_no: int, terminal: str | None = None) -> int:
    """Check the permission, find the refund, journal ``refund.reprinted``; its id."""
    terminal = terminal or ctx.terminal
    r = Refund.get_or_none((Refund.terminal == terminal) & (Refund.refund_no == refund_no))
    if r is None:
        raise NotFound(f"there is no refund {refund_no} on terminal {terminal}")

    def tx():
        with dbmod.write():
            if user is not None:
                authority.require(ctx, user, "receipt.reprint", ref=f"R{refund_no}")
            journal.append("refund.reprinted", terminal=ctx.terminal, user=user, ref=f"R{refund_no}",
                           data={"refund": r.id, "of_terminal": terminal})
    dbmod.retrying(tx)
    return r.id


def reprint(ctx, user, refund_no: int, terminal: str | None = None) -> printing.PrintResult:
    """Print a copy (marked COPY) of refund ``refund_no`` now, in the calling thread."""
    rid = mark_reprint(ctx, user, refund_no, terminal)
    return print_refund_now(ctx, rid, copy=True, user=user)


def reprint_bytes(ctx, user, refund_no: int, terminal: str | None = None) -> bytes:
    rid = mark_reprint(ctx, user, refund_no, terminal)
    return refund_receipt_bytes(ctx, rid, copy=True)
