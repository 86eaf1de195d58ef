"""The report summaries against the raw rows after a random workload (real
SQLite file and real PostgreSQL): sales with line and ticket discounts, split
tenders, weighed items, line voids, ticket voids, partial returns and
post-voids on two terminals over a week that holds the spring daylight-saving
change, the summaries refreshed at random moments in small batches. Every
figure is then recomputed here, independently of ``station.reporting``, from the
tickets, lines, tenders, refunds and journal; ``verify`` agrees. Two readers
refreshing at the same moment (proved to overlap) count everything once.

The seed is printed (``REPORTS_SEED=<n>`` replays a run; CI runs a fixed one)."""
from __future__ import annotations

import datetime as _dt
import json
import random
import threading
from collections import defaultdict
from zoneinfo import ZoneInfo

from data import db as dbmod
from data.models import Journal, Product, Tender, Ticket, TicketLine
from data.refund import Refund, RefundLine, RefundTender
from station import money, sale, tender, verify
from station.errors import NeedsApproval
from station.refund import lookup
from station.refund import service as refunds
from station.refund.service import ReturnItem
from station.reporting import service, summary
from station.reporting.periods import Period
from station.tender import Payment
from tests.conftest import add_user, seed_for
from tests.refund_helpers import approve
from tests.reports_data import UTC, Clock, second_terminal, store_settings
from tests.sale_helpers import APPLES_SKU, BREAD, MILK, WINE, ean13, make_products, open_drawer

BERLIN = ZoneInfo("Europe/Berlin")
START = _dt.datetime(2026, 3, 26, 6, 0, tzinfo=UTC)
CODES = [MILK, BREAD, WINE, "2*" + MILK, "3*" + BREAD]


def business_day(t: _dt.datetime) -> str:
    local = t.replace(tzinfo=UTC).astimezone(BERLIN).replace(tzinfo=None)
    return (local - _dt.timedelta(hours=4)).date().isoformat()


def _weighed(rng) -> str:
    return ean13("23" + APPLES_SKU + f"{rng.randrange(50, 2000):05d}")


def run_workload(ctx, home, url, monkeypatch, rng) -> dict:
    store_settings(ctx)
    carla = add_user(ctx, "carla", "cashier", "1111")
    sam = add_user(ctx, "sam", "supervisor", "2222")
    mia = add_user(ctx, "mia", "manager", "3333")
    t2 = second_terminal(ctx, home, url)
    p = make_products()
    with dbmod.write():
        for key, cost in (("milk", 80), ("bread", 100), ("wine", 500), ("apples", 150)):
            Product.update(cost=cost).where(Product.id == p[key].id).execute()
    clock = Clock(monkeypatch)
    now = START
    clock.at(now)
    open_drawer(ctx, carla)
    open_drawer(t2, sam)
    tills = [(ctx, carla), (t2, sam)]
    sold: list[tuple] = []          # (ctx, user, ticket id, receipt)
    monkeypatch.setattr(summary, "BATCH", 7)
    counts = defaultdict(int)
    for _ in range(70):
        now += _dt.timedelta(minutes=rng.choice([7, 31, 95, 240, 600]))
        clock.at(now)
        c, user = rng.choice(tills)
        op = rng.random()
        if op < 0.62:
            codes = [rng.choice(CODES) if rng.random() < 0.8 else _weighed(rng) for _ in range(rng.randint(1, 5))]
            view = None
            for code in codes:
                view = sale.scan(c, user, code)
            if rng.random() < 0.25 and len(view.live_lines) > 1:
                sale.void_line(c, user, view.live_lines[0].id)
                counts["line_voids"] += 1
            if rng.random() < 0.25:
                view = sale.discount_line(c, user, view.live_lines[-1].id, rng.choice([500, 1000]))
            if rng.random() < 0.2:
                sale.discount_ticket(c, user, 1000)
            st = tender.begin_tender(c, user)
            kind = rng.random()
            if kind < 0.4:
                pay = [Payment("cash", st.cash_due, tendered=st.cash_due + rng.randrange(0, 500))]
            elif kind < 0.7 or st.due < 2:
                pay = [Payment("card", st.due)]
            else:
                part = rng.randrange(1, st.due)
                pay = [Payment("card", part), Payment("cash", st.due - part)]
            r = tender.complete_sale(c, user, st.idem_key, pay)
            sold.append((c, user, r.ticket_id, r.receipt_no))
            counts["sales"] += 1
            if rng.random() < 0.08:             # the customer changes their mind at once: post-void
                key = refunds.new_key()
                try:
                    refunds.post_void(c, user, key, r.ticket_id, references={"card": "PV1"})
                except NeedsApproval as e:
                    a = approve(c, user, mia, "3333", e)
                    refunds.post_void(c, user, key, r.ticket_id, approval=a, references={"card": "PV1"})
                sold.pop()
                counts["post_voids"] += 1
        elif op < 0.72:
            sale.scan(t2, sam, rng.choice(CODES))
            sale.void_ticket(t2, sam)
            counts["voids"] += 1
        elif op < 0.9 and sold:
            c0, user0, tid, receipt = rng.choice(sold)
            info = lookup.sale_info(c0, Ticket.get_by_id(tid), refunds=False)
            lines = [ln for ln in info.lines if ln.returnable]
            if not lines:
                continue
            ln = rng.choice(lines)
            qty = ln.returnable if ln.returnable < 1000 or rng.random() < 0.5 else 1000
            refunds.refund(c0, user0, refunds.new_key(), tid, [ReturnItem(ln.line_id, qty)], "damaged",
                           references={"card": "RF1"})
            counts["refunds"] += 1
        else:
            summary.refresh(ctx)
    return {"counts": counts, "first": business_day(START.replace(tzinfo=None)),
            "last": business_day(now.replace(tzinfo=None)), "boss": mia}


def independent() -> dict:
    """The figures from the rows, without station.reporting."""
    day = defaultdict(lambda: defaultdict(int))
    method = defaultdict(lambda: defaultdict(int))
    qty = defaultdict(int)
    tickets = {}
    for t in Ticket.select().where(Ticket.status == "completed"):
        d = business_day(t.completed_at)
        tickets[t.id] = t
        x = day[d]
        x["tickets"] += 1
        x["sales"] += t.total
        x["tax"] += t.tax_total
        x["gross"] += t.subtotal
    for ln in TicketLine.select().where(TicketLine.ticket.in_(list(tickets)), ~TicketLine.voided):
        d = business_day(tickets[ln.ticket_id].completed_at)
        day[d]["cost"] += money.qty_times_price(ln.qty, ln.cost)
        day[d]["discounts"] += ln.discount
        qty[ln.product_id] += ln.qty
    for t in tickets.values():
        day[business_day(t.completed_at)]["discounts"] += t.ticket_discount
    for tn in Tender.select().where(Tender.ticket.in_(list(tickets))):
        method[tn.method]["amount"] += tn.amount
    done = {r.id: r for r in Refund.select().where(Refund.status == "processed")}
    for r in done.values():
        x = day[business_day(r.processed_at)]
        x["refunds"] += r.total
        x["refund_tax"] += r.tax_total
        x["post_voids"] += r.kind == "post_void"
    for rl in RefundLine.select().where(RefundLine.refund.in_(list(done))):
        qty[rl.product_id] -= rl.qty
        if rl.original_line_id is not None:
            cost = TicketLine.get_by_id(rl.original_line_id).cost
            day[business_day(done[rl.refund_id].processed_at)]["cost"] -= money.qty_times_price(rl.qty, cost)
    for rt in RefundTender.select().where(RefundTender.refund.in_(list(done))):
        method[rt.method]["refunds"] -= rt.amount
    for j in Journal.select().where(Journal.kind.in_(["sale.voided", "sale.line_voided"])):
        data = json.loads(j.data)
        if j.kind == "sale.voided" and not data.get("lines"):
            continue
        t = _dt.datetime.fromisoformat(j.ts.replace("Z", ""))
        day[business_day(t)]["voids" if j.kind == "sale.voided" else "line_voids"] += 1
    return {"day": day, "method": method, "qty": {k: v for k, v in qty.items() if v}}


def test_summaries_equal_the_rows_after_a_random_workload(ctx, station_home, db_url, monkeypatch):
    rng = random.Random(seed_for("REPORTS_SEED", 20260329))
    w = run_workload(ctx, station_home, db_url, monkeypatch, rng)
    boss = w["boss"]
    assert w["counts"]["sales"] > 20 and w["counts"]["refunds"] > 2, dict(w["counts"])
    period = Period(_dt.date.fromisoformat(w["first"]), _dt.date.fromisoformat(w["last"]), "custom")
    assert period.first <= _dt.date(2026, 3, 28) and period.last >= _dt.date(2026, 3, 30)   # the DST night inside
    want = independent()
    r = service.sales(ctx, boss, period)
    got_days = {x["day"]: x for x in r.rows}
    for d, x in want["day"].items():
        g = got_days[d]
        assert (g["tickets"], g["sales"], g["refunds"], g["tax"]) == (
            x["tickets"], x["sales"], x["refunds"], x["tax"] - x["refund_tax"]), d
    tot = {k: sum(x[k] for x in want["day"].values())
           for k in ("tickets", "sales", "refunds", "gross", "discounts", "cost", "voids", "line_voids", "post_voids")}
    assert (r.figure("tickets"), r.figure("sales"), r.figure("refunds"), r.figure("gross"), r.figure("discounts"),
            r.figure("voids_n"), r.figure("line_voids_n"), r.figure("post_voids_n")) == (
        tot["tickets"], tot["sales"], tot["refunds"], tot["gross"], tot["discounts"], tot["voids"], tot["line_voids"],
        tot["post_voids"])
    assert tot["voids"] == w["counts"]["voids"] and tot["line_voids"] == w["counts"]["line_voids"]
    by_method = {x["method"]: (x["amount"], x["refunds"]) for x in service.sales(ctx, boss, period, by="method").rows}
    assert by_method == {m: (v["amount"], v["refunds"]) for m, v in want["method"].items()}
    prods = service.products(ctx, boss, period, order="qty", limit=100)
    assert {x["product_id"]: x["qty"] for x in prods.rows if x["qty"]} == want["qty"]
    assert service.profit(ctx, boss, period).figure("cost") == tot["cost"]
    rates = service.tax(ctx, boss, period)
    assert rates.figure("tax") == sum(x["tax"] - x["refund_tax"] for x in want["day"].values())
    granted = defaultdict(int)
    for j in Journal.select().where(Journal.kind == "override.approved"):
        granted[json.loads(j.data)["requester"]] += 1
    cash = service.cashiers(ctx, boss, period)
    assert {x["cashier"]: x["overrides_approved"] for x in cash.rows if x["overrides_approved"]} == dict(granted)
    assert sum(x["post_voids"] for x in cash.rows) == tot["post_voids"]
    assert summary.differences(ctx) == []
    bad = [x for x in verify.run(ctx) if not x.ok]
    assert not bad, [(x.name, x.problems[:3], x.error) for x in bad]


def test_two_readers_refreshing_at_once_count_everything_once(ctx, station_home, db_url, monkeypatch):
    rng = random.Random(seed_for("REPORTS_SEED", 20260329))
    real_refresh = summary.refresh
    monkeypatch.setattr(summary, "refresh", lambda c, **k: None)     # the workload leaves all to the readers
    w = run_workload(ctx, station_home, db_url, monkeypatch, rng)
    monkeypatch.setattr(summary, "refresh", real_refresh)
    b_waiting = threading.Event()
    a_inside = threading.Event()
    real_load, real_step = summary.load_sales, summary._step

    def load(ids):                              # A, inside its first batch: waits until B is asking too
        if threading.current_thread().name == "A" and not a_inside.is_set():
            a_inside.set()
            assert b_waiting.wait(30), "B never asked"
        return real_load(ids)

    def step(*args, **kw):
        if threading.current_thread().name == "B":
            assert a_inside.wait(30), "A never started"
            b_waiting.set()
        return real_step(*args, **kw)

    monkeypatch.setattr(summary, "load_sales", load)
    monkeypatch.setattr(summary, "_step", step)
    errors = []

    def reader():
        try:
            summary.refresh(ctx)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            dbmod.release()

    threads = [threading.Thread(target=reader, name=n) for n in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert a_inside.is_set() and b_waiting.is_set()      # B asked while A was inside its batch
    monkeypatch.setattr(summary, "load_sales", real_load)
    assert summary.differences(ctx) == []
    period = Period(_dt.date.fromisoformat(w["first"]), _dt.date.fromisoformat(w["last"]), "custom")
    want = independent()
    assert service.sales(ctx, w["boss"], period).figure("sales") == sum(x["sales"] for x in want["day"].values())
