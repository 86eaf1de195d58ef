"""The ``station`` command: every bad argument, missing file, bad URL or
unreachable database is ONE line on stderr and a non-zero exit; ``db``,
``catalog`` and ``demo`` do what they say."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from data.migrations import CODE_VERSION

from station.cli import main
from tests.conftest import cli_stdin

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("STATION_HOME", str(home))
    monkeypatch.setenv("STATION_SECURITY_SCRYPT_N", str(2 ** 10))
    for k in ("STATION_DB", "STATION_CONFIG", "STATION_TERMINAL_ID"):
        monkeypatch.delenv(k, raising=False)
    return home


def run(capsys, *args):
    try:
        code = main(list(args))
    except SystemExit as e:   # argparse errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("station: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("args,message", [
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["db"], "the following arguments are required"),
    (["db", "sideways"], "invalid choice: 'sideways'"),
    (["user", "add"], "the following arguments are required: name"),
    (["user", "add", "x"], "the following arguments are required: --role"),
    (["catalog", "import"], "the following arguments are required: FILE.csv"),
    (["catalog", "search", "milk", "--limit", "many"], "invalid int value: 'many'"),
    (["--nope"], "unrecognized arguments: --nope"),
])
def test_wrong_arguments(env, capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and message in one_line(err)


@pytest.mark.parametrize("url,message", [
    ("foo://x", "unsupported database URL 'foo://x'"),
    ("sqlite:////no/such/dir/store.db", "folder /no/such/dir does not exist"),
    ("postgresql://postgres@127.0.0.1:1/station", "cannot open database postgresql://postgres@127.0.0.1:1/station"),
    ("postgresql://user:secret@127.0.0.1:1/station", "cannot open database postgresql://user:***@127.0.0.1:1/station"),
])
@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "version"], ["user", "list"],
                                     ["catalog", "export"], ["demo"]])
def test_bad_url_or_unreachable_database(env, capsys, url, message, command):
    code, out, err = run(capsys, "--db", url, *command)
    line = one_line(err)
    assert code == 2 and message in line
    assert "secret" not in err


def test_verify_after_the_demo_names_the_demo_store(env, capsys, tmp_path, monkeypatch):
    """``./dev demo`` then ``station verify`` without --demo: no empty store.db is
    made; the message says which store it looked for and how to reach the demo."""
    code, out, err = run(capsys, "demo")
    assert code == 0
    code, out, err = run(capsys, "verify")
    line = one_line(err)
    assert code == 2 and "there is no store at" in line and "add --demo" in line
    cli_stdin(monkeypatch, "supervisor", "2222")     # the demo's supervisor signs in to read
    code, out, err = run(capsys, "--demo", "verify")
    assert code == 0


def test_schema_mismatch_is_the_one_sentence(env, capsys, tmp_path):
    from data.migrations import CODE_VERSION
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    for command in (["user", "list"], ["catalog", "export"]):
        code, out, err = run(capsys, "--db", url, *command)
        assert code == 2                  # no store there: said, and none created by accident
        assert one_line(err) == (f"station: there is no store at {tmp_path / 'fresh.db'}; "
                                 "'station db upgrade' creates a new store there")
        assert not (tmp_path / "fresh.db").exists()
    import sqlite3
    sqlite3.connect(tmp_path / "empty.db").close()      # a file without our schema
    code, out, err = run(capsys, "--db", f"sqlite:///{tmp_path / 'empty.db'}", "user", "list")
    assert code == 2 and one_line(err) == ("station: the store database has schema version 0 but this "
                                           f"station needs {CODE_VERSION}: run 'station db upgrade'")
    code, out, err = run(capsys, "--db", url, "db", "version")
    assert code == 1 and "run 'station db upgrade'" in err
    code, out, err = run(capsys, "--db", url, "db", "upgrade")
    assert code == 0 and "applied 1: initial schema" in out
    code, out, err = run(capsys, "--db", url, "db", "upgrade")
    assert code == 0 and "nothing to do" in out
    code, out, err = run(capsys, "--db", url, "db", "version")
    assert code == 0 and f"database schema version: {CODE_VERSION}" in out


@pytest.fixture
def store(env, capsys, tmp_path, monkeypatch):
    """A fresh store with its first user (an admin, added without signing in),
    and every later command signed in as her (no TOTP roles here)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert run(capsys, "--db", url, "db", "upgrade")[0] == 0
    monkeypatch.setenv("STATION_SECURITY_TOTP_ROLES", "")
    cli_stdin(monkeypatch, "5555")
    assert run(capsys, "--db", url, "user", "add", "ada", "--role", "admin")[0] == 0
    cli_stdin(monkeypatch, "ada", "5555", times=20)
    return url


def test_catalog_import_missing_file_bad_file_and_report(store, capsys, tmp_path):
    code, out, err = run(capsys, "--db", store, "catalog", "import", str(tmp_path / "nope.csv"))
    assert code == 2 and "does not exist" in one_line(err)
    code, out, err = run(capsys, "--db", store, "catalog", "import", str(tmp_path))
    assert code == 2 and "is a folder" in one_line(err)
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"sku,barcode,name,price,vat_rate,category\nA,,Caf\xe9,1.00,19,x\n")
    code, out, err = run(capsys, "--db", store, "catalog", "import", str(bad))
    assert code == 2 and "is not UTF-8" in one_line(err)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, out, err = run(capsys, "--db", store, "catalog", "import", str(empty))
    assert code == 2 and "is empty" in one_line(err)
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("sku,barcode,name,price,vat_rate,category\n"
                     "A1,4006381333931,Good,1.00,19,x\nA2,4006381333932,Bad,1.00,19,x\n")
    code, out, err = run(capsys, "--db", store, "catalog", "import", "--strict", str(mixed))
    assert code == 1 and f"{mixed}:3: sku A2: barcode 4006381333932: bad EAN-13 check digit" in out
    assert "nothing imported (--strict)" in out
    code, out, err = run(capsys, "--db", store, "catalog", "lookup", "4006381333931")
    assert code == 2 and "no product has barcode" in one_line(err)
    code, out, err = run(capsys, "--db", store, "catalog", "import", str(mixed))
    assert code == 1 and "1 products added" in out and "1 bad rows skipped" in out
    code, out, err = run(capsys, "--db", store, "catalog", "lookup", "4006381333931")
    assert code == 0 and "Good" in out
    code, out, err = run(capsys, "--db", store, "catalog", "lookup", "4006381333932")
    assert code == 2 and "check digit" in one_line(err)
    code, out, err = run(capsys, "--db", store, "catalog", "export")
    assert code == 0 and out.splitlines() == ["sku,barcode,name,price,vat_rate,category,unit,active",
                                              "A1,4006381333931,Good,1.00,19,x,pc,1"]
    code, out, err = run(capsys, "--db", store, "catalog", "export", str(tmp_path / "no" / "x.csv"))
    assert code == 2 and "does not exist" in one_line(err)


def test_demo_store_created_once_then_reused(env, capsys):
    from data.models import Product, User
    from station import auth, catalog, demo
    code, out, err = run(capsys, "demo")
    assert code == 0 and "demo store created" in out and "cashier 1111" in out
    code, out, err = run(capsys, "demo")
    assert code == 0 and "demo store reused" in out
    cfg = demo.demo_config(None)
    from station.context import open_station
    ctx = open_station(cfg)
    n = Product.select().count()
    assert 200 <= n <= 1000
    rates = {p.vat_rate for p in Product.select()}
    assert rates == {700, 1900}
    assert Product.select().where(Product.unit == "kg").count() >= 10
    for row in demo.demo_rows():
        assert catalog.barcode_kind(row[1]) in ("EAN-13", "EAN-8")
        catalog.validate_barcode(row[1])
        assert catalog.lookup_barcode(row[1]).sku == row[0]
    for name, role, pin, _full in demo.DEMO_USERS:
        u = auth.check_credentials(ctx, name, pin)
        assert u.role == role
    assert User.select().count() == len(demo.DEMO_USERS)
    assert (env / "demo.db").exists() and not (env / "store.db").exists()
    ctx.db.close()


def test_app_without_a_terminal_is_one_line(env, tmp_path):
    r = subprocess.run([sys.executable, "-m", "screens.main", "--db", f"sqlite:///{tmp_path / 'x.db'}"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 2
    assert one_line(r.stderr) == ("station: the cashier app needs a terminal; for scripts use a "
                                  "subcommand (station --help)")


def test_console_script_bad_url(env):
    exe = Path(sys.executable).parent / "station"
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    r = subprocess.run([str(exe), "--db", "mysql://x/y", "user", "list"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "unsupported database URL" in one_line(r.stderr)
