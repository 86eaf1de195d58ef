"""``station db copy --to postgresql://...``: a SQLite store with sales, drawer
sessions (one closed with its Z report), approvals and a journal moves to an
empty PostgreSQL database; same rows, same totals, verify holds, and the
PostgreSQL store goes on selling where the SQLite one stopped."""
from __future__ import annotations

import pytest

from tests.conftest import add_user, cli_stdin, create_pg_database, drop_pg_database


@pytest.fixture
def pg_url():
    url = create_pg_database()
    yield url
    drop_pg_database(url)


def _sell(ctx, user, codes, cash=True):
    from station import sale, tender
    for c in codes:
        sale.scan(ctx, user, c)
    st = tender.begin_tender(ctx, user)
    pay = [tender.Payment("cash", st.cash_due + 500)] if cash else [tender.Payment("card", st.due, reference="x")]
    return tender.complete_sale(ctx, user, st.idem_key, pay)


def _totals():
    from peewee import fn
    from data.models import CashMovement, Journal, JournalHead, Tender, Ticket
    done = Ticket.select().where(Ticket.status == "completed")
    return {
        "sales": done.count(),
        "sales_total": done.select(fn.SUM(Ticket.total)).scalar(),
        "tendered": Tender.select(fn.SUM(Tender.amount)).scalar(),
        "cash": CashMovement.select(fn.SUM(CashMovement.amount)).scalar(),
        "journal": Journal.select().count(),
        "head": JournalHead.get_by_id(1).hash,
    }


@pytest.mark.postgres
def test_copy_sqlite_store_to_postgresql(sqlite_ctx, pg_url, station_home, capsys, monkeypatch):
    from data import db as dbmod
    from station import cli, drawer, verify
    from station.context import open_station
    from tests.conftest import make_config
    from tests.sale_helpers import BREAD, MILK, WINE, make_products, open_drawer
    ctx = sqlite_ctx
    make_products()
    carla = add_user(ctx, "carla", "cashier", "1111")
    add_user(ctx, "mia", "manager", "3333")
    s1 = open_drawer(ctx, carla)
    _sell(ctx, carla, [MILK, WINE])
    _sell(ctx, carla, [BREAD, "3*" + MILK], cash=False)
    expected = drawer.expected_cash(s1.id)
    drawer.close_session(ctx, carla, {5000: expected // 5000, 1: expected % 5000})
    open_drawer(ctx, carla)
    _sell(ctx, carla, [WINE])
    before = _totals()
    assert before["sales"] == 3

    monkeypatch.setenv("STATION_HOME", str(station_home))
    monkeypatch.setenv("STATION_SECURITY_TOTP_ROLES", "")
    add_user(ctx, "ada", "admin", "5555")
    cli_stdin(monkeypatch, "ada", "5555", times=2)     # an admin signs in for each copy
    code = cli.main(["--db", ctx.config.db_url, "db", "copy", "--to", pg_url])
    captured = capsys.readouterr()
    out = captured.out
    dbmod.open_database(ctx.config.db_url)
    before = _totals()                                 # the store as copied (with the sign-in's entry)
    assert code == 0, out + captured.err
    assert "every row count and every sum (money, quantities, counters) matches" in out
    assert "verify on the copy: every check holds" in out

    pg = open_station(make_config(station_home, pg_url))   # the same key file
    assert dbmod.is_postgres(pg.db)
    assert _totals() == before
    assert all(r.ok for r in verify.run(pg))
    # the PostgreSQL store goes on: ids, receipt numbers and the journal continue
    carla_pg = type(carla).get(type(carla).name == "carla")
    r = _sell(pg, carla_pg, [MILK])
    assert r.receipt_no == 4
    assert all(r.ok for r in verify.run(pg))

    # a second copy into a database that now holds a store is refused, nothing touched
    n = _totals()["journal"]
    dbmod.open_database(ctx.config.db_url)
    code = cli.main(["--db", ctx.config.db_url, "db", "copy", "--to", pg_url])
    err = capsys.readouterr().err
    assert code == 2 and "already holds data" in err
    dbmod.open_database(pg_url)
    assert _totals()["journal"] == n


def test_copy_needs_a_postgresql_target(sqlite_ctx, tmp_path):
    from station.errors import InvalidInput
    from station.ops import dbcopy
    with pytest.raises(InvalidInput, match="to PostgreSQL"):
        dbcopy.copy_store(sqlite_ctx, f"sqlite:///{tmp_path / 'x.db'}")


def test_tables_in_foreign_key_order(sqlite_ctx):
    from station.ops import dbcopy
    order = dbcopy.tables_in_order(sqlite_ctx.db)
    for t in order:
        for fk in sqlite_ctx.db.get_foreign_keys(t):
            if fk.dest_table != t:
                assert order.index(fk.dest_table) < order.index(t), (t, fk.dest_table)
    assert {"journal", "ticket", "tender", "approval_request", "schema_meta"} <= set(order)
