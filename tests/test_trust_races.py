"""Races of the trust layer, each proven to overlap (both sides held at a barrier
inside the critical step) before the outcome is checked, SQLite and PostgreSQL:

* two tills start on a fresh store at the same moment, each with no key file:
  both make a key, exactly one becomes the store's key, the other till refuses
  to start (and leaves no stray key behind);
* two first users added at the same moment on a store with nobody: one is added,
  the other refused.
"""
from __future__ import annotations

import multiprocessing as mp
import traceback

import pytest

from data.models import Journal, SchemaMeta, User
from tests.conftest import make_config

pytestmark = pytest.mark.slow


def _start_till(home, url, barrier, out):
    try:
        from station import keys
        from station.context import open_station
        real = keys.record_check_value

        def held(*args, **kwargs):
            # both tills made a key and neither recorded it yet: the race is real
            out.put(("at barrier", home))
            barrier.wait(timeout=60)
            return real(*args, **kwargs)
        keys.record_check_value = held
        ctx = open_station(make_config(home, url))
        out.put(("started", home, ctx.keys.check_value()))
    except BaseException as e:  # noqa: BLE001
        out.put(("refused", home, f"{e.__class__.__name__}: {e}"))


def test_two_tills_starting_a_fresh_store_at_once_agree_on_one_key(db_url, tmp_path):
    from station.context import open_station
    from pathlib import Path
    seed_home = tmp_path / "admin"
    ctx = open_station(make_config(seed_home, db_url), upgrade=True)   # the schema, and a key...
    SchemaMeta.delete().where(SchemaMeta.key == "key_check").execute()  # ... that no till has yet
    ctx.db.close()
    sp = mp.get_context("spawn")
    barrier, out = sp.Barrier(2), sp.Queue()
    homes = [str(tmp_path / "till1"), str(tmp_path / "till2")]
    procs = [sp.Process(target=_start_till, args=(h, db_url, barrier, out)) for h in homes]
    for p in procs:
        p.start()
    got = [out.get(timeout=120) for _ in range(4)]
    for p in procs:
        p.join(timeout=60)
    assert sum(g[0] == "at barrier" for g in got) == 2, got          # both were inside at once
    started = [g for g in got if g[0] == "started"]
    refused = [g for g in got if g[0] == "refused"]
    assert len(started) == 1 and len(refused) == 1, got
    assert "is not this store's key" in refused[0][2]
    assert not (Path(refused[0][1]) / "station.key").exists()          # no stray key left behind
    db = open_station(make_config(Path(started[0][1]), db_url))
    assert SchemaMeta.get(SchemaMeta.key == "key_check").value == started[0][2]
    db.db.close()


def _first_user(home, url, name, barrier, out):
    try:
        from station import auth
        from station.context import open_station
        ctx = open_station(make_config(home, url))
        real = auth.hash_pin

        def held(*a, **kw):
            h = real(*a, **kw)
            out.put(("at barrier", name))
            barrier.wait(timeout=60)     # both checked "nobody yet" is about to be asked
            return h
        auth.hash_pin = held
        auth.add_first_user(ctx, name, "admin", "5555")
        out.put(("added", name))
    except BaseException as e:  # noqa: BLE001
        out.put(("refused", name, f"{e.__class__.__name__}: {e}" + traceback.format_exc()[-300:]))


def test_two_first_users_at_once_only_one_is_added(db_url, tmp_path):
    from station.context import open_station
    home = tmp_path / "h"
    ctx = open_station(make_config(home, db_url), upgrade=True)
    ctx.db.close()
    sp = mp.get_context("spawn")
    barrier, out = sp.Barrier(2), sp.Queue()
    procs = [sp.Process(target=_first_user, args=(str(home), db_url, n, barrier, out)) for n in ("ada", "eve")]
    for p in procs:
        p.start()
    got = [out.get(timeout=120) for _ in range(4)]
    for p in procs:
        p.join(timeout=60)
    assert sum(g[0] == "at barrier" for g in got) == 2, got
    assert sum(g[0] == "added" for g in got) == 1, got
    refused = [g for g in got if g[0] == "refused"]
    assert len(refused) == 1 and "already has users" in refused[0][2], got
    ctx = open_station(make_config(home, db_url))
    assert User.select().count() == 1
    assert Journal.select().where(Journal.kind == "user.added").count() == 1
    ctx.db.close()
