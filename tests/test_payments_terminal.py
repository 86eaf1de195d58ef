"""The pending tender as the cashier meets it: the real ``station`` process on a
pty read by pyte, keys as bytes (a burst is one write), the fake provider server
and the real receiver over HTTP. The till is SIGKILLed while the customer's
phone is still asking; started again, it finds the payment and completes the
sale once."""
from __future__ import annotations

import os
import signal

import pytest

from station.payments import receiver
from tests import fake_providers as fp
from tests.payments_support import SUGAR, make_goods
from tests.terminal import Terminal, make_till

pytestmark = pytest.mark.slow


def settings(fake, receiver_url: str) -> str:
    return f"""
[store]
currency = "KES"
currency_symbol = "KES"
[cash]
tender_methods = ["cash", "card", "mpesa"]
[payments]
methods = {{mpesa = "mpesa"}}
callback_url = "{receiver_url}"
http_timeout = 5
poll_ms = 100
[mpesa]
base_url = "{fake.url}"
shortcode = "{fp.SHORTCODE}"
"""


SECRETS = {"STATION_MPESA_CONSUMER_KEY": fp.CONSUMER_KEY, "STATION_MPESA_CONSUMER_SECRET": fp.CONSUMER_SECRET,
           "STATION_MPESA_PASSKEY": fp.PASSKEY}


@pytest.fixture
def till(tmp_path, monkeypatch):
    """A till store, the receiver writing into it, the fake provider."""
    from station import config as configmod
    from station.context import open_station
    home = tmp_path / "home"
    fake = fp.FakeProviders()
    home.mkdir()
    # the receiver needs the store first; its address goes into the till's settings
    make_till(home, settings(fake, "http://127.0.0.1:1"))
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    ctx = open_station(configmod.load(env={"STATION_HOME": str(home), **SECRETS}))
    rec = receiver.Running(ctx)
    text = (home / "station.toml").read_text().replace("http://127.0.0.1:1", rec.url)
    (home / "station.toml").write_text(text)
    fake.receiver_url = rec.url
    make_goods()
    from data.models import User
    from station import drawer
    drawer.open_session(ctx, User.get(User.name == "carla"), {10000: 1}, kick=False)
    yield home, fake, ctx
    rec.stop()
    fake.stop()
    ctx.db.close()


def start(home) -> Terminal:
    term = Terminal.start(home, env=SECRETS)
    term.wait_for("Type your user name")
    term.type("carla", "enter", "1111", "enter")
    term.wait_for("Home")
    return term


def payment_rows():
    from data.payments import ProviderPayment
    return list(ProviderPayment.select().order_by(ProviderPayment.id))


def sales():
    from data.models import Ticket
    return Ticket.select().where(Ticket.status == "completed").count()


def test_waiting_on_screen_then_sigkill_then_restart_completes_once(till):
    home, fake, ctx = till
    term = start(home)
    try:
        # sale, tender, F5 (other: mpesa is the only one), the phone and Enter: one burst
        term.type("f2", SUGAR, "enter")
        term.wait_for("Sugar 1kg")
        term.type("f10")
        term.wait_for("DUE")
        term.type("f5")
        term.wait_for("customer's phone number")
        term.type("0712 345 678", "enter")
        screen = term.wait_for("waiting for the customer's phone")
        assert "M-Pesa 150.00 to 0712 345 678: waiting for the customer's phone" in screen
        assert "Esc cancels" in screen
        term.wait_until(lambda: len(fake.pushes) == 1 and payment_rows()[0].status == "pending", "the push")
    finally:
        os.killpg(term.proc.pid, signal.SIGKILL)        # the till dies while the phone is asking
        term.close()
    [p] = payment_rows()
    assert p.status == "pending" and sales() == 0
    # the customer pays while the till is down; the receiver records it
    assert fake.mpesa_callback(fake.checkout_of(p.ref), 0, receipt="QKRPTY0001")[0] == 200
    with start(home) as term:
        term.type("f2")
        screen = term.wait_for("sale 1 done")
        assert "Sugar 1kg" not in screen
    assert sales() == 1
    assert [r.status for r in payment_rows()] == ["applied"]
    # started once more: nothing to take up, nothing charged twice
    with start(home) as term:
        term.type("f2")
        term.wait_for("no open ticket")
    assert sales() == 1


def test_the_screen_says_when_the_customer_cancels(till):
    home, fake, ctx = till
    with start(home) as term:
        term.type("f2", SUGAR, "enter")
        term.wait_for("Sugar 1kg")
        term.type("f10", "f5")                                   # the tender and F5 in one burst
        term.wait_for("customer's phone number")
        term.type("0712345678", "enter")
        term.wait_for("waiting for the customer's phone")
        term.wait_until(lambda: len(fake.pushes) == 1, "the push")
        fake.mpesa_callback(fake.pushes[0]["_checkout"], 1032)
        screen = term.wait_for("cancelled the M-Pesa prompt")
        assert "Nothing was charged" in screen
        assert "waiting for the customer's phone" not in screen
    assert sales() == 0
