"""The reports: sales, top products, slow movers, profit, cashiers, tax, stock,
and the dashboard's figures. Each takes the context, the acting user (permission
``report.view``) and a :class:`~station.reporting.periods.Period`, brings the
summary tables up to date (``summary.refresh``) and returns a :class:`Report`:
plain values (amounts in minor units, quantities in thousandths), the same for
the screen, the CLI, CSV and JSON.

Definitions (all amounts as the customer pays them, tax included):
``gross`` = quantity x price before discounts; ``discounts`` = line and ticket
discounts; ``sales`` = what the tickets came to (before cash rounding);
``refunds`` = what returned goods gave back; ``net sales`` = sales - refunds;
``net ex tax`` = net sales without their tax. ``cost`` = the cost captured on
each sold line (``ticket_line.cost``) x quantity, returns taking theirs back;
``margin`` = net ex tax - net cost. Products are grouped by their category now.
"""
from __future__ import annotations

import datetime as _dt
from collections import defaultdict
from dataclasses import dataclass, field

from data import db as dbmod
from station import authority, money
from station.errors import InvalidInput
from station.reporting import summary
from station.reporting.periods import Clock, Period, months_in
from station.stock import alerts as stock_alerts
from station.stock import movements as stock_movements
from station.treasury import queries as treasury

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

NO_STOCK = "stock is not tracked in this store yet"


@dataclass
class Column:
    key: str
    label: str
    kind: str = "text"      # text | money | count | qty | pct | rate | trend


@dataclass
class Report:
    kind: str
    title: str
    period: Period | None
    by: str | None = None
    figures: list[tuple[str, str, object, str]] = field(default_factory=list)   # key, label, value, kind
    columns: list[Column] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    series: list[tuple[str, int]] = field(default_factory=list)     # what the plot shows
    series_label: str = ""
    series_kind: str = "money"
    note: str = ""

    def figure(self, key: str):
        for k, _label, v, _kind in self.figures:
            if k == key:
                return v
        raise KeyError(key)


BREAKDOWNS = {
    "sales": ("day", "hour", "weekday", "terminal", "cashier", "method", "category", "tax"),
    "products": ("qty", "revenue", "margin"),
    "profit": ("product", "category", "day"),
    "tax": ("rate", "day"),
}


def _allowed(ctx, user) -> None:
    """``report.view``; nobody signed in only where the store lets read-only
    commands run without a sign-in (``security.cli_login_reads`` off)."""
    if user is None and not ctx.config.security.cli_login_reads:
        return
    authority.require(ctx, user, "report.view")


def _rows(sql: str, params=()) -> list[tuple]:
    return dbmod.current().execute_sql(dbmod.q(sql), params).fetchall()


def _span(p: Period) -> tuple[str, str]:
    return p.first.isoformat(), p.last.isoformat()


def _sum(table: str, cols: tuple[str, ...], p: Period, group: str | None = None, where: str = "",
         params: tuple = ()) -> list[tuple]:
    sel = ", ".join(f"COALESCE(SUM({c}), 0)" for c in cols)
    g = f"{group}, " if group else ""
    sql = f"SELECT {g}{sel} FROM {table} WHERE day >= ? AND day <= ?{where}"
    if group:
        sql += f" GROUP BY {group} ORDER BY {group}"
    return [tuple(int(v) if i >= (1 if group else 0) else v for i, v in enumerate(r))
            for r in _rows(sql, (*_span(p), *params))]


def _div(a: int, b: int) -> int:
    return money.round_div(a, b) if b else 0


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def prepare(ctx) -> None:
    """Bring the summaries up to date (every report does this first)."""
    summary.refresh(ctx)


# ----------------------------------------------------------------- sales ---

_DAY = ("tickets", "items", "lines", "gross", "discounts", "total", "tax", "rounding", "cost", "refunds_n",
        "refunds", "refund_tax", "refund_cost", "post_voids_n", "post_voids", "exchanges_n", "voids_n", "voids",
        "line_voids_n", "line_voids")


def day_totals(p: Period) -> dict[str, int]:
    return dict(zip(_DAY, _sum("rpt_day", _DAY, p)[0]))


def _sales_figures(d: dict[str, int]) -> list[tuple[str, str, object, str]]:
    net = d["total"] - d["refunds"]
    return [
        ("gross", "Gross sales", d["gross"], "money"),
        ("discounts", "Discounts", d["discounts"], "money"),
        ("sales", "Sales", d["total"], "money"),
        ("refunds", "Refunds", d["refunds"], "money"),
        ("net", "Net sales", net, "money"),
        ("tax", "Tax (net of refunds)", d["tax"] - d["refund_tax"], "money"),
        ("net_ex_tax", "Net sales ex tax", net - d["tax"] + d["refund_tax"], "money"),
        ("tickets", "Tickets", d["tickets"], "count"),
        ("avg_ticket", "Average ticket", _div(d["total"], d["tickets"]), "money"),
        ("items", "Items", d["items"], "count"),
        ("items_per_ticket", "Items per ticket", round(d["items"] / d["tickets"], 2) if d["tickets"] else 0.0,
         "ratio"),
        ("voids_n", "Voided tickets", d["voids_n"], "count"),
        ("voids", "Voided tickets' value", d["voids"], "money"),
        ("line_voids_n", "Voided lines", d["line_voids_n"], "count"),
        ("line_voids", "Voided lines' value", d["line_voids"], "money"),
        ("post_voids_n", "Post-voids", d["post_voids_n"], "count"),
        ("post_voids", "Post-voids' value", d["post_voids"], "money"),
        ("refunds_n", "Refunds (count)", d["refunds_n"], "count"),
        ("rounding", "Cash rounding", d["rounding"], "money"),
    ]


def _short_day(day: str) -> str:
    return day[5:]


def sales(ctx, user, period: Period, *, by: str = "day", terminal: str | None = None) -> Report:
    _allowed(ctx, user)
    if by not in BREAKDOWNS["sales"]:
        raise InvalidInput(f"sales can be broken down by {', '.join(BREAKDOWNS['sales'])}, not {by!r}")
    prepare(ctx)
    if terminal:
        return _sales_of_terminal(period, by, terminal)
    d = day_totals(period)
    r = Report("sales", "Sales", period, by, _sales_figures(d))
    money_col = Column("sales", "Sales", "money")
    if by == "day":
        got = {row[0]: row[1:] for row in _sum("rpt_day", ("tickets", "total", "refunds", "tax", "refund_tax"),
                                                period, "day")}
        r.columns = [Column("day", "Day"), Column("weekday", "Wd"), Column("tickets", "Tickets", "count"),
                     money_col, Column("refunds", "Refunds", "money"), Column("net", "Net", "money"),
                     Column("tax", "Tax", "money"), Column("avg", "Avg ticket", "money")]
        for day in period.each_day():
            k = day.isoformat()
            n, tot, ref, tax, rtax = got.get(k, (0, 0, 0, 0, 0))
            r.rows.append({"day": k, "weekday": WEEKDAYS[day.weekday()], "tickets": n, "sales": tot,
                           "refunds": ref, "net": tot - ref, "tax": tax - rtax, "avg": _div(tot, n)})
        r.series = [(_short_day(x["day"]), x["sales"]) for x in r.rows]
        r.series_label = "sales per day"
    elif by == "hour":
        got = {row[0]: row[1:] for row in _sum("rpt_hour", ("tickets", "total"), period, "hour")}
        r.columns = [Column("hour", "Hour"), Column("tickets", "Tickets", "count"), money_col,
                     Column("share", "Share %", "pct")]
        for h in _business_hours(Clock.of(ctx)):
            n, tot = got.get(h, (0, 0))
            r.rows.append({"hour": f"{h:02d}", "tickets": n, "sales": tot, "share": _pct(tot, d["total"])})
        r.series = [(x["hour"], x["sales"]) for x in r.rows]
        r.series_label = "sales per hour of the day"
    elif by == "weekday":
        got = {row[0]: row[1:] for row in _sum("rpt_day", ("tickets", "total"), period, "day")}
        days, n, tot = defaultdict(int), defaultdict(int), defaultdict(int)
        for day in period.each_day():
            w = day.weekday()
            days[w] += 1
            t, s = got.get(day.isoformat(), (0, 0))
            n[w] += t
            tot[w] += s
        r.columns = [Column("weekday", "Weekday"), Column("days", "Days", "count"),
                     Column("tickets", "Tickets", "count"), money_col, Column("per_day", "Per day", "money")]
        for w in range(7):
            r.rows.append({"weekday": WEEKDAYS[w], "days": days[w], "tickets": n[w], "sales": tot[w],
                           "per_day": _div(tot[w], days[w])})
        r.series = [(x["weekday"], x["sales"]) for x in r.rows]
        r.series_label = "sales per weekday"
    elif by == "terminal":
        r.columns = [Column("terminal", "Terminal"), Column("tickets", "Tickets", "count"), money_col,
                     Column("refunds", "Refunds", "money"), Column("net", "Net", "money"),
                     Column("voids", "Voids", "count"), Column("line_voids", "Line voids", "count")]
        for t, n, tot, ref, v, lv in _sum("rpt_terminal", ("tickets", "total", "refunds", "voids_n",
                                                           "line_voids_n"), period, "terminal"):
            r.rows.append({"terminal": t, "tickets": n, "sales": tot, "refunds": ref, "net": tot - ref,
                           "voids": v, "line_voids": lv})
        r.series = [(x["terminal"], x["sales"]) for x in r.rows]
        r.series_label = "sales per terminal"
    elif by == "cashier":
        r.columns = [Column("cashier", "Cashier"), Column("tickets", "Tickets", "count"), money_col,
                     Column("discounts", "Discounts", "money"), Column("refunds", "Refunds", "money"),
                     Column("avg", "Avg ticket", "money")]
        for c, n, tot, disc, ref in _sum("rpt_cashier", ("tickets", "total", "discounts", "refunds"), period,
                                         "cashier"):
            if n or ref:
                r.rows.append({"cashier": c, "tickets": n, "sales": tot, "discounts": disc, "refunds": ref,
                               "avg": _div(tot, n)})
        r.series = [(x["cashier"], x["sales"]) for x in r.rows]
        r.series_label = "sales per cashier"
    elif by == "method":
        r.columns = [Column("method", "Method"), Column("tickets", "Tickets", "count"),
                     Column("amount", "Taken", "money"), Column("refunds", "Given back", "money"),
                     Column("net", "Net", "money")]
        for m, n, amount, _rn, ref in _sum("rpt_method", ("tickets", "amount", "refunds_n", "refunds"), period,
                                           "method"):
            r.rows.append({"method": m, "tickets": n, "amount": amount, "refunds": ref, "net": amount - ref})
        r.series = [(x["method"], x["net"]) for x in r.rows]
        r.series_label = "net taken per tender method"
    elif by == "category":
        r.columns = [Column("category", "Category"), Column("qty", "Qty", "qty"), money_col,
                     Column("refunds", "Refunds", "money"), Column("net", "Net", "money"),
                     Column("share", "Share %", "pct")]
        cats = _by_category(period)
        whole = sum(v["revenue"] - v["refund_revenue"] for v in cats.values())
        for cat in sorted(cats, key=lambda c: -(cats[c]["revenue"] - cats[c]["refund_revenue"])):
            v = cats[cat]
            net = v["revenue"] - v["refund_revenue"]
            r.rows.append({"category": cat, "qty": v["qty"] - v["refund_qty"], "sales": v["revenue"],
                           "refunds": v["refund_revenue"], "net": net, "share": _pct(net, whole)})
        r.series = [(x["category"], x["net"]) for x in r.rows]
        r.series_label = "net sales per category"
    else:   # tax
        t = tax(ctx, user, period, prepared=True)
        r.columns, r.rows, r.series, r.series_label = t.columns, t.rows, t.series, t.series_label
    return r


def _sales_of_terminal(period: Period, by: str, terminal: str) -> Report:
    if by != "day":
        raise InvalidInput("with --terminal the sales are broken down by day only")
    cols = ("tickets", "total", "tax", "refunds", "voids_n", "line_voids_n")
    got = {row[0]: row[1:] for row in _sum("rpt_terminal", cols, period, "day", " AND terminal = ?",
                                            (terminal,))}
    tot = dict(zip(cols, [sum(v[i] for v in got.values()) for i in range(len(cols))]))
    r = Report("sales", f"Sales of terminal {terminal}", period, "day", [
        ("sales", "Sales", tot["total"], "money"), ("refunds", "Refunds", tot["refunds"], "money"),
        ("net", "Net sales", tot["total"] - tot["refunds"], "money"), ("tax", "Tax on sales", tot["tax"], "money"),
        ("tickets", "Tickets", tot["tickets"], "count"),
        ("avg_ticket", "Average ticket", _div(tot["total"], tot["tickets"]), "money"),
        ("voids_n", "Voided tickets", tot["voids_n"], "count"),
        ("line_voids_n", "Voided lines", tot["line_voids_n"], "count")])
    r.columns = [Column("day", "Day"), Column("tickets", "Tickets", "count"), Column("sales", "Sales", "money"),
                 Column("refunds", "Refunds", "money"), Column("net", "Net", "money")]
    for day in period.each_day():
        n, s, _tx, ref, _v, _lv = got.get(day.isoformat(), (0,) * 6)
        r.rows.append({"day": day.isoformat(), "tickets": n, "sales": s, "refunds": ref, "net": s - ref})
    r.series = [(_short_day(x["day"]), x["sales"]) for x in r.rows]
    r.series_label = f"sales per day at {terminal}"
    return r


def _business_hours(clock: Clock) -> list[int]:
    start = clock.cutoff.hour
    return [(start + i) % 24 for i in range(24)]


# -------------------------------------------------------------- products ---

_PRODUCT = ("qty", "lines", "revenue", "tax", "cost", "refund_qty", "refund_revenue", "refund_tax", "refund_cost")


def product_sums(p: Period, only: list[int] | None = None) -> dict[int, dict[str, int]]:
    """Per product over the period: whole months from the monthly table, the
    partial months at the edges from the daily one."""
    out: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_PRODUCT, 0))
    sel = ", ".join(f"SUM({c})" for c in _PRODUCT)
    extra = "" if only is None else f" AND product_id IN ({', '.join(str(int(i)) for i in only) or 'NULL'})"
    whole, edges = months_in(p)
    queries = []
    if whole:
        queries.append((f"SELECT product_id, {sel} FROM rpt_product_month WHERE month >= ? AND month <= ?{extra} "
                        "GROUP BY product_id", (whole[0], whole[-1])))
    for first, last in edges:
        queries.append((f"SELECT product_id, {sel} FROM rpt_product_day WHERE day >= ? AND day <= ?{extra} "
                        "GROUP BY product_id", (first.isoformat(), last.isoformat())))
    for sql, params in queries:
        for row in _rows(sql, params):
            d = out[int(row[0])]
            for c, v in zip(_PRODUCT, row[1:]):
                d[c] += int(v or 0)
    return out


def _margin(v: dict[str, int]) -> int:
    return (v["revenue"] - v["tax"] - v["refund_revenue"] + v["refund_tax"]) - (v["cost"] - v["refund_cost"])


def _net_ex(v: dict[str, int]) -> int:
    return v["revenue"] - v["tax"] - v["refund_revenue"] + v["refund_tax"]


def products_info(ids) -> dict[int, tuple[str, str, str, str]]:
    """id -> (sku, name, category, unit)."""
    out = {}
    ids = sorted(set(int(i) for i in ids))
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for pid, sku, name, cat, unit in _rows(
                f"SELECT id, sku, name, category, unit FROM product WHERE id IN ({', '.join(map(str, chunk))})"):
            out[int(pid)] = (sku, name, cat or "", unit)
    return out


def _describe(pid: int, info: dict) -> tuple[str, str, str, str]:
    return info.get(pid, ("", "(item without a product)" if pid == 0 else f"product {pid}", "", "pc"))


def _by_category(p: Period) -> dict[str, dict[str, int]]:
    sums = product_sums(p)
    info = products_info(sums)
    cats: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_PRODUCT, 0))
    for pid, v in sums.items():
        cat = _describe(pid, info)[2] or "(no category)"
        for c in _PRODUCT:
            cats[cat][c] += v[c]
    return cats


def _trend(p: Period, ids: list[int]) -> tuple[dict[int, list[int]], str]:
    """Net quantity per day (periods up to 62 days) or per month, for ``ids``."""
    if not ids:
        return {}, ""
    inn = f"product_id IN ({', '.join(str(int(i)) for i in ids)})"
    if p.days <= 62:
        keys = [d.isoformat() for d in p.each_day()]
        rows = _rows(f"SELECT product_id, day, qty - refund_qty FROM rpt_product_day WHERE day >= ? AND day <= ? "
                     f"AND {inn}", _span(p))
        unit = "day"
    else:
        keys = sorted({d.strftime("%Y-%m") for d in p.each_day()})
        whole, edges = months_in(p)
        rows = []
        if whole:
            rows += _rows(f"SELECT product_id, month, qty - refund_qty FROM rpt_product_month WHERE month >= ? "
                          f"AND month <= ? AND {inn}", (whole[0], whole[-1]))
        for first, last in edges:
            rows += [(pid, day[:7], q) for pid, day, q in _rows(
                f"SELECT product_id, day, qty - refund_qty FROM rpt_product_day WHERE day >= ? AND day <= ? "
                f"AND {inn}", (first.isoformat(), last.isoformat()))]
        unit = "month"
    pos = {k: i for i, k in enumerate(keys)}
    out = {int(i): [0] * len(keys) for i in ids}
    for pid, k, q in rows:
        out[int(pid)][pos[k]] += int(q)
    return out, unit


ORDERS = {"qty": "net quantity", "revenue": "net sales", "margin": "margin"}


def products(ctx, user, period: Period, *, order: str = "revenue", limit: int = 20,
             category: str | None = None) -> Report:
    _allowed(ctx, user)
    if order not in ORDERS:
        raise InvalidInput(f"top products are ordered by {', '.join(ORDERS)}, not {order!r}")
    if not isinstance(limit, int) or not 1 <= limit <= 10000:
        raise InvalidInput("--limit is a number from 1 to 10000")
    prepare(ctx)
    sums = product_sums(period)
    if category is not None:
        info_all = products_info(sums)
        sums = {k: v for k, v in sums.items() if _describe(k, info_all)[2] == category}
    key = {"qty": lambda v: v["qty"] - v["refund_qty"], "revenue": lambda v: v["revenue"] - v["refund_revenue"],
           "margin": _margin}[order]
    top = sorted(sums, key=lambda pid: (-key(sums[pid]), pid))[:limit]
    info = products_info(top)
    trend, unit = _trend(period, top)
    r = Report("products", f"Top products by {ORDERS[order]}", period, order)
    r.columns = [Column("rank", "#", "count"), Column("sku", "SKU"), Column("name", "Product"),
                 Column("category", "Category"), Column("qty", "Qty", "qty"), Column("sales", "Sales", "money"),
                 Column("refunds", "Refunds", "money"), Column("net", "Net", "money"),
                 Column("margin", "Margin", "money"), Column("margin_pct", "Margin %", "pct"),
                 Column("trend", f"Trend/{unit or 'day'}", "trend")]
    for i, pid in enumerate(top, 1):
        v = sums[pid]
        sku, name, cat, _u = _describe(pid, info)
        m = _margin(v)
        r.rows.append({"rank": i, "product_id": pid, "sku": sku, "name": name, "category": cat,
                       "qty": v["qty"] - v["refund_qty"], "sales": v["revenue"], "refunds": v["refund_revenue"],
                       "net": v["revenue"] - v["refund_revenue"], "margin": m, "margin_pct": _pct(m, _net_ex(v)),
                       "trend": trend.get(pid, [])})
    total = {c: sum(v[c] for v in sums.values()) for c in _PRODUCT}
    r.figures = [("products", "Products sold", sum(1 for v in sums.values() if v["qty"]), "count"),
                 ("net", "Net sales", total["revenue"] - total["refund_revenue"], "money"),
                 ("margin", "Margin", _margin(total), "money")]
    r.series = [(x["sku"] or x["name"], x["net"] if order != "qty" else x["qty"]) for x in r.rows]
    r.series_label = ORDERS[order]
    r.series_kind = "qty" if order == "qty" else "money"
    return r


def slow(ctx, user, *, days: int | None = None, now: _dt.datetime | None = None, limit: int = 200) -> Report:
    """Active products with no sale in the last ``days`` business days (default
    ``reports.slow_days``), longest unsold first, with stock on hand when tracked."""
    _allowed(ctx, user)
    days = ctx.config.values["reports"]["slow_days"] if days is None else days
    if not isinstance(days, int) or not 1 <= days <= 3650:
        raise InvalidInput("--days is a number from 1 to 3650")
    prepare(ctx)
    today = Clock.of(ctx).today(now)
    since = today - _dt.timedelta(days=days - 1)
    recent = {int(r[0]) for r in _rows("SELECT DISTINCT product_id FROM rpt_product_day WHERE day >= ? "
                                       "AND qty > 0", (since.isoformat(),))}
    active = _rows("SELECT id, sku, name, category FROM product WHERE active = ? ORDER BY id", (True,))
    slow_ids = [int(r[0]) for r in active if int(r[0]) not in recent]
    last: dict[int, str] = {}
    for i in range(0, len(slow_ids), 500):
        chunk = ", ".join(map(str, slow_ids[i:i + 500]))
        for pid, m in _rows(f"SELECT product_id, MAX(month) FROM rpt_product_month WHERE qty > 0 "
                            f"AND product_id IN ({chunk}) GROUP BY product_id"):
            d = _rows("SELECT MAX(day) FROM rpt_product_day WHERE product_id = ? AND qty > 0 AND day >= ? "
                      "AND day <= ?", (pid, f"{m}-01", f"{m}-31"))[0][0]
            last[int(pid)] = d
    on_hand = _stock_by_sku(ctx)
    r = Report("slow", f"Slow movers: no sale in {days} days", Period(since, today, "custom"), None)
    r.columns = [Column("sku", "SKU"), Column("name", "Product"), Column("category", "Category"),
                 Column("last_sold", "Last sold"), Column("days", "Days", "count")]
    if on_hand is not None:
        r.columns += [Column("on_hand", "On hand", "qty"), Column("value", "Value at cost", "money")]
    rows = []
    for pid, sku, name, cat in active:
        pid = int(pid)
        if pid not in slow_ids:
            continue
        d = last.get(pid)
        row = {"sku": sku, "name": name, "category": cat or "", "last_sold": d or "never",
               "days": (today - _dt.date.fromisoformat(d)).days if d else None}
        if on_hand is not None:
            s = on_hand.get(sku, {})
            row["on_hand"] = int(s.get("on_hand", 0))
            row["value"] = int(s.get("value", 0))
        rows.append(row)
    rows.sort(key=lambda x: (x["days"] is not None, -(x["days"] or 0), x["sku"]))
    r.rows = rows[:limit]
    r.figures = [("slow", "Slow movers", len(rows), "count"), ("days", "No sale in (days)", days, "count")]
    if on_hand is None:
        r.note = NO_STOCK + ": on hand is not shown"
    return r


# ---------------------------------------------------------------- profit ---

def profit(ctx, user, period: Period, *, by: str = "product", limit: int = 50) -> Report:
    _allowed(ctx, user)
    if by not in BREAKDOWNS["profit"]:
        raise InvalidInput(f"profit can be broken down by {', '.join(BREAKDOWNS['profit'])}, not {by!r}")
    prepare(ctx)
    d = day_totals(period)
    revenue = d["total"] - d["tax"] - d["refunds"] + d["refund_tax"]
    cost = d["cost"] - d["refund_cost"]
    r = Report("profit", "Profit", period, by, [
        ("revenue", "Net sales ex tax", revenue, "money"), ("cost", "Cost of goods sold", cost, "money"),
        ("margin", "Margin", revenue - cost, "money"), ("margin_pct", "Margin %", _pct(revenue - cost, revenue),
                                                         "pct"),
        ("refunds", "Refunds (in the figures)", d["refunds"], "money")])
    cols = [Column("revenue", "Net ex tax", "money"), Column("cost", "Cost", "money"),
            Column("margin", "Margin", "money"), Column("margin_pct", "Margin %", "pct")]
    if by == "day":
        got = {row[0]: row[1:] for row in _sum("rpt_day", ("total", "tax", "refunds", "refund_tax", "cost",
                                                           "refund_cost"), period, "day")}
        r.columns = [Column("day", "Day")] + cols
        for day in period.each_day():
            t, tx, rf, rtx, c, rc = got.get(day.isoformat(), (0,) * 6)
            rev, cst = t - tx - rf + rtx, c - rc
            r.rows.append({"day": day.isoformat(), "revenue": rev, "cost": cst, "margin": rev - cst,
                           "margin_pct": _pct(rev - cst, rev)})
        r.series = [(_short_day(x["day"]), x["margin"]) for x in r.rows]
        r.series_label = "margin per day"
        return r
    if by == "category":
        groups = _by_category(period)
        r.columns = [Column("category", "Category")] + cols
        for cat, v in groups.items():
            rev, m = _net_ex(v), _margin(v)
            r.rows.append({"category": cat, "revenue": rev, "cost": rev - m, "margin": m, "margin_pct": _pct(m, rev)})
    else:
        sums = product_sums(period)
        top = sorted(sums, key=lambda pid: (-_margin(sums[pid]), pid))[:limit]
        info = products_info(top)
        r.columns = [Column("sku", "SKU"), Column("name", "Product")] + cols
        for pid in top:
            v = sums[pid]
            sku, name, _cat, _u = _describe(pid, info)
            rev, m = _net_ex(v), _margin(v)
            r.rows.append({"sku": sku, "name": name, "revenue": rev, "cost": rev - m, "margin": m,
                           "margin_pct": _pct(m, rev)})
    r.rows.sort(key=lambda x: -x["margin"])
    r.series = [(x.get("category") or x.get("sku") or x.get("name"), x["margin"]) for x in r.rows]
    r.series_label = f"margin per {by}"
    return r


# -------------------------------------------------------------- cashiers ---

_CASHIER = ("tickets", "items", "total", "discounts", "refunds_n", "refunds", "post_voids_n", "voids_n", "voids",
            "line_voids_n", "line_voids", "price_overrides", "overrides_requested", "overrides_approved",
            "no_sales")


def cashiers(ctx, user, period: Period) -> Report:
    """The loss-prevention view: per cashier, sales, voids, discounts, refunds,
    overrides asked for and granted, no-sales and drawer variances."""
    _allowed(ctx, user)
    prepare(ctx)
    clock = Clock.of(ctx)
    start, end = clock.start_of(period.first), clock.start_of(period.last + _dt.timedelta(days=1))
    var: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for name, v in _rows("SELECT u.name, s.variance FROM drawer_session s JOIN \"user\" u ON u.id = s.cashier_id "
                         "WHERE s.status = 'closed' AND s.closed_at >= ? AND s.closed_at < ?",
                         (dbmod.param_time(start), dbmod.param_time(end))):
        v = int(v or 0)
        var[name][0] += 1
        var[name][1] += v
        var[name][2] += abs(v)
    got = {row[0]: dict(zip(_CASHIER, row[1:])) for row in _sum("rpt_cashier", _CASHIER, period, "cashier")}
    r = Report("cashiers", "Cashiers", period, "cashier")
    r.columns = [Column("cashier", "Cashier"), Column("tickets", "Tickets", "count"),
                 Column("sales", "Sales", "money"), Column("discounts", "Discounts", "money"),
                 Column("voids", "Voids", "count"), Column("line_voids", "Line voids", "count"),
                 Column("line_voids_value", "Line voids value", "money"),
                 Column("refunds", "Refunds", "count"), Column("refunds_value", "Refunds value", "money"),
                 Column("post_voids", "Post-voids", "count"), Column("price_overrides", "Price overrides", "count"),
                 Column("overrides_requested", "Overrides asked", "count"),
                 Column("overrides_approved", "Overrides granted", "count"),
                 Column("no_sales", "No-sales", "count"), Column("closes", "Closes", "count"),
                 Column("variance", "Variance", "money"), Column("variance_abs", "Abs variance", "money")]
    for name in sorted(set(got) | set(var)):
        g = got.get(name) or dict.fromkeys(_CASHIER, 0)
        c = var.get(name, [0, 0, 0])
        if not any(g.values()) and not c[0]:
            continue
        r.rows.append({"cashier": name, "tickets": g["tickets"], "sales": g["total"], "discounts": g["discounts"],
                       "voids": g["voids_n"], "line_voids": g["line_voids_n"], "line_voids_value": g["line_voids"],
                       "refunds": g["refunds_n"], "refunds_value": g["refunds"], "post_voids": g["post_voids_n"],
                       "price_overrides": g["price_overrides"], "overrides_requested": g["overrides_requested"],
                       "overrides_approved": g["overrides_approved"], "no_sales": g["no_sales"],
                       "closes": c[0], "variance": c[1], "variance_abs": c[2]})
    r.figures = [("cashiers", "Cashiers", len(r.rows), "count"),
                 ("voids", "Voided tickets", sum(x["voids"] for x in r.rows), "count"),
                 ("line_voids", "Voided lines", sum(x["line_voids"] for x in r.rows), "count"),
                 ("no_sales", "No-sales", sum(x["no_sales"] for x in r.rows), "count"),
                 ("variance", "Drawer variance", sum(x["variance"] for x in r.rows), "money")]
    r.series = [(x["cashier"], x["line_voids"] + x["voids"]) for x in r.rows]
    r.series_label = "voids (tickets and lines) per cashier"
    r.series_kind = "count"
    return r


# ------------------------------------------------------------------- tax ---

def tax(ctx, user, period: Period, *, by: str = "rate", prepared: bool = False) -> Report:
    """Per VAT rate: sales and refunds with their net and tax, as the accountant
    files them (``by="day"``: per day and rate)."""
    if not prepared:
        _allowed(ctx, user)
        if by not in BREAKDOWNS["tax"]:
            raise InvalidInput(f"tax can be broken down by {', '.join(BREAKDOWNS['tax'])}, not {by!r}")
        prepare(ctx)
    cols = ("gross", "tax", "refund_gross", "refund_tax")
    r = Report("tax", "Tax", period, by)
    key_cols = [Column("day", "Day")] if by == "day" else []
    r.columns = key_cols + [Column("rate", "Rate", "rate"), Column("sales_gross", "Sales gross", "money"),
                            Column("sales_net", "Sales net", "money"), Column("sales_tax", "Sales tax", "money"),
                            Column("refunds_gross", "Refunds gross", "money"),
                            Column("refunds_tax", "Refunds tax", "money"), Column("net", "Net", "money"),
                            Column("tax", "Tax due", "money")]
    if by == "day":
        rows = [(row[0], row[1], *row[2:]) for row in _rows(
            f"SELECT day, rate, {', '.join(f'SUM({c})' for c in cols)} FROM rpt_tax WHERE day >= ? AND day <= ? "
            "GROUP BY day, rate ORDER BY day, rate", _span(period))]
    else:
        rows = [(None, *row) for row in _sum("rpt_tax", cols, period, "rate")]
    totals = dict.fromkeys(("gross", "tax", "rg", "rt"), 0)
    for day, rate, g, t, rg, rt in rows:
        g, t, rg, rt = int(g), int(t), int(rg), int(rt)
        row = {"rate": int(rate), "sales_gross": g, "sales_net": g - t, "sales_tax": t, "refunds_gross": rg,
               "refunds_tax": rt, "net": g - t - rg + rt, "tax": t - rt}
        if by == "day":
            row = {"day": day, **row}
        r.rows.append(row)
        for k, v in (("gross", g), ("tax", t), ("rg", rg), ("rt", rt)):
            totals[k] += v
    r.figures = [("sales_gross", "Sales gross", totals["gross"], "money"),
                 ("sales_tax", "Tax on sales", totals["tax"], "money"),
                 ("refunds_tax", "Tax on refunds", totals["rt"], "money"),
                 ("tax", "Tax due", totals["tax"] - totals["rt"], "money"),
                 ("net", "Net (ex tax)", totals["gross"] - totals["tax"] - totals["rg"] + totals["rt"], "money")]
    if by == "rate":
        r.series = [(f"{x['rate'] / 100:g}%", x["tax"]) for x in r.rows]
        r.series_label = "tax due per rate"
    return r


# ----------------------------------------------------------------- stock ---

_SHRINK = ("SELECT product_id, -SUM(qty) FROM stock_movement WHERE kind IN ('adjustment','count') AND qty < 0 "
           "GROUP BY product_id")


def stock_rows(ctx) -> list[dict] | None:
    """Per active product: on hand, unit cost, value at cost, low (at or below its
    reorder point), shrinkage (lost in adjustments and count corrections, all
    time). None while no stock was ever put in (received, counted or adjusted)."""
    if not _rows("SELECT 1 FROM stock_movement WHERE kind IN ('receipt','count','adjustment') LIMIT 1"):
        return None
    lost = {int(pid): int(q) for pid, q in _rows(_SHRINK)}
    out, offset = [], 0
    while True:
        page = stock_movements.stock_list(ctx, limit=1000, offset=offset)
        out += [{"sku": x.sku, "name": x.name, "category": x.category, "on_hand": x.on_hand, "cost": x.cost,
                 "value": x.value, "low": x.reorder_point is not None and x.on_hand <= x.reorder_point,
                 "shrinkage": lost.get(x.product_id, 0)} for x in page if x.active]
        if len(page) < 1000:
            return out
        offset += 1000


def _stock_by_sku(ctx) -> dict[str, dict] | None:
    rows = stock_rows(ctx)
    return None if rows is None else {row["sku"]: row for row in rows}


def stock(ctx, user) -> Report:
    """On hand, valuation at cost, low stock and shrinkage per product."""
    _allowed(ctx, user)
    r = Report("stock", "Stock", None)
    rows = stock_rows(ctx)
    if rows is None:
        r.note = NO_STOCK + ": receive a delivery or count the stock first"
        return r
    r.columns = [Column("sku", "SKU"), Column("name", "Product"), Column("category", "Category"),
                 Column("on_hand", "On hand", "qty"), Column("cost", "Unit cost", "money"),
                 Column("value", "Value at cost", "money"), Column("low", "Low"),
                 Column("shrinkage", "Shrinkage", "qty")]
    r.rows = [{**x, "low": "low" if x["low"] else ""} for x in rows]
    r.figures = [("products", "Products", len(r.rows), "count"),
                 ("value", "Stock value at cost", sum(x["value"] for x in r.rows), "money"),
                 ("low", "Low on stock", sum(1 for x in r.rows if x["low"]), "count"),
                 ("shrinkage", "Shrinkage (all time)", sum(x["shrinkage"] for x in r.rows), "qty")]
    r.series = [(x["sku"], x["value"]) for x in sorted(r.rows, key=lambda x: -x["value"])[:40]]
    r.series_label = "value at cost per product, highest first"
    return r


# ------------------------------------------------------------- dashboard ---

@dataclass
class Dashboard:
    today: str
    last_week: str
    hour: int                              # the local hour now
    figures: list[tuple[str, str, int, int, str]]   # key, label, today, same weekday last week by now, kind
    hourly: list[tuple[str, int]]          # today, per hour of the business day up to now
    hourly_last_week: list[tuple[str, int]]
    alerts: list[str]


def dashboard(ctx, user, *, now: _dt.datetime | None = None) -> Dashboard:
    """Today so far against the same weekday last week up to the same hour, the
    hourly sales plot, and what waits for a manager."""
    authority.require(ctx, user, "dashboard.view")
    prepare(ctx)
    clock = Clock.of(ctx)
    now = now or _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
    today = clock.today(now)
    before = today - _dt.timedelta(days=7)
    hour = clock.local(now).hour
    order = _business_hours(clock)
    upto = order[:order.index(hour) + 1]
    per = {}
    for day in (today, before):
        got = {int(h): (int(n), int(t)) for h, n, t in _rows(
            "SELECT hour, tickets, total FROM rpt_hour WHERE day = ?", (day.isoformat(),))}
        per[day] = got
    d_today = day_totals(Period(today, today, "today"))

    def by_now(day):
        got = per[day]
        return sum(got.get(h, (0, 0))[0] for h in upto), sum(got.get(h, (0, 0))[1] for h in upto)
    n0, s0 = by_now(today)
    n1, s1 = by_now(before)
    figures = [("sales", "Sales", s0, s1, "money"), ("tickets", "Tickets", n0, n1, "count"),
               ("avg_ticket", "Average ticket", _div(s0, n0), _div(s1, n1), "money"),
               ("refunds", "Refunds", d_today["refunds"], -1, "money"),
               ("voids", "Voids (tickets + lines)", d_today["voids_n"] + d_today["line_voids_n"], -1, "count")]
    alerts = []
    pending = _rows("SELECT COUNT(*) FROM approval_request WHERE status = 'pending'")[0][0]
    if pending:
        alerts.append(f"{pending} approval request(s) waiting for a manager")
    unprinted = _rows("SELECT COUNT(*) FROM print_job WHERE status IN ('queued','failed','unconfirmed')")[0][0]
    if unprinted:
        alerts.append(f"{unprinted} receipt(s) not printed")
    waiting = _rows("SELECT COUNT(*) FROM refund WHERE status IN ('requested','approved')")[0][0]
    if waiting:
        alerts.append(f"{waiting} refund request(s) waiting")
    low = len(stock_alerts.alerts(ctx))
    if low:
        alerts.append(f"{low} product(s) low on stock")
    waiting_t = sum(f.pending for f in treasury.funds())
    if waiting_t:
        alerts.append(f"{waiting_t} treasury item(s) waiting (requisitions, variances, replenishments)")
    return Dashboard(today.isoformat(), before.isoformat(), hour, figures,
                     [(f"{h:02d}", per[today].get(h, (0, 0))[1]) for h in upto],
                     [(f"{h:02d}", per[before].get(h, (0, 0))[1]) for h in upto], alerts)


REPORTS = {"sales": sales, "products": products, "slow": slow, "profit": profit, "cashiers": cashiers,
           "tax": tax, "stock": stock}
