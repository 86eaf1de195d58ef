"""``station treasury ...`` as a script uses it: who acts is read from standard
input (user, PIN, then the TOTP code where asked), never a flag; every refusal is
one line on stderr with nothing changed; lists as text, CSV and JSON."""
from __future__ import annotations

import csv
import io
import json

import pyotp
import pytest

from data.models import User
from data.treasury import CashBag, Fund, Requisition, Variance
from station import drawer
from station.cli import main
from tests.treasury_helpers import SECRETS, enrol, fund_up


@pytest.fixture
def ctx(sqlite_ctx):
    return sqlite_ctx


@pytest.fixture
def cli(ctx, people, sqlite_url, monkeypatch):
    enrol(ctx)
    fund_up(ctx, "petty", 50_000)
    monkeypatch.setenv("STATION_SECURITY_SCRYPT_N", str(2 ** 10))
    monkeypatch.setenv("STATION_HOME", str(ctx.config.data_dir))
    return ["--db", sqlite_url]


def run(capsys, monkeypatch, args, *lines):
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{x}\n" for x in lines)))
    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_request_approve_execute_from_the_command_line(cli, capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "request", "petty", "12.50", "Acme Cleaning",
                                                     "--purpose", "mops"], "mia", "3333")
    assert code == 0, err
    rid = Requisition.select().first().id
    assert f"requisition #{rid}" in out
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "approve", str(rid)], "ada", "5555")
    assert code == 0, err
    # the requester may not execute: one line, nothing paid
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "execute", str(rid)], "mia", "3333", "123456")
    assert code != 0 and err.count("\n") == 1 and "station:" in err
    assert Fund.get(Fund.name == "petty").balance == 50_000
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "execute", str(rid), "--reference", "R1"],
                         "theo", "4444", pyotp.TOTP(SECRETS["theo"]).now())
    assert code == 0, err
    assert "paid: 12.50 from petty (balance now 487.50)" in out
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "requisitions"], "theo", "4444")
    assert f"#{rid}" in out and "paid" in out and "Acme Cleaning" in out


def test_ledger_csv_json_and_funds(cli, capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "transfer", "petty", "change", "5.00"],
                         "theo", "4444")
    assert code == 0, err
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "ledger", "petty", "--csv"], "theo", "4444")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["seq"], r["kind"], r["amount"], r["balance_after"]) for r in rows] == [
        ("2", "debit", "-500", "49500"), ("1", "credit", "50000", "50000")]
    assert rows[0]["counter_fund"] == "change"
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "ledger", "change", "--json"], "theo", "4444")
    assert [e["amount"] for e in json.loads(out)] == [500]
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "ledger", "petty", "--since", "2999-01-01"],
                         "theo", "4444")
    assert "no entries in petty" in out
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "funds"], "theo", "4444")
    assert "petty" in out and "495.00" in out and "transit" in out
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "funds"], "carla", "1111")
    assert code != 0 and "may not treasury view" in err


def test_bags_receive_and_variance_decision(ctx, cli, capsys, monkeypatch):
    carla = User.get(User.name == "carla")
    drawer.open_session(ctx, carla, {5000: 10}, kick=False)
    drawer.drop(ctx, carla, 10_000, bag="sb-001")
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "bags", "--status", "in_transit"], "theo", "4444")
    assert "SB-001" in out and "100.00" in out
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "receive", "SB-001", "5000=1", "2000=2"],
                         "theo", "4444")
    assert code == 0, err
    assert "declared 100.00, counted 90.00; variance" in out
    vid = Variance.select().first().id
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "decide-variance", str(vid), "approve"],
                         "theo", "4444")
    assert code != 0 and "someone else" in err
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "decide-variance", str(vid), "approve"],
                         "mia", "3333")
    assert code == 0, err
    assert Fund.get(Fund.name == "safe").balance == 9000
    assert CashBag.get(CashBag.number == "SB-001").status == "received"


@pytest.mark.parametrize("args, message", [
    (["request", "petty", "12,5x", "Acme"], "is not an amount"),
    (["request", "petty", "-3", "Acme"], "negative"),
    (["request", "petty", "1e9", "Acme"], "is not an amount"),
    (["request", "petty", "10", ""], "enter the payee"),
    (["request", "vault", "10", "Acme"], "unknown fund 'vault'"),
    (["count", "petty", "2000"], "DENOMINATION=QUANTITY"),
])
def test_bad_input_one_line_nothing_changed(cli, capsys, monkeypatch, args, message):
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", *args], "mia", "3333")
    assert code != 0 and message in err and err.count("\n") == 1
    assert Requisition.select().count() == 0 and Variance.select().count() == 0


def test_pin_never_a_flag_and_no_stdin_refused(cli, capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "approve", "1", "--pin", "3333"])
    assert code == 2
    code, out, err = run(capsys, monkeypatch, cli + ["treasury", "approve", "1"])
    assert code != 0 and "no user name on standard input" in err
