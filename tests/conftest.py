"""Shared fixtures: real SQLite files and a real throwaway PostgreSQL database.

``backend`` / ``db_url`` / ``ctx`` are parametrized over sqlite and postgres.
PostgreSQL: STATION_TEST_PG (default postgresql://postgres@127.0.0.1:5432/postgres)
is the admin URL; each test gets a fresh database that is dropped afterwards,
copied from a template this worker migrated once (``CREATE DATABASE ... TEMPLATE``:
a store exactly as ``migrations.upgrade`` leaves a new database, without its key
yet); a test marked ``blank_database`` gets an empty one.
Without a reachable server the postgres cases skip with the reason — except
under CI=true, where they fail.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

PG_ADMIN = os.environ.get("STATION_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_pg_state: dict = {}


def pg_reachable() -> str | None:
    """None if reachable, else the reason."""
    if "reason" not in _pg_state:
        try:
            import psycopg2
            from urllib.parse import urlparse
            p = urlparse(PG_ADMIN)
            c = psycopg2.connect(host=p.hostname, port=p.port or 5432, user=p.username or "postgres",
                                 dbname=p.path.lstrip("/") or "postgres", connect_timeout=3)
            c.close()
            _pg_state["reason"] = None
        except Exception as e:  # noqa: BLE001
            _pg_state["reason"] = f"PostgreSQL not reachable at {PG_ADMIN}: {str(e).strip().splitlines()[0]}"
    return _pg_state["reason"]


def _admin_conn():
    import psycopg2
    from urllib.parse import urlparse
    p = urlparse(PG_ADMIN)
    c = psycopg2.connect(host=p.hostname, port=p.port or 5432, user=p.username or "postgres",
                         dbname=p.path.lstrip("/") or "postgres", connect_timeout=5)
    c.autocommit = True
    return c, p


def create_pg_database(template: str | None = None) -> str:
    reason = pg_reachable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    name = "station_t_" + uuid.uuid4().hex[:12]
    c, p = _admin_conn()
    with c.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    c.close()
    return f"postgresql://{p.username or 'postgres'}@{p.hostname}:{p.port or 5432}/{name}"


def migrated_template() -> str:
    """This worker's migrated template database (made at first use, dropped at the end)."""
    if "template" not in _pg_state:
        from data import db as dbmod
        from data import migrations
        url = create_pg_database()
        db = dbmod.open_database(url, bind=False)
        before = dbmod.proxy.obj
        dbmod.proxy.initialize(db)
        try:
            migrations.upgrade(db)
        finally:
            dbmod.proxy.initialize(before)
            db.close()
        _pg_state["template"] = url.rsplit("/", 1)[1]
    return _pg_state["template"]


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_template():
    yield
    if "template" in _pg_state:
        drop_pg_database("/" + _pg_state.pop("template"))


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    c, _ = _admin_conn()
    with c.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    c.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request):
    return request.param


@pytest.fixture
def db_url(backend, tmp_path, request):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        blank = request.node.get_closest_marker("blank_database") is not None
        url = create_pg_database(None if blank else migrated_template())
        try:
            yield url
        finally:
            from data import db as dbmod
            if dbmod.proxy.obj is not None:
                try:
                    dbmod.proxy.obj.close()
                except Exception:
                    pass
            drop_pg_database(url)


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'store.db'}"


def make_config(home: Path, db_url: str, **overrides):
    from station import config as configmod
    env = {"STATION_HOME": str(home)}
    cfg = configmod.load(env=env, overrides={"database.url": db_url, "security.scrypt_n": 2 ** 10,
                                             **overrides})
    return cfg


@pytest.fixture
def station_home(tmp_path):
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def ctx(db_url, station_home):
    """An upgraded store on the parametrized backend, with this process bound to it."""
    from station.context import open_station
    cfg = make_config(station_home, db_url)
    c = open_station(cfg, upgrade=True)
    yield c
    try:
        c.db.close()
    except Exception:
        pass


@pytest.fixture
def sqlite_ctx(sqlite_url, station_home):
    from station.context import open_station
    c = open_station(make_config(station_home, sqlite_url), upgrade=True)
    yield c
    c.db.close()


def add_user(ctx, name, role, pin="1234"):
    from station import auth
    return auth.add_user(ctx, None, name, role, pin)


@pytest.fixture
def people(ctx):
    """A cashier, a supervisor, a manager, a treasurer and an admin (PIN 1234 .. 5678)."""
    return {
        "cashier": add_user(ctx, "carla", "cashier", "1111"),
        "supervisor": add_user(ctx, "sam", "supervisor", "2222"),
        "manager": add_user(ctx, "mia", "manager", "3333"),
        "treasurer": add_user(ctx, "theo", "treasurer", "4444"),
        "admin": add_user(ctx, "ada", "admin", "5555"),
    }


def cli_stdin(monkeypatch, *lines, times: int = 1):
    """What the next ``station`` command(s) read on standard input, as a script
    gives it: who signs in (name, PIN, TOTP code where asked), then the
    command's own answers. ``times``: the same lines for that many commands."""
    import io
    import sys
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{line}\n" for line in lines) * times))


def seed_for(name: str, fixed: int) -> int:
    """The seed of a randomized test, printed (shown with the test's output when it
    fails): ``$name`` when set (to replay a run), the fixed one under CI=true (CI
    runs fixed seeds), else a fresh one."""
    import random
    if os.environ.get(name):
        seed = int(os.environ[name])
    elif os.environ.get("CI") == "true":
        seed = fixed
    else:
        seed = random.SystemRandom().randrange(1, 2 ** 31)
    print(f"\nseed: {name}={seed}  (replay with {name}={seed})")
    return seed
