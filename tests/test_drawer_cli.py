"""``station drawer status|x|z`` on a real SQLite store: output, one-line errors, exit codes."""
from __future__ import annotations

import pytest

from station import drawer
from station.cli import main
from tests.conftest import add_user, cli_stdin


@pytest.fixture
def store(sqlite_ctx, station_home, sqlite_url, monkeypatch):
    monkeypatch.setenv("STATION_HOME", str(station_home))
    monkeypatch.setenv("STATION_DB", sqlite_url)
    monkeypatch.delenv("STATION_CONFIG", raising=False)
    ctx = sqlite_ctx
    carla = add_user(ctx, "carla", "cashier", "1111")
    add_user(ctx, "sam", "supervisor", "2222")
    cli_stdin(monkeypatch, "sam", "2222", times=20)
    return ctx, carla


def test_status_x_z(store, capsys, tmp_path):
    ctx, carla = store
    assert main(["drawer", "status"]) == 0
    assert "no drawer sessions yet" in capsys.readouterr().out
    assert main(["drawer", "x"]) == 2
    assert capsys.readouterr().err.strip() == "station: no drawer session is open on drawer T1"
    drawer.open_session(ctx, carla, {5000: 2})
    drawer.paid_in(ctx, carla, "5.00", "other")
    assert main(["drawer", "status"]) == 0
    out = capsys.readouterr().out
    assert "T1" in out and "open" in out and "carla" in out and "105.00" in out
    assert main(["drawer", "x"]) == 0
    out = capsys.readouterr().out
    assert "X REPORT" in out and "Paid in (1)" in out and "105.00" in out
    drawer.close_session(ctx, carla, {5000: 2, 500: 1})
    drawer.open_session(ctx, carla, {5000: 1})
    drawer.close_session(ctx, carla, {5000: 1, 100: 1})
    assert main(["drawer", "z"]) == 0
    out = capsys.readouterr().out
    assert "Z REPORT No 2" in out and "*** COPY ***" in out and "Variance" in out and "+1.00" in out
    assert main(["drawer", "z", "--reprint", "1"]) == 0
    assert "Z REPORT No 1" in capsys.readouterr().out
    assert main(["drawer", "z", "--reprint", "7"]) == 2
    assert "no Z report 7 for drawer T1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["drawer", "z", "--reprint", "x"])
    assert e.value.code == 2
    assert "is not a Z number" in capsys.readouterr().err
    assert main(["drawer", "status", "--drawer", "T1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and "closed" in out[1]
    # printing: no printer -> one clear line, exit 2; a file printer gets the bytes
    assert main(["drawer", "z", "--print"]) == 2
    assert "no printer is configured" in capsys.readouterr().err
    spool = tmp_path / "spool.bin"
    monkeypatch_env = {"STATION_PRINTER_KIND": "file", "STATION_PRINTER_PATH": str(spool)}
    import os
    os.environ.update(monkeypatch_env)
    try:
        assert main(["drawer", "z", "--print"]) == 0
    finally:
        for k in monkeypatch_env:
            os.environ.pop(k, None)
    data = spool.read_bytes()
    assert b"Z REPORT No 2" in data and b"*** COPY ***" in data and data.endswith(b"\x1dV\x00")
