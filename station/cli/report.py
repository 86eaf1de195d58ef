"""CLI of the reports:

  station report sales|products|slow|profit|cashiers|tax|stock [PERIOD]
         [--from DAY] [--to DAY] [--by X] [--terminal T] [--order qty|revenue|margin]
         [--limit N] [--days N] [--category C] [--csv | --json] [--out FILE]
      PERIOD: today (default), yesterday, week, last-week, month, last-month; or
      --from/--to (YYYY-MM-DD, business days in the store's time zone, both
      included). Text by default; --csv / --json for the back office, to FILE
      with --out.
  station report rebuild
      empty the report summaries and fill them again from the journal.

Signs in (permission report.view) like the other read-only commands.
"""
from __future__ import annotations

import sys
from pathlib import Path

from station.cli.common import open_ctx, sign_in_to_read
from station.errors import InvalidInput

REPORTS = ("sales", "products", "slow", "profit", "cashiers", "tax", "stock")


def _report(ctx, user, args):
    from station.reporting import periods, service
    name = args.report
    needs_period = name in ("sales", "products", "profit", "cashiers", "tax")
    if not needs_period and (args.period or args.first or args.last):
        raise InvalidInput(f"the {name} report takes no period")
    period = (periods.resolve(periods.Clock.of(ctx), args.period, args.first, args.last)
              if needs_period else None)
    if args.terminal and name != "sales":
        raise InvalidInput("--terminal is for the sales report")
    if name == "sales":
        return service.sales(ctx, user, period, by=args.by or "day", terminal=args.terminal)
    if name == "products":
        return service.products(ctx, user, period, order=args.order or args.by or "revenue", limit=args.limit or 20,
                                category=args.category)
    if name == "slow":
        return service.slow(ctx, user, days=args.days, limit=args.limit or 200)
    if name == "profit":
        return service.profit(ctx, user, period, by=args.by or "product", limit=args.limit or 50)
    if name == "cashiers":
        return service.cashiers(ctx, user, period)
    if name == "tax":
        return service.tax(ctx, user, period, by=args.by or "rate")
    return service.stock(ctx, user)


def cmd_report(args) -> int:
    from station.reporting import export
    if args.csv and args.json:
        raise InvalidInput("choose --csv or --json, not both")
    ctx = open_ctx(args)
    user = sign_in_to_read(ctx, "report.view")
    r = _report(ctx, user, args)
    text = export.to_csv(ctx, r) if args.csv else export.to_json(ctx, r) if args.json else export.to_text(ctx, r)
    if args.out and args.out != "-":
        path = Path(args.out)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as e:
            raise InvalidInput(f"cannot write {path}: {e.strerror}") from None
        print(f"wrote {path}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_rebuild(args) -> int:
    from station.reporting import service, summary
    ctx = open_ctx(args)
    user = sign_in_to_read(ctx, "report.view")
    service._allowed(ctx, user)
    r = summary.refresh(ctx, rebuild=True)
    print(f"report summaries rebuilt from {r.events} journal entries (up to seq {r.seq}) in {r.seconds:.2f} s")
    return 0


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a whole number") from None
    if n < 1:
        raise InvalidInput(f"{text!r}: give a number of 1 or more")
    return n


def register(sub) -> None:
    p = sub.add_parser("report", help="reports: sales, products, slow movers, profit, cashiers, tax, stock",
                       description="Reports over business days in the store's time zone ([reports] timezone, "
                                   "day_starts). Amounts as the customer pays them, tax included.")
    p.add_argument("report", choices=REPORTS + ("rebuild",), metavar="REPORT",
                   help="sales | products | slow | profit | cashiers | tax | stock | rebuild")
    p.add_argument("period", nargs="?", metavar="PERIOD",
                   help="today (default), yesterday, week, last-week, month, last-month")
    p.add_argument("--from", dest="first", metavar="DAY", help="first business day YYYY-MM-DD")
    p.add_argument("--to", dest="last", metavar="DAY", help="last business day YYYY-MM-DD (included)")
    p.add_argument("--by", metavar="X", help="sales: day, hour, weekday, terminal, cashier, method, category, tax; "
                                             "profit: product, category, day; tax: rate, day")
    p.add_argument("--terminal", metavar="T", help="sales of one terminal (by day)")
    p.add_argument("--order", choices=("qty", "revenue", "margin"), help="products: the order (default revenue)")
    p.add_argument("--limit", type=_positive, metavar="N", help="products/profit/slow: at most N rows")
    p.add_argument("--days", type=_positive, metavar="N", help="slow: no sale in N days (default [reports] "
                                                               "slow_days)")
    p.add_argument("--category", metavar="C", help="products: one category only")
    p.add_argument("--csv", action="store_true", help="the report's table as CSV (amounts as decimals)")
    p.add_argument("--json", action="store_true", help="the whole report as JSON (amounts in minor units)")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=lambda args: cmd_rebuild(args) if args.report == "rebuild" else cmd_report(args))
