"""The station context: config, open database, keys, terminal. One per process.

``open_station`` is the one factory shared by the CLI, the app and the tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import peewee

from data import db as dbmod
from data import migrations
from station import config as configmod, files
from station import journal
from station.ops import session
from station.errors import ConfigError, Unavailable
from station import keys as keysmod
from station.keys import Keys


@dataclass
class Context:
    config: configmod.Config
    db: object
    keys: Keys
    extras: dict = field(default_factory=dict)   # hardware adapters etc., set by their modules
    origin: str | None = None   # the SSH client ("ssh 203.0.113.5"), None at the till

    @property
    def terminal(self) -> str:
        return self.config.terminal_id

    @property
    def drawer(self) -> str:
        return self.config.drawer_id


def open_station(cfg: configmod.Config | None = None, *, check_schema: bool = True,
                 upgrade: bool = False, keys: Keys | None = None) -> Context:
    """Open the configured store database and the store's key.

    The key file is checked against the store once, here (see :mod:`station.keys`);
    ``keys`` given: use those unchecked (``station key import`` checks a key
    before it installs it). A database without a schema yet has no key to check against:
    ``ctx.keys`` stays None until :func:`attach_keys` (``station db upgrade``).
    Raises Unavailable (database), ConfigError (config/key file) or
    migrations.SchemaMismatch with one sentence saying what to run.
    """
    cfg = cfg or configmod.load()
    url = cfg.db_url
    if url.startswith("sqlite:") and not cfg.values["database"]["url"]:
        files.make_private_dir(cfg.data_dir, group=cfg.security.store_group)
    path = dbmod.sqlite_path(url)
    if path is not None:
        files.make_private_file(path, group=cfg.security.store_group)
    try:
        db = dbmod.open_database(url)
    except dbmod.DatabaseUnavailable as e:
        raise Unavailable(str(e)) from None
    if upgrade:
        migrations.upgrade(db)
    if check_schema:
        migrations.check_version(db)
    origin = session.origin()
    journal.set_origin(origin)
    ctx = Context(config=cfg, db=db, keys=keys, origin=origin)
    if keys is not None:
        journal.use_keys(keys)   # not checked here: the caller checks them
    elif migrations.schema_version(db) > 0:
        attach_keys(ctx)
    return ctx


def attach_keys(ctx: Context) -> Context:
    """Load (or, for a store without one, create) the store's key, check it against
    the database, and give the journal its MAC key."""
    if ctx.keys is None:
        try:
            ctx.keys = keysmod.load_for_store(ctx.config.key_file, ctx.terminal)
        except OSError as e:
            raise ConfigError(f"cannot use key file {ctx.config.key_file}: {e.strerror}") from None
    journal.use_keys(ctx.keys)
    return ctx


def release_thread_connection(ctx: Context) -> None:
    """End of a worker thread's database work: that thread's own connection
    closes (peewee keeps one per thread), unless a transaction is still open."""
    dbmod.release(ctx.db)


def storage_problem(e: BaseException | None) -> str | None:
    """A full disk, a read-only store or a permission problem, named (see
    ``data.db.storage_problem``); None for anything else."""
    return dbmod.storage_problem(e)


def database_error_text(e: BaseException) -> str | None:
    """One line for an error the database raised: a storage problem named as
    such, else the database's own first line (None for any other error)."""
    named = dbmod.storage_problem(e)
    if named:
        return named
    if not isinstance(e, peewee.DatabaseError):
        return None
    return "database error: " + dbmod.first_line(e)
