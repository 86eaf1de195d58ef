"""Two terminals returning the same sale line at the same moment (real processes,
spawn; SQLite file and PostgreSQL): quantities that together exceed what was
sold. One refund is made, the other is refused with the quantity still
returnable, never more back than was sold or paid.

Overlap is proven, not hoped for: each process, once it holds the sale's lock
inside the refund transaction (the service's ``refund.probe`` point "locked"),
waits until the other process has entered its own refund call; the test then
checks from the recorded times that the loser entered before the winner's
transaction ended. Without the lock (the database's own guard alone, two
PostgreSQL connections), the second transaction is seen waiting on the first
(pg_stat_activity) and is refused by the CHECK when the first commits."""
from __future__ import annotations

import multiprocessing as mp
import threading
import time
import traceback

import pytest

from tests.conftest import add_user, make_config

pytestmark = pytest.mark.slow

ROUNDS = 3


def _terminal(home, url, terminal, name, ticket_ids, line_ids, barrier, mine, other, out):
    try:
        from data.models import User
        from station.context import open_station
        from station.refund import service
        from station.refund.service import ReturnItem
        ctx = open_station(make_config(home, url, **{"terminal.id": terminal}))
        me = User.get(User.name == name)
        results = []
        for rnd, (tid, lid) in enumerate(zip(ticket_ids, line_ids)):
            def probe(point, rnd=rnd):
                if point == "locked":
                    if not other[rnd].wait(30):
                        raise AssertionError("the other terminal never entered its refund")
            ctx.extras["refund.probe"] = probe
            barrier.wait(60)
            t_enter = time.monotonic()
            mine[rnd].set()
            try:
                r = service.refund(ctx, me, service.new_key(), tid, [ReturnItem(lid, 2000)], "damaged")
                results.append(("won", r.refund_no, r.cash, t_enter, time.monotonic()))
            except service.NotReturnable as e:
                results.append(("refused", str(e), e.returnable, t_enter, time.monotonic()))
        out.put((terminal, results))
    except BaseException:  # noqa: BLE001
        out.put((terminal, traceback.format_exc()))


def test_two_terminals_return_the_same_line_at_once(db_url, station_home):
    from data.models import TicketLine, User
    from data.refund import Refund, ReturnedQty
    from station import drawer, verify
    from station.context import open_station
    from tests.refund_helpers import sell
    from tests.sale_helpers import WINE, make_products
    ctx = open_station(make_config(station_home, db_url), upgrade=True)
    make_products()
    add_user(ctx, "carla", "cashier", "1111")
    add_user(ctx, "bob", "cashier", "2222")
    carla = User.get(User.name == "carla")
    drawer.open_session(ctx, carla, {5000: 10}, kick=False)
    tickets, lines = [], []
    for _ in range(ROUNDS):
        r = sell(ctx, carla, [f"3*{WINE}"])                   # 3 sold; each terminal returns 2
        tickets.append(r.ticket_id)
        lines.append(TicketLine.get(TicketLine.ticket == r.ticket_id).id)
    ctx2 = open_station(make_config(station_home, db_url, **{"terminal.id": "T2"}))
    drawer.open_session(ctx2, User.get(User.name == "bob"), {5000: 10}, kick=False)
    ctx.db.close()
    sp = mp.get_context("spawn")
    barrier, out = sp.Barrier(2), sp.Queue()
    ev = {t: [sp.Event() for _ in range(ROUNDS)] for t in ("T1", "T2")}
    procs = [sp.Process(target=_terminal, args=(str(station_home), db_url, t, n, tickets, lines, barrier, ev[t],
                                                ev["T2" if t == "T1" else "T1"], out))
             for t, n in (("T1", "carla"), ("T2", "bob"))]
    for p in procs:
        p.start()
    got = dict(out.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(30)
    for t, res in got.items():
        assert not isinstance(res, str), f"{t} crashed:\n{res}"
    ctx = open_station(make_config(station_home, db_url))
    wins = {"T1": 0, "T2": 0}
    for rnd in range(ROUNDS):
        a, b = got["T1"][rnd], got["T2"][rnd]
        assert sorted((a[0], b[0])) == ["refused", "won"], (rnd, got)
        winner, loser = (a, b) if a[0] == "won" else (b, a)
        wins["T1" if a[0] == "won" else "T2"] += 1
        assert loser[2] == {lines[rnd]: 1000}                   # the quantity still returnable
        assert "only 1 of 3 can still be returned" in loser[1]
        assert winner[2] == 2 * 899
        assert loser[3] < winner[4], "the two refunds did not overlap"
        assert ReturnedQty.get_by_id(lines[rnd]).returned == 2000
    assert Refund.select().count() == ROUNDS
    bad = [r for r in verify.run(ctx) if not r.ok]
    assert not bad, [(r.name, r.problems[:3], r.error) for r in bad]
    print(f"\nwinners per terminal over {ROUNDS} rounds: {wins}")
    ctx.db.close()


@pytest.mark.postgres
def test_the_database_alone_refuses_the_second_return(station_home):
    """No service and no sale lock: two PostgreSQL connections insert refund lines
    for the same sale line (1 returned already, then 2 + 2 of 4). The second waits
    on the first's row lock (seen in pg_stat_activity), then its CHECK refuses it."""
    import psycopg2
    from urllib.parse import urlparse
    from data.models import TicketLine, User
    from station import drawer
    from station.context import open_station
    from tests.conftest import create_pg_database, drop_pg_database
    from tests.refund_helpers import sell
    from tests.sale_helpers import WINE, make_products
    url = create_pg_database()
    try:
        ctx = open_station(make_config(station_home, url), upgrade=True)
        make_products()
        add_user(ctx, "carla", "cashier", "1111")
        carla = User.get(User.name == "carla")
        drawer.open_session(ctx, carla, {5000: 2}, kick=False)
        r = sell(ctx, carla, [f"4*{WINE}"])
        line = TicketLine.get(TicketLine.ticket == r.ticket_id).id
        ctx.db.close()
        p = urlparse(url)

        def conn():
            return psycopg2.connect(host=p.hostname, port=p.port, user=p.username, dbname=p.path.lstrip("/"))

        def insert(c, key, qty=2000):
            cur = c.cursor()
            cur.execute("INSERT INTO refund (terminal, kind, status, original_id, reason, note, cashier_id, idem_key, "
                        "total, tax_total, rounding, why, created_at) VALUES ('T1', 'return', "
                        "'requested', %s, 'damaged', '', %s, %s, 0, 0, 0, '', now()) RETURNING id",
                        (r.ticket_id, carla.id, key))
            rid = cur.fetchone()[0]
            cur.execute("INSERT INTO refund_line (refund_id, position, original_line_id, code, name, qty, "
                        "unit_price, amount, tax, vat_rate) VALUES (%s, 1, %s, '', 'x', %s, 899, 0, 0, 1900)",
                        (rid, line, qty))

        a, b = conn(), conn()
        insert(a, "key-0", 1000)
        a.commit()
        insert(a, "key-a")                       # holds the returned_qty row until it commits
        b_pid = b.get_backend_pid()
        outcome = {}

        def second():
            try:
                insert(b, "key-b")
                b.commit()
                outcome["b"] = "committed"
            except psycopg2.Error as e:
                b.rollback()
                outcome["b"] = e.pgcode
        th = threading.Thread(target=second)
        th.start()
        watch = conn()
        watch.autocommit = True
        waiting = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not waiting:
            with watch.cursor() as cur:
                cur.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (b_pid,))
                row = cur.fetchone()
                waiting = row is not None and row[0] == "Lock"
            if not waiting:
                time.sleep(0.01)
        assert waiting, "the second connection never waited on the first"
        a.commit()
        th.join(30)
        assert outcome["b"] == "23514", outcome                 # check_violation
        with watch.cursor() as cur:
            cur.execute("SELECT returned FROM returned_qty WHERE line_id = %s", (line,))
            assert cur.fetchone()[0] == 3000
        for c in (a, b, watch):
            c.close()
    finally:
        drop_pg_database(url)
