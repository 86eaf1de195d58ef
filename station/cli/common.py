"""What every ``station`` subcommand module shares: the argument parser class,
the config of a command line, and the store context it opens."""
from __future__ import annotations

import argparse
import getpass
import sys

from station import config as configmod
from station.errors import InvalidInput

EXIT_ERROR = 2


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, exit 2
        self.exit(EXIT_ERROR, f"station: {message} (see 'station --help')\n")


def load_config(args) -> configmod.Config:
    """The config of this command line; from here on this process logs to its
    station.log (every command and the app come through here)."""
    from station.ops import logs
    if getattr(args, "demo", False):   # the demo store: <data dir>/demo.db and its settings
        from station.demo import demo_config
        cfg = demo_config(args.config, db=args.db, terminal=args.terminal)
    else:
        cfg = configmod.load(args.config, overrides={"database.url": args.db, "terminal.id": args.terminal})
    if getattr(args, "kiosk", None):
        cfg.set("terminal.kiosk", True, "command line")
    logs.setup(cfg)
    return cfg


def open_ctx(args, *, check_schema: bool = True):
    """The store of this command line (config, database, keys). A command that
    needs a store never creates an empty one by accident: it names the store it
    looked for (and the demo store, when that is the one just used)."""
    from station.context import open_station
    cfg = load_config(args)
    if check_schema:
        missing_store(cfg)
    return open_station(cfg, check_schema=check_schema)


def missing_store(cfg: configmod.Config) -> None:
    """ConfigError when the configured SQLite store file does not exist."""
    from pathlib import Path

    from station.demo import demo_db_path
    from station.errors import ConfigError
    url = cfg.db_url
    if not url.startswith("sqlite:///"):
        return
    path = Path(url[len("sqlite:///"):])
    if path.exists() or not path.parent.is_dir():   # a missing folder has its own message
        return
    demo = demo_db_path(cfg)
    hint = (f"; the demo store is {demo}: add --demo" if demo.exists() and demo.resolve() != path.resolve()
            else "; 'station db upgrade' creates a new store there")
    raise ConfigError(f"there is no store at {path}{hint}")


# ---------------------------------------------------------------- sign-in ---

def ask(prompt: str, *, secret: bool = False, what: str = "answer") -> str:
    """One answer: typed at the prompt on a terminal (``secret``: not echoed), or
    the next line of standard input for scripts. Never from the command line."""
    if sys.stdin.isatty():
        try:
            return getpass.getpass(prompt) if secret else input(prompt)
        except EOFError:
            raise InvalidInput(f"no {what} given: nothing was changed") from None
    line = sys.stdin.readline()
    if not line:
        raise InvalidInput(f"no {what} on standard input: nothing was changed (scripts give one line each: "
                           f"user name, PIN, TOTP code where asked, then the command's own answers)")
    return line.rstrip("\r\n")


def sign_in(ctx, action):
    """Ask who is acting (user, PIN, TOTP code where the permission table asks
    for it) and check it (:func:`station.authority.sign_in`); the user to act as.
    ``action``: the permission needed (or a function of the user giving it)."""
    from station import authority
    if sys.stdin.isatty():
        print(f"Sign in to {ctx.config.store.name} ({ctx.terminal})", file=sys.stderr)
    name = ask("User: ", what="user name").strip()
    pin = ask("PIN: ", secret=True, what="PIN")
    return authority.sign_in(ctx, name, pin, action,
                             lambda: ask("TOTP code: ", secret=True, what="TOTP code").strip())


def sign_in_to_read(ctx, action):
    """Sign in for a read-only command, unless ``security.cli_login_reads`` is off
    (then None: the reader is not known)."""
    if not ctx.config.security.cli_login_reads:
        return None
    return sign_in(ctx, action)
