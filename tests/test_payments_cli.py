"""``station payments ...``: reconcile (stale payments asked about and settled, the
period listed with callbacks, settlement and sale, a statement matched), flagged,
show, refund with a manager's PIN; credentials from the environment, never shown."""
from __future__ import annotations

import datetime as _dt
import io
from pathlib import Path

import pytest

from data.models import Ticket
from data.payments import ProviderPayment
from station import tender
from station.cli import main
from station.payments import receiver, registry, service
from tests import fake_providers as fp
from tests.payments_support import RICE, configure, make_goods, pay_with, ring
from tests.sale_helpers import open_drawer


@pytest.fixture
def ctx(sqlite_ctx):
    return sqlite_ctx


@pytest.fixture
def store(ctx, people, tmp_path, sqlite_url, monkeypatch):
    fake = fp.FakeProviders()
    rec = receiver.Running(ctx)
    configure(ctx, fake, rec.url)
    fake.receiver_url = rec.url
    make_goods()
    open_drawer(ctx, people["cashier"])
    cfg = tmp_path / "station.toml"
    cfg.write_text(f"""
[store]
currency = "KES"
currency_symbol = "KES"
[cash]
tender_methods = ["cash", "card", "voucher", "mpesa", "airtel", "cardpay"]
[payments]
methods = {{mpesa = "mpesa", airtel = "airtel", cardpay = "card_gateway"}}
callback_url = "{rec.url}"
http_timeout = 2
[mpesa]
base_url = "{fake.url}"
shortcode = "{fp.SHORTCODE}"
initiator = "apiop"
[airtel]
base_url = "{fake.url}"
[card_gateway]
base_url = "{fake.url}"
""")
    for k, v in {"MPESA_CONSUMER_KEY": fp.CONSUMER_KEY, "MPESA_CONSUMER_SECRET": fp.CONSUMER_SECRET,
                 "MPESA_PASSKEY": fp.PASSKEY, "MPESA_SECURITY_CREDENTIAL": "c2VjcmV0",
                 "AIRTEL_CLIENT_ID": fp.AIRTEL_ID, "AIRTEL_CLIENT_SECRET": fp.AIRTEL_SECRET,
                 "CARD_GATEWAY_API_KEY": fp.CARD_KEY, "CARD_GATEWAY_WEBHOOK_SECRET": fp.CARD_SECRET}.items():
        monkeypatch.setenv(f"STATION_{k}", v)
    monkeypatch.setenv("STATION_SECURITY_SCRYPT_N", str(2 ** 10))
    monkeypatch.setenv("STATION_HOME", str(ctx.config.data_dir))
    yield fake, ["--config", str(cfg), "--db", sqlite_url]
    registry.close_all(ctx)
    rec.stop()
    fake.stop()


def run(capsys, *args, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def old(ref: str, minutes: int = 30) -> None:
    p = ProviderPayment.get(ProviderPayment.ref == ref)
    ProviderPayment.update(created_at=p.created_at - _dt.timedelta(minutes=minutes)).where(
        ProviderPayment.ref == ref).execute()


def test_reconcile_settles_stale_lists_and_matches_a_statement(ctx, people, store, capsys, tmp_path):
    fake, base = store
    c = people["cashier"]
    # 1: paid and used by a sale (receipt QKRSALE001)
    st = ring(ctx, c)
    a = service.start(ctx, c, st.ticket_id, "mpesa", st.due, "0712345678")
    fake.mpesa_callback(fake.checkout_of(a.ref), 0, receipt="QKRSALE001")
    tender.complete_sale(ctx, c, st.idem_key, [pay_with(service.watch(ctx, a.ref))])
    # 2: no callback ever came; the provider says it was paid -> settled by reconcile
    st2 = ring(ctx, c, RICE)
    b = service.start(ctx, c, st2.ticket_id, "mpesa", st2.due, "0722000111")
    fake.query_answer[fake.checkout_of(b.ref)] = 0
    old(a.ref), old(b.ref)
    code, out, err = run(capsys, *base, "payments", "reconcile", "--older-than", "10")
    assert code == 0, err
    assert f"{b.ref}: pending -> paid" in out
    assert "asked about 1 open payment(s)" in out
    assert a.ref in out and "T1/1" in out                   # its sale
    tender.complete_sale(ctx, c, st2.idem_key, [pay_with(service.watch(ctx, b.ref))])
    # 3: the push answer was unreadable and no callback ever came -> failed by reconcile
    fake.mode = "malformed"
    st3 = ring(ctx, c)
    d = service.start(ctx, c, st3.ticket_id, "mpesa", st3.due, "0733000222")
    assert d.status == "requesting"
    old(d.ref)
    code, out, err = run(capsys, *base, "payments", "reconcile", "--older-than", "10")
    assert f"{d.ref}: requesting -> failed  no answer from M-Pesa" in out
    # the statement: ours, one we never saw, and (missing) the query-settled one without a receipt
    csv = tmp_path / "statement.csv"
    csv.write_text('Receipt No.,Completion Time,Details,Transaction Status,Paid In,Withdrawn\n'
                   'QKRSALE001,2024-05-11 20:14:19,Pay Bill from 2547****678,Completed,150.00,\n'
                   'QKRSTRAY01,2024-05-11 21:00:00,Pay Bill from 2547****999,Completed,"1,000.00",\n'
                   'QKRFAIL001,2024-05-11 21:05:00,Pay Bill,Failed,50.00,\n'
                   'QKROUT0001,2024-05-11 22:00:00,Withdrawal,Completed,,500.00\n')
    code, out, err = run(capsys, *base, "payments", "reconcile", "--statement", str(csv), "--provider", "mpesa")
    assert code == 0, err
    assert "2 money-in rows, 1 matched" in out
    assert "in the statement, not in our records: QKRSTRAY01 1000.00" in out
    assert f"in our records, not in the statement: {b.ref} (no receipt)" in out
    code, out, err = run(capsys, *base, "payments", "reconcile", "--statement", str(tmp_path / "nope.csv"),
                         "--provider", "mpesa")
    assert code == 2 and "cannot read the statement" in err and len(err.strip().splitlines()) == 1


def test_flagged_show_and_refund_with_a_managers_pin(ctx, people, store, capsys, monkeypatch):
    fake, base = store
    c = people["cashier"]
    st = ring(ctx, c)
    v = service.start(ctx, c, st.ticket_id, "mpesa", st.due, "0712345678")
    service.cancel(ctx, c, v.ref)
    tender.complete_sale(ctx, c, st.idem_key, [tender.Payment("cash", 15000)])
    fake.mpesa_callback(fake.checkout_of(v.ref), 0, receipt="QKRTWICE01")
    code, out, _ = run(capsys, *base, "payments", "flagged")
    assert code == 0 and "1 payment(s) paid twice or unused, refund due" in out and v.ref in out
    code, out, _ = run(capsys, *base, "payments", "show", v.ref)
    assert "late_success" in out and "FLAG: paid after the cashier cancelled" in out
    # a wrong PIN changes nothing
    code, out, err = run(capsys, *base, "payments", "refund", v.ref, "--user", "mia", stdin="9999\n",
                         monkeypatch=monkeypatch)
    assert code == 2 and "wrong PIN" in err and fake.reversals == []
    # here managers give no TOTP code (security.totp_roles): the PIN is enough
    monkeypatch.setenv("STATION_SECURITY_TOTP_ROLES", "admin")
    code, out, err = run(capsys, *base, "payments", "refund", v.ref, "--user", "mia", stdin="3333\n",
                         monkeypatch=monkeypatch)
    assert code == 0, err
    assert "refunding" in out and fake.reversals[-1]["TransactionID"] == "QKRTWICE01"
    assert ProviderPayment.get(ProviderPayment.ref == v.ref).status == "refunding"
    assert Ticket.select().where(Ticket.status == "completed").count() == 1


def test_secrets_come_from_the_environment_and_are_never_shown(ctx, store, capsys):
    _fake, base = store
    code, out, _ = run(capsys, *base, "config", "show")
    assert code == 0
    line = next(ln for ln in out.splitlines() if "mpesa.consumer_secret" in ln)
    assert "***" in line and fp.CONSUMER_SECRET not in out and fp.PASSKEY not in out
    assert "(env STATION_MPESA_CONSUMER_SECRET)" in line


def test_bad_settings_are_one_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STATION_HOME", str(tmp_path))
    monkeypatch.delenv("STATION_CONFIG", raising=False)
    for text, words in [
        ('[payments]\nmethods = {mpesa = "mpesa"}\n', "'mpesa' is not in cash.tender_methods"),
        ('[cash]\ntender_methods = ["cash", "mpesa"]\n[payments]\nmethods = {mpesa = "mpsea"}\n',
         "provider 'mpsea' of method 'mpesa' is not one of"),
        ('[payments]\nallow_networks = ["10.0.0.300/8"]\n', "is not a network"),
        ('[mpesa]\ntransaction_type = "PayBill"\n', "CustomerPayBillOnline or CustomerBuyGoodsOnline"),
    ]:
        (tmp_path / "station.toml").write_text(text)
        code, _out, err = run(capsys, "config", "show")
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_payments_serve_receives_and_logs_until_stopped(ctx, store, tmp_path):
    """The real command in its own process, as deployed."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    from data.payments import PaymentCallback
    _fake, base = store
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    code = "import sys; from station.cli import main; sys.exit(main(sys.argv[1:]))"
    p = subprocess.Popen([sys.executable, "-c", code, *base, "payments", "serve", "--listen", f"127.0.0.1:{port}"],
                         cwd=str(Path(__file__).resolve().parents[1]), env=dict(os.environ),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:            # until it answers (only a hung run waits the whole time)
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
                break
            except OSError:
                assert p.poll() is None and time.monotonic() < deadline, p.stderr.read()
                time.sleep(0.1)
        code, _ = fp.post_json(f"http://127.0.0.1:{port}/mpesa/callback", None, raw=b"{oops")
        assert code == 400
        assert [c.verdict for c in PaymentCallback.select()] == ["malformed"]
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    assert "receiving callbacks on http://127.0.0.1" in err and "any network" in err
