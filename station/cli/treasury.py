"""CLI of the treasury (the back office and scripts):

  station treasury funds [--json]
  station treasury ledger FUND [--since DATE] [--kind K] [--limit N] [--csv|--json]
  station treasury requisitions|variances|replenishments|bags [--status S] [--json]
      what the treasury holds and what waits (signed in as someone who may view it,
      unless security.cli_login_reads is off)
  station treasury request FUND AMOUNT PAYEE [--purpose T] [--method M] [--destination D]
  station treasury approve|reject N [--note T]
  station treasury execute N [--reference REF]          (asks the executor's TOTP code)
  station treasury transfer FROM TO AMOUNT [--memo T]
  station treasury count FUND DENOM=QTY ...             (a difference is a pending variance)
  station treasury receive BAG DENOM=QTY ...            (a bag in transit into the safe)
  station treasury deposit AMOUNT [--bag N]             (safe -> transit, a sealed deposit bag)
  station treasury banked BAG SLIP [--amount X]         (the bank's slip: transit -> bank)
  station treasury decide-variance N approve|reject [--note T]
  station treasury replenish FUND --from SRC [--amount X] | decide-replenishment N approve|reject
  station treasury fund-replenishment N
  station treasury reconcile N STATEMENT [--settled X]  (a paid requisition)
  station treasury add-fund NAME KIND | levels FUND ... | opening FUND AMOUNT

Commands that move money ask who acts (user, PIN; the TOTP code where the rule
asks) on the terminal or standard input, never from a flag.
"""
from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import sys

from station.cli.common import ask, open_ctx, sign_in, sign_in_to_read
from station.errors import InvalidInput


def _date(text: str) -> _dt.datetime:
    try:
        d = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    if d.tzinfo is not None:
        d = d.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return d


def _number(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number")
    return int(text)


def _counts(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items:
        d, sep, q = it.partition("=")
        if not sep:
            raise InvalidInput(f"'{it}': give each count as DENOMINATION=QUANTITY in minor units, e.g. 2000=3")
        if d.strip() in out:
            raise InvalidInput(f"denomination {d.strip()} is counted twice")
        out[d.strip()] = q.strip()
    return out


def _fmt(ctx, v) -> str:
    from station.treasury.ledger import fmt
    return fmt(ctx, v)


def _json(rows) -> str:
    def enc(v):
        return v.isoformat() if isinstance(v, _dt.datetime) else str(v)
    return json.dumps([r.__dict__ for r in rows], indent=2, default=enc)


def _reader(args):
    ctx = args.opened_store = open_ctx(args)
    sign_in_to_read(ctx, "treasury.view")
    return ctx


def cmd_funds(args) -> int:
    from station.treasury import queries
    ctx = _reader(args)
    rows = queries.funds()
    if args.json:
        print(_json(rows))
        return 0
    print(f"{'FUND':<12} {'KIND':<10} {'BALANCE':>12} {'REORDER':>10} {'TARGET':>10} {'WAITING':>7}")
    for f in rows:
        low = "  LOW" if f.balance < f.reorder_level else ""
        print(f"{f.name:<12} {f.kind:<10} {_fmt(ctx, f.balance):>12} {_fmt(ctx, f.reorder_level):>10} "
              f"{_fmt(ctx, f.target_level):>10} {f.pending:>7}{low}")
    return 0


def cmd_ledger(args) -> int:
    from station.treasury import queries
    ctx = _reader(args)
    rows = queries.ledger(args.fund, limit=args.limit, since=args.since, kind=args.kind)
    if args.json:
        print(_json(rows))
    elif args.csv:
        w = csv.writer(sys.stdout)
        w.writerow(["seq", "at_utc", "kind", "amount", "balance_after", "counter_fund", "ref_type", "ref_id", "memo",
                    "user", "terminal", "reconciled"])
        for e in rows:
            w.writerow([e.seq, e.created_at.isoformat(sep=" ", timespec="seconds"), e.kind, e.amount,
                        e.balance_after, e.counter or "", e.ref_type, e.ref_id or "", e.memo, e.user, e.terminal,
                        int(e.reconciled)])
    else:
        if not rows:
            print(f"no entries in {args.fund}")
        for e in rows:
            print(f"{e.seq:>6} {e.created_at:%Y-%m-%d %H:%M} {e.kind:<10} {_fmt(ctx, e.amount):>11} "
                  f"{_fmt(ctx, e.balance_after):>12}  {e.ref_type}{' ' + str(e.ref_id) if e.ref_id else ''} "
                  f"{e.memo} ({e.user}{', ' + e.counter if e.counter else ''}){' R' if e.reconciled else ''}")
    return 0


def _status(args):
    return tuple(args.status.split(",")) if args.status else None


def cmd_requisitions(args) -> int:
    from station.treasury import queries
    ctx = _reader(args)
    rows = queries.requisitions(status=_status(args))
    if args.json:
        print(_json(rows))
        return 0
    if not rows:
        print("no requisitions")
    for r in rows:
        print(f"#{r.id:<5} {r.status:<10} {r.fund:<8} {_fmt(ctx, r.amount):>11} {r.payee[:24]:<24} {r.method:<13} "
              f"by {r.requester}{' approved by ' + r.approver if r.approver else ''}"
              f"{' tries ' + str(r.retry_count) + '/' + str(r.max_retries) if r.retry_count else ''}")
    return 0


def cmd_variances(args) -> int:
    from station.treasury import queries
    ctx = _reader(args)
    rows = queries.variances(status=_status(args))
    if args.json:
        print(_json(rows))
        return 0
    if not rows:
        print("no variances")
    for v in rows:
        print(f"#{v.id:<5} {v.status:<9} {v.fund:<8} {v.source:<10} {_fmt(ctx, v.variance):>10} "
              f"(was {_fmt(ctx, v.original)}, found {_fmt(ctx, v.adjusted)}) by {v.recorded_by}: {v.reason}")
    return 0


def cmd_replenishments(args) -> int:
    from station.treasury import queries
    ctx = _reader(args)
    rows = queries.replenishments(status=_status(args))
    if args.json:
        print(_json(rows))
        return 0
    if not rows:
        print("no replenishment requests")
    for r in rows:
        print(f"#{r.id:<5} {r.status:<8} {r.fund:<8} {_fmt(ctx, r.amount):>11} from {r.source or '-'} "
              f"({'automatic' if r.automatic else 'asked by ' + str(r.requested_by)}, balance then "
              f"{_fmt(ctx, r.balance_snapshot)})")
    return 0


def cmd_bags(args) -> int:
    from station.treasury import queries
    ctx = _reader(args)
    rows = queries.bags(status=_status(args))
    if args.json:
        print(_json(rows))
        return 0
    if not rows:
        print("no bags")
    for b in rows:
        print(f"{b.number:<12} {b.kind:<8} {b.status:<10} {_fmt(ctx, b.declared):>11} "
              f"{'counted ' + _fmt(ctx, b.counted) if b.counted is not None else ''} sealed by {b.sealed_by} "
              f"{b.sealed_at:%Y-%m-%d %H:%M}")
    return 0


def _actor(args, action):
    ctx = args.opened_store = open_ctx(args)
    return ctx, sign_in(ctx, action)


def cmd_request(args) -> int:
    from station.treasury import payments
    ctx, who = _actor(args, "treasury.request")
    rid = payments.request(ctx, who, args.fund, args.amount, args.payee, args.purpose or "", args.method,
                           args.destination or "")
    print(f"requisition #{rid}: {args.amount} from {args.fund} to {args.payee}, waiting for approval")
    return 0


def cmd_decide_requisition(args) -> int:
    from station.treasury import payments
    ctx, who = _actor(args, "treasury.approve")
    (payments.approve if args.treasury_command == "approve" else payments.reject)(ctx, who, args.number,
                                                                                  args.note or "")
    print(f"requisition #{args.number} {'approved' if args.treasury_command == 'approve' else 'rejected'}")
    return 0


def cmd_execute(args) -> int:
    from station.treasury import payments
    ctx, who = _actor(args, "treasury.execute")
    code = ask("TOTP code: ", secret=True, what="TOTP code").strip()
    x = payments.execute(ctx, who, args.number, code, key=payments.new_key(), reference=args.reference or "")
    print(f"requisition #{x.requisition_id} paid: {_fmt(ctx, x.amount)} from {x.fund} "
          f"(balance now {_fmt(ctx, x.balance)})")
    return 0


def cmd_transfer(args) -> int:
    from station.treasury import replenish
    ctx, who = _actor(args, "treasury.record")
    replenish.transfer(ctx, who, args.source, args.dest, args.amount, args.memo or "")
    print(f"{args.amount} moved from {args.source} to {args.dest}")
    return 0


def cmd_count(args) -> int:
    from station.treasury import variances
    ctx, who = _actor(args, "treasury.record")
    r = variances.count_fund(ctx, who, args.fund, _counts(args.counts), args.reason or "")
    if r.variance_id is None:
        print(f"{r.fund} counted {_fmt(ctx, r.counted)}: as expected")
    else:
        print(f"{r.fund} counted {_fmt(ctx, r.counted)}, expected {_fmt(ctx, r.expected)}: variance "
              f"#{r.variance_id} of {_fmt(ctx, r.counted - r.expected)} waits for another person's decision")
    return 0


def cmd_receive(args) -> int:
    from station.treasury import bags
    ctx, who = _actor(args, "treasury.record")
    r = bags.receive(ctx, who, args.bag, _counts(args.counts))
    extra = "" if r.variance_id is None else f"; variance #{r.variance_id} of {_fmt(ctx, r.counted - r.declared)}"
    print(f"bag {r.number} received into {r.fund}: declared {_fmt(ctx, r.declared)}, counted "
          f"{_fmt(ctx, r.counted)}{extra}")
    return 0


def cmd_deposit(args) -> int:
    from station.treasury import bags
    ctx, who = _actor(args, "treasury.record")
    number = bags.prepare_deposit(ctx, who, args.amount, args.bag)
    print(f"deposit bag {number}: {args.amount} out of the safe, in transit to the bank")
    return 0


def cmd_banked(args) -> int:
    from station.treasury import bags
    ctx, who = _actor(args, "treasury.record")
    r = bags.bank_deposit(ctx, who, args.bag, args.slip, args.amount)
    extra = "" if r.variance_id is None else f"; variance #{r.variance_id} of {_fmt(ctx, r.counted - r.declared)}"
    print(f"bag {r.number} banked into {r.fund}: {_fmt(ctx, r.declared)}{extra}")
    return 0


def cmd_decide_variance(args) -> int:
    from station.treasury import variances
    ctx, who = _actor(args, "treasury.decide")
    variances.decide(ctx, who, args.number, args.decision == "approve", args.note or "")
    print(f"variance #{args.number} {args.decision}d")
    return 0


def cmd_replenish(args) -> int:
    from station.treasury import replenish
    ctx, who = _actor(args, "treasury.replenish")
    rid = replenish.request(ctx, who, args.fund, args.source, args.amount, args.note or "")
    print(f"replenishment #{rid} of {args.fund} from {args.source} waits for a decision")
    return 0


def cmd_decide_replenishment(args) -> int:
    from station.treasury import replenish
    ctx, who = _actor(args, "treasury.replenish")
    replenish.decide(ctx, who, args.number, args.decision == "approve", args.note or "")
    print(f"replenishment #{args.number} {args.decision}d")
    return 0


def cmd_fund_replenishment(args) -> int:
    from station.treasury import replenish
    ctx, who = _actor(args, "treasury.replenish")
    replenish.fund(ctx, who, args.number)
    print(f"replenishment #{args.number} funded")
    return 0


def cmd_reconcile(args) -> int:
    from station.treasury import reconcile
    ctx, who = _actor(args, "treasury.reconcile")
    vid = reconcile.requisition(ctx, who, args.number, args.statement, args.settled)
    print(f"requisition #{args.number} reconciled with {args.statement}"
          + (f"; variance #{vid} waits for a decision" if vid else ""))
    return 0


def cmd_add_fund(args) -> int:
    from station.treasury import funds
    ctx, who = _actor(args, "treasury.manage")
    funds.add_fund(ctx, who, args.name, args.kind)
    print(f"fund {args.name} ({args.kind}) added")
    return 0


def cmd_levels(args) -> int:
    from station.treasury import funds
    ctx, who = _actor(args, "treasury.manage")
    funds.set_levels(ctx, who, args.fund, reorder=args.reorder, target=args.target, auto_replenish=args.auto,
                     replenish_from=args.source)
    print(f"{args.fund}: levels set")
    return 0


def cmd_opening(args) -> int:
    from station.treasury import funds
    ctx, who = _actor(args, "treasury.manage")
    funds.opening_balance(ctx, who, args.fund, args.amount)
    print(f"{args.fund}: opening balance {args.amount}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("treasury", help="funds, their ledgers, payments out of them, bags, variances",
                       description="The store's money beyond the drawers: the safe, petty cash, the change fund, "
                                   "bank accounts and cash in transit.")
    ts = p.add_subparsers(dest="treasury_command", metavar="ACTION", parser_class=type(p))
    p.set_defaults(func=lambda args: p.error("choose an action: funds, ledger, requisitions, variances, "
                                             "replenishments, bags, request, approve, reject, execute, ..."))

    def reader(name, help_, fn, status=False):
        r = ts.add_parser(name, help=help_)
        if status:
            r.add_argument("--status", metavar="S[,S]", help="only these statuses")
        r.add_argument("--json", action="store_true", help="as JSON")
        r.set_defaults(func=fn)
        return r

    reader("funds", "every fund: balance, reorder and target level, items waiting", cmd_funds)
    led = ts.add_parser("ledger", help="a fund's ledger, newest first")
    led.add_argument("fund", metavar="FUND")
    led.add_argument("--since", type=_date, metavar="DATE", help="entries from this date (UTC)")
    led.add_argument("--kind", choices=("debit", "credit", "adjustment"))
    led.add_argument("--limit", type=_number, default=1000, metavar="N", help="at most N entries (default 1000)")
    fmt = led.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true", help="as CSV")
    fmt.add_argument("--json", action="store_true", help="as JSON")
    led.set_defaults(func=cmd_ledger)
    reader("requisitions", "payments asked for, approved, paid", cmd_requisitions, status=True)
    reader("variances", "differences found by counts, bags and statements", cmd_variances, status=True)
    reader("replenishments", "requests to top a fund up", cmd_replenishments, status=True)
    reader("bags", "sealed cash bags (drops, closes, deposits)", cmd_bags, status=True)

    r = ts.add_parser("request", help="ask for a payment out of a fund")
    r.add_argument("fund", metavar="FUND")
    r.add_argument("amount", metavar="AMOUNT")
    r.add_argument("payee", metavar="PAYEE")
    r.add_argument("--purpose", metavar="TEXT")
    r.add_argument("--method", default="cash", choices=("cash", "bank_transfer", "mobile_money"))
    r.add_argument("--destination", metavar="ACCOUNT", help="bank account or phone (bank_transfer, mobile_money)")
    r.set_defaults(func=cmd_request)
    for name in ("approve", "reject"):
        d = ts.add_parser(name, help=f"{name} a requisition (not your own)")
        d.add_argument("number", type=_number, metavar="N")
        d.add_argument("--note", metavar="TEXT")
        d.set_defaults(func=cmd_decide_requisition)
    x = ts.add_parser("execute", help="pay an approved requisition (your TOTP code is asked)")
    x.add_argument("number", type=_number, metavar="N")
    x.add_argument("--reference", metavar="REF", help="the gateway's or slip's reference")
    x.set_defaults(func=cmd_execute)
    t = ts.add_parser("transfer", help="move money between two funds")
    t.add_argument("source", metavar="FROM")
    t.add_argument("dest", metavar="TO")
    t.add_argument("amount", metavar="AMOUNT")
    t.add_argument("--memo", metavar="TEXT")
    t.set_defaults(func=cmd_transfer)
    c = ts.add_parser("count", help="count a fund by denomination (DENOM=QTY in minor units)")
    c.add_argument("fund", metavar="FUND")
    c.add_argument("counts", nargs="+", metavar="DENOM=QTY")
    c.add_argument("--reason", metavar="TEXT")
    c.set_defaults(func=cmd_count)
    rc = ts.add_parser("receive", help="receive a bag in transit into the safe, counted")
    rc.add_argument("bag", metavar="BAG")
    rc.add_argument("counts", nargs="+", metavar="DENOM=QTY")
    rc.set_defaults(func=cmd_receive)
    dp = ts.add_parser("deposit", help="take cash out of the safe into a sealed deposit bag")
    dp.add_argument("amount", metavar="AMOUNT")
    dp.add_argument("--bag", metavar="NUMBER", help="the bag's own number")
    dp.set_defaults(func=cmd_deposit)
    bk = ts.add_parser("banked", help="enter the bank's slip of a deposit bag")
    bk.add_argument("bag", metavar="BAG")
    bk.add_argument("slip", metavar="SLIP")
    bk.add_argument("--amount", metavar="X", help="the slip's amount when it differs from the bag")
    bk.set_defaults(func=cmd_banked)
    dv = ts.add_parser("decide-variance", help="approve or reject a variance (not one you recorded)")
    dv.add_argument("number", type=_number, metavar="N")
    dv.add_argument("decision", choices=("approve", "reject"))
    dv.add_argument("--note", metavar="TEXT")
    dv.set_defaults(func=cmd_decide_variance)
    rp = ts.add_parser("replenish", help="ask for money for a fund from another")
    rp.add_argument("fund", metavar="FUND")
    rp.add_argument("--from", dest="source", required=True, metavar="FUND")
    rp.add_argument("--amount", metavar="X", help="default: up to the fund's target level")
    rp.add_argument("--note", metavar="TEXT")
    rp.set_defaults(func=cmd_replenish)
    dr = ts.add_parser("decide-replenishment", help="approve or reject a replenishment request")
    dr.add_argument("number", type=_number, metavar="N")
    dr.add_argument("decision", choices=("approve", "reject"))
    dr.add_argument("--note", metavar="TEXT")
    dr.set_defaults(func=cmd_decide_replenishment)
    fr = ts.add_parser("fund-replenishment", help="transfer an approved replenishment from its source")
    fr.add_argument("number", type=_number, metavar="N")
    fr.set_defaults(func=cmd_fund_replenishment)
    rec = ts.add_parser("reconcile", help="mark a paid requisition reconciled with the bank statement")
    rec.add_argument("number", type=_number, metavar="N")
    rec.add_argument("statement", metavar="STATEMENT_REF")
    rec.add_argument("--settled", metavar="X", help="the amount the statement shows when it differs")
    rec.set_defaults(func=cmd_reconcile)
    af = ts.add_parser("add-fund", help="add a fund")
    af.add_argument("name", metavar="NAME")
    af.add_argument("kind", choices=("safe", "petty_cash", "change", "bank", "transit"))
    af.set_defaults(func=cmd_add_fund)
    lv = ts.add_parser("levels", help="a fund's reorder and target levels, automatic replenishment")
    lv.add_argument("fund", metavar="FUND")
    lv.add_argument("--reorder", metavar="X")
    lv.add_argument("--target", metavar="X")
    lv.add_argument("--auto", action=argparse.BooleanOptionalAction, default=None,
                    help="ask for a replenishment when a debit goes below the reorder level")
    lv.add_argument("--from", dest="source", metavar="FUND", help="the fund replenishments come from")
    lv.set_defaults(func=cmd_levels)
    op = ts.add_parser("opening", help="the opening balance of a fund with no entries yet")
    op.add_argument("fund", metavar="FUND")
    op.add_argument("amount", metavar="AMOUNT")
    op.set_defaults(func=cmd_opening)
