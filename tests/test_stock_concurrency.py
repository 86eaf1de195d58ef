"""Stock under two terminals at once (real processes, spawn; a SQLite file and
PostgreSQL):

* the last unit of an item sold at two tills at the same moment with
  ``stock.negative = refuse``: one sale goes through, the other is told and
  charged nothing;
* a delivery received while the same product is sold: the stock is exact;
* two terminals scanning into one count: every scan is counted.

Overlap is proven, not hoped for: the process that is inside its transaction
(holding the locks) waits there until the other has entered its own call, and
the recorded times show the other entered before the first one's call ended.
"""
from __future__ import annotations

import multiprocessing as mp
import time
import traceback

import pytest

from tests.conftest import add_user, make_config

pytestmark = pytest.mark.slow

ROUNDS = 3
WAIT = 60


def _last_unit(home, url, terminal, name, codes, barrier, mine, other, out):
    try:
        from data.models import User
        from station import sale, tender
        from station.context import open_station
        from station.errors import Conflict
        from station.stock import movements
        ctx = open_station(make_config(home, url, **{"terminal.id": terminal, "stock.negative": "refuse"}))
        me = User.get(User.name == name)
        results = []
        for rnd, code in enumerate(codes):
            sale.scan(ctx, me, code)
            st = tender.begin_tender(ctx, me)
            movements.post_sale = _rewrap(movements, other[rnd])
            barrier.wait(WAIT)
            t0 = time.monotonic()
            mine[rnd].set()
            try:
                r = tender.complete_sale(ctx, me, st.idem_key, [tender.Payment("cash", st.cash_due)])
                results.append(("sold", r.receipt_no, t0, time.monotonic()))
            except Conflict as e:
                results.append(("told", str(e), t0, time.monotonic()))
                for ln in sale.current_ticket(ctx).live_lines:     # the customer does without it
                    sale.void_line(ctx, me, ln.id)
        out.put((terminal, results))
    except BaseException:  # noqa: BLE001
        out.put((terminal, traceback.format_exc()))


_ORIG: dict = {}


def _rewrap(module, other_entered):
    """post_sale that, inside the sale's transaction, waits for the other till."""
    orig = _ORIG.setdefault("post_sale", module.post_sale)

    def held(sc):
        try:
            orig(sc)
        finally:
            if not other_entered.wait(WAIT):
                raise AssertionError("the other terminal never entered its sale")
    return held


def _setup(station_home, db_url, stock: dict):
    from data.models import User
    from station import drawer
    from station.context import open_station
    from station.stock import receiving
    from tests.sale_helpers import make_products
    ctx = open_station(make_config(station_home, db_url), upgrade=True)
    shop = make_products()
    add_user(ctx, "carla", "cashier", "1111")
    add_user(ctx, "bob", "cashier", "2222")
    mia = add_user(ctx, "mia", "manager", "3333")
    if stock:
        rc = receiving.Receiving()
        for code, n in stock.items():
            rc.scan(ctx, f"{n}*{code}", 100)
        receiving.receive(ctx, mia, "Start", "", rc.lines)
    drawer.open_session(ctx, User.get(User.name == "carla"), {5000: 10}, kick=False)
    ctx2 = open_station(make_config(station_home, db_url, **{"terminal.id": "T2"}))
    drawer.open_session(ctx2, User.get(User.name == "bob"), {5000: 10}, kick=False)
    ctx.db.close()
    return shop


def _run(target, station_home, db_url, args_of):
    sp = mp.get_context("spawn")
    barrier, out = sp.Barrier(2), sp.Queue()
    ev = {t: [sp.Event() for _ in range(ROUNDS)] for t in ("T1", "T2")}
    procs = [sp.Process(target=target, args=(str(station_home), db_url, t, *args_of(t), barrier, ev[t],
                                             ev["T2" if t == "T1" else "T1"], out))
             for t in ("T1", "T2")]
    for p in procs:
        p.start()
    got = dict(out.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(30)
    for t, res in got.items():
        assert not isinstance(res, str), f"{t} crashed:\n{res}"
    return got


def _verify_clean(station_home, db_url):
    from station import verify
    from station.context import open_station
    ctx = open_station(make_config(station_home, db_url))
    bad = [r for r in verify.run(ctx) if not r.ok]
    assert not bad, [(r.name, r.problems[:3], r.error) for r in bad]
    return ctx


def test_two_tills_sell_the_last_unit(db_url, station_home):
    from tests.sale_helpers import BREAD, MILK, WINE
    codes = [MILK, BREAD, WINE]
    shop = _setup(station_home, db_url, {c: 1 for c in codes})
    got = _run(_last_unit, station_home, db_url,
               lambda t: ("carla" if t == "T1" else "bob", codes))
    for rnd in range(ROUNDS):
        a, b = got["T1"][rnd], got["T2"][rnd]
        assert sorted((a[0], b[0])) == ["sold", "told"], (rnd, got)
        winner, loser = (a, b) if a[0] == "sold" else (b, a)
        assert "not enough in stock" in loser[1] and "is 1 short" in loser[1] and "nothing was charged" in loser[1]
        assert loser[2] < winner[3], "the two sales did not overlap"
    ctx = _verify_clean(station_home, db_url)
    from data.models import Ticket
    from station.stock import movements
    assert [movements.on_hand(shop[k].id) for k in ("milk", "bread", "wine")] == [0, 0, 0]
    assert Ticket.select().where(Ticket.status == "completed").count() == ROUNDS
    ctx.db.close()


def _sell_or_receive(home, url, terminal, name, code, barrier, mine, other, out):
    try:
        from data.models import User
        from station import sale, tender
        from station.context import open_station
        from station.stock import movements, receiving
        ctx = open_station(make_config(home, url, **{"terminal.id": terminal}))
        me = User.get(User.name == name)
        results = []
        for rnd in range(ROUNDS):
            if terminal == "T1":
                sale.scan(ctx, me, f"2*{code}")
                st = tender.begin_tender(ctx, me)
                movements.post_sale = _rewrap(movements, other[rnd])
                barrier.wait(WAIT)
                t0 = time.monotonic()
                mine[rnd].set()
                tender.complete_sale(ctx, me, st.idem_key, [tender.Payment("cash", st.cash_due)])
            else:
                rc = receiving.Receiving()
                rc.scan(ctx, f"5*{code}", 80)
                orig = _ORIG.setdefault("insert", movements.insert)

                def held(rows, ev=other[rnd]):
                    orig(rows)
                    if not ev.wait(WAIT):
                        raise AssertionError("the till never entered its sale")
                movements.insert = held
                barrier.wait(WAIT)
                t0 = time.monotonic()
                mine[rnd].set()
                receiving.receive(ctx, me, "Wine Co", f"DN-{rnd}", rc.lines)
            results.append((t0, time.monotonic()))
        out.put((terminal, results))
    except BaseException:  # noqa: BLE001
        out.put((terminal, traceback.format_exc()))


def test_receiving_while_selling_keeps_stock_exact(db_url, station_home):
    from tests.sale_helpers import WINE
    shop = _setup(station_home, db_url, {WINE: 10})
    from station.context import open_station
    ctx = open_station(make_config(station_home, db_url))
    add_user(ctx, "sam", "supervisor", "2229")
    ctx.db.close()
    got = _run(_sell_or_receive, station_home, db_url, lambda t: ("carla" if t == "T1" else "sam", WINE))
    for rnd in range(ROUNDS):
        (s0, s1), (r0, r1) = got["T1"][rnd], got["T2"][rnd]
        assert s0 < r1 and r0 < s1, "the sale and the delivery did not overlap"
    ctx = _verify_clean(station_home, db_url)
    from station.stock import movements
    assert movements.on_hand(shop["wine"].id) == (10 - 2 * ROUNDS + 5 * ROUNDS) * 1000
    ctx.db.close()


def _counter(home, url, terminal, name, job, barrier, mine, other, out):
    try:
        from data.models import User
        from station.context import open_station
        from station.stock import common, counts
        ctx = open_station(make_config(home, url, **{"terminal.id": terminal}))
        me = User.get(User.name == name)
        count_id, codes = job
        orig = common.run
        state = {"first": True}

        def run(sql, params=()):
            res = orig(sql, params)
            if sql.startswith("INSERT INTO count_scan") and state["first"]:
                state["first"] = False
                if not other[0].wait(WAIT):
                    raise AssertionError("the other terminal never entered its scan")
            return res
        counts.run = run
        barrier.wait(WAIT)
        t0 = time.monotonic()
        mine[0].set()
        for code in codes:
            counts.scan(ctx, me, count_id, code)
        out.put((terminal, [(t0, time.monotonic())]))
    except BaseException:  # noqa: BLE001
        out.put((terminal, traceback.format_exc()))


def test_two_terminals_count_into_one_count(db_url, station_home):
    from data.models import User
    from station.context import open_station
    from station.stock import counts
    from tests.sale_helpers import BREAD, MILK, WINE
    shop = _setup(station_home, db_url, {MILK: 30, BREAD: 10, WINE: 10})
    ctx = open_station(make_config(station_home, db_url))
    cnt = counts.start(ctx, User.get(User.name == "mia"), "store")
    ctx.db.close()
    aisle1 = [MILK] * 15 + [f"3*{WINE}"] * 3 + [WINE]            # milk 15, wine 10
    aisle2 = [MILK] * 14 + [f"2*{BREAD}"] * 5                     # milk 14 (one missing), bread 10
    got = _run(_counter, station_home, db_url,
               lambda t: ("carla" if t == "T1" else "bob", (cnt.id, aisle1 if t == "T1" else aisle2)))
    (a0, a1), (b0, b1) = got["T1"][0], got["T2"][0]
    assert a0 < b1 and b0 < a1, "the two terminals did not count at the same time"
    ctx = open_station(make_config(station_home, db_url))
    rv = counts.review(ctx, cnt.id, every=True)
    counted = {ln.name: ln.counted for ln in rv.lines}
    assert (counted["Milk 1l"], counted["Bread"], counted["Red wine"]) == (29000, 10000, 10000)
    assert {ln.name: ln.difference for ln in rv.lines if ln.difference} == {"Milk 1l": -1000}
    counts.complete(ctx, User.get(User.name == "mia"), cnt.id)
    from station.stock import movements
    assert movements.on_hand(shop["milk"].id) == 29000
    ctx.db.close()
    _verify_clean(station_home, db_url).db.close()
