"""``station backup`` while four terminal processes sell, then verify on the copy;
``station restore``: refuses newer data or another store's journal unless forced,
keeps the store aside, and the restored store checks out. SQLite and PostgreSQL."""
from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3

import pytest

from tests.conftest import add_user, cli_stdin, make_config

TILLS = 4


def _till(home, url, terminal, cashier, start, stop, sold):
    """One till: sells until ``stop``; ``sold`` counts its committed sales."""
    import sys
    sys.path.insert(0, os.getcwd())
    from data.models import User
    from station import sale, tender
    from station.context import open_station
    from tests.sale_helpers import BREAD, MILK, WINE, open_drawer
    ctx = open_station(make_config(home, url, **{"terminal.id": terminal}))
    user = User.get(User.name == cashier)
    open_drawer(ctx, user)
    start.wait(60)
    codes = [MILK, WINE, BREAD]
    i = 0
    while not stop.is_set() and i < 5000:
        sale.scan(ctx, user, codes[i % 3])
        st = tender.begin_tender(ctx, user)
        pay = [tender.Payment("card", st.due, reference=str(i))] if i % 4 == 3 else \
            [tender.Payment("cash", st.cash_due + (i % 5) * 100)]
        tender.complete_sale(ctx, user, st.idem_key, pay)
        i += 1
        with sold.get_lock():
            sold.value += 1


def _completed(url) -> int:
    from data import db as dbmod
    from station.ops.backup import bound, open_copy
    from data.models import Ticket
    database = open_copy(url) if url.startswith("sqlite") else dbmod.open_database(url, bind=False)
    try:
        with bound(database):
            return Ticket.select().where(Ticket.status == "completed").count()
    finally:
        database.close()


@pytest.mark.slow
def test_backup_while_four_tills_sell(ctx, db_url, station_home, tmp_path, capsys, monkeypatch):
    from station import cli
    from station.ops import backup
    from tests.sale_helpers import make_products
    make_products()
    names = [f"till{i}" for i in range(TILLS)]
    for n in names:
        add_user(ctx, n, "cashier", "1111")
    spawn = mp.get_context("spawn")
    start, stop = spawn.Event(), spawn.Event()
    sold = spawn.Value("i", 0)
    tills = [spawn.Process(target=_till, args=(str(station_home), db_url, f"T{i + 1}", names[i], start, stop, sold))
             for i in range(TILLS)]
    for p in tills:
        p.start()
    try:
        start.set()
        while sold.value < 4 * TILLS:       # every till is selling
            if not all(p.is_alive() for p in tills):
                pytest.fail("a till died before the backup")
            stop.wait(0.05)
        # back up until a copy was taken while sales were being committed on both sides of it
        overlapped = None
        for attempt in range(40):
            dest = tmp_path / f"copy{attempt}.bak"
            before = sold.value
            res = backup.backup(ctx, dest, verify=False)
            after = sold.value
            if before < after:
                overlapped = (dest, before, after)
                break
        assert overlapped, "the tills never committed a sale during a backup"
        dest, before, after = overlapped
        # and through the command, as a manager runs it (signed in: no TOTP roles here)
        monkeypatch.setenv("STATION_HOME", str(station_home))
        monkeypatch.setenv("STATION_SECURITY_TOTP_ROLES", "")
        add_user(ctx, "mia", "manager", "3333")
        cli_stdin(monkeypatch, "mia", "3333")
        code = cli.main(["--db", db_url, "backup", str(tmp_path / "cli.bak")])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "verify on the copy: every check holds" in out
        assert "station.key) is NOT in the backup" in out
    finally:
        stop.set()
        for p in tills:
            p.join(60)
    assert all(p.exitcode == 0 for p in tills), [p.exitcode for p in tills]
    total = sold.value
    assert before < after < total            # sales before, during and after the copy
    # the overlapping copy: consistent (verify holds) and a prefix of the sales
    if res.backend == "sqlite":
        copy_url = f"sqlite:///{dest}"
        assert backup.verify_copy(ctx, copy_url) == []
        n = _completed(copy_url)
    else:
        with backup.scratch_database(db_url) as scratch:
            backup._run(["pg_restore", "--no-owner", f"--dbname={scratch}", str(dest)], "pg_restore")
            assert backup.verify_copy(ctx, scratch) == []
            n = _completed(scratch)
    assert 0 < n <= total and _completed(db_url) == total
    print(f"\n{res.backend}: copy taken with {n} of {total} sales, {before}..{after} committed around it; "
          f"{res.size} bytes in {res.seconds * 1000:.0f} ms")


def _sell(ctx, user, n):
    from station import sale, tender
    from tests.sale_helpers import MILK
    for _ in range(n):
        sale.scan(ctx, user, MILK)
        st = tender.begin_tender(ctx, user)
        tender.complete_sale(ctx, user, st.idem_key, [tender.Payment("cash", st.cash_due)])


def test_restore_refuses_newer_data_and_keeps_the_store(ctx, db_url, station_home, tmp_path):
    from data.models import Ticket
    from station.context import Context
    from station.errors import Conflict
    from station.ops import backup
    from tests.sale_helpers import make_products, open_drawer
    make_products()
    carla = add_user(ctx, "carla", "cashier", "1111")
    open_drawer(ctx, carla)
    _sell(ctx, carla, 3)
    res = backup.backup(ctx, tmp_path / "monday.bak")
    assert res.ok and res.head.seq > 0
    with pytest.raises(Conflict, match="already exists"):
        backup.backup(ctx, tmp_path / "monday.bak")
    _sell(ctx, carla, 2)                                    # the store moves on
    rctx = Context(config=ctx.config, db=None, keys=ctx.keys)
    with pytest.raises(Conflict, match=r"journal entries newer than the backup.*--force"):
        backup.restore(ctx.config, res.path, ctx=rctx)
    assert Ticket.select().where(Ticket.status == "completed").count() == 5   # nothing changed
    ctx.db.close()
    done = backup.restore(ctx.config, res.path, force=True, ctx=rctx)
    assert done.backup.seq == res.head.seq and done.store_before.seq > res.head.seq
    if res.backend == "sqlite":
        assert done.saved_as is not None and done.saved_as.exists()
    from data import db as dbmod
    dbmod.open_database(db_url)
    assert Ticket.select().where(Ticket.status == "completed").count() == 3
    from station import verify
    assert all(r.ok for r in verify.run(ctx)), [r.problems for r in verify.run(ctx) if not r.ok]
    # the same backup again over the restored store: nothing newer, allowed
    ctx.db.close()
    backup.restore(ctx.config, res.path, ctx=rctx)


def test_restore_refuses_another_stores_backup(sqlite_ctx, tmp_path):
    from station.context import Context, open_station
    from station.errors import Conflict, InvalidInput
    from station.ops import backup
    ctx = sqlite_ctx
    add_user(ctx, "carla", "cashier", "1111")
    other_home = tmp_path / "other"
    other_home.mkdir()
    other = open_station(make_config(other_home, f"sqlite:///{tmp_path / 'other.db'}"), upgrade=True)
    add_user(other, "otto", "cashier", "1111")
    add_user(other, "olga", "cashier", "1111")
    theirs = backup.backup(other, tmp_path / "other.bak")
    other.db.close()
    from data import db as dbmod
    dbmod.open_database(ctx.config.db_url)
    rctx = Context(config=ctx.config, db=None, keys=ctx.keys)
    with pytest.raises(Conflict, match="different stores"):
        backup.restore(ctx.config, theirs.path, ctx=rctx)
    (tmp_path / "junk.bak").write_bytes(b"not a database at all")
    with pytest.raises(InvalidInput, match="not a station backup"):
        backup.restore(ctx.config, tmp_path / "junk.bak", ctx=rctx)


def test_a_damaged_backup_is_not_restored(sqlite_ctx, tmp_path):
    from station.context import Context
    from station.errors import Conflict
    from station.ops import backup
    from data import migrations
    ctx = sqlite_ctx
    add_user(ctx, "carla", "cashier", "1111")
    res = backup.backup(ctx, tmp_path / "a.bak")
    c = sqlite3.connect(res.path)          # someone edits the journal inside the backup
    for t in migrations.guard_trigger_names():
        c.execute(f"DROP TRIGGER IF EXISTS {t}")
    c.execute("UPDATE journal SET data = '{\"role\":\"admin\"}' WHERE seq = 1")
    c.commit()
    c.close()
    rctx = Context(config=ctx.config, db=None, keys=ctx.keys)
    with pytest.raises(Conflict, match="does not check out.*journal"):
        backup.restore(ctx.config, res.path, ctx=rctx)


def test_restore_needs_the_key_file(sqlite_ctx, tmp_path, capsys, monkeypatch):
    from station import cli
    from station.ops import backup
    ctx = sqlite_ctx
    res = backup.backup(ctx, tmp_path / "a.bak")
    monkeypatch.setenv("STATION_HOME", str(tmp_path / "newtill"))
    code = cli.main(["--db", f"sqlite:///{tmp_path / 'new.db'}", "restore", str(res.path)])
    err = capsys.readouterr().err
    assert code == 2 and "copy the store's key file there first" in err
    assert not (tmp_path / "new.db").exists()
