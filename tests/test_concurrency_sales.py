"""Several terminal processes on ONE database (SQLite file, PostgreSQL): every sale
is recorded exactly once, receipt numbers are gapless per terminal, each drawer's
expected cash is the cash taken; two terminals racing for a parked ticket: one wins.

Real processes (multiprocessing, spawn), each its own terminal id, cashier and
drawer session. Size: STATION_CONC_PROCS (4) x STATION_CONC_SALES (200)."""
from __future__ import annotations

import multiprocessing as mp
import os
import time


PROCS = int(os.environ.get("STATION_CONC_PROCS", "4"))
SALES = int(os.environ.get("STATION_CONC_SALES", "200"))


def _child_sales(home, url, terminal, cashier, n, start, out):
    import sys
    sys.path.insert(0, os.getcwd())
    from tests.conftest import make_config
    from tests.sale_helpers import BREAD, MILK, WINE, open_drawer
    from station.context import open_station
    from station import sale, tender
    from data.models import User
    try:
        ctx = open_station(make_config(home, url, **{"terminal.id": terminal}))
        user = User.get(User.name == cashier)
        open_drawer(ctx, user)
        start.wait(60)
        codes = [MILK, WINE, BREAD]
        cash_kept = 0
        results = []
        for i in range(n):
            sale.scan(ctx, user, codes[i % 3])
            if i % 2:
                sale.scan(ctx, user, f"2*{codes[(i + 1) % 3]}")
            st = tender.begin_tender(ctx, user)
            if i % 5 == 4:
                pay = [tender.Payment("card", st.due, reference=str(i))]
            else:
                pay = [tender.Payment("cash", st.cash_due + (i % 7) * 100)]
            r = tender.complete_sale(ctx, user, st.idem_key, pay)
            if i % 10 == 0:   # a double Enter / retry: must be the same sale
                r2 = tender.complete_sale(ctx, user, st.idem_key, pay)
                assert r2.duplicate and r2.receipt_no == r.receipt_no
            cash_kept += r.paid_cash
            results.append(r.receipt_no)
        out.put((terminal, results, cash_kept, None))
    except BaseException:  # noqa: BLE001
        import traceback
        out.put((terminal, [], 0, traceback.format_exc()))


def test_many_terminals_many_sales(ctx, people, db_url, station_home):
    from tests.conftest import add_user
    from tests.sale_helpers import make_products
    from data.models import CashMovement, DrawerSession, Ticket
    from station import drawer, verify
    make_products()
    names = [f"till{i}" for i in range(PROCS)]
    for n in names:
        add_user(ctx, n, "cashier", "1111")
    spawn = mp.get_context("spawn")
    out = spawn.Queue()
    start = spawn.Event()
    ps = [spawn.Process(target=_child_sales, args=(str(station_home), db_url, f"P{i}", names[i], SALES, start, out))
          for i in range(PROCS)]
    for p in ps:
        p.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    start.set()
    got = [out.get(timeout=280) for _ in ps]
    for p in ps:
        p.join(30)
    elapsed = time.monotonic() - t0
    errors = [e for *_x, e in got if e]
    assert not errors, errors[0]
    for terminal, receipts, cash_kept, _e in got:
        assert receipts == list(range(1, SALES + 1)), terminal
        done = Ticket.select().where((Ticket.terminal == terminal) & (Ticket.status == "completed"))
        assert sorted(t.receipt_no for t in done) == list(range(1, SALES + 1))
        s = DrawerSession.get((DrawerSession.terminal == terminal) & (DrawerSession.status == "open"))
        assert drawer.expected_cash(s.id) == s.expected_cash == s.float_amount + cash_kept
        sale_cash = sum(m.amount for m in CashMovement.select().where(
            (CashMovement.session == s.id) & CashMovement.kind.in_(("sale", "change"))))
        assert sale_cash == cash_kept
    assert Ticket.select().where(Ticket.status == "completed").count() == PROCS * SALES
    assert Ticket.select().where(Ticket.status == "open").count() == 0
    bad = [r for r in verify.run(ctx, only=["sale.", "journal.", "drawer."]) if not r.ok]
    assert not bad, [(r.name, r.problems[:3], r.error) for r in bad]
    print(f"\n{PROCS} processes x {SALES} sales on {db_url.split(':')[0]}: {elapsed:.1f} s, "
          f"{PROCS * SALES / elapsed:.0f} sales/s")


def _child_resume(home, url, terminal, user_name, ids, start, out):
    import sys
    sys.path.insert(0, os.getcwd())
    from tests.conftest import make_config
    from station.context import open_station
    from station import sale
    from station.errors import Conflict
    from data.models import User
    try:
        ctx = open_station(make_config(home, url, **{"terminal.id": terminal}))
        user = User.get(User.name == user_name)
        start.wait(60)
        won, lost = [], 0
        for tid in ids:
            try:
                sale.resume(ctx, user, tid)
            except Conflict:
                lost += 1
                continue
            won.append(tid)
            sale.void_ticket(ctx, user)     # a supervisor may void alone: the terminal is free again
        out.put((terminal, won, lost, None))
    except BaseException:  # noqa: BLE001
        import traceback
        out.put((terminal, [], 0, traceback.format_exc()))


def test_two_terminals_race_for_parked_tickets(ctx, people, db_url, station_home):
    from tests.conftest import add_user
    from tests.sale_helpers import MILK, make_products
    from data.models import Journal
    from station import sale
    make_products()
    c = people["cashier"]
    ids = []
    for _ in range(30):
        sale.scan(ctx, c, MILK)
        ids.append(sale.park(ctx, c))
    add_user(ctx, "sup2", "supervisor", "2222")
    spawn = mp.get_context("spawn")
    out = spawn.Queue()
    start = spawn.Event()
    ps = [spawn.Process(target=_child_resume, args=(str(station_home), db_url, f"R{i}", u, ids, start, out))
          for i, u in enumerate(["sam", "sup2"])]
    for p in ps:
        p.start()
    time.sleep(0.5)
    start.set()
    got = [out.get(timeout=120) for _ in ps]
    for p in ps:
        p.join(30)
    assert not [e for *_x, e in got if e], [e for *_x, e in got if e][0]
    won = sorted(t for _term, w, _l, _e in got for t in w)
    assert won == sorted(ids)                       # every ticket resumed exactly once
    assert sum(lost for _t, _w, lost, _e in got) == len(ids)
    assert sale.list_parked(ctx) == []
    assert Journal.select().where(Journal.kind == "sale.resumed").count() == len(ids)


def _child_same_key(home, url, user_name, keys_in, out, barrier):
    import sys
    sys.path.insert(0, os.getcwd())
    from tests.conftest import make_config
    from station.context import open_station
    from station import tender
    from data.models import User
    try:
        ctx = open_station(make_config(home, url))     # the same terminal as the parent
        user = User.get(User.name == user_name)
        while True:
            key = keys_in.get(timeout=60)
            if key is None:
                break
            barrier.wait(30)
            r = tender.complete_sale(ctx, user, key, [tender.Payment("cash", 2000)])
            out.put((key, r.receipt_no, r.duplicate, None))
    except BaseException:  # noqa: BLE001
        import traceback
        out.put((None, None, None, traceback.format_exc()))


def test_same_key_from_two_processes_at_once(ctx, people, db_url, station_home):
    """Double Enter that reaches the database twice at the same moment (two processes,
    one key, released together by a barrier): one sale, one duplicate answer."""
    from tests.sale_helpers import MILK, make_products, open_drawer
    from data.models import CashMovement, Tender, Ticket
    from station import sale, tender
    make_products()
    c = people["cashier"]
    open_drawer(ctx, c)
    spawn = mp.get_context("spawn")
    out = spawn.Queue()
    barrier = spawn.Barrier(2)
    qs = [spawn.Queue(), spawn.Queue()]
    ps = [spawn.Process(target=_child_same_key, args=(str(station_home), db_url, "carla", q, out, barrier))
          for q in qs]
    for p in ps:
        p.start()
    rounds = 15
    try:
        for i in range(rounds):
            sale.scan(ctx, c, MILK)
            key = tender.begin_tender(ctx, c).idem_key
            for q in qs:
                q.put(key)
            got = [out.get(timeout=60) for _ in qs]
            assert not [g[3] for g in got if g[3]], [g[3] for g in got if g[3]][0]
            assert {g[1] for g in got} == {i + 1}              # the same receipt number for both
            assert sorted(g[2] for g in got) == [False, True]  # exactly one recorded it
    finally:
        for q in qs:
            q.put(None)
        for p in ps:
            p.join(30)
    assert Ticket.select().where(Ticket.status == "completed").count() == rounds
    assert Tender.select().count() == rounds
    assert CashMovement.select().where(CashMovement.kind == "sale").count() == rounds
