"""Keys for several tills: a store with users never gets a new key by accident; a
wrong key is refused once, at start, and never counts as a wrong PIN; the key
travels between tills with ``station key export`` / ``key import`` (0600)."""
from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet

from data.models import Journal, SchemaMeta, User
from station import auth, authority, keys
from station.cli import main
from station.context import open_station
from station.errors import ConfigError
from tests.conftest import add_user, cli_stdin, make_config


@pytest.fixture
def store(ctx):
    add_user(ctx, "mia", "manager", "3333")
    add_user(ctx, "carla", "cashier", "1111")
    return ctx


def random_key_file(path):
    """Another key file, written as any station writes one (0600)."""
    import base64
    import json
    import secrets
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"pepper": base64.b64encode(secrets.token_bytes(32)).decode(),
                   "totp_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}, f)


def second_till(tmp_path, ctx, name="till2", **overrides):
    home = tmp_path / name
    home.mkdir()
    return home, make_config(home, ctx.config.db_url, **{"terminal.id": "T2", **overrides})


def test_a_till_without_the_key_file_refuses_and_creates_none(store, tmp_path):
    """Case 3 of the issue: before, the second till made itself a new key, the
    manager's right PIN was then 'wrong' there and the shared lockout locked them."""
    home, cfg = second_till(tmp_path, store)
    with pytest.raises(ConfigError) as e:
        open_station(cfg)
    msg = str(e.value)
    assert "\n" not in msg and "station key export" in msg and "station key import" in msg
    assert not (home / "station.key").exists()
    assert User.get(User.name == "mia").failed_attempts == 0


def test_a_wrong_key_is_refused_at_start_not_as_a_wrong_pin(store, tmp_path):
    home, cfg = second_till(tmp_path, store)
    random_key_file(home / "station.key")
    for _ in range(3):   # however often it is tried
        with pytest.raises(ConfigError, match="is not this store's key"):
            open_station(cfg)
    assert User.get(User.name == "mia").failed_attempts == 0
    assert Journal.select().where(Journal.kind.startswith("login")).count() == 0


def test_the_first_start_of_a_new_store_makes_its_key_and_records_it(db_url, tmp_path):
    home = tmp_path / "h"
    ctx = open_station(make_config(home, db_url), upgrade=True)
    try:
        path = ctx.config.key_file
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert SchemaMeta.get(SchemaMeta.key == keys.CHECK_KEY).value == ctx.keys.check_value()
        # the same till again: the same key, checked
        assert open_station(make_config(home, db_url)).keys == ctx.keys
    finally:
        ctx.db.close()


def test_a_copied_key_works_on_the_second_till(store, tmp_path):
    home, cfg = second_till(tmp_path, store)
    keys.write(home / "station.key", store.keys)
    ctx2 = open_station(cfg)
    assert auth.login(ctx2, "mia", "3333").name == "mia"


def test_export_then_import_through_the_cli(store, tmp_path, monkeypatch, capsys):
    from station import totp_enrol
    totp_enrol.enrol_known_secret(store, "mia")
    import pyotp
    monkeypatch.setenv("STATION_HOME", str(store.config.data_dir))
    monkeypatch.setenv("STATION_DB", store.config.db_url)
    monkeypatch.setenv("STATION_SECURITY_SCRYPT_N", str(2 ** 10))
    exported = tmp_path / "store.key"
    # a cashier may not export the key
    cli_stdin(monkeypatch, "carla", "1111")
    assert main(["key", "export", str(exported)]) == 2
    assert "may not key manage" in capsys.readouterr().err and not exported.exists()
    # the manager, with PIN and TOTP code
    cli_stdin(monkeypatch, "mia", "3333", pyotp.TOTP(totp_enrol.DEMO_SECRET).now())
    assert main(["key", "export", str(exported)]) == 0
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    assert keys.read(exported) == store.keys
    # the new till: refuses to start, then a wrong key is not installed, then the right one is
    home2 = tmp_path / "till2"
    home2.mkdir()
    monkeypatch.setenv("STATION_HOME", str(home2))
    monkeypatch.setenv("STATION_TERMINAL_ID", "T2")
    cli_stdin(monkeypatch, "mia", "3333")
    assert main(["user", "list"]) == 2
    assert "station key import" in capsys.readouterr().err
    wrong = tmp_path / "wrong.key"
    keys.write(wrong, keys.new_keys())
    cli_stdin(monkeypatch, "mia", "3333")
    assert main(["key", "import", str(wrong)]) == 2
    assert "is not this store's key" in capsys.readouterr().err and not (home2 / "station.key").exists()
    assert User.get(User.name == "mia").failed_attempts == 0
    cli_stdin(monkeypatch, "mia", "3333", pyotp.TOTP(totp_enrol.DEMO_SECRET).at(
        __import__("time").time() + 30))
    assert main(["key", "import", str(exported)]) == 0, capsys.readouterr().err
    installed = home2 / "station.key"
    assert stat.S_IMODE(installed.stat().st_mode) == 0o600 and keys.read(installed) == store.keys
    assert main(["key", "check"]) == 0
    kinds = [j.kind for j in Journal.select().order_by(Journal.seq)]
    assert "key.exported" in kinds and "key.imported" in kinds


def test_key_check_says_what_is_wrong(store, tmp_path, monkeypatch, capsys):
    home, cfg = second_till(tmp_path, store)
    ok, msg = keys.check(cfg)
    assert not ok and "station key import" in msg
    keys.write(home / "station.key", keys.new_keys())
    ok, msg = keys.check(cfg)
    assert not ok and "not this store's key" in msg
    os.replace(home / "station.key", tmp_path / "gone")
    keys.write(home / "station.key", store.keys)
    ok, msg = keys.check(cfg)
    assert ok and "is this store's key" in msg


def test_a_totp_secret_the_key_cannot_read_is_a_sentence_not_a_crash(store):
    """Case 3: a TOTP secret encrypted with another key made verify_totp raise
    InvalidToken uncaught. Now: one sentence, and no failed attempt counted."""
    other = Fernet(Fernet.generate_key()).encrypt(b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP").decode()
    User.update(totp_secret=other).where(User.name == "mia").execute()
    carla = User.get(User.name == "carla")
    with pytest.raises(ConfigError, match="cannot read mia's TOTP secret"):
        authority.approve(store, carla, "mia", "3333", "123456", "sale.void_ticket", ref="t1")
    assert User.get(User.name == "mia").failed_attempts == 0
