"""Sealed sales: the digest of a completed sale (its ticket figures, every line,
every tender) that the ``sale.completed`` journal entry carries.

The database freezes a completed ticket, its lines and tenders (triggers); the
digest is what still tells when someone who can drop those triggers (or writes
below them) changed a sale afterwards: ``station verify`` (``sale.sealed``)
recomputes it from the rows and compares it with the entry, whose own keyed MAC
(:mod:`station.journal`) no one without the key can recompute.

:func:`digest` is the one place a sale is hashed: ``complete_sale`` calls it with
the values it is writing, ``verify`` with the values it reads back.
"""
from __future__ import annotations

import hashlib

from station import journal

#: the fields of each part that the digest covers, in order
TICKET_FIELDS = ("id", "terminal", "receipt_no", "cashier", "session", "subtotal", "tax_total", "total",
                 "rounding", "ticket_discount")
LINE_FIELDS = ("position", "product", "code", "name", "qty", "unit_price", "price_override", "discount",
               "discount_bp", "vat_rate", "line_total", "voided")
TENDER_FIELDS = ("method", "amount", "tendered", "change", "reference")


def _norm(v):
    if isinstance(v, bool):
        return int(v)
    return v


def digest(ticket: dict, lines: list[dict], tenders: list[dict]) -> str:
    """SHA-256 over the canonical sale: ``ticket`` with TICKET_FIELDS, each line
    with LINE_FIELDS (by position), each tender with TENDER_FIELDS (in a stable
    order, whatever order they were written in)."""
    body = {
        "ticket": [_norm(ticket[f]) for f in TICKET_FIELDS],
        "lines": sorted([_norm(ln[f]) for f in LINE_FIELDS] for ln in lines),
        "tenders": sorted([_norm(t[f]) for f in TENDER_FIELDS] for t in tenders),
    }
    return hashlib.sha256(journal.canonical(body).encode("utf-8")).hexdigest()


def line_fields(ln) -> dict:
    """A TicketLine (model or row) as the digest reads it."""
    return {"position": ln.position, "product": ln.product_id, "code": ln.code, "name": ln.name, "qty": ln.qty,
            "unit_price": ln.unit_price, "price_override": bool(ln.price_override), "discount": ln.discount,
            "discount_bp": ln.discount_bp, "vat_rate": ln.vat_rate, "line_total": ln.line_total,
            "voided": bool(ln.voided)}


def tender_fields(t) -> dict:
    return {"method": t.method, "amount": t.amount, "tendered": t.tendered, "change": t.change,
            "reference": t.reference or ""}


def ticket_fields(t) -> dict:
    """A completed Ticket as the digest reads it."""
    return {"id": t.id, "terminal": t.terminal, "receipt_no": t.receipt_no, "cashier": t.cashier_id,
            "session": t.session_id, "subtotal": t.subtotal, "tax_total": t.tax_total, "total": t.total,
            "rounding": t.rounding, "ticket_discount": t.ticket_discount}


def seal_sale(sc) -> None:
    """Inside the sale's transaction (``tender.write_sale``): the digest of the sale
    as it is being written goes into its ``sale.completed`` entry. No statement:
    everything comes from what complete_sale already holds."""
    ticket = {"id": sc.ticket_id, "terminal": sc.terminal, "receipt_no": sc.receipt_no, "cashier": sc.user.id,
              "session": sc.session.id, "subtotal": sc.totals.subtotal, "tax_total": sc.totals.tax_total,
              "total": sc.due, "rounding": sc.rounding, "ticket_discount": sc.totals.ticket_discount}
    lines = [{"position": ln.position, "product": ln.product_id, "code": ln.code, "name": ln.name, "qty": ln.qty,
              "unit_price": ln.unit_price, "price_override": ln.price_override, "discount": ln.discount,
              "discount_bp": ln.discount_bp, "vat_rate": ln.vat_rate, "line_total": ln.line_total,
              "voided": ln.voided} for ln in sc.lines]
    tenders = [{"method": m, "amount": a, "tendered": td, "change": ch, "reference": ref}
               for m, a, td, ch, ref in sc.tenders]
    sc.journal_data["digest"] = digest(ticket, lines, tenders)
