"""A seeded random workload on three terminals at once (three processes, one
store; SQLite and PostgreSQL): sales (cash, card, split), line voids, ticket voids,
park and resume (on any terminal: they race for the same parked ticket), paid in,
paid out, drops, drawer closes and re-opens. Then ``station verify`` holds, and an
independent recomputation from what each process was told agrees with the books:
the same sales and receipt numbers (gapless per terminal), the same money per
drawer session, the same tenders, one journal entry per sale.

The seed is printed (``STATION_WORKLOAD_SEED`` replays a run); CI runs a fixed one.
The three processes are released together by a barrier, and the test checks that
their working windows really overlapped.
"""
from __future__ import annotations

import multiprocessing as mp
import random
import time
import traceback
from collections import defaultdict

import pytest

from data.models import DrawerSession, Journal, Tender, Ticket
from station import verify
from tests.conftest import add_user, make_config, seed_for
from tests.sale_helpers import BREAD, MILK, WINE, make_products

pytestmark = pytest.mark.slow

TERMINALS = ("T1", "T2", "T3")
OPS = 100
FLOAT = {5000: 2}          # 100.00
CODES = (MILK, BREAD, WINE)


def _worker(home, url, terminal, seed, barrier, out):
    from station import drawer, sale, tender
    from station.context import open_station
    from station.errors import StationError
    from station.tender import Payment
    from data.models import User
    log = []
    try:
        ctx = open_station(make_config(home, url, **{"terminal.id": terminal}))
        user = User.get(User.name == f"s{terminal[1]}")
        rng = random.Random(seed * 1000 + int(terminal[1]))
        refused = defaultdict(int)

        def open_drawer():
            s = drawer.open_session(ctx, user, FLOAT, kick=False)
            log.append(("open", s.id, s.float_amount))
            return s.id

        session = open_drawer()
        barrier.wait(timeout=120)
        started = time.time()
        for _ in range(OPS):
            op = rng.choices(["scan", "void_line", "park", "resume", "void", "sell", "paid_in", "paid_out",
                              "drop", "close"], weights=[30, 4, 4, 5, 2, 14, 3, 3, 2, 2])[0]
            try:
                if op == "scan":
                    for _ in range(rng.randint(1, 3)):
                        sale.scan(ctx, user, rng.choice(CODES))
                elif op == "void_line":
                    t = sale.current_ticket(ctx)
                    if t and t.live_lines:
                        sale.void_line(ctx, user, rng.choice(t.live_lines).id)
                elif op == "park":
                    if sale.current_ticket(ctx):
                        sale.park(ctx, user)
                elif op == "resume":
                    parked = sale.list_parked(ctx)
                    if parked and sale.current_ticket(ctx) is None:
                        sale.resume(ctx, user, rng.choice(parked).id)
                elif op == "void":
                    if sale.current_ticket(ctx):
                        sale.void_ticket(ctx, user)
                elif op == "sell":
                    t = sale.current_ticket(ctx)
                    if not (t and t.live_lines):
                        continue
                    st = tender.begin_tender(ctx, user)
                    how = rng.choice(["cash", "card", "split"])
                    if how == "cash":
                        pays = [Payment("cash", st.cash_due, tendered=st.cash_due + rng.choice([0, 1, 50, 500]))]
                    elif how == "card":
                        pays = [Payment("card", st.due)]
                    else:
                        card = rng.randint(1, st.due - 1) if st.due > 1 else st.due
                        pays = [Payment("card", card)] + ([Payment("cash", st.due - card + 100)]
                                                          if st.due - card else [])
                    r = tender.complete_sale(ctx, user, st.idem_key, pays)
                    card_paid = sum(p.amount for p in pays if p.method != "cash")
                    log.append(("sale", terminal, r.receipt_no, r.total, r.rounding, r.tendered_cash - r.change,
                                card_paid, r.session_id))
                elif op == "paid_in":
                    a = rng.randint(1, 2000)
                    m = drawer.paid_in(ctx, user, a, "other")
                    log.append(("move", m.session_id, a))
                elif op in ("paid_out", "drop"):
                    exp = DrawerSession.get_by_id(session).expected_cash
                    if exp < 2:
                        continue
                    a = rng.randint(1, min(exp - 1, 3000))
                    m = (drawer.paid_out(ctx, user, a, "supplier") if op == "paid_out"
                         else drawer.drop(ctx, user, a))
                    log.append(("move", m.session_id, -a))
                elif op == "close":
                    if sale.current_ticket(ctx):
                        continue
                    z = drawer.close_session(ctx, user, {5000: rng.randint(1, 4), 100: rng.randint(0, 9)},
                                             reason="count", kick=False)
                    log.append(("close", z.session_id, z.counted, z.expected))
                    session = open_drawer()
            except StationError as e:
                refused[f"{op}: {e.__class__.__name__}"] += 1
        out.put({"terminal": terminal, "log": log, "refused": dict(refused), "window": (started, time.time())})
    except BaseException:  # noqa: BLE001
        out.put({"terminal": terminal, "error": traceback.format_exc(), "log": log})


def test_three_terminals_random_workload_then_verify_and_recompute(db_url, station_home):
    from station.context import open_station
    seed = seed_for("STATION_WORKLOAD_SEED", 1515)
    ctx = open_station(make_config(station_home, db_url), upgrade=True)
    make_products()
    for t in TERMINALS:
        add_user(ctx, f"s{t[1]}", "supervisor", "2222")
    ctx.db.close()
    sp = mp.get_context("spawn")
    barrier, out = sp.Barrier(len(TERMINALS)), sp.Queue()
    procs = [sp.Process(target=_worker, args=(str(station_home), db_url, t, seed, barrier, out))
             for t in TERMINALS]
    for p in procs:
        p.start()
    results = [out.get(timeout=900) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    for r in results:
        assert "error" not in r, f"seed {seed}: {r['terminal']}: {r['error']}"
    # they really ran at the same time
    starts, ends = [r["window"][0] for r in results], [r["window"][1] for r in results]
    assert max(starts) < min(ends), f"seed {seed}: the three terminals did not overlap"

    ctx = open_station(make_config(station_home, db_url))
    results_v = verify.run(ctx)
    assert all(r.ok for r in results_v), f"seed {seed}:\n" + verify.report_text(results_v)

    # independent recomputation, from what the processes were told
    events = [e for r in results for e in r["log"]]
    sales = [e for e in events if e[0] == "sale"]
    db_sales = {(t.terminal, t.receipt_no): t for t in Ticket.select().where(Ticket.status == "completed")}
    assert set(db_sales) == {(e[1], e[2]) for e in sales}, f"seed {seed}"
    for _k, terminal, no, total, rounding, _cash, _card, _sid in sales:
        assert (db_sales[(terminal, no)].total, db_sales[(terminal, no)].rounding) == (total, rounding)
    for terminal in TERMINALS:
        nos = sorted(e[2] for e in sales if e[1] == terminal)
        assert nos == list(range(1, len(nos) + 1)), f"seed {seed}: receipts of {terminal}: {nos}"
    assert sum(x.amount for x in Tender.select()) == sum(e[3] + e[4] for e in sales)
    assert Journal.select().where(Journal.kind == "sale.completed").count() == len(sales)
    cash = defaultdict(int)
    for e in events:
        if e[0] == "open":
            cash[e[1]] += e[2]
        elif e[0] == "sale":
            cash[e[7]] += e[5]
        elif e[0] == "move":
            cash[e[1]] += e[2]
    for s in DrawerSession.select():
        stored = s.expected_cash if s.status == "open" else s.expected_at_close
        assert stored == cash[s.id], f"seed {seed}: session {s.id}: books {stored}, recomputed {cash[s.id]}"
    closes = [e for e in events if e[0] == "close"]
    for _k, sid, counted, expected in closes:
        s = DrawerSession.get_by_id(sid)
        assert (s.counted, s.expected_at_close) == (counted, expected) and expected == cash[sid]
    print(f"seed {seed}: {len(sales)} sales, {len(closes)} closes, "
          f"refused {[r['refused'] for r in results]}")
    assert len(sales) >= 5, f"seed {seed}: the workload hardly sold anything"
    ctx.db.close()
