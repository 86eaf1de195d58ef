"""Printing you can trust (case 5 of issue 15): every printer I/O has a timeout,
file and device kinds included; a network printer counts as printed only when
its status (DLE EOT on the same connection) says so, else "sent, unconfirmed";
receipts are printed from a durable queue in the database, and what never
printed is printed at the next start or shown to a manager."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from data.models import Journal
from station import printing, sale, tender
from station.hardware import transport as tp
from station.hardware.transport import HardwareError
from station.tender import Payment
from tests.sale_helpers import MILK, make_products, open_drawer

ROOT = Path(__file__).resolve().parents[1]


class FakePrinter:
    """An ESC/POS network printer on 127.0.0.1: ``mode`` "ok" reads everything and
    answers DLE EOT 1 / DLE EOT 4 (online, paper in); "paper_out" answers paper
    end; "silent" accepts the connection and never reads or answers."""

    def __init__(self, mode: str = "ok"):
        self.mode = mode
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(5)
        self.port = self.srv.getsockname()[1]
        self.received = bytearray()
        self.conns: list[socket.socket] = []
        self.connected = threading.Event()
        self.th = threading.Thread(target=self._serve, daemon=True)
        self.th.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.conns.append(c)
            self.connected.set()
            if self.mode == "silent":
                continue
            threading.Thread(target=self._talk, args=(c,), daemon=True).start()

    def _talk(self, c):
        buf = b""
        while True:
            try:
                chunk = c.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            self.received += chunk
            buf += chunk
            while b"\x10\x04" in buf:
                i = buf.index(b"\x10\x04")
                if len(buf) < i + 3:
                    break
                n = buf[i + 2]
                buf = buf[i + 3:]
                if n == 1:
                    c.sendall(b"\x16")                      # 0001 0110: online
                elif n == 4:
                    c.sendall(b"\x72" if self.mode == "paper_out" else b"\x12")

    def close(self):
        self.srv.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def sold(ctx, people):
    make_products()
    c = people["cashier"]
    open_drawer(ctx, c)
    sale.scan(ctx, c, MILK)
    st = tender.begin_tender(ctx, c)
    r = tender.complete_sale(ctx, c, st.idem_key, [Payment("card", 119)])
    ctx.config.set("drawer.kick", "none")
    ctx.config.set("printer.timeout", 1)
    return r


def kinds():
    return [j.kind for j in Journal.select().order_by(Journal.seq)]


def net(ctx, fake):
    ctx.config.set("printer.kind", "network")
    ctx.config.set("printer.host", "127.0.0.1")
    ctx.config.set("printer.port", fake.port)


def test_a_network_printer_that_confirms_is_printed(ctx, people, sold):
    fake = FakePrinter("ok")
    net(ctx, fake)
    res = printing.print_now(ctx, sold.ticket_id, user=people["cashier"])
    fake.close()
    assert res.ok and not res.unconfirmed, res.message
    assert b"Receipt T1/1" in fake.received
    assert "receipt.printed" in kinds() and '"confirmed":true' in last("receipt.printed").data


def test_a_silent_network_printer_is_sent_unconfirmed_not_printed(ctx, people, sold):
    """It accepts the connection and never reads: before, that was journalled as
    receipt.printed."""
    fake = FakePrinter("silent")
    net(ctx, fake)
    res = printing.print_now(ctx, sold.ticket_id, user=people["cashier"])
    fake.close()
    assert not res.ok and res.unconfirmed and "unconfirmed" in res.message
    assert "receipt.printed" not in kinds() and "receipt.unconfirmed" in kinds()


def test_a_printer_out_of_paper_is_unconfirmed(ctx, people, sold):
    fake = FakePrinter("paper_out")
    net(ctx, fake)
    res = printing.print_now(ctx, sold.ticket_id, user=people["cashier"])
    fake.close()
    assert res.unconfirmed and "out of paper" in res.message


def last(kind):
    return Journal.select().where(Journal.kind == kind).order_by(Journal.seq.desc()).first()


def test_a_fifo_with_no_reader_fails_at_once(tmp_path):
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    with pytest.raises(HardwareError, match="no printer is connected"):
        tp.FileTransport(str(fifo), timeout=1).send(b"x")


def test_a_device_that_stops_taking_data_times_out(tmp_path):
    """A FIFO whose reader never reads: the pipe fills, the write would block
    forever; it stops at the deadline instead."""
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)   # connected, never reads
    try:
        with pytest.raises(HardwareError, match="stopped taking data"):
            tp.FileTransport(str(fifo), timeout=1).send(b"x" * (1 << 20))
    finally:
        os.close(reader)


def test_a_missing_device_is_named(tmp_path):
    with pytest.raises(HardwareError, match="cannot write to printer file"):
        tp.FileTransport(str(tmp_path / "no" / "lp0"), timeout=1).send(b"x")


def test_an_io_stuck_in_the_kernel_is_given_up_by_the_watchdog(monkeypatch):
    """Whatever blocks (a driver ignoring O_NONBLOCK): the send returns after the
    watchdog's limit, and the device is reported stuck until it comes back."""
    release = threading.Event()

    class Stuck(tp.Transport):
        kind = "stuck"
        timeout = 0.2

        def _send(self, data, confirm):
            release.wait(30)
            return tp.Sent(None)

        def describe(self):
            return "stuck device"
    with pytest.raises(HardwareError, match="did not answer within"):
        Stuck().send(b"x")
    with pytest.raises(HardwareError, match="still not answering"):
        Stuck().send(b"x")
    release.set()


def test_cli_reprint_on_a_fifo_returns(ctx, people, sold, tmp_path):
    """Before: 'station receipt reprint' hung forever on a FIFO with no reader."""
    fifo = tmp_path / "lp0"
    os.mkfifo(fifo)
    env = dict(os.environ, STATION_HOME=str(ctx.config.data_dir), STATION_DB=ctx.config.db_url,
               STATION_PRINTER_KIND="file", STATION_PRINTER_PATH=str(fifo), STATION_PRINTER_TIMEOUT="1",
               STATION_SECURITY_SCRYPT_N=str(2 ** 10), PYTHONPATH=str(ROOT))
    env.pop("STATION_CONFIG", None)
    r = subprocess.run([sys.executable, "-m", "station.cli", "receipt", "reprint", "1"], input="carla\n1111\n",
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert r.returncode == 2 and "no printer is connected" in r.stderr
    assert r.stderr.count("\n") == 1


def test_the_queue_prints_what_never_printed_at_the_next_start(ctx, people, sold, tmp_path):
    """A receipt whose job is still queued (the till died before printing it) is
    printed by the next start's resume, without opening the drawer."""
    assert [j.ticket_id for j in printing.queued(ctx)] == [sold.ticket_id]   # queued by the sale itself
    spool = tmp_path / "spool.bin"
    ctx.config.set("printer.kind", "file")
    ctx.config.set("printer.path", str(spool))
    ctx.config.set("drawer.kick", "printer")
    got = []
    p = printing.Printer(ctx, on_result=got.append)
    assert p.resume() == 1
    assert p.resume() == 0           # asked twice (two start-up paths): the receipt prints once
    assert p.wait_idle(10)
    p.stop()
    assert len(got) == 1 and got[0].ok and got[0].kicked is None
    assert spool.read_bytes().count(b"Receipt T1/1") == 1
    assert b"Receipt T1/1" in spool.read_bytes() and not spool.read_bytes().startswith(b"\x1bp")
    from data.models import PrintJob
    assert printing.queued(ctx) == [] and PrintJob.get().status == "printed"


def test_failed_and_unconfirmed_receipts_are_shown_and_can_be_dismissed(ctx, people, sold, tmp_path):
    fake = FakePrinter("silent")
    net(ctx, fake)
    p = printing.Printer(ctx)
    p.submit_receipt(ctx, sold.ticket_id, user=people["cashier"])
    assert p.wait_idle(15)
    fake.close()
    ctx.config.set("printer.kind", "file")
    ctx.config.set("printer.path", str(tmp_path / "no" / "dir" / "spool"))
    p.reprint(ctx, people["cashier"], sold.receipt_no)
    assert p.wait_idle(15)
    p.stop()
    shown = printing.unprinted(ctx)
    assert sorted(j.status for j in shown) == ["failed", "unconfirmed"]
    assert all(j.receipt_no == sold.receipt_no for j in shown)
    from station.errors import PermissionDenied
    with pytest.raises(PermissionDenied):
        printing.dismiss(ctx, people["cashier"], shown[0].id)
    printing.dismiss(ctx, people["supervisor"], shown[0].id, "customer left")
    assert len(printing.unprinted(ctx)) == 1
    assert last("receipt.dismissed").user_name == "sam"


async def test_the_managers_view_shows_unprinted_receipts_and_dismisses_one(ctx, people, sold, backend):
    if backend != "sqlite":
        pytest.skip("the screen is the same on both backends")
    from textual.app import App
    from textual.widgets import DataTable, Static
    from screens.manager import ManagerScreen
    # the sale's receipt is queued with it and was never printed (as if the till was killed)

    class Host(App):
        def __init__(self):
            super().__init__()
            self.ctx, self.user = ctx, people["manager"]

        def on_mount(self):
            self.push_screen(ManagerScreen())

    async def settle(pilot):
        for _ in range(3):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f4")
        await settle(pilot)
        t = app.screen.query_one("#receipts-table", DataTable)
        assert t.row_count == 1 and str(t.get_row_at(0)[0]) == f"T1/{sold.receipt_no}"
        assert str(t.get_row_at(0)[1]) == "queued"
        await pilot.press("x")
        await settle(pilot)
        assert "dismissed" in str(app.screen.query_one("#status", Static).render())
        assert app.screen.query_one("#receipts-table", DataTable).row_count == 0
    assert last("receipt.dismissed").user_name == "mia"


def _sell_then_die(home, url):
    """A till that commits a sale and is killed at once (SIGKILL): no printing."""
    import os
    import signal
    from station.context import open_station
    from tests.conftest import make_config
    from data.models import User
    ctx = open_station(make_config(home, url))
    carla = User.get(User.name == "carla")
    sale.scan(ctx, carla, MILK)
    st = tender.begin_tender(ctx, carla)
    tender.complete_sale(ctx, carla, st.idem_key, [Payment("cash", 500)])
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_till_killed_right_after_the_commit_prints_the_receipt_at_its_next_start(ctx, people, sold,
                                                                                   station_home, tmp_path):
    """Before: a kill just after the commit lost the receipt (6 of 6), and nothing
    at restart printed or flagged it. Now the receipt is queued in the sale's own
    transaction."""
    import multiprocessing as mp
    sp = mp.get_context("spawn")
    p = sp.Process(target=_sell_then_die, args=(str(station_home), ctx.config.db_url))
    p.start()
    p.join(120)
    assert p.exitcode == -9
    from data.models import Ticket
    last_sale = Ticket.select().where(Ticket.status == "completed").order_by(Ticket.id.desc()).first()
    assert last_sale.receipt_no == 2
    assert [j.ticket_id for j in printing.queued(ctx)] == [sold.ticket_id, last_sale.id]
    spool = tmp_path / "spool.bin"
    ctx.config.set("printer.kind", "file")
    ctx.config.set("printer.path", str(spool))
    got = []
    pr = printing.Printer(ctx, on_result=got.append)
    assert pr.resume() == 2          # the next start
    assert pr.wait_idle(20)
    pr.stop()
    assert [r.ok for r in got] == [True, True] and b"Receipt T1/2" in spool.read_bytes()
    assert printing.queued(ctx) == []


def test_a_serial_printer_unplugged_then_plugged_back(ctx, people, sold, tmp_path):
    """A serial printer on a pty: it prints; unplugged (the pty gone), the receipt
    fails with the port named and the sale stays; plugged back (a new pty behind the
    same device path), the next print works without restarting anything."""
    import pty
    device = tmp_path / "ttyPRINTER"

    def plug():
        master, slave = pty.openpty()
        if device.is_symlink():
            device.unlink()
        device.symlink_to(os.ttyname(slave))
        return master, slave

    def read_all(master) -> bytes:
        import select
        out = b""
        while select.select([master], [], [], 0.5)[0]:
            chunk = os.read(master, 65536)
            if not chunk:
                break
            out += chunk
        return out
    master, slave = plug()
    ctx.config.set("printer.kind", "serial")
    ctx.config.set("printer.device", str(device))
    p = printing.Printer(ctx)
    got = []
    p.on_result = got.append
    p.reprint(ctx, people["cashier"], sold.receipt_no)
    assert p.wait_idle(20) and got[-1].ok, got[-1].message
    assert b"Receipt T1/1" in read_all(master)
    os.close(slave)
    os.close(master)                                   # unplugged
    p.reprint(ctx, people["cashier"], sold.receipt_no)
    assert p.wait_idle(20) and not got[-1].ok
    assert "serial port" in got[-1].message and str(device) in got[-1].message
    from data.models import Ticket
    assert Ticket.get_by_id(sold.ticket_id).status == "completed"
    master, slave = plug()                             # plugged back
    p.reprint(ctx, people["cashier"], sold.receipt_no)
    assert p.wait_idle(20) and got[-1].ok, got[-1].message
    assert b"Receipt T1/1" in read_all(master)
    p.stop()
    os.close(slave)
    os.close(master)
