"""Input and config hygiene (case 8 of issue 15): the service caps a code's
length (the scan field: tests/test_scan_cap.py); a 0 g scale label is refused;
only ASCII digits where the README says digits; full disk, read-only store and
permission problems named; every config number is range-checked with one line."""
from __future__ import annotations

import pytest

from data.models import TicketLine
from station import catalog, config as configmod, sale
from station.errors import ConfigError, InvalidInput
from tests.sale_helpers import make_products


@pytest.fixture
def shop(sqlite_ctx, people_sqlite):
    make_products()
    return sqlite_ctx, people_sqlite


@pytest.fixture
def people_sqlite(sqlite_ctx):
    from tests.conftest import add_user
    return {"cashier": add_user(sqlite_ctx, "carla", "cashier", "1111")}


def test_the_service_caps_a_scan_too(shop):
    ctx, people = shop
    with pytest.raises(InvalidInput, match="more than 80 characters"):
        sale.scan(ctx, people["cashier"], "1*" + "4" * 10_000)
    assert TicketLine.select().count() == 0


def test_a_zero_weight_label_is_refused(shop):
    """Before: 23 IIIII 00000 C is also the item's own barcode, so it rang up 1.000 kg."""
    from data.models import Barcode, Product
    ctx, people = shop
    apples = Product.get(Product.unit == "kg")
    zero = catalog.with_check_digit("2300042" + "00000")
    Barcode.create(code=zero, product=apples)
    with pytest.raises(InvalidInput, match="the weight is zero"):
        sale.scan(ctx, people["cashier"], zero)
    assert TicketLine.select().count() == 0
    v = sale.scan(ctx, people["cashier"], catalog.with_check_digit("2300042" + "00350"))
    assert v.lines[0].qty == 350


@pytest.mark.parametrize("text", ["١٢٣", "١٢.٥٠", "１２", "12.٥"])
def test_only_ascii_digits_are_amounts_quantities_and_prices(shop, text):
    ctx, _p = shop
    from station import tender
    with pytest.raises(InvalidInput):
        tender.parse_amount_input(ctx, text)
    with pytest.raises(InvalidInput):
        sale.parse_quantity_input(text)
    rep = catalog.import_records(ctx, [(2, ("X1", "", "Milk", text, "7", "", "pc", "1"))],
                                 catalog.ImportReport(path="t"))
    assert len(rep.errors) == 1 and "not a price" in rep.errors[0].reason


@pytest.mark.parametrize("key,value,allowed", [
    ("security.scrypt_n", "3", "1024 and 1048576"),
    ("security.lockout_minutes", "-15", "1 and 10080"),
    ("security.max_failed_attempts", "0", "1 and 100"),
    ("printer.timeout", "0", "1 and 120"),
    ("limits.max_amount", "-1", "1 and"),
    ("cash.rounding_step", "0", "1 and 10000"),
    ("printer.port", "70000", "1 and 65535"),
])
def test_every_config_number_is_range_checked(tmp_path, key, value, allowed):
    """Before: scrypt_n=3 printed a traceback; lockout_minutes=-15 and
    max_failed_attempts=0 were accepted and disabled the lockout."""
    env_name = "STATION_" + key.upper().replace(".", "_")
    with pytest.raises(ConfigError) as e:
        configmod.load(env={"STATION_HOME": str(tmp_path), env_name: value})
    msg = str(e.value)
    assert "\n" not in msg and key in msg and env_name in msg and allowed in msg
    f = tmp_path / "station.toml"
    section, name = key.split(".")
    f.write_text(f"[{section}]\n{name} = {value}\n")
    with pytest.raises(ConfigError) as e:
        configmod.load(env={"STATION_HOME": str(tmp_path)})
    assert str(f) in str(e.value) and allowed in str(e.value)


def test_scrypt_n_must_be_a_power_of_two(tmp_path):
    with pytest.raises(ConfigError, match="power of 2"):
        configmod.load(env={"STATION_HOME": str(tmp_path), "STATION_SECURITY_SCRYPT_N": "5000"})


def test_every_number_in_the_schema_has_a_range():
    for s, keys in configmod.SCHEMA.items():
        for k, (kind, _d, _doc) in keys.items():
            if kind in ("int", "list[int]"):
                assert f"{s}.{k}" in configmod.RANGES, f"{s}.{k} has no range in station/config.py RANGES"


# ------------------------------------------------- storage problems named ---

def test_a_full_disk_is_named_not_cannot_rollback(shop):
    """Before: a full disk said "cannot rollback - no transaction is active"."""
    from station.errors import Unavailable
    ctx, people = shop
    from tests.sale_helpers import MILK, BREAD, WINE
    pages = ctx.db.execute_sql("PRAGMA page_count").fetchone()[0]
    # the file cannot grow, on this connection and every new one (a full disk stays full)
    ctx.db._pragmas = list(ctx.db._pragmas) + [("max_page_count", pages)]
    ctx.db.execute_sql(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(Unavailable) as e:
        for i in range(2000):       # each a new line, until the file cannot grow
            sale.scan(ctx, people["cashier"], [MILK, BREAD, WINE][i % 3])
            sale.void_line(ctx, people["cashier"], sale.current_ticket(ctx).lines[-1].id)
    assert "disk of the store database is full" in str(e.value) and "rollback" not in str(e.value)


def test_storage_problems_are_named_whatever_masks_them():
    import peewee
    from data.db import storage_problem
    from screens.format import error_text
    try:
        try:
            raise peewee.OperationalError("database or disk is full")
        except peewee.OperationalError:
            raise peewee.OperationalError("cannot rollback - no transaction is active")
    except peewee.OperationalError as masked:
        assert "is full" in error_text(masked)
    assert "read-only" in storage_problem(peewee.OperationalError("attempt to write a readonly database"))
    assert "permission" in storage_problem(peewee.OperationalError("unable to open database file"))
    assert "is full" in storage_problem(peewee.OperationalError(
        'could not extend file "base/16384/2619": No space left on device'))
    assert storage_problem(peewee.IntegrityError("UNIQUE constraint failed: ticket.idem_key")) is None


async def test_a_read_only_store_is_named_on_the_sale_screen_and_logged(shop, caplog):
    """Before: 'unexpected error ... details in station.log', and the log was empty."""
    import logging
    from textual.widgets import Static
    from tests.sale_ui_support import make_app, sale_screen, wait_for
    from tests.sale_helpers import MILK
    ctx, people = shop
    ctx.db._pragmas = list(ctx.db._pragmas) + [("query_only", 1)]   # every new connection: read-only
    ctx.db.close()
    app = make_app(ctx, people["cashier"])
    with caplog.at_level(logging.ERROR):
        async with app.run_test(size=(100, 30)) as pilot:
            s = await sale_screen(pilot)
            for ch in MILK:
                await pilot.press(ch)
            await pilot.press("enter")
            await wait_for(pilot, lambda: s.runner.pending == 0 and "read-only" in status_of(s), 20,
                           "the named error")
    assert TicketLine.select().count() == 0
    assert any(r.exc_info for r in caplog.records), "the traceback of the unexpected error is logged"


def status_of(screen) -> str:
    from textual.widgets import Static
    for w in screen.query(Static):
        if w.id and "status" in w.id:
            return str(w.render())
    return ""


@pytest.mark.postgres
def test_the_database_urls_libpq_options_reach_the_connection():
    """``?sslmode=require`` (the README's advice for a network between tills and
    PostgreSQL) is passed on: a server without TLS is then refused, not used in clear."""
    from data import db as dbmod
    from tests.conftest import PG_ADMIN, pg_reachable
    if pg_reachable():
        pytest.skip(pg_reachable())
    with pytest.raises(dbmod.DatabaseUnavailable, match="SSL"):
        dbmod.open_database(PG_ADMIN + "?sslmode=require", bind=False)
    dbmod.open_database(PG_ADMIN + "?sslmode=disable", bind=False).close()
