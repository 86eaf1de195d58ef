"""Keeping the report summary tables (``data.reporting``) equal to the rows.

The sale's transaction writes nothing here. :func:`refresh` (run before every
report read) reads the journal after the watermark ``rpt_state.seq``: each
``sale.completed`` names a ticket, each ``refund.processed`` a refund; voids,
line voids, overrides and no-sales are journal entries themselves. It reads the
rows those name and turns them into additions per table and key
(:func:`sale_parts`, :func:`refund_parts`, :func:`event_parts`) outside any
transaction, then adds them (one upsert per row) and moves the watermark in one
short write transaction per batch, if the watermark has not moved meanwhile.
Journal rows commit in seq order (the journal head is locked to append), so the
rows after the watermark are exactly what is new. Of two readers taking in the
same batch at once, the first to lock the watermark row adds it; the second
finds the watermark moved and reads on from there.

A change of ``reports.timezone`` or ``reports.day_starts`` (every business day
moves) empties the tables and fills them again; ``station report rebuild`` does
the same on demand. :func:`recompute` builds the same figures from all the rows
up to the watermark, for ``station verify``.

What a line made: the customer's amount per line (``station.refund.amounts.
paid_per_line`` over the lines in their order on the ticket: its share of the
ticket discount, tax included), its tax, and
its cost (``ticket_line.cost``, captured when it was rung up, times the
quantity). A refund line: its own amount and tax, and the cost of the sale line
it returns (a return without a receipt has no sale line: cost 0).
"""
from __future__ import annotations

import datetime as _dt
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from data import db as dbmod
from data.reporting import STATE, TABLES
from station import money
from station.refund.amounts import paid_per_line
from station.reporting.periods import Clock

#: journal kinds the summaries follow
KINDS = ("sale.completed", "refund.processed", "sale.voided", "sale.line_voided", "sale.price_override",
         "override.requested", "override.approved", "drawer.no_sale")
BATCH = 2000


class Parts:
    """Additions: ``{(table, key): {measure: amount}}``."""

    def __init__(self):
        self.rows: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, table: str, key: tuple, **measures: int) -> None:
        row = self.rows[(table, key)]
        for m, v in measures.items():
            if v:
                row[m] += v
            else:
                row.setdefault(m, 0)

    def nonzero(self) -> dict[tuple, dict[str, int]]:
        out = {}
        for k, row in self.rows.items():
            kept = {m: v for m, v in row.items() if v}
            if kept:
                out[k] = kept
        return out


def _utc(v) -> _dt.datetime:
    if isinstance(v, _dt.datetime):
        return v.replace(tzinfo=None) if v.tzinfo is None else v.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return _dt.datetime.fromisoformat(str(v).replace("Z", "+00:00").replace("T", " ")).replace(tzinfo=None)


class SaleLine(NamedTuple):
    id: int
    product_id: int
    qty: int
    unit_price: int
    discount: int
    vat_rate: int
    voided: bool
    cost: int
    unit: str


@dataclass
class Sale:
    id: int
    terminal: str
    cashier: str
    completed_at: _dt.datetime
    subtotal: int
    tax_total: int
    total: int
    rounding: int
    ticket_discount: int
    discount_bp: int
    lines: list
    tenders: list          # (method, amount)


@dataclass
class RefundRow:
    id: int
    kind: str
    terminal: str
    cashier: str
    processed_at: _dt.datetime
    total: int
    tax_total: int
    lines: list            # (product_id, qty, amount, tax, vat_rate, cost per unit)
    tenders: list          # (method, amount < 0)


def _month(day: str) -> str:
    return day[:7]


def sale_parts(parts: Parts, clock: Clock, s: Sale) -> None:
    day, hour = clock.day_and_hour(s.completed_at)
    live = [ln for ln in s.lines if not ln.voided]
    paid = paid_per_line(live, s.discount_bp, True)
    if sum(p.amount for p in paid.values()) != s.total:       # prices were net: tax added
        paid = paid_per_line(live, s.discount_bp, False)
    items = sum(ln.qty // 1000 if ln.unit == "pc" else 1 for ln in live)
    discounts = sum(ln.discount for ln in live) + s.ticket_discount
    cost = 0
    for ln in live:
        p = paid[ln.id]
        c = money.qty_times_price(ln.qty, ln.cost)
        cost += c
        for table, key in (("rpt_product_day", day), ("rpt_product_month", _month(day))):
            parts.add(table, (key, ln.product_id), qty=ln.qty, lines=1, revenue=p.amount, tax=p.tax, cost=c)
        parts.add("rpt_tax", (day, ln.vat_rate), gross=p.amount, tax=p.tax)
    parts.add("rpt_day", (day,), tickets=1, items=items, lines=len(live), gross=s.subtotal, discounts=discounts,
              total=s.total, tax=s.tax_total, rounding=s.rounding, cost=cost)
    parts.add("rpt_hour", (day, hour), tickets=1, total=s.total)
    parts.add("rpt_terminal", (day, s.terminal), tickets=1, total=s.total, tax=s.tax_total)
    parts.add("rpt_cashier", (day, s.cashier), tickets=1, items=items, total=s.total, discounts=discounts)
    methods: dict[str, int] = defaultdict(int)
    for m, a in s.tenders:
        methods[m] += a
    for m, a in methods.items():
        parts.add("rpt_method", (day, m), tickets=1, amount=a)


def refund_parts(parts: Parts, clock: Clock, r: RefundRow) -> None:
    day = clock.day_and_hour(r.processed_at)[0]
    cost = 0
    for product_id, qty, amount, tax, rate, unit_cost in r.lines:
        c = money.qty_times_price(qty, unit_cost)
        cost += c
        for table, key in (("rpt_product_day", day), ("rpt_product_month", _month(day))):
            parts.add(table, (key, product_id), refund_qty=qty, refund_revenue=amount, refund_tax=tax,
                      refund_cost=c)
        parts.add("rpt_tax", (day, rate), refund_gross=amount, refund_tax=tax)
    pv = r.kind == "post_void"
    parts.add("rpt_day", (day,), refunds_n=1, refunds=r.total, refund_tax=r.tax_total, refund_cost=cost,
              post_voids_n=int(pv), post_voids=r.total if pv else 0, exchanges_n=int(r.kind == "exchange"))
    parts.add("rpt_terminal", (day, r.terminal), refunds_n=1, refunds=r.total)
    parts.add("rpt_cashier", (day, r.cashier), refunds_n=1, refunds=r.total, post_voids_n=int(pv))
    methods: dict[str, int] = defaultdict(int)
    for m, a in r.tenders:
        methods[m] -= a
    for m, a in methods.items():
        parts.add("rpt_method", (day, m), refunds_n=1, refunds=a)


class Event(NamedTuple):
    seq: int
    ts: str
    terminal: str
    user: str | None
    kind: str
    amount: int | None
    data: dict


def event_parts(parts: Parts, clock: Clock, e: Event) -> None:
    """What a journal entry that is its own record adds (voids, overrides, no-sales)."""
    day = clock.day_and_hour(_utc(e.ts))[0]
    who = e.user or ""
    if e.kind == "sale.voided":
        if not e.data.get("lines"):
            return                    # an empty ticket discarded: nothing was voided
        amount = e.amount or 0
        parts.add("rpt_day", (day,), voids_n=1, voids=amount)
        parts.add("rpt_terminal", (day, e.terminal), voids_n=1)
        parts.add("rpt_cashier", (day, who), voids_n=1, voids=amount)
    elif e.kind == "sale.line_voided":
        amount = e.amount or 0
        parts.add("rpt_day", (day,), line_voids_n=1, line_voids=amount)
        parts.add("rpt_terminal", (day, e.terminal), line_voids_n=1)
        parts.add("rpt_cashier", (day, who), line_voids_n=1, line_voids=amount)
    elif e.kind == "sale.price_override":
        parts.add("rpt_cashier", (day, who), price_overrides=1)
    elif e.kind == "override.requested":
        parts.add("rpt_cashier", (day, who), overrides_requested=1)
    elif e.kind == "override.approved":
        # granted to the requester; approved at the till (no waiting request) was also asked there
        requester = str(e.data.get("requester") or "")
        parts.add("rpt_cashier", (day, requester), overrides_approved=1,
                  overrides_requested=0 if e.data.get("request") else 1)
    elif e.kind == "drawer.no_sale":
        parts.add("rpt_cashier", (day, who), no_sales=1)


# ------------------------------------------------------------------ rows ---

def _chunks(ids: list[int], n: int = 500):
    for i in range(0, len(ids), n):
        yield ids[i:i + n]


def _rows(sql: str, params=()) -> list[tuple]:
    return dbmod.current().execute_sql(dbmod.q(sql), params).fetchall()


_SALES = ("SELECT t.id, t.terminal, u.name, t.completed_at, t.subtotal, t.tax_total, t.total, t.rounding, "
          "t.ticket_discount, t.discount_bp FROM ticket t JOIN \"user\" u ON u.id = t.cashier_id "
          "WHERE t.status = 'completed'")
_LINES = ("SELECT l.ticket_id, l.id, COALESCE(l.product_id, 0), l.qty, l.unit_price, l.discount, l.vat_rate, "
          "l.voided, l.cost, COALESCE(p.unit, 'pc') FROM ticket_line l LEFT JOIN product p ON p.id = l.product_id")
_TENDERS = "SELECT ticket_id, method, amount FROM tender"
_REFUNDS = ("SELECT r.id, r.kind, r.terminal, u.name, r.processed_at, r.total, r.tax_total FROM refund r "
            "JOIN \"user\" u ON u.id = r.cashier_id WHERE r.status = 'processed'")
_REFUND_LINES = ("SELECT rl.refund_id, COALESCE(rl.product_id, l.product_id, 0), rl.qty, rl.amount, rl.tax, "
                 "rl.vat_rate, COALESCE(l.cost, 0) FROM refund_line rl "
                 "LEFT JOIN ticket_line l ON l.id = rl.original_line_id")
_REFUND_TENDERS = "SELECT refund_id, method, amount FROM refund_tender"


def _in(col: str, ids: list[int]) -> str:
    return f"{col} IN ({', '.join(str(int(i)) for i in ids)})"


def load_sales(ids: list[int] | None) -> list[Sale]:
    """The completed sales ``ids`` (None: all) with their lines and tenders."""
    heads, lines, tenders = [], defaultdict(list), defaultdict(list)
    groups = [None] if ids is None else list(_chunks(sorted(set(ids))))
    for g in groups:
        if g is not None and not g:
            continue
        where = "" if g is None else " AND " + _in("t.id", g)
        heads += _rows(_SALES + where)
        for r in _rows(_LINES + ("" if g is None else " WHERE " + _in("l.ticket_id", g))
                       + " ORDER BY l.ticket_id, l.position"):
            lines[r[0]].append(SaleLine(r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9]))
        for tid, m, a in _rows(_TENDERS + ("" if g is None else " WHERE " + _in("ticket_id", g)) + " ORDER BY id"):
            tenders[tid].append((m, a))
    return [Sale(h[0], h[1], h[2], _utc(h[3]), h[4] or 0, h[5] or 0, h[6] or 0, h[7] or 0, h[8] or 0, h[9] or 0,
                 lines[h[0]], tenders[h[0]]) for h in heads]


def load_refunds(ids: list[int] | None) -> list[RefundRow]:
    heads, lines, tenders = [], defaultdict(list), defaultdict(list)
    groups = [None] if ids is None else list(_chunks(sorted(set(ids))))
    for g in groups:
        if g is not None and not g:
            continue
        heads += _rows(_REFUNDS + ("" if g is None else " AND " + _in("r.id", g)))
        for r in _rows(_REFUND_LINES + ("" if g is None else " WHERE " + _in("rl.refund_id", g))
                       + " ORDER BY rl.refund_id, rl.position"):
            lines[r[0]].append(tuple(r[1:]))
        for rid, m, a in _rows(_REFUND_TENDERS + ("" if g is None else " WHERE " + _in("refund_id", g))
                               + " ORDER BY id"):
            tenders[rid].append((m, a))
    return [RefundRow(h[0], h[1], h[2], h[3], _utc(h[4]), h[5], h[6] or 0, lines[h[0]], tenders[h[0]])
            for h in heads]


_EVENTS = ("SELECT seq, ts, terminal, user_name, kind, amount, data FROM journal WHERE seq > ? AND seq <= ? "
           f"AND kind IN ({', '.join(repr(k) for k in KINDS)}) ORDER BY seq")


def events_between(after: int, upto: int, limit: int | None = None) -> list[Event]:
    sql = _EVENTS + (f" LIMIT {int(limit)}" if limit else "")
    return [Event(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6] or "{}")) for r in _rows(sql, (after, upto))]


def parts_of(clock: Clock, events: list[Event], sales: list[Sale], refunds: list[RefundRow]) -> Parts:
    parts = Parts()
    for s in sales:
        sale_parts(parts, clock, s)
    for r in refunds:
        refund_parts(parts, clock, r)
    for e in events:
        if e.kind not in ("sale.completed", "refund.processed"):
            event_parts(parts, clock, e)
    return parts


def _named(events: list[Event], kind: str, field: str) -> list[int]:
    return [int(e.data[field]) for e in events if e.kind == kind and e.data.get(field) is not None]


# ---------------------------------------------------------------- write ---

def _upsert(parts: Parts) -> None:
    by_table: dict[str, list] = defaultdict(list)
    for (table, key), row in parts.rows.items():
        by_table[table].append((key, row))
    db = dbmod.current()
    for table, rows in by_table.items():
        keys, measures = TABLES[table]
        kcols = [k for k, _t in keys]
        cols = kcols + list(measures)
        head = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ")
        tail = (f" ON CONFLICT ({', '.join(kcols)}) DO UPDATE SET "
                + ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in measures))
        one = "(" + ", ".join(["?"] * len(cols)) + ")"
        step = max(1, 900 // len(cols))
        for i in range(0, len(rows), step):
            chunk = rows[i:i + step]
            params = [v for key, row in chunk for v in (*key, *(row.get(m, 0) for m in measures))]
            db.execute_sql(dbmod.q(head + ", ".join([one] * len(chunk)) + tail), params)


def head_seq() -> int:
    return int(_rows("SELECT seq FROM journal_head WHERE id = 1")[0][0])


def _state(lock: bool) -> tuple[int, str, str] | None:
    """The watermark and the settings it was built with (None: never filled)."""
    if lock:
        dbmod.current().execute_sql(f"INSERT INTO {STATE} (id, seq) VALUES (1, 0) ON CONFLICT (id) DO NOTHING")
    sql = f"SELECT seq, timezone, day_starts FROM {STATE} WHERE id = 1"
    if lock and dbmod.is_postgres():
        sql += " FOR UPDATE"
    rows = _rows(sql)
    return (int(rows[0][0]), rows[0][1], rows[0][2]) if rows else None


def _settings(ctx) -> tuple[str, str]:
    r = ctx.config.values["reports"]
    return r["timezone"], r["day_starts"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clear(tz: str, cut: str) -> None:
    db = dbmod.current()
    for table in TABLES:
        db.execute_sql(f"DELETE FROM {table}")
    db.execute_sql(dbmod.q(f"UPDATE {STATE} SET seq = 0, timezone = ?, day_starts = ?, updated_at = ? "
                           "WHERE id = 1"), (tz, cut, _now()))


@dataclass
class Refreshed:
    events: int = 0          # journal entries taken in
    rebuilt: bool = False
    seconds: float = 0.0
    seq: int = 0


def _restart(ctx, out: Refreshed, *, force: bool) -> None:
    """Empty the tables for the settings of this terminal (``force``: even when the
    tables were built for them)."""
    tz, cut = _settings(ctx)
    with dbmod.write():
        st = _state(lock=True)
        if force or st[1:] != (tz, cut):
            _clear(tz, cut)
            out.rebuilt = True


def _step(ctx, clock: Clock, out: Refreshed) -> bool:
    """One batch; True when the tables are up to date. The journal entries and
    the rows they name are read and turned into additions outside any
    transaction (they are committed and final); the write transaction only
    checks that the watermark has not moved meanwhile (another reader took the
    batch in: read again) and adds them, so tills selling meanwhile wait for a
    few upserts at most."""
    tz, cut = _settings(ctx)
    st = _state(lock=False)
    if st is None or st[1:] != (tz, cut):
        _restart(ctx, out, force=False)
        return False
    seq = st[0]
    head = head_seq()
    events = events_between(seq, head, BATCH)
    upto = events[-1].seq if len(events) == BATCH else head
    parts = parts_of(clock, events, load_sales(_named(events, "sale.completed", "ticket")),
                     load_refunds(_named(events, "refund.processed", "refund")))
    with dbmod.write():
        if _state(lock=True) != (seq, tz, cut):
            return False
        _upsert(parts)
        if upto != seq:
            dbmod.current().execute_sql(dbmod.q(f"UPDATE {STATE} SET seq = ?, updated_at = ? WHERE id = 1"),
                                        (upto, _now()))
    out.events += len(events)
    out.seq = upto
    return upto == head


def refresh(ctx, *, rebuild: bool = False) -> Refreshed:
    """Bring the summary tables up to the journal's head (nothing to do: one read)."""
    out = Refreshed()
    t0 = time.perf_counter()
    clock = Clock.of(ctx)
    if rebuild:
        _restart(ctx, out, force=True)
    else:
        st = _state(lock=False)
        if st is not None and st[1:] == _settings(ctx) and st[0] == head_seq():
            out.seq = st[0]
            return out
    while not _step(ctx, clock, out):
        pass
    out.seconds = time.perf_counter() - t0
    return out


# --------------------------------------------------------------- verify ---

def stored_rows() -> dict[tuple, dict[str, int]]:
    """Every summary row with its non-zero measures."""
    out = {}
    for table, (keys, measures) in TABLES.items():
        n = len(keys)
        for r in _rows(f"SELECT {', '.join(k for k, _t in keys)}, {', '.join(measures)} FROM {table}"):
            kept = {m: int(v) for m, v in zip(measures, r[n:]) if v}
            if kept:
                out[(table, tuple(r[:n]))] = kept
    return out


def recompute(clock: Clock, upto: int) -> dict[tuple, dict[str, int]]:
    """The summaries as they must be at watermark ``upto``: every completed sale
    and processed refund the journal has named up to it (read from their rows,
    all at once), and the journal's own voids, overrides and no-sales."""
    events = events_between(0, upto)
    sale_ids = set(_named(events, "sale.completed", "ticket"))
    refund_ids = set(_named(events, "refund.processed", "refund"))
    sales = [s for s in load_sales(None) if s.id in sale_ids]
    refunds = [r for r in load_refunds(None) if r.id in refund_ids]
    return parts_of(clock, events, sales, refunds).nonzero()


def _snapshot(db):
    """A read-only transaction that sees one consistent state of the store."""
    if dbmod.is_postgres(db):
        return db.atomic(isolation_level="REPEATABLE READ")
    return db.atomic(lock_type="DEFERRED")


def differences(ctx) -> list[str]:
    """Where the summary tables, up to their watermark, differ from a
    recomputation from the rows, with the time zone and cut-off they were built
    for. Reads only (a backup opened read-only is checked as it is); every report
    refreshes before it reads, so all that a report has shown lies below the
    watermark."""
    with _snapshot(dbmod.current()):
        st = _state(lock=False)
        if st is None or not st[1]:
            return []
        seq, tz, cut = st
        want = recompute(Clock.named(tz, cut), seq)
        have = stored_rows()
    problems = []
    for key in sorted(set(want) | set(have), key=lambda k: (k[0], tuple(str(x) for x in k[1]))):
        w, h = want.get(key, {}), have.get(key, {})
        if w != h:
            cols = sorted(m for m in set(w) | set(h) if w.get(m, 0) != h.get(m, 0))
            table, k = key
            problems.append(f"{table} {'/'.join(str(x) for x in k)}: "
                            + ", ".join(f"{m} {h.get(m, 0)} (rows say {w.get(m, 0)})" for m in cols))
    return problems
