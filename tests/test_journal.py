"""The journal: one linear hash chain even when two processes (two terminals)
append at once; insert-only; ``station audit`` filters and formats."""
from __future__ import annotations

import json
import multiprocessing as mp
import os

import pytest

from data.models import Journal, JournalHead
from station import audit, cli, journal
from station.checks_journal import check_chain
from station.errors import AuthFailed, InvalidInput, PermissionDenied

N_EACH = int(os.environ.get("STATION_JOURNAL_N", "1000"))


def _appender(home: str, url: str, terminal: str, n: int, go, q) -> None:
    """A child process: its own config and connection on the same store."""
    try:
        from pathlib import Path
        from station import journal as j
        from station.context import open_station
        from tests.conftest import make_config
        ctx = open_station(make_config(Path(home), url, **{"terminal.id": terminal}))
        import random
        import time
        go.wait(60)  # a Barrier: both children start appending together
        t0 = time.time()
        for i in range(n):
            j.append("test.append", terminal=ctx.terminal, user=terminal, amount=i, ref=f"{terminal}-{i}")
            # a till is not a tight loop: a short pause lets the other terminal at the
            # lock (SQLite's busy handler backs off up to 100 ms, so a tight loop starves it)
            time.sleep(random.random() * 0.003)
        t1 = time.time()
        ctx.db.close()
        q.put((terminal, ("ok", t0, t1)))
    except BaseException as e:  # report, never hang the parent
        q.put((terminal, f"{e.__class__.__name__}: {e}"))


@pytest.mark.slow
def test_two_processes_append_one_unbroken_chain(ctx, station_home):
    url = ctx.config.db_url
    spawn = mp.get_context("spawn")
    go, q = spawn.Barrier(2), spawn.Queue()
    procs = [spawn.Process(target=_appender, args=(str(station_home), url, t, N_EACH, go, q))
             for t in ("T1", "T2")]
    for p in procs:
        p.start()
    results = dict(q.get(timeout=300) for _ in procs)
    for p in procs:
        p.join(60)
    assert {k: v[0] if isinstance(v, tuple) else v for k, v in results.items()} == {"T1": "ok", "T2": "ok"}, results
    (_, a0, a1), (_, b0, b1) = results["T1"], results["T2"]
    assert a0 < b1 and b0 < a1, "the two appenders did not run at the same time"
    rows = list(Journal.select(Journal.seq, Journal.prev_hash, Journal.hash, Journal.terminal, Journal.ref)
                .order_by(Journal.seq).tuples())
    assert len(rows) == 2 * N_EACH
    assert [r[0] for r in rows] == list(range(1, 2 * N_EACH + 1)), "a gap in seq"
    # no fork: every hash is the prev_hash of exactly the next row, and no prev_hash repeats
    assert len({r[1] for r in rows}) == len(rows)
    for a, b in zip(rows, rows[1:]):
        assert b[1] == a[2]
    head = JournalHead.get_by_id(1)
    assert (head.seq, head.hash) == (rows[-1][0], rows[-1][2])
    # each terminal's own events are all there, in its own order
    for t in ("T1", "T2"):
        mine = [int(r[4].split("-")[1]) for r in rows if r[3] == t]
        assert mine == list(range(N_EACH))
    # both really interleaved (otherwise the test proved nothing about concurrency)
    switches = sum(1 for a, b in zip(rows, rows[1:]) if a[3] != b[3])
    assert switches > 2, switches
    assert check_chain(ctx) == []


def test_append_rolls_back_with_its_transaction(ctx):
    from data import db as dbmod
    with pytest.raises(RuntimeError):
        with dbmod.write():
            journal.append("x.test", terminal="T1", user="carla")
            raise RuntimeError("the action failed")
    assert Journal.select().count() == 0
    assert JournalHead.get_by_id(1).seq == 0
    journal.append("x.test", terminal="T1", user="carla")
    assert [j.seq for j in Journal.select()] == [1]
    assert check_chain(ctx) == []


# ------------------------------------------------------------------ audit ---

@pytest.fixture
def events(ctx, people):
    from station import auth
    auth.login(ctx, "carla", "1111")
    with pytest.raises(AuthFailed):
        auth.login(ctx, "carla", "0000")
    journal.append("sale.void", terminal="T2", user="carla", amount=250, ref="ticket 3", data={"line": 2})
    journal.append("override.approved", terminal="T2", user="mia", amount=250, ref="ticket 3",
                   data={"action": "sale.void_ticket"})
    return ctx


def test_audit_filters(events, people):
    ctx = events
    all_ = audit.events(ctx, None)
    assert [e.seq for e in all_] == list(range(1, len(all_) + 1))
    carla = audit.events(ctx, None, audit.make_filters(user="carla"))
    assert {e.kind for e in carla} == {"login", "login.failed", "sale.void"}
    assert [e.kind for e in audit.events(ctx, None, audit.make_filters(kind="login.failed"))] == ["login.failed"]
    assert {e.kind for e in audit.events(ctx, None, audit.make_filters(kind="login*"))} == {"login", "login.failed"}
    t2 = audit.events(ctx, None, audit.make_filters(terminal="T2"))
    assert [e.kind for e in t2] == ["sale.void", "override.approved"]
    today = all_[0].ts[:10]
    assert len(audit.events(ctx, None, audit.make_filters(since=today, until=today))) == len(all_)
    assert audit.events(ctx, None, audit.make_filters(until="2000-01-01")) == []
    assert audit.events(ctx, None, audit.make_filters(since="2999-01-01")) == []
    with pytest.raises(InvalidInput):
        audit.make_filters(since="yesterday")
    with pytest.raises(InvalidInput):
        audit.make_filters(since="2026-02-01", until="2026-01-01")
    # paging newest first, keyset
    page1 = audit.events(ctx, None, limit=2, newest_first=True)
    page2 = audit.events(ctx, None, limit=2, newest_first=True, before_seq=page1[-1].seq)
    assert [e.seq for e in page1 + page2] == [len(all_) - i for i in range(4)]


def test_audit_refused_to_cashier(events, people):
    with pytest.raises(PermissionDenied):
        audit.events(events, people["cashier"])
    with pytest.raises(PermissionDenied):
        audit.count(events, people["cashier"])
    assert audit.count(events, people["supervisor"]) > 0


def test_audit_cli_formats(events, capsys, monkeypatch, station_home):
    from tests.conftest import cli_stdin
    monkeypatch.setenv("STATION_HOME", str(station_home))
    cli_stdin(monkeypatch, "sam", "2222", times=4)
    url = events.config.db_url
    # the back office signs in at its own terminal id (its sign-in is journalled there)
    assert cli.main(["--db", url, "--terminal", "BO", "audit", "--terminal", "T2"]) == 0
    out = capsys.readouterr().out
    assert "sale.void" in out and "2.50" in out and "ticket 3" in out and "2 event(s)" in out
    assert cli.main(["--db", url, "audit", "--kind", "sale.void", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "seq,ts,terminal,user,kind,amount,ref,data" and len(lines) == 2
    assert ",carla,sale.void,250,ticket 3," in lines[1]
    assert cli.main(["--db", url, "audit", "--user", "mia", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["kind"] for d in data] == ["override.approved"] and data[0]["data"]["action"] == "sale.void_ticket"
    assert cli.main(["--db", url, "audit", "--since", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a date" in err
