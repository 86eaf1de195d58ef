"""Random sales, refunds, receipts and adjustments on two terminal processes at
once (hypothesis; a SQLite file and PostgreSQL), checked against an independent
model of the stock.

Each example gives each terminal a list of operations; both start together (a
barrier) and run theirs in order, racing on the same products. The model is
written here without the services' code: stock = what was received + adjusted +
refunded - sold, per product, from the operations as planned. After each
example every product's stock must equal the model (the cached figure and the
sum of its movements); at the end ``station verify`` finds nothing. Seed:
STATION_STOCK_SEED (fixed under CI=true, printed otherwise).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import random
import traceback

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.conftest import add_user, make_config

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("STATION_STOCK_EXAMPLES", "10"))
SEED = int(os.environ.get("STATION_STOCK_SEED") or (11 if os.environ.get("CI") == "true"
                                                       else random.randrange(10 ** 6)))
PRODUCTS = ("milk", "bread", "wine")


def _worker(home, url, terminal, name, inbox, outbox, barrier):
    try:
        from data.models import User
        from station import catalog, drawer, sale, tender
        from station.context import open_station
        from station.refund import service
        from station.refund.service import ReturnItem
        from station.stock import adjustments, receiving
        from tests.sale_helpers import BREAD, MILK, WINE
        codes = dict(zip(PRODUCTS, (MILK, BREAD, WINE)))
        ctx = open_station(make_config(home, url, **{"terminal.id": terminal}))
        me = User.get(User.name == name)
        drawer.open_session(ctx, me, {5000: 10}, kick=False)
        outbox.put("ready")
        while True:
            ops = inbox.get()
            if ops is None:
                return
            barrier.wait(60)
            sales: dict[int, tuple] = {}          # op index -> (ticket, its line ids by position)
            for i, op in enumerate(ops):
                kind = op[0]
                if kind == "sell":
                    for p, q in op[1]:
                        sale.scan(ctx, me, f"{q}*{codes[p]}")
                    start = tender.begin_tender(ctx, me)
                    r = tender.complete_sale(ctx, me, start.idem_key, [tender.Payment("cash", start.cash_due)])
                    sales[i] = (r.ticket_id, [ln.id for ln in sale.ticket_view(ctx, r.ticket_id).lines])
                elif kind == "refund":
                    tid, lines = sales[op[1]]
                    service.refund(ctx, me, service.new_key(), tid, [ReturnItem(lines[op[2]], op[3] * 1000)],
                                   "changed mind")
                elif kind == "receive":
                    rc = receiving.Receiving()
                    rc.scan(ctx, f"{op[2]}*{codes[op[1]]}", op[3])
                    receiving.receive(ctx, me, "Supplier", f"{terminal}-{i}", rc.lines)
                else:
                    adjustments.adjust(ctx, me, catalog.item_by_code(codes[op[1]]).id, op[2] * 1000,
                                       "found" if op[2] > 0 else "damaged")
            outbox.put("done")
    except BaseException:  # noqa: BLE001
        outbox.put(traceback.format_exc())


product_st = st.sampled_from(PRODUCTS)
op_st = st.one_of(
    st.tuples(st.just("sell"), st.lists(st.tuples(product_st, st.integers(1, 3)), min_size=1, max_size=3,
                                        unique_by=lambda x: x[0])),
    st.tuples(st.just("refund"), st.integers(0, 20), st.integers(0, 2), st.integers(1, 3)),
    st.tuples(st.just("receive"), product_st, st.integers(1, 6), st.integers(50, 200)),
    st.tuples(st.just("adjust"), product_st, st.sampled_from([-2, -1, 1, 2])),
)
scenario_st = st.tuples(st.lists(op_st, min_size=1, max_size=6), st.lists(op_st, min_size=1, max_size=6))


def plan(ops, model: dict[str, int]) -> list[tuple]:
    """The operations one terminal will run: a refund names one of its own
    earlier sales (by op index) and a line of it, never more than is left of
    the line; the model follows each."""
    out: list[tuple] = []
    sold: list[tuple[int, list]] = []      # (op index, [[product, qty left], ...])
    for op in ops:
        if op[0] == "sell":
            sold.append((len(out), [[p, q] for p, q in op[1]]))
            for p, q in op[1]:
                model[p] -= q
            out.append(op)
        elif op[0] == "refund":
            if not sold:
                continue
            at, lines = sold[op[1] % len(sold)]
            li = op[2] % len(lines)
            q = min(op[3], lines[li][1])
            if q == 0:
                continue
            lines[li][1] -= q
            model[lines[li][0]] += q
            out.append(("refund", at, li, q))
        elif op[0] == "receive":
            model[op[1]] += op[2]
            out.append(op)
        else:
            model[op[1]] += op[2]
            out.append(op)
    return out


def test_random_stock_on_two_terminals(ctx, db_url, station_home):
    from data.models import Product
    from station import verify
    from station.stock import movements
    from tests.sale_helpers import make_products
    shop = make_products()
    for i in range(2):
        add_user(ctx, f"till{i}", "supervisor", "1111")
    print(f"\nseed: STATION_STOCK_SEED={SEED}  (replay with STATION_STOCK_SEED={SEED})")
    sp = mp.get_context("spawn")
    barrier = sp.Barrier(2)
    inboxes, outboxes = [sp.Queue() for _ in range(2)], [sp.Queue() for _ in range(2)]
    procs = [sp.Process(target=_worker, args=(str(station_home), db_url, f"P{i}", f"till{i}", inboxes[i],
                                              outboxes[i], barrier), daemon=True) for i in range(2)]
    for p in procs:
        p.start()
    try:
        for ob in outboxes:
            got = ob.get(timeout=120)
            assert got == "ready", got
        model = {p: 0 for p in PRODUCTS}
        stats = {"examples": 0, "ops": 0}

        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @seed(SEED)
        @given(scenario_st)
        def run(sc):
            plans = [plan(sc[0], model), plan(sc[1], model)]
            for i in range(2):
                inboxes[i].put(plans[i])
            for ob in outboxes:
                got = ob.get(timeout=240)
                assert got == "done", got
            stats["examples"] += 1
            stats["ops"] += len(plans[0]) + len(plans[1])
            for name in PRODUCTS:
                pid = shop[name].id
                total = ctx.db.execute_sql("SELECT COALESCE(SUM(qty), 0) FROM stock_movement WHERE product_id = "
                                           + ("%s" if "postgres" in db_url else "?"), (pid,)).fetchone()[0]
                assert (movements.on_hand(pid), int(total)) == (model[name] * 1000, model[name] * 1000), \
                    (name, plans)
        run()
        bad = [r for r in verify.run(ctx) if not r.ok]
        assert not bad, [(r.name, r.problems[:3], r.error) for r in bad]
        assert Product.select().count() == 5
        print(f"{stats['examples']} examples, {stats['ops']} operations, stock {model}")
    finally:
        for ib in inboxes:
            ib.put(None)
        for p in procs:
            p.join(30)
