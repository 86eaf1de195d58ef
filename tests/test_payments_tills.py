"""Tills as real processes on one store, paying by M-Pesa through the fake
provider and the real receiver: two tills polling the store each settle only their
own payment; a till SIGKILLed while a payment is pending finds it on restart and
completes its sale exactly once."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from data.models import Tender, Ticket
from data.payments import ProviderPayment
from station import verify
from station.payments import receiver
from tests import fake_providers as fp
from tests.payments_support import configure, make_goods
from tests.sale_helpers import open_drawer

ROOT = Path(__file__).resolve().parents[1]
CHILD = ROOT / "tests" / "payments_till_child.py"
WAIT = 60   # seconds: only a hung run waits this long


@pytest.fixture
def store(ctx, people):
    fake = fp.FakeProviders()
    rec = receiver.Running(ctx)
    configure(ctx, fake, rec.url)
    fake.receiver_url = rec.url
    make_goods()
    yield fake, rec
    rec.stop()
    fake.stop()


def till(mode, home, db_url, terminal, user, fake, rec):
    p = subprocess.Popen([sys.executable, str(CHILD), mode, str(home), db_url, terminal, user, fake.url, rec.url],
                         cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.lines = queue.Queue()

    def read():
        for ln in p.stdout:
            p.lines.put(ln)
        p.lines.put("")
    threading.Thread(target=read, daemon=True).start()
    return p


def line(p) -> list[str]:
    try:
        out = p.lines.get(timeout=WAIT)
    except queue.Empty:
        p.kill()
        raise AssertionError("the till hung") from None
    if not out:
        raise AssertionError(f"the till said nothing more: {p.stderr.read()}")
    return out.split()


@pytest.mark.slow
def test_two_tills_polling_one_store_each_settle_only_their_own(ctx, people, store, db_url, station_home):
    fake, rec = store
    open_drawer(ctx, people["cashier"])
    ctx.config.set("terminal.id", "T2")
    open_drawer(ctx, people["supervisor"])
    ctx.config.set("terminal.id", "T1")
    t1 = till("till", station_home, db_url, "T1", "carla", fake, rec)
    t2 = till("till", station_home, db_url, "T2", "sam", fake, rec)
    try:
        ref1, ref2 = line(t1), line(t2)
        assert ref1[0] == ref2[0] == "PENDING"
        # both tills are polling; the answers come for T2 first, then T1
        fake.mpesa_callback(fake.checkout_of(ref2[1]), 0, receipt="QKRTILL002")
        fake.mpesa_callback(fake.checkout_of(ref1[1]), 0, receipt="QKRTILL001")
        assert line(t1)[:3] == ["DONE", "1", "False"]
        assert line(t2)[:3] == ["DONE", "1", "False"]
        assert t1.wait(WAIT) == 0 and t2.wait(WAIT) == 0
    finally:
        for p in (t1, t2):
            if p.poll() is None:
                p.kill()
    for terminal, ref, receipt in (("T1", ref1[1], "QKRTILL001"), ("T2", ref2[1], "QKRTILL002")):
        p = ProviderPayment.get(ProviderPayment.ref == ref)
        t = Ticket.get_by_id(p.ticket_id)
        assert (p.status, p.terminal, t.terminal, t.status) == ("applied", terminal, terminal, "completed")
        assert [x.reference for x in Tender.select().where(Tender.ticket == t.id)] == [receipt]
    assert Ticket.select().where(Ticket.status == "completed").count() == 2
    assert all(r.ok for r in verify.run(ctx, only=["payments", "sale"]))


@pytest.mark.slow
def test_sigkill_while_pending_then_restart_settles_it_once(ctx, people, store, db_url, station_home):
    fake, rec = store
    open_drawer(ctx, people["cashier"])
    t = till("till", station_home, db_url, "T1", "carla", fake, rec)
    try:
        ref = line(t)
        assert ref[0] == "PENDING"
    finally:
        os.kill(t.pid, signal.SIGKILL)
        t.wait(WAIT)
    assert t.returncode == -signal.SIGKILL
    ref = ref[1]
    assert ProviderPayment.get(ProviderPayment.ref == ref).status == "pending"
    # the customer pays while the till is down: the receiver records it
    assert fake.mpesa_callback(fake.checkout_of(ref), 0, receipt="QKRKILL001")[0] == 200
    assert ProviderPayment.get(ProviderPayment.ref == ref).status == "paid"
    assert Ticket.select().where(Ticket.status == "completed").count() == 0
    # restart: the payment is found and the sale completed, once
    r = till("resume", station_home, db_url, "T1", "carla", fake, rec)
    assert line(r) == ["FOUND", ref]
    assert line(r)[:3] == ["DONE", "1", "False"]
    assert r.wait(WAIT) == 0
    # and again: nothing left to take up, nothing charged twice
    r2 = till("resume", station_home, db_url, "T1", "carla", fake, rec)
    assert line(r2) == ["NONE"]
    assert r2.wait(WAIT) == 0
    assert Ticket.select().where(Ticket.status == "completed").count() == 1
    assert ProviderPayment.get(ProviderPayment.ref == ref).status == "applied"
    assert all(r.ok for r in verify.run(ctx, only=["payments", "sale"]))


@pytest.mark.slow
def test_sigkill_while_pending_then_the_answer_comes_while_restarted_till_polls(ctx, people, store, db_url,
                                                                               station_home):
    fake, rec = store
    open_drawer(ctx, people["cashier"])
    t = till("till", station_home, db_url, "T1", "carla", fake, rec)
    ref = line(t)[1]
    os.kill(t.pid, signal.SIGKILL)
    t.wait(WAIT)
    r = till("resume", station_home, db_url, "T1", "carla", fake, rec)
    try:
        assert line(r) == ["FOUND", ref]           # found while still pending: the till polls
        fake.mpesa_callback(fake.checkout_of(ref), 0, receipt="QKRKILL002")
        assert line(r)[:3] == ["DONE", "1", "False"]
        assert r.wait(WAIT) == 0
    finally:
        if r.poll() is None:
            r.kill()
    assert Ticket.select().where(Ticket.status == "completed").count() == 1
