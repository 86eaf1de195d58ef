"""A back office that asks who you are (case 6 of issue 15): commands that change
people, keys or the catalog sign in (user, PIN, TOTP where the permission table
asks) from a prompt or standard input, never a flag, and act as that user in the
permission table and the journal; read-only ones sign in too unless
``security.cli_login_reads`` is off. The store's files are private."""
from __future__ import annotations

import stat
import time

import pyotp
import pytest

from data.models import Journal, Product, User
from station import totp_enrol
from station.cli import main
from tests.conftest import add_user, cli_stdin

SECRET = totp_enrol.DEMO_SECRET


def code(step_offset: int = 0) -> str:
    return pyotp.TOTP(SECRET).at(time.time() + 30 * step_offset)


@pytest.fixture
def shop(ctx, monkeypatch):
    add_user(ctx, "ada", "admin", "5555")
    add_user(ctx, "mia", "manager", "3333")
    add_user(ctx, "carla", "cashier", "1111")
    add_user(ctx, "sam", "supervisor", "2222")
    totp_enrol.enrol_known_secret(ctx, "ada", SECRET)
    monkeypatch.setenv("STATION_HOME", str(ctx.config.data_dir))
    monkeypatch.setenv("STATION_DB", ctx.config.db_url)
    monkeypatch.setenv("STATION_SECURITY_SCRYPT_N", str(2 ** 10))
    monkeypatch.delenv("STATION_CONFIG", raising=False)
    return ctx


def run(capsys, *args):
    try:
        rc = main(list(args))
    except SystemExit as e:
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def last(kind):
    return Journal.select().where(Journal.kind == kind).order_by(Journal.seq.desc()).first()


def test_anyone_with_a_shell_is_not_the_admin(shop, monkeypatch, capsys):
    """The attacks of the issue, as a script would type them (only the new PIN,
    or nothing, on stdin): each refused, nothing changed."""
    seq0 = Journal.select().count()
    cli_stdin(monkeypatch, "9999")
    rc, _, err = run(capsys, "user", "add", "mallory", "--role", "admin")
    assert rc == 2 and err.startswith("station: ") and User.get_or_none(User.name == "mallory") is None
    before = User.get(User.name == "mia").pin_hash
    cli_stdin(monkeypatch, "9999")
    assert run(capsys, "user", "set-pin", "mia")[0] == 2
    assert User.get(User.name == "mia").pin_hash == before
    cli_stdin(monkeypatch)
    assert run(capsys, "user", "totp", "mia", "--secret", "MINEMINEMINEMINE", "--code", "000000",
               "--quiet")[0] == 2
    assert User.get(User.name == "mia").totp_secret is None
    csv = shop.config.data_dir / "milk.csv"
    csv.write_text("sku,barcode,name,price,vat_rate,category\nM1,4006381333931,Milk,0.01,7,Dairy\n")
    cli_stdin(monkeypatch)
    assert run(capsys, "catalog", "import", str(csv))[0] == 2
    assert Product.select().count() == 0
    assert Journal.select().where((Journal.seq > seq0) & (Journal.user_name == "cli")).count() == 0


def test_the_wrong_role_is_refused_and_journalled(shop, monkeypatch, capsys):
    cli_stdin(monkeypatch, "carla", "1111", "9999")
    rc, _, err = run(capsys, "user", "add", "mallory", "--role", "admin")
    assert rc == 2 and "carla (cashier) may not user manage" in err
    assert User.get_or_none(User.name == "mallory") is None
    assert last("signin.refused").user_name == "carla"


def test_a_manager_without_totp_must_enrol_first(shop, monkeypatch, capsys):
    cli_stdin(monkeypatch, "mia", "3333", "9999")
    rc, _, err = run(capsys, "user", "add", "bob", "--role", "cashier")
    assert rc == 2 and "mia has no TOTP enrolled" in err and "station user totp mia" in err
    assert User.get_or_none(User.name == "bob") is None


def test_the_admin_signs_in_with_pin_and_totp_and_is_journalled(shop, monkeypatch, capsys):
    cli_stdin(monkeypatch, "ada", "5555", code(), "4321")
    rc, out, err = run(capsys, "user", "add", "bob", "--role", "cashier")
    assert rc == 0, err
    assert "added by ada" in out
    e = last("user.added")
    assert (e.user_name, e.ref) == ("ada", "bob")
    s = last("signin")
    assert s.user_name == "ada" and '"action":"user.manage"' in s.data and '"via":"cli"' in s.data
    # a wrong TOTP code: refused, nothing added, the failure counted toward the lockout
    cli_stdin(monkeypatch, "ada", "5555", "%06d" % ((int(code(1)) + 1) % 10 ** 6), "4321")
    rc, _, err = run(capsys, "user", "add", "eve", "--role", "cashier")
    assert rc == 2 and "wrong TOTP code" in err and User.get_or_none(User.name == "eve") is None
    assert User.get(User.name == "ada").failed_attempts == 1


def test_wrong_pins_at_the_cli_feed_the_shared_lockout(shop, monkeypatch, capsys):
    limit = shop.config.security.max_failed_attempts
    for i in range(limit):
        cli_stdin(monkeypatch, "sam", "0000")
        rc, _, err = run(capsys, "user", "unlock", "carla")
        assert rc == 2
    assert "locked" in err
    assert User.get(User.name == "sam").locked_until is not None


def test_own_pin_needs_only_oneself(shop, monkeypatch, capsys):
    cli_stdin(monkeypatch, "carla", "1111", "7777")
    assert run(capsys, "user", "set-pin", "carla")[0] == 0
    cli_stdin(monkeypatch, "carla", "7777", "1234")
    rc, _, err = run(capsys, "user", "set-pin", "mia")
    assert rc == 2 and "may not user manage" in err


def test_reads_need_a_sign_in_unless_the_config_says_otherwise(shop, monkeypatch, capsys):
    cli_stdin(monkeypatch)
    rc, _, err = run(capsys, "user", "list")
    assert rc == 2 and "no user name on standard input" in err
    cli_stdin(monkeypatch, "carla", "1111")
    rc, _, err = run(capsys, "audit")
    assert rc == 2 and "may not journal view" in err
    cli_stdin(monkeypatch, "sam", "2222")
    rc, out, _ = run(capsys, "user", "list")
    assert rc == 0 and "carla" in out
    monkeypatch.setenv("STATION_SECURITY_CLI_LOGIN_READS", "false")
    cli_stdin(monkeypatch)
    rc, out, _ = run(capsys, "user", "list")
    assert rc == 0 and "carla" in out


def test_the_first_user_needs_no_sign_in_but_only_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STATION_HOME", str(tmp_path / "fresh"))
    monkeypatch.setenv("STATION_SECURITY_SCRYPT_N", str(2 ** 10))
    monkeypatch.delenv("STATION_DB", raising=False)
    assert run(capsys, "db", "upgrade")[0] == 0
    cli_stdin(monkeypatch, "1111")
    rc, _, err = run(capsys, "user", "add", "carla", "--role", "cashier")
    assert rc == 2 and "the first user must be able to add the others" in err
    cli_stdin(monkeypatch, "5555")
    rc, out, err = run(capsys, "user", "add", "ada", "--role", "admin")
    assert rc == 0, err
    assert "the store's first user" in out
    cli_stdin(monkeypatch, "6666")
    rc, _, err = run(capsys, "user", "add", "mallory", "--role", "admin")
    assert rc == 2 and User.select().count() == 1


def test_the_data_dir_and_sqlite_store_are_private(tmp_path, monkeypatch, capsys):
    """The SQLite file was created world-readable (0644)."""
    home = tmp_path / "newhome"
    monkeypatch.setenv("STATION_HOME", str(home))
    monkeypatch.delenv("STATION_DB", raising=False)
    assert run(capsys, "db", "upgrade")[0] == 0
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "store.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "station.key").stat().st_mode) == 0o600
    for extra in ("store.db-wal", "store.db-shm"):
        if (home / extra).exists():
            assert stat.S_IMODE((home / extra).stat().st_mode) == 0o600
