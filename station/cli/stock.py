"""CLI of products and stock:

  station product show CODE|SKU|#ID [--json]
  station product add --name N --price P (--vat R | --category C) [--barcode B] [--sku S]
                      [--unit pc|kg] [--cost C] [--reorder Q]
  station product edit CODE|SKU|#ID [--name N] [--price P] [--vat R] [--category C | --no-category]
                      [--cost C] [--unit pc|kg] [--reorder Q | --no-reorder] [--active yes|no]
                      [--add-barcode B] [--remove-barcode B]
  station product price-history CODE|SKU|#ID [--csv | --json]
  station product bulk-price CATEGORY PERCENT       (e.g. 10 or -5.5; needs a second person's approval)
  station product categories [--csv | --json]
  station product category-add NAME [--parent P] [--vat R]
  station stock show [CODE|SKU|#ID] [--category C] [--negative] [--low] [--csv | --json]
  station stock movements CODE|SKU|#ID [--limit N] [--csv | --json]
  station stock receive --supplier S [--ref NOTE] [--slip FILE] [--slip-csv FILE]
      then one line per scan on standard input: CODE or N*CODE, optionally the cost
      per unit after a space (``12*4006381333931 0.62``); an empty line or the end
      of input posts the delivery.
  station stock adjust CODE|SKU|#ID QTY --reason R [--note TEXT]   (QTY signed: -2, 3, 0.350)
  station stock alerts [--all] [--csv | --json]
  station stock alerts resolve ID --note TEXT
  station stock count start [--category C | --list CODE ...]
  station stock count list [--csv | --json]
  station stock count scan ID        (scans on standard input, one per line)
  station stock count review ID [--all] [--csv | --json]
  station stock count complete ID
  station stock count cancel ID [--note TEXT]

Every change asks who you are first (user, PIN, TOTP code where asked); a change
that needs a manager's approval then asks the approver (name, PIN, TOTP code).
Lists ask too unless ``security.cli_login_reads`` is off.
"""
from __future__ import annotations

import csv
import json
import sys

from station.cli.common import ask, open_ctx, sign_in, sign_in_to_read
from station.errors import InvalidInput, NeedsApproval, NotFound


def _fmt(ctx, v) -> str:
    from station import money
    return "" if v is None else money.format_amount(v, minor_units=ctx.config.store.minor_units)


def _qty(q, unit="pc") -> str:
    from station.stock.common import qty_text
    return "" if q is None else qty_text(q, unit)


def _emit(args, head: list[str], rows: list[list], records: list[dict]) -> None:
    """A list as a text table, CSV (``--csv``) or JSON (``--json``)."""
    if getattr(args, "json", False):
        print(json.dumps(records, indent=2, default=str))
        return
    if getattr(args, "csv", False):
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(head)
        w.writerows(rows)
        return
    if not rows:
        print("nothing to show")
        return
    text = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(head)]
    print("  ".join(h.upper().ljust(w) for h, w in zip(head, widths)).rstrip())
    for r in text:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def _with_approval(ctx, user, fn):
    """``fn(approval)``; when it needs a manager's approval, ask for one (approver,
    PIN, TOTP code) and run it again with it."""
    from station import authority
    try:
        return fn(None)
    except NeedsApproval as e:
        print(f"{e}: approver sign-in", file=sys.stderr)
        name = ask("Approved by: ", what="approver").strip()
        pin = ask("PIN: ", secret=True, what="approver PIN")
        code = None
        if authority.asks_totp(ctx, name):
            code = ask("TOTP code: ", secret=True, what="TOTP code").strip()
        a = authority.approve(ctx, user, name, pin, code, e.action, amount=e.amount, ref=e.ref,
                              reason="station command line")
        return fn(a)


def _product(ctx, key: str):
    from station.stock import products
    return products.find_one(ctx, key)


def _rate(text: str) -> int:
    from station import money
    try:
        return money.parse_rate((text or "").strip().rstrip("%").strip())
    except money.AmountError as e:
        raise InvalidInput(str(e)) from None


def _percent(text: str) -> int:
    t = (text or "").strip().rstrip("%").strip()
    neg = t.startswith("-")
    bp = _rate(t.lstrip("+-"))
    return -bp if neg else bp


def _money(ctx, text, what):
    from station.stock.common import parse_money
    return parse_money(ctx, text, what)


def _reorder(text, unit):
    from station.stock.common import parse_qty
    if text.strip() == "0":
        return 0
    return parse_qty(text, unit)


# ---------------------------------------------------------------- product --

def product_json(ctx, p) -> dict:
    return {"id": p.id, "sku": p.sku, "name": p.name, "price": p.price, "vat_rate": p.vat_rate, "unit": p.unit,
            "category": p.category, "cost": p.cost, "last_cost": p.last_cost, "on_hand": p.on_hand,
            "reorder_point": p.reorder_point, "active": p.active, "barcodes": p.barcodes}


def _show_product(ctx, p) -> None:
    print(f"{p.name}  (sku {p.sku}, #{p.id}{'' if p.active else ', INACTIVE'})")
    print(f"  price      {_fmt(ctx, p.price)}   VAT {p.vat_rate / 100:g} %   unit {p.unit}")
    print(f"  category   {p.category or '-'}")
    print(f"  cost       {_fmt(ctx, p.cost)} (average)   last paid {_fmt(ctx, p.last_cost)}")
    print(f"  on hand    {_qty(p.on_hand, p.unit)}   reorder point "
          f"{'-' if p.reorder_point is None else _qty(p.reorder_point, p.unit)}")
    print(f"  barcodes   {', '.join(p.barcodes) or '-'}")


def cmd_product_show(args) -> int:
    ctx = open_ctx(args)
    sign_in_to_read(ctx, "catalog.view")
    p = _product(ctx, args.key)
    if args.json:
        print(json.dumps(product_json(ctx, p), indent=2))
    else:
        _show_product(ctx, p)
    return 0


def cmd_product_add(args) -> int:
    from station.stock import products
    ctx = open_ctx(args)
    price = _money(ctx, args.price, "price")
    cost = _money(ctx, args.cost, "cost") if args.cost is not None else 0
    vat = _rate(args.vat) if args.vat is not None else None
    reorder = _reorder(args.reorder, args.unit) if args.reorder is not None else None
    user = sign_in(ctx, "catalog.view")
    p = _with_approval(ctx, user, lambda a: products.add_product(
        ctx, user, name=args.name, price=price, vat_rate=vat, category=args.category, barcode=args.barcode,
        sku=args.sku, unit=args.unit, cost=cost, reorder_point=reorder, approval=a))
    print(f"added {p.name} (sku {p.sku}, #{p.id}) at {_fmt(ctx, p.price)}")
    return 0


def cmd_product_edit(args) -> int:
    from station.stock import products
    ctx = open_ctx(args)
    p = _product(ctx, args.key)
    kw: dict = {}
    if args.name is not None:
        kw["name"] = args.name
    if args.price is not None:
        kw["price"] = _money(ctx, args.price, "price")
    if args.vat is not None:
        kw["vat_rate"] = _rate(args.vat)
    if args.cost is not None:
        kw["cost"] = _money(ctx, args.cost, "cost")
    if args.unit is not None:
        kw["unit"] = args.unit
    if args.category is not None or args.no_category:
        kw["category"] = None if args.no_category else args.category
    if args.reorder is not None or args.no_reorder:
        kw["reorder_point"] = None if args.no_reorder else _reorder(args.reorder, args.unit or p.unit)
    if args.active is not None:
        kw["active"] = args.active == "yes"
    if not kw and not args.add_barcode and not args.remove_barcode:
        raise InvalidInput("nothing to change: give --name, --price, --vat, --category, --cost, --unit, "
                           "--reorder, --active, --add-barcode or --remove-barcode")
    user = sign_in(ctx, "product.edit")
    if kw:
        p = products.edit_product(ctx, user, p.id, **kw)
    for code in args.add_barcode or []:
        p = products.add_barcode(ctx, user, p.id, code)
    for code in args.remove_barcode or []:
        p = products.remove_barcode(ctx, user, p.id, code)
    _show_product(ctx, p)
    return 0


def cmd_price_history(args) -> int:
    from station.stock import products
    ctx = open_ctx(args)
    sign_in_to_read(ctx, "catalog.view")
    p = _product(ctx, args.key)
    rows = products.price_history(ctx, p.id)
    _emit(args, ["when", "old", "new", "by", "reason"],
          [[str(h.created_at)[:19], _fmt(ctx, h.old_price), _fmt(ctx, h.new_price), h.user, h.reason] for h in rows],
          [{"when": str(h.created_at), "old_price": h.old_price, "new_price": h.new_price, "user": h.user,
            "reason": h.reason} for h in rows])
    return 0


def cmd_bulk_price(args) -> int:
    from station.stock import products
    ctx = open_ctx(args)
    bp = _percent(args.percent)
    user = sign_in(ctx, "product.edit")
    n = _with_approval(ctx, user, lambda a: products.bulk_price(ctx, user, args.category, bp, approval=a))
    print(f"{n} price(s) in {args.category} changed by {products.percent_text(bp)}")
    return 0


def cmd_categories(args) -> int:
    from station.stock import products
    ctx = open_ctx(args)
    sign_in_to_read(ctx, "catalog.view")
    rows = products.categories(ctx)
    _emit(args, ["category", "parent", "vat", "products", "active"],
          [[c.name, c.parent or "", "" if c.vat_rate is None else f"{c.vat_rate / 100:g} %", c.products,
            "yes" if c.active else "no"] for c in rows],
          [c.__dict__ for c in rows])
    return 0


def cmd_category_add(args) -> int:
    from station.stock import products
    ctx = open_ctx(args)
    vat = _rate(args.vat) if args.vat is not None else None
    user = sign_in(ctx, "product.edit")
    c = products.add_category(ctx, user, args.name, parent=args.parent, vat_rate=vat)
    print(f"category {c.name} added" + (f" in {c.parent}" if c.parent else ""))
    return 0


# ------------------------------------------------------------------ stock --

def cmd_stock_show(args) -> int:
    from station.stock import movements, products
    ctx = open_ctx(args)
    sign_in_to_read(ctx, "stock.view")
    if args.key:
        rows = [movements.stock_of(_product(ctx, args.key).id)]
    else:
        cat = products.category_named(args.category) if args.category else None
        rows = movements.stock_list(ctx, category_id=cat.id if cat else None, negative=args.negative, low=args.low,
                                    limit=args.limit)
    _emit(args, ["sku", "name", "category", "on hand", "reorder", "cost", "value"],
          [[s.sku, s.name, s.category, _qty(s.on_hand, s.unit),
            "" if s.reorder_point is None else _qty(s.reorder_point, s.unit), _fmt(ctx, s.cost),
            _fmt(ctx, s.value)] for s in rows],
          [{**s.__dict__, "value": s.value} for s in rows])
    if not (args.json or args.csv) and not args.key:
        n, value = movements.valuation(ctx)
        print(f"stock at cost: {_fmt(ctx, value)} ({n} products in stock)")
    return 0


def cmd_movements(args) -> int:
    from station.stock import movements
    ctx = open_ctx(args)
    sign_in_to_read(ctx, "stock.view")
    p = _product(ctx, args.key)
    rows = movements.movements(ctx, p.id, limit=args.limit)
    _emit(args, ["when", "kind", "qty", "cost", "by", "terminal", "ref", "reason"],
          [[str(m.created_at)[:19], m.kind, _qty(m.qty, p.unit), _fmt(ctx, m.cost), m.user, m.terminal, m.ref,
            m.reason] for m in rows],
          [{**m.__dict__, "created_at": str(m.created_at)} for m in rows])
    return 0


def cmd_receive(args) -> int:
    from station.stock import receiving
    ctx = open_ctx(args)
    user = sign_in(ctx, "stock.receive")
    rc = receiving.Receiving()
    while True:
        line = sys.stdin.readline() if not sys.stdin.isatty() else input("scan (empty line: done): ")
        line = line.strip()
        if not line:
            break
        code, _, cost_text = line.partition(" ")
        cost = _money(ctx, cost_text.strip(), "cost") if cost_text.strip() else None
        ln = rc.scan(ctx, code, cost)
        print(f"  {ln.name}: {_qty(ln.qty, ln.unit)} at {_fmt(ctx, ln.unit_cost)}", file=sys.stderr)
    d = receiving.receive(ctx, user, args.supplier, args.ref or "", rc.lines)
    slip = receiving.slip_text(ctx, d, ctx.config.values["printer"]["width"])
    sys.stdout.write(slip)
    for path, text in ((args.slip, slip), (args.slip_csv, receiving.slip_csv(ctx, d) if args.slip_csv else "")):
        if path:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    return 0


def cmd_adjust(args) -> int:
    from station.stock import adjustments
    from station.stock.common import parse_qty
    ctx = open_ctx(args)
    p = _product(ctx, args.key)
    qty = parse_qty(args.qty, p.unit, signed=True)
    user = sign_in(ctx, "stock.adjust")
    left = _with_approval(ctx, user, lambda a: adjustments.adjust(ctx, user, p.id, qty, args.reason,
                                                                 args.note or "", approval=a))
    print(f"{p.name}: {_qty(qty, p.unit)}, now {_qty(left, p.unit)} on hand")
    return 0


def cmd_alerts(args) -> int:
    from station.stock import alerts
    ctx = open_ctx(args)
    if args.alert_command == "resolve":
        user = sign_in(ctx, "stock.alert_resolve")
        alerts.resolve(ctx, user, args.id, args.note)
        print(f"alert {args.id} resolved")
        return 0
    sign_in_to_read(ctx, "stock.view")
    rows = alerts.alerts(ctx, active=not args.all)
    _emit(args, ["id", "sku", "name", "on hand", "reorder", "raised", "status", "note"],
          [[a.id, a.sku, a.name, _qty(a.on_hand, a.unit), _qty(a.reorder_point, a.unit), str(a.raised_at)[:16],
            a.status, a.note] for a in rows],
          [{**a.__dict__, "raised_at": str(a.raised_at),
            "resolved_at": None if a.resolved_at is None else str(a.resolved_at)} for a in rows])
    return 0


def cmd_count(args) -> int:
    from station.stock import counts
    ctx = open_ctx(args)
    c = args.count_command
    if c == "list":
        sign_in_to_read(ctx, "stock.view")
        rows = counts.counts(ctx)
        _emit(args, ["id", "scope", "category", "status", "started by", "started", "items", "scans"],
              [[v.id, v.scope, v.category, v.status, v.started_by, str(v.started_at)[:16], v.items, v.scans]
               for v in rows], [{**v.__dict__, "started_at": str(v.started_at),
                                 "finished_at": None if v.finished_at is None else str(v.finished_at)}
                                for v in rows])
        return 0
    if c == "review":
        sign_in_to_read(ctx, "stock.view")
        rv = counts.review(ctx, args.id, every=args.all)
        _emit(args, ["sku", "name", "expected", "since", "counted", "difference", "value"],
              [[ln.sku, ln.name, _qty(ln.expected, ln.unit), _qty(ln.since, ln.unit), _qty(ln.counted, ln.unit),
                _qty(ln.difference, ln.unit), _fmt(ctx, ln.value)] for ln in rv.lines],
              [{**ln.__dict__, "difference": ln.difference, "value": ln.value} for ln in rv.lines])
        if not (args.json or args.csv):
            print(f"count {rv.count.id} ({rv.count.status}): {rv.counted_items} of {rv.items} items counted, "
                  f"{rv.differences} differ; found {_fmt(ctx, rv.gain)}, missing {_fmt(ctx, rv.loss)} at cost")
        return 0
    if c == "start":
        user = sign_in(ctx, "stock.count_manage")
        scope = "category" if args.category else "list" if args.list else "store"
        v = counts.start(ctx, user, scope, category=args.category, codes=args.list)
        print(f"count {v.id} started: {v.items} items ({scope}{' ' + v.category if v.category else ''})")
        return 0
    if c == "scan":
        user = sign_in(ctx, "stock.count")
        n = 0
        for line in sys.stdin:
            if not line.strip():
                break
            try:
                r = counts.scan(ctx, user, args.id, line.strip())
            except (InvalidInput, NotFound) as e:
                print(f"  {line.strip()}: {e}", file=sys.stderr)
                continue
            n += 1
            print(f"  {r.name}: +{_qty(r.added, r.unit)} = {_qty(r.counted, r.unit)}", file=sys.stderr)
        print(f"{n} scan(s) recorded in count {args.id}")
        return 0
    if c == "complete":
        user = sign_in(ctx, "stock.count_manage")
        rv = _with_approval(ctx, user, lambda a: counts.complete(ctx, user, args.id, approval=a))
        print(f"count {args.id} completed: {rv.differences} correction(s); found {_fmt(ctx, rv.gain)}, "
              f"missing {_fmt(ctx, rv.loss)} at cost")
        return 0
    user = sign_in(ctx, "stock.count_manage")
    counts.cancel(ctx, user, args.id, args.note or "")
    print(f"count {args.id} cancelled")
    return 0


def _lists(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--csv", action="store_true", help="CSV output")
    g.add_argument("--json", action="store_true", help="JSON output")


def _id(text: str) -> int:
    import argparse
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a number")
    return int(text)


def register(sub) -> None:
    key_help = "a barcode, a sku, or #ID"
    p = sub.add_parser("product", help="products: show, add, edit, prices, categories",
                       description="Products managed at the till (changes ask user and PIN).")
    ps = p.add_subparsers(dest="product_command", metavar="ACTION", parser_class=type(p))
    p.set_defaults(func=lambda args: p.error("choose an action: show, add, edit, price-history, bulk-price, "
                                             "categories or category-add"))
    x = ps.add_parser("show", help="one product: prices, cost, stock, barcodes")
    x.add_argument("key", help=key_help)
    x.add_argument("--json", action="store_true", help="JSON output")
    x.set_defaults(func=cmd_product_show)
    x = ps.add_parser("add", help="add a product (a cashier needs a manager's approval)")
    x.add_argument("--name", required=True)
    x.add_argument("--price", required=True, help="e.g. 2.49")
    x.add_argument("--vat", help="VAT rate in percent (default: the category's)")
    x.add_argument("--category")
    x.add_argument("--barcode", help="EAN-13/EAN-8/UPC-A (check digit checked) or an internal code")
    x.add_argument("--sku", help="default: the barcode")
    x.add_argument("--unit", choices=("pc", "kg"), default="pc")
    x.add_argument("--cost", help="cost price per unit, e.g. 1.20")
    x.add_argument("--reorder", help="reorder point (a low-stock alert at or below it)")
    x.set_defaults(func=cmd_product_add)
    x = ps.add_parser("edit", help="change a product; a price change is journalled and kept in its history")
    x.add_argument("key", help=key_help)
    x.add_argument("--name")
    x.add_argument("--price")
    x.add_argument("--vat")
    x.add_argument("--category")
    x.add_argument("--no-category", action="store_true")
    x.add_argument("--cost")
    x.add_argument("--unit", choices=("pc", "kg"))
    x.add_argument("--reorder")
    x.add_argument("--no-reorder", action="store_true")
    x.add_argument("--active", choices=("yes", "no"))
    x.add_argument("--add-barcode", action="append", metavar="CODE")
    x.add_argument("--remove-barcode", action="append", metavar="CODE")
    x.set_defaults(func=cmd_product_edit)
    x = ps.add_parser("price-history", help="a product's price changes, newest first")
    x.add_argument("key", help=key_help)
    _lists(x)
    x.set_defaults(func=cmd_price_history)
    x = ps.add_parser("bulk-price", help="change a category's prices by a percent (with approval)")
    x.add_argument("category")
    x.add_argument("percent", help="e.g. 10, -5, 7.5")
    x.set_defaults(func=cmd_bulk_price)
    x = ps.add_parser("categories", help="the categories")
    _lists(x)
    x.set_defaults(func=cmd_categories)
    x = ps.add_parser("category-add", help="add a category (one level of grouping with --parent)")
    x.add_argument("name")
    x.add_argument("--parent")
    x.add_argument("--vat", help="the default VAT rate of its new products, in percent")
    x.set_defaults(func=cmd_category_add)

    s = sub.add_parser("stock", help="stock: on hand, movements, receive, adjust, alerts, counts",
                       description="Stock on hand and its movements (changes ask user and PIN).")
    ss = s.add_subparsers(dest="stock_command", metavar="ACTION", parser_class=type(s))
    s.set_defaults(func=lambda args: s.error("choose an action: show, movements, receive, adjust, alerts or count"))
    x = ss.add_parser("show", help="stock on hand and its value at cost")
    x.add_argument("key", nargs="?", help=key_help)
    x.add_argument("--category")
    x.add_argument("--negative", action="store_true", help="only products below zero")
    x.add_argument("--low", action="store_true", help="only products at or below their reorder point")
    x.add_argument("--limit", type=_id, default=500)
    _lists(x)
    x.set_defaults(func=cmd_stock_show)
    x = ss.add_parser("movements", help="a product's movements, newest first")
    x.add_argument("key", help=key_help)
    x.add_argument("--limit", type=_id, default=200)
    _lists(x)
    x.set_defaults(func=cmd_movements)
    x = ss.add_parser("receive", help="receive a delivery (scans on standard input)")
    x.add_argument("--supplier", required=True)
    x.add_argument("--ref", help="the delivery note's reference")
    x.add_argument("--slip", metavar="FILE", help="also write the receiving slip (text) to FILE")
    x.add_argument("--slip-csv", metavar="FILE", help="also write the receiving slip as CSV to FILE")
    x.set_defaults(func=cmd_receive)
    x = ss.add_parser("adjust", help="adjust a product's stock (+/-) with a reason")
    x.add_argument("key", help=key_help)
    x.add_argument("qty", help="signed quantity: -2, 3, 0.350")
    x.add_argument("--reason", required=True, help="damaged, expired, theft, found, own use, correction, other")
    x.add_argument("--note")
    x.set_defaults(func=cmd_adjust)
    x = ss.add_parser("alerts", help="low-stock alerts; 'alerts resolve ID --note' resolves one")
    xs = x.add_subparsers(dest="alert_command", metavar="ACTION", parser_class=type(x))
    x.add_argument("--all", action="store_true", help="resolved ones too")
    _lists(x)
    x.set_defaults(func=cmd_alerts, alert_command=None)
    r = xs.add_parser("resolve", help="resolve an alert with a note")
    r.add_argument("id", type=_id)
    r.add_argument("--note", required=True)
    r.set_defaults(func=cmd_alerts)
    c = ss.add_parser("count", help="stock counts: start, list, scan, review, complete, cancel")
    cs = c.add_subparsers(dest="count_command", metavar="ACTION", parser_class=type(c))
    c.set_defaults(func=lambda args: c.error("choose an action: start, list, scan, review, complete or cancel"))
    y = cs.add_parser("start", help="start a count (the whole store, a category, or a list)")
    g = y.add_mutually_exclusive_group()
    g.add_argument("--category")
    g.add_argument("--list", nargs="+", metavar="CODE")
    y.set_defaults(func=cmd_count)
    y = cs.add_parser("list", help="the counts")
    _lists(y)
    y.set_defaults(func=cmd_count)
    y = cs.add_parser("scan", help="scan into a count (one code or N*CODE per line on standard input)")
    y.add_argument("id", type=_id)
    y.set_defaults(func=cmd_count)
    y = cs.add_parser("review", help="the differences, valued at cost")
    y.add_argument("id", type=_id)
    y.add_argument("--all", action="store_true", help="every line, not only the differences")
    _lists(y)
    y.set_defaults(func=cmd_count)
    y = cs.add_parser("complete", help="post the corrections (a manager above the approval value)")
    y.add_argument("id", type=_id)
    y.set_defaults(func=cmd_count)
    y = cs.add_parser("cancel", help="cancel an open count")
    y.add_argument("id", type=_id)
    y.add_argument("--note")
    y.set_defaults(func=cmd_count)
