"""The station context: config, open database, keys, terminal. One per process.

``open_station`` is the one factory shared by the CLI, the app and the tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from data import db as dbmod
from data import migrations
from station import config as configmod
from station.errors import ConfigError, Unavailable
from station.keys import Keys, load_or_create


@dataclass
class Context:
    config: configmod.Config
    db: object
    keys: Keys
    extras: dict = field(default_factory=dict)   # hardware adapters etc., set by their modules

    @property
    def terminal(self) -> str:
        return self.config.terminal_id

    @property
    def drawer(self) -> str:
        return self.config.drawer_id


def open_station(cfg: configmod.Config | None = None, *, check_schema: bool = True,
                 upgrade: bool = False) -> Context:
    """Open the configured store database and key file.

    Raises Unavailable (database), ConfigError (config/key file) or
    migrations.SchemaMismatch with one sentence saying what to run.
    """
    cfg = cfg or configmod.load()
    url = cfg.db_url
    if url.startswith("sqlite:") and not cfg.values["database"]["url"]:
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        db = dbmod.open_database(url)
    except dbmod.DatabaseUnavailable as e:
        raise Unavailable(str(e)) from None
    if upgrade:
        migrations.upgrade(db)
    if check_schema:
        migrations.check_version(db)
    try:
        keys = load_or_create(cfg.key_file)
    except OSError as e:
        raise ConfigError(f"cannot use key file {cfg.key_file}: {e.strerror}") from None
    return Context(config=cfg, db=db, keys=keys)
