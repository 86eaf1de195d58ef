"""station.log: rotation shared by several processes (no record lost or doubled,
no file past its size), ``station log tail`` across rotation, ``--follow``
across a rotation, and a traceback lands in the log."""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import re
import threading

import pytest

from tests.conftest import make_config

LINES = 1500


def _writer(home, name, start, n):
    import sys
    sys.path.insert(0, os.getcwd())
    from station.ops import logs
    from tests.conftest import make_config
    cfg = make_config(home, "sqlite:///unused.db", **{"log.max_kb": 16, "log.keep": 200})
    logs.setup(cfg)
    start.wait(30)
    log = logging.getLogger("station.test")
    for i in range(n):
        log.warning("%s line %05d %s", name, i, "x" * 60)


@pytest.mark.slow
def test_two_processes_share_one_rotating_log(tmp_path):
    from station.ops import logs
    home = tmp_path / "home"
    home.mkdir()
    spawn = mp.get_context("spawn")
    start = spawn.Event()
    ps = [spawn.Process(target=_writer, args=(str(home), name, start, LINES)) for name in ("A", "B")]
    for p in ps:
        p.start()
    start.set()
    for p in ps:
        p.join(120)
    assert [p.exitcode for p in ps] == [0, 0]
    cfg = make_config(home, "sqlite:///unused.db", **{"log.max_kb": 16, "log.keep": 200})
    files = logs.files(cfg)
    assert len(files) > 10, "the log was rotated many times"
    seen = {"A": [], "B": []}
    for f in files:                                   # oldest first
        assert f.stat().st_size <= 16 * 1024 + 200, f
        for line in f.read_text().splitlines():
            m = re.search(r"station.test: (A|B) line (\d+)", line)
            if m:
                seen[m.group(1)].append(int(m.group(2)))
    for name in ("A", "B"):                           # every record once, in order
        assert seen[name] == list(range(LINES)), name


def test_tail_across_rotation_and_the_command(tmp_path, capsys, monkeypatch):
    from station import cli
    from station.ops import logs
    home = tmp_path / "home"
    home.mkdir()
    cfg = make_config(home, "sqlite:///unused.db", **{"log.max_kb": 16, "log.keep": 3})
    logs.setup(cfg)
    log = logging.getLogger("station.test")
    for i in range(400):
        log.warning("entry %04d %s", i, "y" * 40)
    assert len(logs.files(cfg)) >= 2
    tail = logs.tail(cfg, 300)
    assert len(tail) == 300 and tail[-1].endswith("entry 0399 " + "y" * 40)
    assert [int(re.search(r"entry (\d+)", t).group(1)) for t in tail] == list(range(100, 400))
    monkeypatch.setenv("STATION_HOME", str(home))
    monkeypatch.setenv("STATION_LOG_MAX_KB", "16")
    assert cli.main(["log", "tail", "-n", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and "entry 0399" in out[-1]


def test_a_traceback_lands_in_the_log(tmp_path):
    from station.ops import logs
    home = tmp_path / "home"
    home.mkdir()
    cfg = make_config(home, "sqlite:///unused.db")
    logs.setup(cfg)
    try:
        {}["missing"]
    except KeyError as e:
        logging.getLogger("station.app").error("handler failed", exc_info=e)
    text = cfg.log_file.read_text()
    assert "ERROR" in text and "handler failed" in text
    assert "Traceback (most recent call last)" in text and "KeyError: 'missing'" in text


def test_follow_goes_on_after_a_rotation(tmp_path):
    from station.ops import logs
    home = tmp_path / "home"
    home.mkdir()
    cfg = make_config(home, "sqlite:///unused.db", **{"log.max_kb": 16, "log.keep": 5})
    logs.setup(cfg)
    log = logging.getLogger("station.test")
    log.warning("before following")
    got: list[str] = []
    done = threading.Event()
    started = threading.Event()

    def emit(line):
        got.append(line)
        if "last one" in line:
            done.set()

    t = threading.Thread(target=logs.follow, args=(cfg, emit),
                         kwargs={"poll": 0.05, "stop": done.is_set, "ready": started.set}, daemon=True)
    t.start()
    assert started.wait(5)
    for i in range(300):                   # rotates at least once
        log.warning("followed %04d %s", i, "z" * 60)
    log.warning("last one")
    assert done.wait(20), got[-3:]
    t.join(5)
    numbers = [int(m.group(1)) for m in (re.search(r"followed (\d+)", g) for g in got) if m]
    assert numbers == list(range(300)) and not any("before following" in g for g in got)
    assert len(logs.files(cfg)) >= 2
