"""The database coming back (case 4 of issue 15): a PRIVATE PostgreSQL (its own
data dir and port, started here) is restarted mid-sale and mid-commit; every
read and write, in every thread (the test's, the sale screen's scan worker, the
printer's), goes on without leaving the screen, nothing is lost or doubled.

Before: reads ran outside the retry and a long-lived thread kept its dead
connection ("connection already closed" on every scan until the screen was
re-entered), and the logout's journal event was lost the same way."""
from __future__ import annotations

import threading

import pytest

from data.models import Journal, Ticket, TicketLine
from station import auth, drawer, printing, sale, tender, verify
from station.tender import Payment
from tests.conftest import add_user, make_config
from tests.private_pg import PrivatePostgres
from tests.sale_helpers import BREAD, MILK, WINE, make_products, open_drawer

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def pg():
    with PrivatePostgres() as server:
        yield server


@pytest.fixture
def shop(pg, tmp_path):
    from station.context import open_station
    url = pg.create_database("s" + tmp_path.name[-20:].lower().replace("-", "_").replace(".", "_"))
    ctx = open_station(make_config(tmp_path / "home", url), upgrade=True)
    carla = add_user(ctx, "carla", "cashier", "1111")
    make_products()
    open_drawer(ctx, carla)
    yield ctx, carla
    ctx.db.close()


def test_scan_after_a_restart_mid_sale(pg, shop):
    ctx, carla = shop
    sale.scan(ctx, carla, MILK)
    pg.restart()
    v = sale.scan(ctx, carla, BREAD)                  # the same thread, its connection was cut
    assert [ln.code for ln in v.lines] == [MILK, BREAD]
    assert sale.current_ticket(ctx).item_count == 2   # a plain read too
    pg.restart()
    st = tender.begin_tender(ctx, carla)
    r = tender.complete_sale(ctx, carla, st.idem_key, [Payment("cash", 1000)])
    assert r.receipt_no == 1 and not r.duplicate
    assert all(x.ok for x in verify.run(ctx)), verify.report_text(verify.run(ctx))


def test_a_restart_mid_commit_records_the_sale_exactly_once(pg, shop, monkeypatch):
    """The server restarts INSIDE complete_sale's transaction (after the ticket,
    cash and receipt number were written, before the journal entry and the
    commit): the transaction is lost whole and run again on a new connection;
    one sale, one receipt number, one drawer posting."""
    ctx, carla = shop
    sale.scan(ctx, carla, WINE)
    st = tender.begin_tender(ctx, carla)
    real = printing.queue_sale_receipt
    cut = []

    def queue_then_restart(sc):
        real(sc)
        if not cut:
            cut.append(1)
            pg.restart()          # every connection is cut; the server is back when this returns
    monkeypatch.setattr(printing, "queue_sale_receipt", queue_then_restart)
    r = tender.complete_sale(ctx, carla, st.idem_key, [Payment("cash", 1000)])
    assert cut and r.receipt_no == 1
    assert Ticket.select().where(Ticket.status == "completed").count() == 1
    assert Journal.select().where(Journal.kind == "sale.completed").count() == 1
    from data.models import CashMovement, PrintJob
    assert sorted(m.kind for m in CashMovement.select().where(CashMovement.ticket_id == r.ticket_id)) == \
        ["change", "sale"]
    assert PrintJob.select().where(PrintJob.ticket == r.ticket_id).count() == 1
    assert all(x.ok for x in verify.run(ctx)), verify.report_text(verify.run(ctx))


def test_login_and_logout_journal_after_a_restart(pg, shop):
    ctx, carla = shop
    pg.restart()
    u = auth.login(ctx, "carla", "1111")
    pg.restart()
    auth.logout(ctx, u)
    kinds = [j.kind for j in Journal.select().order_by(Journal.seq)]
    assert kinds[-2:] == ["login", "logout"]


def test_a_long_lived_thread_recovers(pg, shop, tmp_path):
    """The printer's thread keeps its connection between receipts."""
    ctx, carla = shop
    spool = tmp_path / "spool.bin"
    ctx.config.set("printer.kind", "file")
    ctx.config.set("printer.path", str(spool))
    ctx.config.set("drawer.kick", "none")
    got = []
    p = printing.Printer(ctx, on_result=got.append)
    for code in (MILK, BREAD):
        sale.scan(ctx, carla, code)
        st = tender.begin_tender(ctx, carla)
        r = tender.complete_sale(ctx, carla, st.idem_key, [Payment("card", sale.ticket_view(ctx, st.ticket_id).total)])
        p.submit_receipt(ctx, r.ticket_id)
        assert p.wait_idle(30)
        pg.restart()
    p.stop()
    assert [x.ok for x in got] == [True, True], [x.message for x in got]


async def test_the_sale_screen_scans_again_after_a_restart(pg, shop):
    """Through the real screen: its scan worker thread (one connection for the
    screen's life) scans, the server restarts, the next scan lands."""
    from tests.sale_ui_support import make_app, sale_screen, wait_for
    ctx, carla = shop
    app = make_app(ctx, carla)
    async with app.run_test(size=(100, 30)) as pilot:
        s = await sale_screen(pilot)
        for code in (MILK, BREAD):
            for ch in code:
                await pilot.press(ch)
            await pilot.press("enter")
            await wait_for(pilot, lambda: s.runner.pending == 0, 30, "the scan")
            done = threading.Event()
            threading.Thread(target=lambda: (pg.restart(), done.set()), daemon=True).start()
            await wait_for(pilot, done.is_set, 90, "the restart")
        for ch in WINE:
            await pilot.press(ch)
        await pilot.press("enter")
        await wait_for(pilot, lambda: s.runner.pending == 0, 30, "the scan after the restart")
    codes = [ln.code for ln in TicketLine.select().order_by(TicketLine.position)]
    assert codes == [MILK, BREAD, WINE]
