"""The hot path: durability by what is at stake, writers that queue, the
checkpointer off the commit path, the fewest statements (SQLite) and round trips
(PostgreSQL) per scan and per sale, and the in-memory open ticket kept honest by
its revision. Real SQLite files and a real PostgreSQL; never a duration."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import peewee
import pytest

from data import db as dbmod
from data.models import Ticket, TicketLine
from station import drawer, journal, sale, tender
from station.errors import NotFound
from tests.conftest import make_config
from tests.sale_helpers import BREAD, MILK, WINE, make_products, open_drawer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def shop(ctx, people):
    make_products()
    open_drawer(ctx, people["cashier"])
    return people["cashier"]


@pytest.fixture
def carla(sqlite_ctx):
    from tests.conftest import add_user
    return add_user(sqlite_ctx, "carla", "cashier", "1111")


def _sync(db) -> int:
    return db.execute_sql("PRAGMA synchronous").fetchone()[0]


# ------------------------------------------------------------ durability ---

def test_ticket_edits_are_normal_money_is_full(sqlite_ctx):
    db = sqlite_ctx.db
    with dbmod.edit():
        assert _sync(db) == 1                     # NORMAL, set before BEGIN
    with dbmod.write():
        assert _sync(db) == 2
    with dbmod.edit():
        assert _sync(db) == 1
    with db.atomic():                             # any other transaction: FULL
        assert _sync(db) == 2
    with dbmod.edit():
        pass
    journal.append("test.event", terminal="T1")   # opens its own durable transaction
    assert _sync(db) == 2
    with dbmod.edit():
        pass
    db.execute_sql("SELECT 1")                    # a read leaves it
    assert _sync(db) == 1
    db.execute_sql("UPDATE journal_head SET seq = seq WHERE id = 1")   # a write outside a transaction
    assert _sync(db) == 2


def test_durable_writes_refused_inside_an_edit(sqlite_ctx):
    with pytest.raises(RuntimeError, match="durable"):
        with dbmod.edit():
            journal.append("test.event", terminal="T1")
    with pytest.raises(RuntimeError, match="durable"):
        with dbmod.edit():
            with dbmod.write():
                pass
    with dbmod.write():                           # an edit inside a durable write is durable
        with dbmod.edit():
            journal.append("test.event", terminal="T1")


CHILD = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {root!r})
    from tests.conftest import make_config
    from station.context import open_station
    from data.models import User
    from station import sale
    ctx = open_station(make_config(__import__("pathlib").Path({home!r}), {url!r}))
    user = User.get(User.name == "carla")
    for code in {codes!r}:
        v = sale.scan(ctx, user, code)
    v = sale.void_line(ctx, user, v.lines[2].id)          # journalled: durable (FULL)
    v = sale.set_quantity(ctx, user, v.lines[1].id, 3000)  # then only ticket edits (NORMAL)
    v = sale.scan(ctx, user, {last!r})
    sync = ctx.db.execute_sql("PRAGMA synchronous").fetchone()[0]
    print(json.dumps({{"sync": sync, "lines": [[ln.code, ln.qty, ln.voided] for ln in v.lines]}}), flush=True)
    time.sleep(600)
""")


def test_kill_9_after_normal_edits_loses_nothing(sqlite_ctx, carla, station_home, sqlite_url):
    """A quantity change and a scan commit with synchronous=NORMAL (no fsync)
    after the last durable write (a void, journalled): a real process killed
    right after them with SIGKILL (no chance to flush or close anything) has
    lost none of them; a fresh connection reads them back."""
    import json
    import sqlite3
    make_products()
    p = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT), home=str(station_home), url=sqlite_url,
                                                              codes=[MILK, BREAD, WINE], last=MILK)],
                         stdout=subprocess.PIPE, text=True)
    try:
        said = json.loads(p.stdout.readline())
    finally:
        os.kill(p.pid, signal.SIGKILL)
        assert p.wait(10) == -signal.SIGKILL
    assert said["sync"] == 1                       # the edits ran at NORMAL
    shown = [(MILK, 2000, False), (BREAD, 3000, False), (WINE, 1000, True)]
    assert [tuple(x) for x in said["lines"]] == shown
    path = dbmod.sqlite_path(sqlite_url)
    assert os.path.getsize(f"{path}-wal") > 0      # the edits are (at least) in the WAL
    fresh = sqlite3.connect(str(path))
    try:
        rows = fresh.execute("SELECT l.code, l.qty, l.voided FROM ticket_line l JOIN ticket t ON t.id = l.ticket_id "
                             "WHERE t.status = 'open' ORDER BY l.position").fetchall()
    finally:
        fresh.close()
    assert [(c, q, bool(v)) for c, q, v in rows] == shown
    v = sale.current_ticket(sqlite_ctx)
    assert [(ln.code, ln.qty, ln.voided) for ln in v.lines] == shown


# --------------------------------------------------------- writers queue ---

def test_a_waiting_writer_queues_on_the_lock_file_not_on_sqlite(sqlite_ctx):
    """With SQLite's busy timeout at 0, a second writer would fail at once with
    'database is locked'; it waits on the writer lock file instead, and goes as
    soon as the first commits."""
    db = sqlite_ctx.db
    holding, release, done = threading.Event(), threading.Event(), []

    def first():
        with dbmod.write():
            journal.append("test.first", terminal="T1")
            holding.set()
            release.wait(30)
        dbmod.release(db)

    def second():
        db.connection().execute("PRAGMA busy_timeout = 0")
        try:
            with dbmod.write():
                journal.append("test.second", terminal="T2")
            done.append("ok")
        except peewee.OperationalError as e:
            done.append(str(e))
        finally:
            dbmod.release(db)

    t1 = threading.Thread(target=first)
    t1.start()
    assert holding.wait(30)
    t2 = threading.Thread(target=second)
    t2.start()
    t2.join(0.5)
    assert t2.is_alive() and done == []          # queued behind the first, not failed
    release.set()
    t1.join(30)
    t2.join(30)
    assert done == ["ok"]
    from data.models import Journal
    assert [j.kind for j in Journal.select().order_by(Journal.seq)] == ["test.first", "test.second"]


def test_checkpoints_run_off_the_commit_path(sqlite_ctx):
    db = sqlite_ctx.db
    assert db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == dbmod.WAL_AUTOCHECKPOINT_BACKSTOP
    c = dbmod.start_checkpointer(db)
    try:
        for i in range(20):
            journal.append("test.event", terminal="T1", data={"i": i})
        done = threading.Event()

        def watch():
            while not c.stop_event.is_set() and c.checkpoints == 0:
                c.stop_event.wait(0.02)
            done.set()
        threading.Thread(target=watch, daemon=True).start()
        assert done.wait(30) and c.checkpoints > 0
        busy, log, done_frames = db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and log == done_frames
    finally:
        c.stop()


# ------------------------------------------------- statements per action ---

class Counter:
    def __init__(self, db):
        self.db, self.sql = db, []

    def __enter__(self):
        self.db.query_hooks.append(self._hook)
        return self

    def _hook(self, event):
        self.sql.append(event.sql)

    def __exit__(self, *exc):
        self.db.query_hooks.remove(self._hook)


def test_fewest_statements_sqlite(sqlite_ctx, carla):
    """A scan: the lookup, then in the transaction the ticket's revision (with the
    fresh role) and the line. A sale commit: 13 statements. Neither grows with
    the ticket."""
    db = sqlite_ctx.db
    make_products()
    c = carla
    open_drawer(sqlite_ctx, c)
    sale.scan(sqlite_ctx, c, MILK)
    with Counter(db) as n:
        sale.scan(sqlite_ctx, c, BREAD)           # a new line
    assert len(n.sql) == 3, n.sql
    with Counter(db) as n:
        sale.scan(sqlite_ctx, c, BREAD)           # adds to its line
    assert len(n.sql) == 3, n.sql
    with Counter(db) as n:
        st = tender.begin_tender(sqlite_ctx, c)
    assert len(n.sql) == 1, n.sql
    with Counter(db) as n:
        tender.complete_sale(sqlite_ctx, c, st.idem_key, [tender.Payment("cash", st.cash_due + 100)])
    # ticket, session, receipt no, tender, 2 movements, session figures, ticket, its stock movements
    # (one INSERT ... SELECT of its lines), its receipt's print job, journal x3
    assert len(n.sql) == 13, n.sql


def test_fewest_round_trips_postgres(ctx, people):
    """On PostgreSQL BEGIN travels with the first statement and writes nobody
    reads travel with the COMMIT: a scan is 2 round trips (and its lookup), a
    tender's start 2, a sale commit 5."""
    if not dbmod.is_postgres(ctx.db):
        pytest.skip("PostgreSQL round trips")
    import psycopg2.extensions

    trips = []

    class Counting(psycopg2.extensions.cursor):
        def execute(self, query, vars=None):
            trips.append(query)
            return super().execute(query, vars)

    make_products()
    c = people["cashier"]
    open_drawer(ctx, c)
    sale.scan(ctx, c, MILK)
    conn = ctx.db.connection()
    conn.cursor_factory = Counting
    try:
        trips.clear()
        sale.scan(ctx, c, BREAD)
        scan_trips = len(trips) - 1               # the lookup
        trips.clear()
        st = tender.begin_tender(ctx, c)
        begin_trips = len(trips)
        trips.clear()
        tender.complete_sale(ctx, c, st.idem_key, [tender.Payment("cash", st.cash_due + 100)])
        commit_trips = len(trips)
    finally:
        conn.cursor_factory = psycopg2.extensions.cursor
    assert (scan_trips, begin_trips, commit_trips) == (2, 2, 5), trips


# ---------------------------------------------------- the ticket in memory ---

def test_open_ticket_in_memory_is_reread_when_another_process_changed_it(ctx, station_home, db_url, shop):
    """A second context on the same terminal (another process after a restart)
    changes the ticket: this one's copy is at an older revision, so the next scan
    reads the ticket again and merges, numbers and totals right."""
    from station.context import open_station
    c = shop
    sale.scan(ctx, c, MILK)
    other = open_station(make_config(station_home, db_url))
    try:
        other_view = sale.scan(other, c, BREAD)
        assert [ln.code for ln in other_view.lines] == [MILK, BREAD]
    finally:
        from data.db import proxy
        proxy.initialize(ctx.db)
    v = sale.scan(ctx, c, BREAD)
    assert [(ln.position, ln.code, ln.qty) for ln in v.lines] == [(1, MILK, 1000), (2, BREAD, 2000)]
    assert v == sale.current_ticket(ctx)
    assert v.total == 119 + 2 * 249


def test_views_from_memory_equal_views_read_whole(ctx, shop):
    c = shop
    steps = [lambda: sale.scan(ctx, c, MILK), lambda: sale.scan(ctx, c, "3*" + BREAD),
             lambda: sale.scan(ctx, c, MILK), lambda: sale.scan(ctx, c, WINE)]
    for step in steps:
        v = step()
        assert v == sale.current_ticket(ctx)
    lid = v.lines[1].id
    v = sale.set_quantity(ctx, c, lid, 5000)
    assert v == sale.current_ticket(ctx) and v.changed.qty == 5000
    v = sale.void_line(ctx, c, v.lines[0].id)
    assert v == sale.current_ticket(ctx) and v.changed.voided
    v = sale.scan(ctx, c, MILK)                   # the voided milk line is not added to
    assert [(ln.code, ln.qty, ln.voided) for ln in v.lines] == [
        (MILK, 2000, True), (BREAD, 5000, False), (WINE, 1000, False), (MILK, 1000, False)]
    assert v == sale.current_ticket(ctx)
    st = tender.begin_tender(ctx, c)
    assert st.due == v.total
    r = tender.complete_sale(ctx, c, st.idem_key, [tender.Payment("card", st.due)])
    assert r.total == v.total and sale.current_ticket(ctx) is None
    with pytest.raises(NotFound):
        sale.set_quantity(ctx, c, lid, 1000)
    assert Ticket.get_by_id(r.ticket_id).total == sum(ln.line_total for ln in v.live_lines)
    assert TicketLine.select().where(TicketLine.ticket == r.ticket_id).count() == 4
    assert drawer.x_report(ctx, c)["sales"]["total"] == r.total
