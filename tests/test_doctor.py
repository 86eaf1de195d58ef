"""``station doctor`` on a healthy till and on a broken one (no key, printer off,
old schema, skewed clock, small terminal): each problem is one line naming it.
The printer is a real TCP server answering ESC/POS status queries."""
from __future__ import annotations

import fcntl
import os
import pty
import socket
import struct
import termios
import threading
import time

import pytest

from tests.conftest import add_user, make_config


class FakePrinter:
    """An ESC/POS network printer on 127.0.0.1 that answers DLE EOT n."""

    def __init__(self, printer_status=0x12, paper=0x12, drawer_closed=True):
        self.answers = {1: printer_status | (0x04 if drawer_closed else 0), 4: paper}
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.queries: list[bytes] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    q = conn.recv(3)
                except OSError:
                    continue
                self.queries.append(q)
                if len(q) == 3 and q[:2] == b"\x10\x04" and q[2] in self.answers:
                    conn.sendall(bytes([self.answers[q[2]]]))

    def close(self):
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def printer():
    p = FakePrinter()
    yield p
    p.close()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def till_config(home, url, port, **more):
    return make_config(home, url, **{"printer.kind": "network", "printer.host": "127.0.0.1",
                                     "printer.port": port, "printer.timeout": 1, "drawer.status": True,
                                     **more})


def lines_of(findings):
    return [f.line() for f in findings]


def test_healthy_till(ctx, station_home, printer):
    from station import totp_enrol
    from station.ops import doctor
    add_user(ctx, "mia", "manager", "3333")
    totp_enrol.enrol_known_secret(ctx, "mia")
    cfg = till_config(station_home, ctx.config.db_url, printer.port)
    found = doctor.run(cfg)
    text = "\n".join(lines_of(found))
    assert doctor.exit_code(found) == 0, text
    by = {f.name: f for f in found}
    assert by["database"].level == "OK" and "answers" in by["database"].text
    assert by["schema"].level == "OK" and by["key"].level == "OK"
    assert by["printer"].level == "OK" and "answers, online" in by["printer"].text
    assert by["drawer"].level == "OK" and "drawer closed" in by["drawer"].text
    assert by["clock"].level == "OK" and by["log"].level == "OK"
    assert by["disk"].level in ("OK", "WARN")
    assert b"\x10\x04\x01" in printer.queries and b"\x10\x04\x04" in printer.queries


def test_broken_till_names_each_problem_in_one_line(ctx, station_home):
    from data.models import SchemaMeta
    from data import db as dbmod, migrations
    from station.ops import doctor
    with dbmod.write():     # an old schema
        SchemaMeta.update(value=str(migrations.CODE_VERSION - 1)).where(
            SchemaMeta.key == "schema_version").execute()
    ctx.config.key_file.unlink()                          # no key file
    cfg = till_config(station_home, ctx.config.db_url, free_port())   # printer switched off
    master, slave = pty.openpty()                          # a 70x20 terminal
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 20, 70, 0, 0))
    screen = os.fdopen(slave, "w")
    env = doctor.Env(now=lambda: time.time() + 300, stdout=screen)   # a clock 5 minutes ahead
    if not dbmod.is_postgres(ctx.db):   # SQLite: the clock is checked against the newest journal entry
        add_user(ctx, "carla", "cashier", "1111")
        env = doctor.Env(now=lambda: time.time() - 300, stdout=screen)
    try:
        found = doctor.run(cfg, env)
    finally:
        screen.close()
        os.close(master)
    lines = lines_of(found)
    text = "\n".join(lines)
    assert doctor.exit_code(found) == 1
    fails = {f.name: f.line() for f in found if f.level == "FAIL"}
    assert set(fails) == {"schema", "key", "printer", "drawer", "clock", "terminal"}, text
    assert "run 'station db upgrade'" in fails["schema"]
    assert "no key file" in fails["key"] and str(cfg.key_file) in fails["key"]
    assert "cannot reach printer 127.0.0.1" in fails["printer"]
    assert "5 min" in fails["clock"] or "4 min" in fails["clock"]
    assert "70x20 is smaller than 80x24" in fails["terminal"]
    for line in lines:
        assert "\n" not in line and line.split()[0] in ("OK", "WARN", "FAIL", "INFO")


def test_another_stores_key(sqlite_ctx, station_home, tmp_path):
    from station import totp_enrol
    from station import keys
    from station.ops import doctor
    add_user(sqlite_ctx, "mia", "manager", "3333")
    totp_enrol.enrol_known_secret(sqlite_ctx, "mia")
    other = tmp_path / "other.key"
    keys.write(other, keys.new_keys())
    cfg = make_config(station_home, sqlite_ctx.config.db_url, **{"security.pepper_file": str(other)})
    key = [f for f in doctor.run(cfg) if f.name == "key"][0]
    assert key.level == "FAIL" and "is not this store's key" in key.text


def test_no_database_and_disk_full(tmp_path):
    from station.ops import doctor
    home = tmp_path / "till"
    home.mkdir()
    cfg = make_config(home, f"sqlite:///{home / 'store.db'}")
    full = lambda _p: type("U", (), {"free": 10 * 1024 ** 2})()   # noqa: E731
    found = doctor.run(cfg, doctor.Env(disk_usage=full))
    fails = {f.name: f.text for f in found if f.level == "FAIL"}
    assert "no store at" in fails["database"] and "station db upgrade" in fails["database"]
    assert "only 10 MiB free" in fails["disk"]
    assert not (home / "store.db").exists() and not (home / "station.key").exists()   # nothing created


def test_doctor_command(sqlite_ctx, station_home, capsys, monkeypatch, printer):
    from station import cli
    monkeypatch.setenv("STATION_HOME", str(station_home))
    monkeypatch.setenv("STATION_PRINTER_KIND", "network")
    monkeypatch.setenv("STATION_PRINTER_HOST", "127.0.0.1")
    monkeypatch.setenv("STATION_PRINTER_PORT", str(printer.port))
    code = cli.main(["--db", sqlite_ctx.config.db_url, "doctor"])
    out = capsys.readouterr().out
    assert code == 0 and out.rstrip().endswith("this till is ready"), out
    monkeypatch.setenv("STATION_PRINTER_PORT", str(free_port()))
    code = cli.main(["--db", sqlite_ctx.config.db_url, "doctor"])
    out = capsys.readouterr().out
    assert code == 1 and "1 problem(s): this till is not ready" in out
    assert sum(line.startswith("FAIL") for line in out.splitlines()) == 1
