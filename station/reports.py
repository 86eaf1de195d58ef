"""X and Z reports of a drawer session: the data (plain dicts, JSON-safe) and
their ESC/POS bytes (built in an escpos ``Dummy`` printer).

The figures come from the session's running totals (``station.drawer`` keeps
them with every posting), so a report costs the same whatever the session
holds: sales per tender method are the amounts applied to the sales
(``Tender.amount``), so change given is never counted as takings (ERPNext
#23125); cash movements are listed per kind; expected cash is the running
balance. The row-based figures (``sales_by_method``, ``sales_summary``) are
what ``station.drawer.recompute_running`` (and verify) rebuild them from.

A Z report's data is stored as canonical JSON in ``ZReport.data`` at the close
and reprinted from there (marked COPY), never rebuilt from live rows.
"""
from __future__ import annotations

import datetime as _dt

import peewee

from data.models import DenominationCount, Tender, Ticket, User
from station import money
from station.payments import service as provider_payments

MOVEMENT_ORDER = ("float", "sale", "change", "paid_in", "paid_out", "drop", "refund", "no_sale")
MOVEMENT_LABELS = {"float": "Float", "sale": "Cash taken", "change": "Change given", "paid_in": "Paid in",
                   "paid_out": "Paid out", "drop": "Drops to safe", "refund": "Cash refunds",
                   "no_sale": "No-sale opens"}


def _iso(t: _dt.datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%d %H:%M:%S")


def sales_by_method(session_id: int) -> list[dict]:
    rows = (Tender.select(Tender.method, peewee.fn.COUNT(Tender.id).alias("n"),
                          peewee.fn.COUNT(Tender.ticket.distinct()).alias("tickets"),
                          peewee.fn.SUM(Tender.amount).alias("amount"))
            .join(Ticket, on=(Tender.ticket == Ticket.id))
            .where((Ticket.session == session_id) & (Ticket.status == "completed"))
            .group_by(Tender.method).order_by(Tender.method).dicts())
    return [{"method": r["method"], "count": int(r["tickets"]), "amount": int(r["amount"] or 0)} for r in rows]


def sales_summary(session_id: int) -> dict:
    r = (Ticket.select(peewee.fn.COUNT(Ticket.id).alias("n"), peewee.fn.SUM(Ticket.total).alias("total"),
                       peewee.fn.MIN(Ticket.receipt_no).alias("first"),
                       peewee.fn.MAX(Ticket.receipt_no).alias("last"))
         .where((Ticket.session == session_id) & (Ticket.status == "completed")).dicts().get())
    return {"count": int(r["n"] or 0), "total": int(r["total"] or 0),
            "first_receipt": None if r["first"] is None else int(r["first"]),
            "last_receipt": None if r["last"] is None else int(r["last"])}


def sales_by_cashier(session_id: int) -> list[tuple[int, int, int]]:
    """(cashier id, sales, total) of a session's completed sales."""
    return [(c, int(n), int(t or 0)) for c, n, t in
            Ticket.select(Ticket.cashier, peewee.fn.COUNT(Ticket.id), peewee.fn.SUM(Ticket.total))
            .where((Ticket.session == session_id) & (Ticket.status == "completed"))
            .group_by(Ticket.cashier).tuples()]


def _counts(session_id: int, stage: str) -> list[dict]:
    rows = (DenominationCount.select().where((DenominationCount.session == session_id) &
                                             (DenominationCount.stage == stage))
            .order_by(DenominationCount.denomination.desc()))
    return [{"denomination": c.denomination, "quantity": c.quantity, "amount": c.denomination * c.quantity}
            for c in rows]


def sales_of(totals: dict) -> dict:
    count, total, first, last = totals.get("sales") or (0, 0, None, None)
    return {"count": count, "total": total, "first_receipt": first, "last_receipt": last}


def tenders_of(totals: dict) -> list[dict]:
    return [{"method": m, "count": c, "amount": a} for m, (c, a) in sorted((totals.get("tenders") or {}).items())]


def movements_of(totals: dict) -> list[dict]:
    by = totals.get("moves") or {}
    kinds = [k for k in MOVEMENT_ORDER if k in by] + sorted(k for k in by if k not in MOVEMENT_ORDER)
    return [{"kind": k, "label": MOVEMENT_LABELS.get(k, k), "count": by[k][0], "amount": by[k][1]} for k in kinds]


def users_of(totals: dict) -> list[dict]:
    """Who did what in the session: per person, the sales and every kind of cash
    movement (a shared drawer has several; one person's has one)."""
    by = totals.get("users") or {}
    names = dict(User.select(User.id, User.name).where(User.id.in_([int(u) for u in by])).tuples()) if by else {}
    out = []
    for uid in sorted(by, key=lambda u: names.get(int(u), u)):
        u = by[uid]
        count, total = u.get("sales", (0, 0))
        out.append({"user": names.get(int(uid), f"user {uid}"), "sales": {"count": count, "total": total},
                    "movements": movements_of({"moves": {k: v for k, v in u.items() if k != "sales"}})})
    return out


def _base(ctx, s, kind: str) -> dict:
    """``s``: the session with its running figures (``station.drawer.OpenSession``)."""
    from station.refund.totals import net_takings, refunds_of  # noqa: PLC0415
    tenders = tenders_of(s.totals)
    refunds = refunds_of(s.totals)
    store = ctx.config.values["store"]
    return {
        "report": kind,
        "store": store["name"],
        "currency": store["currency"],
        "minor_units": store["minor_units"],
        "drawer": s.drawer,
        "terminal": s.terminal,
        "session": s.id,
        "cashier": User.get_by_id(s.cashier_id).name,
        "opened_at": _iso(s.opened_at),
        "float": s.float_amount,
        "float_counts": _counts(s.id, "float"),
        "sales": sales_of(s.totals),
        "tenders": tenders,
        "refunds": refunds,
        "net": net_takings(tenders, refunds),
        "movements": movements_of(s.totals),
        "by_user": users_of(s.totals),
        "expected": s.expected_cash,
        "refund_due": provider_payments.report_section(ctx, s.terminal),
    }


def build_x_data(ctx, s) -> dict:
    d = _base(ctx, s, "X")
    d["printed_at"] = _iso(_dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None))
    return d


def build_z_data(ctx, s, *, counts: dict[int, int], counted: int, expected: int, variance: int,
                 z_number: int, closed_at, closed_by: str, approval=None, reason: str = "") -> dict:
    d = _base(ctx, s, "Z")
    d.update({
        "z_number": z_number,
        "closed_at": _iso(closed_at),
        "closed_by": closed_by,
        "counts": [{"denomination": den, "quantity": q, "amount": den * q} for den, q in
                   sorted(counts.items(), reverse=True)],
        "expected": expected,
        "counted": counted,
        "variance": variance,
        "reason": reason or "",
        "approved_by": (User.get_by_id(approval.approver_id).name if approval is not None else None),
        "approval": approval.id if approval is not None else None,
    })
    return d


# ------------------------------------------------------------------ text ---

def _amt(d: dict, v: int | None) -> str:
    if v is None:
        return "-"
    return money.format_amount(v, minor_units=d.get("minor_units", 2))


def lines(d: dict, width: int = 42, *, copy: bool = False, hide_expected: bool = False) -> list[str]:
    """The report as plain text lines (screen and printer share them).
    ``hide_expected``: an X report on a cashier's screen under blind close
    (the expected cash is not shown before the count)."""
    def lr(left: str, right: str) -> str:
        space = max(1, width - len(left) - len(right))
        return (left + " " * space + right)[: max(width, len(left) + 1 + len(right))]

    out = []
    title = f"Z REPORT No {d['z_number']}" if d["report"] == "Z" else "X REPORT (interim)"
    out.append(title)
    if copy:
        out.append("*** COPY ***")
    out.append(d.get("store", ""))
    out.append(lr(f"Drawer {d['drawer']}", f"Terminal {d['terminal']}"))
    out.append(lr(f"Session {d['session']}", f"Cashier {d['cashier']}"))
    out.append(lr("Opened", d.get("opened_at") or "-"))
    if d["report"] == "Z":
        out.append(lr("Closed", d.get("closed_at") or "-"))
        out.append(lr("Closed by", d.get("closed_by") or "-"))
    else:
        out.append(lr("Printed", d.get("printed_at") or "-"))
    out.append("-" * width)
    sales = d["sales"]
    out.append(lr(f"Sales ({sales['count']})", _amt(d, sales["total"])))
    fr, la = sales.get("first_receipt"), sales.get("last_receipt")
    out.append(lr("Receipts", f"{fr if fr is not None else '-'} .. {la if la is not None else '-'}"))
    for t in d["tenders"]:
        out.append(lr(f"  {t['method']} ({t['count']})", _amt(d, t["amount"])))
    refunds = d.get("refunds")
    if refunds is not None:
        out.append(lr(f"Refunds ({refunds['count']})", _amt(d, -refunds["total"])))
        for r in refunds["by_method"]:
            out.append(lr(f"  {r['method']} ({r['count']})", _amt(d, -r["amount"])))
        if refunds["by_reason"]:
            out.append("  by reason:")
        for r in refunds["by_reason"]:
            out.append(lr(f"  {r['reason']} ({r['count']})", _amt(d, -r["amount"])))
        out.append(lr("Net takings", _amt(d, d["net"]["total"])))
        for n in d["net"]["by_method"]:
            out.append(lr(f"  {n['method']}", _amt(d, n["amount"])))
    out.append("-" * width)
    if hide_expected and d["report"] == "X":
        out.append("Cash movements and expected cash:")
        out.append("  not shown before a blind close")
    else:
        out.append("Cash movements")
        for m in d["movements"]:
            out.append(lr(f"  {m['label']} ({m['count']})", _amt(d, m["amount"])))
        out.append(lr("Expected cash", _amt(d, d["expected"])))
    if d.get("by_user"):
        out.append("-" * width)
        out.append("Who did what")
        for u in d["by_user"]:
            s = u["sales"]
            out.append(lr(f"  {u['user']}: sales ({s['count']})", _amt(d, s["total"])))
            if not (hide_expected and d["report"] == "X"):
                for m in u["movements"]:
                    out.append(lr(f"    {m['label']} ({m['count']})", _amt(d, m["amount"])))
    due = d.get("refund_due") or {}
    if due.get("count"):
        out.append("-" * width)
        out.append(lr(f"PAID TWICE, REFUND DUE ({due['count']})", _amt(d, due["total"])))
        for i in due["items"]:
            out.append(lr(f"  {i['method']} {i['receipt'] or i['ref']}", _amt(d, i["amount"])))
    if d["report"] == "Z":
        out.append("-" * width)
        out.append("Counted")
        for c in d["counts"]:
            if c["quantity"]:
                out.append(lr(f"  {c['quantity']} x {_amt(d, c['denomination'])}", _amt(d, c["amount"])))
        out.append(lr("Counted cash", _amt(d, d["counted"])))
        out.append(lr("Expected cash", _amt(d, d["expected"])))
        v = d["variance"]
        out.append(lr("Variance", ("+" if v > 0 else "") + _amt(d, v)))
        if d.get("reason"):
            out.append(f"Reason: {d['reason']}"[:width])
        if d.get("approved_by"):
            out.append(lr("Approved by", d["approved_by"]))
        if d.get("journal"):   # the journal anchor: keep the paper, 'station verify --anchor' checks it
            out.append("-" * width)
            out.append(lr("Journal", f"seq {d['journal']['seq']} head {d['journal']['head']}"))
    return out


def escpos_bytes(d: dict, *, width: int = 42, profile: str | None = "TM-T88V", codepage: str | None = "CP858",
                 copy: bool = False) -> bytes:
    """ESC/POS bytes of an X or Z report (escpos Dummy printer)."""
    from station.hardware.transport import import_escpos_printer  # noqa: PLC0415
    ep = import_escpos_printer()
    p = ep.Dummy(profile=profile) if profile else ep.Dummy()
    if codepage:
        p.charcode(codepage)
    text = lines(d, width, copy=copy)
    p.set(align="center", bold=True, double_height=True, double_width=True)
    p.text(text[0] + "\n")
    i = 1
    if copy:
        p.set(align="center", bold=True, double_height=False, double_width=False)
        p.text(text[1] + "\n")
        i = 2
    p.set_with_default()
    for line in text[i:]:
        p.text(line + "\n")
    p.cut()
    return p.output


def report_bytes(ctx, d: dict, *, copy: bool = False) -> bytes:
    pr = ctx.config.values["printer"]
    return escpos_bytes(d, width=pr["width"], profile=pr["profile"] or None, codepage=pr["codepage"] or None,
                        copy=copy)


def print_report(ctx, d: dict, *, copy: bool = False) -> str:
    """Send a report to the configured printer; returns what happened, raises
    HardwareError (a clear sentence) when it could not be printed."""
    from station.hardware import transport  # noqa: PLC0415
    t = transport.from_config(ctx.config)
    t.send(report_bytes(ctx, d, copy=copy))
    return f"printed on {t.describe()}"
