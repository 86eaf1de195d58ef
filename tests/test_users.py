"""People and PINs: the ``station user`` commands (PIN from stdin, never argv,
never printed), and the PIN lockout shared by two processes on one SQLite file
and on PostgreSQL."""
from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from data.models import Journal, User
from station import auth
from station.errors import AuthFailed, LockedOut
from tests.conftest import add_user, make_config

ROOT = Path(__file__).resolve().parents[1]


def station(args, *, home, db_url, stdin="", timeout=60):
    """``station ARGS`` as a script runs it: signed in as ada (admin; no TOTP roles
    in this store) on the first lines of stdin, then the command's own answers."""
    env = dict(os.environ, STATION_HOME=str(home), PYTHONPATH=str(ROOT), STATION_SECURITY_TOTP_ROLES="",
               STATION_SECURITY_SCRYPT_N=str(2 ** 10), STATION_DB=db_url)
    return subprocess.run([sys.executable, "-m", "station.cli", *args], input="ada\n5555\n" + stdin,
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_user_commands(ctx, station_home, db_url):
    add_user(ctx, "ada", "admin", "5555")
    r = station(["user", "add", "nina", "--role", "cashier", "--full-name", "Nina N"], home=station_home,
                db_url=db_url, stdin="482916\n")
    assert r.returncode == 0, r.stderr
    assert "482916" not in r.stdout + r.stderr
    assert auth.check_credentials(ctx, "nina", "482916").name == "nina"
    # a PIN on the command line is refused by the parser itself
    r = station(["user", "add", "otto", "--role", "cashier", "--pin", "1234"], home=station_home, db_url=db_url)
    assert r.returncode == 2 and "unrecognized arguments: --pin 1234" in r.stderr
    assert User.get_or_none(User.name == "otto") is None
    # bad PIN, bad role, duplicate, no PIN on stdin: one line each, nothing changed
    for args, stdin, msg in [
        (["user", "add", "otto", "--role", "cashier"], "12\n", "a PIN is 4 to 8 digits"),
        (["user", "add", "otto", "--role", "cashier"], "", "no new PIN on standard input"),
        (["user", "add", "otto", "--role", "chef"], "1234\n", "unknown role 'chef'"),
        (["user", "add", "nina", "--role", "cashier"], "1234\n", "user nina already exists"),
        (["user", "disable", "nobody"], "", "no user named nobody"),
        (["user", "set-pin", "nobody"], "1234\n", "no user named nobody"),
    ]:
        r = station(args, home=station_home, db_url=db_url, stdin=stdin)
        assert r.returncode == 2 and r.stderr.strip().splitlines() == [f"station: {r.stderr.strip()[9:]}"]
        assert msg in r.stderr, (args, r.stderr)
    assert User.get_or_none(User.name == "otto") is None
    # list shows people, never PINs or hashes
    r = station(["user", "list"], home=station_home, db_url=db_url)
    assert r.returncode == 0 and "nina" in r.stdout and "cashier" in r.stdout
    assert "scrypt" not in r.stdout and "482916" not in r.stdout
    # disable -> refused at login; enable -> fine again
    assert station(["user", "disable", "nina"], home=station_home, db_url=db_url).returncode == 0
    with pytest.raises(AuthFailed, match="disabled"):
        auth.login(ctx, "nina", "482916")
    assert station(["user", "enable", "nina"], home=station_home, db_url=db_url).returncode == 0
    # set-pin: the old PIN no longer works
    assert station(["user", "set-pin", "nina"], home=station_home, db_url=db_url,
                   stdin="777111\n").returncode == 0
    with pytest.raises(AuthFailed):
        auth.login(ctx, "nina", "482916")
    assert auth.login(ctx, "nina", "777111").name == "nina"
    # lock her out, then an admin unlocks from the command line
    for _ in range(ctx.config.security.max_failed_attempts):
        with pytest.raises(AuthFailed):
            auth.login(ctx, "nina", "000000")
    with pytest.raises(LockedOut):
        auth.login(ctx, "nina", "777111")
    r = station(["user", "list"], home=station_home, db_url=db_url)
    assert "locked to" in r.stdout
    assert station(["user", "unlock", "nina"], home=station_home, db_url=db_url).returncode == 0
    assert auth.login(ctx, "nina", "777111").name == "nina"
    # the journal has every change, and never a PIN
    kinds = [j.kind for j in Journal.select().order_by(Journal.seq)]
    for k in ("user.added", "user.disabled", "user.enabled", "user.pin_set", "user.locked", "user.unlocked"):
        assert k in kinds
    text = " ".join(f"{j.data} {j.ref} {j.user_name}" for j in Journal.select())
    assert "482916" not in text and "777111" not in text
    assert "482916" not in User.get(User.name == "nina").pin_hash


# ------------------------------------------- lockout shared by processes ---

def _attempts(home, url, name, pin, n, barrier, out):
    try:
        from station.context import open_station
        ctx = open_station(make_config(home, url, **{"security.max_failed_attempts": 5}))
        barrier.wait(timeout=60)
        got = []
        for _ in range(n):
            try:
                auth.login(ctx, name, pin)
                got.append("ok")
            except LockedOut:
                got.append("locked")
            except AuthFailed:
                got.append("failed")
        out.put(got)
    except BaseException:  # noqa: BLE001
        out.put(traceback.format_exc())


@pytest.mark.slow
def test_lockout_is_shared_by_two_processes(ctx, db_url, station_home):
    """Two terminals (processes) type wrong PINs for the same user at once, 3
    each: neither alone reaches the limit of 5, but the failures add up in the
    database, so the user ends locked for both, and the right PIN is then
    refused everywhere until an unlock."""
    add_user(ctx, "carla", "cashier", "1111")
    mpc = mp.get_context("spawn")
    barrier, out = mpc.Barrier(2), mpc.Queue()
    procs = [mpc.Process(target=_attempts, args=(station_home, db_url, "carla", "9999", 3, barrier, out))
             for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    for r in results:
        assert not isinstance(r, str), r
    flat = results[0] + results[1]
    # 4 plain failures, the 5th locks (LockedOut); a wrong PIN still being checked
    # while the lock lands is answered "locked" and does not count again
    assert flat.count("failed") == 4 and flat.count("locked") == 2, results
    assert "ok" not in flat
    u = User.get(User.name == "carla")
    assert u.locked_until is not None
    # the right PIN, from a third process, is refused too
    barrier2, out2 = mpc.Barrier(1), mpc.Queue()
    p = mpc.Process(target=_attempts, args=(station_home, db_url, "carla", "1111", 1, barrier2, out2))
    p.start()
    assert out2.get(timeout=120) == ["locked"]
    p.join(timeout=30)
    # every attempt left exactly one record: 6 here plus the third process
    assert Journal.select().where(Journal.kind.in_(["login.failed", "login.refused_locked"])).count() == 7
    assert u.failed_attempts == 0   # the lockout reset the counter; racers did not bump it
    assert Journal.select().where(Journal.kind == "user.locked").count() == 1
    auth.unlock(ctx, None, "carla")
    assert auth.login(ctx, "carla", "1111").name == "carla"
