"""Printer transports and the drawer adapter against real byte channels:
pyserial ``loop://``, a pty (os.openpty) as the far end of a serial drawer,
a file spool, and a local TCP socket as a network printer."""
from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest
import serial

from data.models import CashMovement, Journal
from station import drawer
from station.hardware import drawer as hw
from station.hardware import transport as tp
from station.hardware.transport import HardwareError
from tests.conftest import add_user


class FakeCtx:
    def __init__(self, cfg):
        self.config = cfg
        self.extras = {}


@pytest.fixture
def cfg(tmp_path):
    from tests.conftest import make_config
    return make_config(tmp_path, f"sqlite:///{tmp_path / 's.db'}")


def test_kick_bytes_follow_config(cfg):
    assert hw.kick_bytes(cfg) == b"\x1b\x70\x00\x32\x64"      # pin 2, 100 ms on, 200 ms off
    cfg.set("drawer.pin", 5)
    cfg.set("drawer.on_ms", 50)
    cfg.set("drawer.off_ms", 1000)
    assert hw.kick_bytes(cfg) == b"\x1b\x70\x01\x19\xff"      # pin 5, 50 ms, off clamped to 255


def test_kick_through_serial_loop(cfg):
    port = serial.serial_for_url("loop://", timeout=1, write_timeout=1)
    cfg.set("drawer.kick", "serial")
    cfg.set("drawer.device", "loop://")
    ctx = FakeCtx(cfg)
    ctx.extras["drawer.port"] = port
    r = hw.kick(ctx)
    assert r.ok and r.via == "serial"
    assert port.read(5) == b"\x1b\x70\x00\x32\x64"


def in_thread(fn, limit: float = 60.0):
    """``fn()`` in a thread; its result or exception. A call that never returns
    fails the test after the generous ``limit`` (a hung run), nothing is timed."""
    out: dict = {}

    def run():
        try:
            out["result"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the test
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(limit)
    assert not t.is_alive(), f"{fn} did not return"
    if "error" in out:
        raise out["error"]
    return out["result"]


def _pty():
    master, slave = os.openpty()
    import tty
    tty.setraw(slave)
    return master, os.ttyname(slave), slave


def _read_exactly(fd, n, timeout=3.0):
    import select
    buf = b""
    end = time.monotonic() + timeout
    while len(buf) < n and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            buf += os.read(fd, n - len(buf))
    return buf


def test_kick_through_a_pty_serial_drawer(cfg):
    master, name, slave = _pty()
    try:
        cfg.set("drawer.kick", "serial")
        cfg.set("drawer.device", name)
        r = hw.kick(FakeCtx(cfg))
        assert r.ok, r.message
        assert _read_exactly(master, 5) == b"\x1b\x70\x00\x32\x64"
    finally:
        os.close(master)
        os.close(slave)


def test_kick_through_a_serial_printer_on_a_pty(cfg):
    master, name, slave = _pty()
    try:
        cfg.set("printer.kind", "serial")
        cfg.set("printer.device", name)
        cfg.set("drawer.kick", "printer")
        r = hw.kick(FakeCtx(cfg))
        assert r.ok and r.via == "printer"
        assert _read_exactly(master, 5) == b"\x1b\x70\x00\x32\x64"
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("answer, level, is_open", [
    (0x00, "low", True), (0x04, "low", False), (0x04, "high", True), (0x00, "high", False),
    (0x16, "high", True), (0x12, "high", False),
])
def test_status_over_a_pty(cfg, answer, level, is_open):
    master, name, slave = _pty()
    try:
        cfg.set("drawer.kick", "serial")
        cfg.set("drawer.device", name)
        cfg.set("drawer.status", True)
        cfg.set("drawer.open_level", level)

        def printer():
            q = _read_exactly(master, 3)
            if q == b"\x10\x04\x01":
                os.write(master, bytes([answer]))
        t = threading.Thread(target=printer)
        t.start()
        st = hw.status(FakeCtx(cfg))
        t.join()
        assert st.known and st.open is is_open
        assert st.message == ("drawer still open" if is_open else "drawer closed")
    finally:
        os.close(master)
        os.close(slave)


def test_status_timeout_is_reported_not_raised(cfg):
    master, name, slave = _pty()
    try:
        cfg.set("drawer.kick", "serial")
        cfg.set("drawer.device", name)
        cfg.set("drawer.status", True)
        cfg.set("drawer.timeout", 1)
        st = in_thread(lambda: hw.status(FakeCtx(cfg)))      # returns (a hang fails here)
        assert not st.known and "did not answer" in st.message
    finally:
        os.close(master)
        os.close(slave)


def test_status_off_by_default(cfg):
    st = hw.status(FakeCtx(cfg))
    assert not st.known and "drawer.status = false" in st.message


def test_missing_serial_port_is_a_clear_failure(cfg, tmp_path):
    cfg.set("drawer.kick", "serial")
    cfg.set("drawer.device", str(tmp_path / "ttyUSB9"))
    r = hw.kick(FakeCtx(cfg))
    assert not r.ok and "ttyUSB9" in r.message and r.message.startswith("the drawer did not open")


def test_no_drawer_configured_is_said(cfg):
    cfg.set("drawer.kick", "none")
    r = hw.kick(FakeCtx(cfg))
    assert r.ok and r.skipped and "open it by hand" in r.message


def test_missing_port_warns_and_movement_is_recorded(sqlite_ctx, tmp_path):
    ctx = sqlite_ctx
    carla = add_user(ctx, "carla", "cashier", "1111")
    ctx.config.set("drawer.kick", "serial")
    ctx.config.set("drawer.device", "/dev/ttyDOESNOTEXIST")
    drawer.open_session(ctx, carla, {1000: 1})
    m = drawer.drop(ctx, carla, 500, "safe drop")
    assert not m.kick.ok and "/dev/ttyDOESNOTEXIST" in m.kick.message
    assert CashMovement.get_by_id(m.id).amount == -500
    ev = Journal.select().where(Journal.kind == "drawer.kick_failed").order_by(Journal.seq.desc()).first()
    assert ev is not None and json.loads(ev.data)["why"] == "drop"


def test_kick_through_a_pty_is_journalled(sqlite_ctx):
    ctx = sqlite_ctx
    carla = add_user(ctx, "carla", "cashier", "1111")
    master, name, slave = _pty()
    try:
        ctx.config.set("drawer.kick", "serial")
        ctx.config.set("drawer.device", name)
        drawer.open_session(ctx, carla, {1000: 1})
        assert _read_exactly(master, 5) == b"\x1b\x70\x00\x32\x64"
        m = drawer.paid_in(ctx, carla, 100, "other")
        assert m.kick.ok
        assert _read_exactly(master, 5) == b"\x1b\x70\x00\x32\x64"
        kicks = list(Journal.select().where(Journal.kind == "drawer.kick"))
        assert [json.loads(k.data)["why"] for k in kicks] == ["open", "paid_in"]
    finally:
        os.close(master)
        os.close(slave)


# -------------------------------------------------------------- transports ---

def test_file_transport_appends(tmp_path):
    p = tmp_path / "spool.bin"
    t = tp.FileTransport(str(p))
    t.send(b"abc")
    t.send(b"\x1b\x70")
    assert p.read_bytes() == b"abc\x1b\x70"


def test_file_transport_error_is_clear(tmp_path):
    with pytest.raises(HardwareError, match="cannot write to printer file"):
        tp.FileTransport(str(tmp_path / "no" / "dir" / "x")).send(b"a")


def test_none_transport_refuses(cfg):
    with pytest.raises(HardwareError, match="no printer is configured"):
        tp.from_config(cfg).send(b"x")


def test_network_transport_sends_and_times_out():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got = []

    def serve():
        c, _ = srv.accept()
        data = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        got.append(data)
        c.close()
    th = threading.Thread(target=serve)
    th.start()
    tp.NetworkTransport("127.0.0.1", port, timeout=2).send(b"\x1b@hello")
    th.join(timeout=5)
    assert got == [b"\x1b@hello"]
    # a printer that accepts but never answers a status query: timeout, clear message
    with pytest.raises(HardwareError, match="did not answer"):
        in_thread(lambda: tp.NetworkTransport("127.0.0.1", port, timeout=0.5).exchange(b"\x10\x04\x01"))
    srv.close()
    with pytest.raises(HardwareError, match="cannot reach printer"):
        tp.NetworkTransport("127.0.0.1", port, timeout=0.5).send(b"x")


def test_serial_transport_missing_port(tmp_path):
    with pytest.raises(HardwareError, match="serial port .* is not available"):
        tp.SerialTransport(str(tmp_path / "ttyS99"), 9600, 0.5).send(b"x")


def test_escpos_import_keeps_logging_quiet():
    import logging
    import subprocess
    import sys
    code = ("import logging; from station.hardware import transport as t; n=len(logging.getLogger().handlers);"
            "t.import_escpos_printer(); print(n, len(logging.getLogger().handlers))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(__file__)), timeout=60)
    a, b = out.stdout.split()
    assert a == b, out
    assert logging  # imported for clarity


def test_usb_without_pyusb_or_device_is_a_clear_error(capfd):
    with pytest.raises(HardwareError, match="USB"):
        tp.UsbTransport(0x04B8, 0x0202, 0.5).send(b"x")
    import gc
    gc.collect()
    assert "Traceback" not in capfd.readouterr().err
