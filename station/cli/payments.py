"""CLI of the payments that finish elsewhere (mobile money, card gateway):

  station payments serve [--listen ADDR:PORT]
      the callback receiver providers call (payments.listen; payments.callback_url is
      the public address that reaches it). Runs until interrupted.
  station payments list [--from DATE] [--to DATE] [--status S] [--terminal T] [--json]
      every provider payment with its callbacks, settlement and sale.
  station payments reconcile [--from DATE] [--to DATE] [--older-than MIN] [--statement CSV --provider P]
      asks the provider about payments still open after MIN minutes (payments.reconcile_after_minutes)
      and settles them; lists the period; matches a provider statement against our records.
  station payments flagged
      money received that no sale uses: "paid twice, refund due".
  station payments show REF
      one payment and every answer of its provider.
  station payments refund REF [--amount X] --user NAME
  station payments resolve REF --note TEXT --user NAME
      give a flagged payment back through the provider, or mark it refunded another way;
      NAME's PIN (and TOTP code where the role needs one) is read from the terminal or stdin.

The reading commands are the store operator's tool (no login, as the other ``station``
subcommands); the ones that move money need a manager's PIN.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys

from station.cli.common import open_ctx
from station.errors import InvalidInput


def _date(text: str) -> _dt.datetime:
    try:
        d = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    if d.tzinfo is not None:
        d = d.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return d


def _to(args):
    """--to DATE is inclusive of that whole day when no time is given."""
    if args.to is None:
        return None
    return args.to + _dt.timedelta(days=1) if args.to.time() == _dt.time() else args.to


def _fmt(ctx, v) -> str:
    from station import money
    if v is None:
        return "-"
    return money.format_amount(v, minor_units=ctx.config.store.minor_units)


def _print_lines(ctx, lines) -> None:
    if not lines:
        print("no provider payments in this period")
        return
    print(f"{'CREATED (UTC)':<16} {'REF':<24} {'METHOD':<8} {'TERM':<5} {'AMOUNT':>10} {'PAID':>10} "
          f"{'STATUS':<10} {'RECEIPT':<12} {'CB':>3} {'SALE':<9} FLAG")
    for ln in lines:
        print(f"{ln.created_at:%Y-%m-%d %H:%M} {ln.ref:<24} {ln.method:<8.8} {(ln.terminal or '-'):<5.5} "
              f"{_fmt(ctx, ln.amount):>10} {_fmt(ctx, ln.paid_amount):>10} {ln.status:<10} "
              f"{(ln.receipt or '-'):<12.12} {ln.callbacks:>3} {(ln.sale or '-'):<9} {ln.flag or ''}")


def _json_lines(lines) -> str:
    return json.dumps([{**ln.__dict__, "created_at": ln.created_at.isoformat()} for ln in lines], indent=2)


def cmd_serve(args) -> int:
    from data import db as dbmod
    from station.payments import receiver
    ctx = args.opened_store = open_ctx(args)
    listen = args.listen or ctx.config.get("payments.listen")
    try:
        receiver.parse_listen(listen)
    except ValueError:
        raise InvalidInput(f"'{listen}' is not address:port") from None
    nets = ctx.config.get("payments.allow_networks")
    print(f"station payments: receiving callbacks on http://{listen} "
          f"(from {', '.join(nets) if nets else 'any network: set payments.allow_networks'})", file=sys.stderr)
    checkpointer = dbmod.start_checkpointer(ctx.db)   # SQLite: WAL checkpoints off the commit path
    try:
        receiver.serve(ctx, listen)
    finally:
        if checkpointer is not None:
            checkpointer.stop()
    return 0


def cmd_list(args) -> int:
    from station.payments import reconcile
    ctx = args.opened_store = open_ctx(args)
    lines = reconcile.listing(ctx, args.start, _to(args), status=args.status, terminal=args.payment_terminal)
    if args.json:
        print(_json_lines(lines))
    else:
        _print_lines(ctx, lines)
    return 0


def cmd_reconcile(args) -> int:
    from station.payments import reconcile
    ctx = args.opened_store = open_ctx(args)
    if args.statement and not args.provider:
        raise InvalidInput("--statement needs --provider (mpesa, airtel or card_gateway)")
    settled = reconcile.settle_stale(ctx, args.older_than)
    print(f"asked about {len(settled)} open payment(s)")
    for s in settled:
        print(f"  {s.ref}: {s.before} -> {s.after}  {s.message}")
    print()
    _print_lines(ctx, reconcile.listing(ctx, args.start, _to(args)))
    if args.statement:
        m = reconcile.match_statement(ctx, args.statement, args.provider, args.start, _to(args))
        print()
        print(f"statement {args.statement}: {m.rows} money-in rows, {len(m.matched)} matched")
        for r in m.only_there:
            print(f"  in the statement, not in our records: {r.receipt} {_fmt(ctx, r.amount)} {r.time}")
        for ln in m.only_here:
            print(f"  in our records, not in the statement: {ln.ref} {ln.receipt or '(no receipt)'} "
                  f"{_fmt(ctx, ln.paid_amount)} {ln.status}")
        for receipt, theirs, ours in m.amount_differs:
            print(f"  amount differs: {receipt} statement {_fmt(ctx, theirs)}, ours {_fmt(ctx, ours)}")
        if not (m.only_there or m.only_here or m.amount_differs):
            print("  the statement and our records agree")
    return 0


def cmd_flagged(args) -> int:
    from station.payments import service
    ctx = args.opened_store = open_ctx(args)
    rows = service.flagged(ctx)
    if not rows:
        print("nothing flagged: no payment is waiting for a refund")
        return 0
    print(f"{len(rows)} payment(s) paid twice or unused, refund due "
          f"(total {_fmt(ctx, sum((r.paid_amount or r.amount) - r.refund_amount for r in rows))}):")
    for r in rows:
        print(f"  {r.ref} {r.label:<12} {_fmt(ctx, r.paid_amount or r.amount):>10} {r.phone or '':<13} "
              f"receipt {r.receipt or '-'} terminal {r.terminal or '-'} {r.status}: {r.flag}")
    return 0


def cmd_show(args) -> int:
    from data.payments import PaymentCallback, ProviderPayment
    from station.errors import NotFound
    from station.payments import service
    ctx = args.opened_store = open_ctx(args)
    p = ProviderPayment.get_or_none(ProviderPayment.ref == args.ref)
    if p is None:
        raise NotFound(f"no payment with reference {args.ref}")
    v = service.view(ctx, p)
    print(f"{v.ref}  {v.label} ({v.method})  {_fmt(ctx, v.amount)}  {v.status}")
    print(f"  terminal {v.terminal or '-'}  ticket {v.ticket_id or '-'}  phone {v.phone or '-'}  "
          f"attempt {v.attempt}  created {v.created_at:%Y-%m-%d %H:%M:%S} UTC")
    print(f"  provider ref {p.provider_ref or '-'}  receipt {v.receipt or '-'}  paid {_fmt(ctx, v.paid_amount)}  "
          f"refunded {_fmt(ctx, v.refund_amount)}")
    print(f"  {v.message}" + (f"\n  FLAG: {v.flag}" if v.flag else ""))
    for c in PaymentCallback.select().where(PaymentCallback.payment == p.id).order_by(PaymentCallback.id):
        print(f"  {c.received_at:%H:%M:%S} {c.source:<8} {c.verdict:<16} {c.result_code or '':<8} "
              f"{c.remote or '':<15} {c.detail}")
    return 0


def _manager(ctx, name: str):
    from station import auth, authority
    from station.cli.core import read_pin
    user = auth.check_credentials(ctx, name, read_pin(f"PIN of {name}: ", confirm=False), purpose="cli")
    if authority.needs_totp(ctx, user):
        if sys.stdin.isatty():
            import getpass
            code = getpass.getpass("TOTP code: ")
        else:
            code = sys.stdin.readline().strip()
            if not code:
                raise InvalidInput("no TOTP code given on stdin: nothing was changed")
        authority.verify_totp(ctx, user, code)
    return user


def cmd_refund(args) -> int:
    from station import tender
    from station.payments import service
    ctx = args.opened_store = open_ctx(args)
    amount = tender.parse_amount_input(ctx, args.amount) if args.amount else None
    user = _manager(ctx, args.user)
    v = service.refund(ctx, user, args.ref, amount, reason=args.reason or "")
    print(f"{v.ref}: {v.status}: {v.message}")
    return 0


def cmd_resolve(args) -> int:
    from station.payments import service
    ctx = args.opened_store = open_ctx(args)
    user = _manager(ctx, args.user)
    v = service.resolve(ctx, user, args.ref, args.note)
    print(f"{v.ref}: {v.status}: {v.message}")
    return 0


def _closing(command):
    """The command, then its store's provider connections closed."""
    def run(args) -> int:
        try:
            return command(args)
        finally:
            from station.payments import registry
            store = getattr(args, "opened_store", None)
            if store is not None:
                registry.close_all(store)
    return run


def register(sub) -> None:
    p = sub.add_parser("payments", help="mobile money and card gateway payments: serve callbacks, reconcile, refund",
                       description="Payments that finish elsewhere (M-Pesa, Airtel Money, card gateway).")
    ps = p.add_subparsers(dest="payments_command", metavar="ACTION", parser_class=type(p))
    p.set_defaults(func=lambda args: p.error("choose an action: serve, list, reconcile, flagged, show, refund "
                                             "or resolve"))
    s = ps.add_parser("serve", help="run the callback receiver providers call",
                      description="Serves the provider callbacks (POST /mpesa/callback, /airtel/callback, "
                                  "/card/callback ...) until interrupted; every callback is logged.")
    s.add_argument("--listen", metavar="ADDR:PORT", help="bind address (default: payments.listen)")
    s.set_defaults(func=_closing(cmd_serve))

    def period(x):
        x.add_argument("--from", dest="start", type=_date, metavar="DATE", help="from this date (UTC)")
        x.add_argument("--to", type=_date, metavar="DATE", help="up to this date, inclusive (UTC)")

    ls = ps.add_parser("list", help="every provider payment with its callbacks, settlement and sale")
    period(ls)
    ls.add_argument("--status", help="only this status (pending, paid, applied, failed, refund_due ...)")
    ls.add_argument("--terminal", dest="payment_terminal", metavar="T", help="only terminal T")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_closing(cmd_list))
    r = ps.add_parser("reconcile", help="settle stale payments, list them, match a provider statement",
                      description="Asks the provider about payments still open after --older-than minutes and "
                                  "settles them, lists the period, and matches a statement CSV (columns such as "
                                  "'Receipt No.' and 'Paid In') against our records.")
    period(r)
    r.add_argument("--older-than", type=int, metavar="MIN",
                   help="ask about payments open longer than MIN minutes (default: payments.reconcile_after_minutes)")
    r.add_argument("--statement", metavar="CSV", help="a provider statement to match")
    r.add_argument("--provider", choices=["mpesa", "airtel", "card_gateway"], help="whose statement it is")
    r.set_defaults(func=_closing(cmd_reconcile))
    f = ps.add_parser("flagged", help='money received that no sale uses ("paid twice, refund due")')
    f.set_defaults(func=_closing(cmd_flagged))
    sh = ps.add_parser("show", help="one payment and every answer of its provider")
    sh.add_argument("ref", metavar="REF")
    sh.set_defaults(func=_closing(cmd_show))
    rf = ps.add_parser("refund", help="give a payment back through its provider (a manager's PIN)")
    rf.add_argument("ref", metavar="REF")
    rf.add_argument("--amount", help="how much (default: all that is left)")
    rf.add_argument("--reason", help="why (journaled)")
    rf.add_argument("--user", required=True, metavar="NAME", help="the manager doing it")
    rf.set_defaults(func=_closing(cmd_refund))
    rs = ps.add_parser("resolve", help="mark a flagged payment refunded another way (a manager's PIN)")
    rs.add_argument("ref", metavar="REF")
    rs.add_argument("--note", required=True, help="how it was refunded")
    rs.add_argument("--user", required=True, metavar="NAME", help="the manager doing it")
    rs.set_defaults(func=_closing(cmd_resolve))
