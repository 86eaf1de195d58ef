"""The ``station`` command. No arguments: start the app on the configured store.

Subcommands live in ``station/cli_*.py`` modules, each with
``register(subparsers)`` adding its parsers (with ``func=handler(ctx_factory, args)``).
Every error is ONE clear line on stderr and a non-zero exit; nothing half-written.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from station import config as configmod
from station.errors import StationError

CLI_MODULES = [
    "station.cli_core",       # db, config, user, demo    (foundation)
    "station.cli_catalog",    # catalog import/export     (foundation)
    "station.cli_authority",  # user totp, audit, verify  (manager authority)
    "station.cli_drawer",     # drawer status|x|z         (drawer)
    "station.cli_sale",       # receipt reprint, ...      (sale)
]

EXIT_ERROR = 2


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, exit 2
        self.exit(EXIT_ERROR, f"station: {message} (see 'station --help')\n")


def build_parser() -> Parser:
    p = Parser(prog="station", description=(
        "Station: a keyboard-first cashier station. Without a subcommand, starts the "
        "cashier app on the configured store and terminal."))
    p.add_argument("--config", metavar="FILE", help="config file (default: $STATION_CONFIG or <data dir>/station.toml)")
    p.add_argument("--db", metavar="URL", help="store database URL (overrides $STATION_DB and the config file)")
    p.add_argument("--terminal", metavar="ID", help="this terminal's id (overrides terminal.id)")
    p.add_argument("--demo", action="store_true", help="use the demo store (created on first use)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for mod in CLI_MODULES:
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
            continue
        m.register(sub)
    return p


def load_config(args) -> configmod.Config:
    if getattr(args, "demo", False):   # the demo store: <data dir>/demo.db and its settings
        from station.demo import demo_config
        return demo_config(args.config, db=args.db, terminal=args.terminal)
    return configmod.load(args.config, overrides={"database.url": args.db, "terminal.id": args.terminal})


def main(argv: list[str] | None = None, *, app_factory=None) -> int:
    """Run the command. Without a subcommand, start the app made by
    ``app_factory(ctx)``: the console script ``station`` is ``screens.main:main``,
    the composition root that passes the UI in (station never imports it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "func", None) is None:
            if app_factory is None:
                raise StationError("no cashier app in this entry point: start it with the 'station' command")
            from station.cli_core import run_app
            return run_app(args, app_factory) or 0
        return args.func(args) or 0
    except StationError as e:
        print(f"station: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("station: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # last resort: still one line, never a traceback
        from data.db import DatabaseUnavailable
        from data.migrations import SchemaMismatch
        if isinstance(e, (DatabaseUnavailable, SchemaMismatch)):
            print(f"station: {e}", file=sys.stderr)
            return EXIT_ERROR
        import peewee
        if isinstance(e, peewee.DatabaseError):
            print(f"station: database error: {str(e).strip().splitlines()[0] if str(e).strip() else e}",
                  file=sys.stderr)
            return EXIT_ERROR
        if isinstance(e, OSError):
            print(f"station: {e.strerror or e}: {getattr(e, 'filename', '') or ''}".rstrip(": "), file=sys.stderr)
            return EXIT_ERROR
        raise


if __name__ == "__main__":
    sys.exit(main())
