"""CLI of refunds and the sales they return:

  station refund show N [--terminal T] [--json]
      refund N (of this terminal, or of terminal T): its receipt as text, or its
      data as JSON.
  station refund reprint N [--terminal T] [--out FILE]
      print a copy (marked COPY) on the configured printer, or write its raw
      ESC/POS bytes to FILE ('-' = standard output).
  station refund requests [--all] [--json]
      the refunds waiting for a manager's decision or for their cashier.
  station sale show N [--terminal T] [--json]
      sale N: each line with quantity sold, returned and still returnable and
      what was paid for it, the tenders, and the sale's refunds. N may also be
      the receipt's barcode (T1-000042).

Like the other ``station`` subcommands this is the store operator's tool: it reads
without a cashier login; a printed copy is journalled with no user.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from station.cli.common import open_ctx
from station.errors import Unavailable


def _fmt(ctx, v) -> str:
    from station import money
    return "-" if v is None else money.format_amount(v, minor_units=ctx.config.store.minor_units)


def _qty(q: int, unit: str) -> str:
    from station.refund.service import qty_text
    return qty_text(q, unit)


def _iso(t) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%d %H:%M:%S")


def _tenders(r) -> list[dict]:
    return [{"method": t.method, "against": t.against, "amount": t.amount, "reference": t.reference}
            for t in r.tenders]


def refund_json(v) -> dict:
    r = v.result
    o = v.original
    return {"refund_id": r.refund_id, "refund_no": r.refund_no, "terminal": r.terminal, "code": r.code,
            "kind": r.kind, "status": r.status, "reason": r.reason, "note": v.note, "cashier": v.cashier,
            "approver": v.approver, "needs": r.needs, "why": r.why,
            "original": None if o is None else {"ticket_id": o.ticket_id, "terminal": o.terminal,
                                                 "receipt_no": o.receipt_no},
            "exchange_ticket": r.exchange_ticket, "session": r.session_id,
            "created_at": _iso(v.created_at), "processed_at": _iso(v.processed_at),
            "total": r.total, "tax": r.tax_total, "rounding": r.rounding, "paid_out": r.paid_out,
            "lines": [{"sale_line": ln.original_line_id, "product": ln.product_id, "code": ln.code, "name": ln.name,
                       "qty": ln.qty, "unit_price": ln.unit_price, "amount": ln.amount, "tax": ln.tax,
                       "vat_rate": ln.vat_rate} for ln in v.lines],
            "tenders": _tenders(r)}


def sale_json(info) -> dict:
    return {"ticket_id": info.ticket_id, "terminal": info.terminal, "receipt_no": info.receipt_no,
            "code": info.barcode, "completed_at": _iso(info.completed_at), "cashier": info.cashier,
            "session": info.session_id, "total": info.total, "rounding": info.rounding,
            "tenders": [{"method": m, "amount": a, "reference": ref} for m, a, ref in info.tenders],
            "refunded_by_method": info.refunded,
            "lines": [{"line_id": ln.line_id, "position": ln.position, "code": ln.code, "name": ln.name,
                       "unit": ln.unit, "unit_price": ln.unit_price, "sold": ln.sold, "returned": ln.returned,
                       "returnable": ln.returnable, "paid": ln.paid, "refunded": ln.given,
                       "refund_now": ln.refund_now} for ln in info.lines],
            "refunds": [{"refund_id": r.id, "refund_no": r.refund_no, "terminal": r.terminal, "kind": r.kind,
                         "status": r.status, "reason": r.reason, "total": r.total, "paid_out": r.paid_out,
                         "cashier": r.cashier, "processed_at": _iso(r.processed_at),
                         "tenders": [{"method": m, "amount": a} for m, a in r.tenders]} for r in info.refunds]}


def cmd_show(args) -> int:
    from station.refund import receipt, service
    ctx = open_ctx(args)
    v = service.refund_view(ctx, refund_no=args.number, terminal=args.refund_terminal)
    if args.json:
        print(json.dumps(refund_json(v), indent=2))
        return 0
    if v.result.status != "processed":
        print(f"refund request {v.result.refund_id}: {v.result.status}, {_fmt(ctx, v.result.total)}")
        return 0
    sys.stdout.write(receipt.refund_receipt_text(ctx, receipt.refund_receipt_data(ctx, v.result.refund_id)))
    return 0


def cmd_reprint(args) -> int:
    from station.refund import receipt
    ctx = open_ctx(args)
    if args.out:
        data = receipt.reprint_bytes(ctx, None, args.number, args.refund_terminal)
        if args.out == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            try:
                with open(args.out, "wb") as f:
                    f.write(data)
            except OSError as e:
                raise Unavailable(f"cannot write {args.out}: {e.strerror or e}") from None
            print(f"refund {args.number} (copy): {len(data)} bytes written to {os.path.abspath(args.out)}")
        return 0
    res = receipt.reprint(ctx, None, args.number, args.refund_terminal)
    if not res.ok or res.skipped:
        raise Unavailable(res.message + ("; use --out FILE to get the bytes" if res.skipped else ""))
    print(res.message)
    return 0


def cmd_requests(args) -> int:
    from station.refund import service
    ctx = open_ctx(args)
    rows = service.list_requests(ctx, include_done=args.all)
    if args.json:
        print(json.dumps([{**r.__dict__, "created_at": _iso(r.created_at),
                           "lines": [{"name": n, "qty": q} for n, q in r.lines]} for r in rows], indent=2))
        return 0
    if not rows:
        print("no refund is waiting")
        return 0
    print(f"{'ID':>5} {'STATUS':<9} {'TERM':<6} {'CASHIER':<10} {'SALE':<10} {'AMOUNT':>10}  WHY")
    for r in rows:
        print(f"{r.id:>5} {r.status:<9} {r.terminal:<6.6} {r.cashier:<10.10} {r.original or '-':<10.10} "
              f"{_fmt(ctx, r.total):>10}  {r.why}")
    return 0


def cmd_sale_show(args) -> int:
    from station.refund import lookup
    ctx = open_ctx(args)
    info = lookup.find_sale(ctx, args.number, args.sale_terminal)
    if args.json:
        print(json.dumps(sale_json(info), indent=2))
        return 0
    print(f"Sale {info.terminal}/{info.receipt_no} ({info.barcode})  {info.completed_at:%Y-%m-%d %H:%M}  "
          f"cashier {info.cashier}")
    print(f"Total {_fmt(ctx, info.total)}" + (f" (cash rounding {_fmt(ctx, info.rounding)})" if info.rounding else ""))
    print("Paid: " + ", ".join(f"{m} {_fmt(ctx, a)}" + (f" ({ref})" if ref else "") for m, a, ref in info.tenders))
    print(f"{'#':>3} {'ITEM':<24} {'SOLD':>8} {'RETURNED':>9} {'LEFT':>8} {'PAID':>10} {'BACK NOW':>10}")
    for ln in info.lines:
        print(f"{ln.position:>3} {ln.name:<24.24} {_qty(ln.sold, ln.unit):>8} {_qty(ln.returned, ln.unit):>9} "
              f"{_qty(ln.returnable, ln.unit):>8} {_fmt(ctx, ln.paid):>10} {_fmt(ctx, ln.refund_now):>10}")
    if not info.refunds:
        print("No refunds.")
    for r in info.refunds:
        no = f"{r.terminal}/{r.refund_no}" if r.refund_no is not None else f"request {r.id}"
        print(f"Refund {no}: {r.kind}, {r.status}, {r.reason}, {_fmt(ctx, r.paid_out)} back "
              f"({', '.join(f'{m} {_fmt(ctx, -a)}' for m, a in r.tenders) or '-'}), {r.cashier}")
    return 0


def _number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a refund number")
    return int(text)


def register(sub) -> None:
    p = sub.add_parser("refund", help="refunds: show, reprint, waiting requests",
                       description="Refunds, returns, post-voids and exchanges, by refund number (per terminal).")
    rs = p.add_subparsers(dest="refund_command", metavar="ACTION", parser_class=type(p))
    p.set_defaults(func=lambda args: p.error("choose an action: show, reprint or requests"))
    s = rs.add_parser("show", help="refund N as its receipt text (or --json)")
    s.add_argument("number", type=_number, metavar="N", help="refund number")
    s.add_argument("--terminal", dest="refund_terminal", metavar="T",
                   help="the terminal the refund belongs to (default: this terminal)")
    s.add_argument("--json", action="store_true", help="the refund's data as JSON")
    s.set_defaults(func=cmd_show)
    r = rs.add_parser("reprint", help="print a copy of refund N (marked COPY)")
    r.add_argument("number", type=_number, metavar="N")
    r.add_argument("--terminal", dest="refund_terminal", metavar="T")
    r.add_argument("--out", metavar="FILE", help="write the bytes to FILE ('-' = standard output) instead")
    r.set_defaults(func=cmd_reprint)
    q = rs.add_parser("requests", help="refunds waiting for a manager or for their cashier")
    q.add_argument("--all", action="store_true", help="also the decided and processed ones")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=cmd_requests)

    sp = sub.add_parser("sale", help="sales: show one with its returns and refunds",
                        description="Completed sales, by receipt number (per terminal) or receipt barcode.")
    ss = sp.add_subparsers(dest="sale_command", metavar="ACTION", parser_class=type(sp))
    sp.set_defaults(func=lambda args: sp.error("choose an action: show"))
    sh = ss.add_parser("show", help="sale N: lines sold / returned / returnable, tenders, refunds")
    sh.add_argument("number", metavar="N", help="receipt number, or the receipt's barcode (T1-000042)")
    sh.add_argument("--terminal", dest="sale_terminal", metavar="T",
                    help="the terminal the receipt belongs to (default: this terminal)")
    sh.add_argument("--json", action="store_true", help="the sale's data as JSON")
    sh.set_defaults(func=cmd_sale_show)
