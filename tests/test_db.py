"""The data layer on SQLite AND PostgreSQL (the same tests, parametrized by the
``ctx`` / ``db_url`` fixtures): constraints, partial unique indexes, insert-only
guards, idempotent migrations, the schema-mismatch sentence, and several
processes running ``station db upgrade`` at once on a fresh database."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import peewee
import pytest

from data import db as dbmod
from data import migrations
from data.models import (Barcode, DrawerSession, Journal, JournalHead, Product, SchemaMeta,
                         Ticket, User)
from station import journal
from station.context import open_station
from station.errors import Unavailable
from tests.conftest import add_user, make_config

ROOT = Path(__file__).resolve().parents[1]


def product(sku="S1", **kw):
    values = dict(sku=sku, name="Thing", name_key="thing", price=100, vat_rate=1900)
    values.update(kw)
    with dbmod.write():
        return Product.create(**values)


def refused(fn):
    """fn() must be refused by the database itself; nothing is kept."""
    with pytest.raises(peewee.DatabaseError):
        with dbmod.write():
            fn()


# ---------------------------------------------------------- constraints ---

def test_check_constraints(ctx):
    refused(lambda: product(price=-1))
    refused(lambda: product(vat_rate=10001))
    refused(lambda: product(vat_rate=-1))
    with pytest.raises(peewee.IntegrityError):
        with dbmod.write():
            User.create(name="x", role="king", pin_hash="h")
    assert Product.select().count() == 0


def test_unique_and_foreign_keys(ctx):
    p = product("S1")
    refused(lambda: product("S1"))                                   # sku unique
    with dbmod.write():
        Barcode.create(code="4006381333931", product=p)
    refused(lambda: Barcode.create(code="4006381333931", product=p))  # one product per barcode
    refused(lambda: Barcode.create(code="96385074", product=999999))  # no such product
    assert Barcode.select().count() == 1


def test_partial_unique_indexes(ctx, people):
    carla, sam = people["cashier"], people["supervisor"]
    with dbmod.write():
        first = DrawerSession.create(drawer="D1", terminal="T1", cashier=carla, float_amount=0)
    # a second open session on the same drawer, or for the same cashier: refused
    refused(lambda: DrawerSession.create(drawer="D1", terminal="T2", cashier=sam, float_amount=0))
    refused(lambda: DrawerSession.create(drawer="D2", terminal="T2", cashier=carla, float_amount=0))
    with dbmod.write():
        DrawerSession.update(status="closed").where(DrawerSession.id == first.id).execute()
        DrawerSession.create(drawer="D1", terminal="T1", cashier=carla, float_amount=0)   # now fine
        Ticket.create(terminal="T1", cashier=carla)
    refused(lambda: Ticket.create(terminal="T1", cashier=sam))                   # one open ticket per terminal
    with dbmod.write():
        Ticket.create(terminal="T1", cashier=sam, status="parked")              # parked ones are not open
        Ticket.create(terminal="T2", cashier=sam)
    with dbmod.write():
        Ticket.create(terminal="T9", cashier=sam, idem_key="k1")
    refused(lambda: Ticket.create(terminal="T8", cashier=sam, idem_key="k1"))


def test_journal_is_insert_only(ctx):
    with dbmod.write():
        row = journal.append("test.event", terminal="T1", data={"x": 1})
    refused(lambda: Journal.update(kind="forged").where(Journal.seq == row.seq).execute())
    refused(lambda: Journal.delete().where(Journal.seq == row.seq).execute())
    assert Journal.get(Journal.seq == row.seq).kind == "test.event"


def test_money_is_integer_on_both_backends(ctx):
    for i, cents in enumerate((10, 20, 999_999_999_999)):
        product(f"M{i}", price=cents)
    total = Product.select(peewee.fn.SUM(Product.price)).scalar()
    assert total == 10 + 20 + 999_999_999_999 and isinstance(int(total), int)
    assert str(total) == "1000000000029"


def test_sqlite_pragmas(sqlite_ctx):
    db = sqlite_ctx.db
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == dbmod.BUSY_TIMEOUT_MS
    assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2   # FULL


# ----------------------------------------------------------- migrations ---

def test_upgrade_is_idempotent(ctx):
    assert migrations.schema_version(ctx.db) == migrations.CODE_VERSION
    assert migrations.upgrade(ctx.db) == []
    assert migrations.upgrade(ctx.db) == []
    assert JournalHead.select().count() == 1
    assert SchemaMeta.select(SchemaMeta.key).where(SchemaMeta.key == "schema_version").count() == 1
    migrations.check_version(ctx.db)


@pytest.mark.blank_database
def test_fresh_database_refuses_with_one_sentence(db_url, station_home):
    cfg = make_config(station_home, db_url)
    with pytest.raises(migrations.SchemaMismatch) as e:
        open_station(cfg)
    msg = str(e.value)
    assert msg == ("the store database has schema version 0 but this station needs "
                   f"{migrations.CODE_VERSION}: run 'station db upgrade'")
    ctx = open_station(cfg, upgrade=True)
    assert migrations.schema_version(ctx.db) == migrations.CODE_VERSION
    ctx.db.close()


def test_newer_schema_refuses(ctx):
    with dbmod.write():
        SchemaMeta.update(value=str(migrations.CODE_VERSION + 1)).where(
            SchemaMeta.key == "schema_version").execute()
    with pytest.raises(migrations.SchemaMismatch, match="install the newer station"):
        migrations.check_version(ctx.db)
    with pytest.raises(migrations.SchemaMismatch):
        open_station(ctx.config)


def _station(*args, home, timeout=120):
    env = dict(os.environ, STATION_HOME=str(home), PYTHONPATH=str(ROOT))
    env.pop("STATION_DB", None)
    return subprocess.run([sys.executable, "-m", "station.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


@pytest.mark.blank_database
@pytest.mark.slow
def test_concurrent_upgrades_on_a_fresh_database(db_url, tmp_path):
    """Three processes run `station db upgrade` at the same moment: all succeed,
    exactly one applies the migration, the schema is whole and at the version."""
    home = tmp_path / "h"
    home.mkdir()
    env = dict(os.environ, STATION_HOME=str(home), PYTHONPATH=str(ROOT))
    env.pop("STATION_DB", None)
    # the key file first, so the race is only about the schema
    _station("--db", db_url, "config", "show", home=home)
    go = tmp_path / "go"
    script = ("import os, sys, time\n"
              f"while not os.path.exists({str(go)!r}): time.sleep(0.005)\n"
              "from station.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, "--db", db_url, "db", "upgrade"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
             for _ in range(3)]
    import time
    time.sleep(1.5)   # let them all import and wait
    go.write_text("go")
    outs = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    assert codes == [0, 0, 0], outs
    # each migration step applied by exactly one of them (the steps may be shared out)
    for version, _title, _fn in migrations.MIGRATIONS:
        assert sum(o.count(f"applied {version}: ") for o, _e in outs) == 1, outs
    db = dbmod.open_database(db_url)
    try:
        assert migrations.schema_version(db) == migrations.CODE_VERSION
        assert JournalHead.select().count() == 1
        assert SchemaMeta.select(SchemaMeta.key).where(SchemaMeta.key == "schema_version").count() == 1
        if dbmod.is_postgres(db):
            n = db.execute_sql("SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%%_guard_%%'").fetchone()[0]
        else:
            n = db.execute_sql("SELECT count(*) FROM sqlite_master WHERE type='trigger' "
                               "AND name LIKE '%_guard_%'").fetchone()[0]
        assert n == len(migrations.guard_trigger_names())
    finally:
        db.close()


# ---------------------------------------------------------- bad URLs ---

@pytest.mark.parametrize("url,message", [
    ("foo://x", "unsupported database URL"),
    ("", "no database URL"),
    ("sqlite:///:memory:", "in-memory"),
    ("sqlite:////no/such/folder/x.db", "does not exist"),
    ("postgresql://postgres@127.0.0.1:1/nodb", "cannot open database"),
    ("postgresql://127.0.0.1:5432/", "no database name"),
])
def test_bad_or_unreachable_database(url, message, station_home):
    cfg = make_config(station_home, url or "sqlite:///x")
    if not url:
        cfg.values["database"]["url"] = ""
        with pytest.raises(dbmod.DatabaseUnavailable, match=message):
            dbmod.make_database(url)
        return
    with pytest.raises(Unavailable, match=message):
        open_station(cfg)


def test_users_shared_between_contexts(ctx):
    add_user(ctx, "zoe", "cashier", "1234")
    assert User.get(User.name == "zoe").role == "cashier"
