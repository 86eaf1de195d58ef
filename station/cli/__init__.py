"""The ``station`` command. No arguments: start the app on the configured store.

Each area's subcommands live in a module of this package (``core``, ``catalog``,
``authority``, ``drawer``, ``sale``, ``ops``, ``keys``, ``payments``, ``refund``, ``report``, ``stock``,
``treasury``), each with ``register(subparsers)`` adding its
parsers (with ``func=handler(args)``); ``common`` holds what they share.
Every error is ONE clear line on stderr and a non-zero exit; nothing half-written.
"""
from __future__ import annotations

import sys

from station.cli import authority, catalog, core, drawer, keys, ops, payments, refund, report, sale, stock, treasury
from station.cli.common import EXIT_ERROR, Parser
from station.errors import StationError

#: registration order = the order of ``station --help``
CLI_MODULES = [core, catalog, stock, authority, drawer, sale, refund, report, ops, keys, payments, treasury]


def build_parser() -> Parser:
    p = Parser(prog="station", description=(
        "Station: a keyboard-first cashier station. Without a subcommand, starts the "
        "cashier app on the configured store and terminal."))
    p.add_argument("--config", metavar="FILE", help="config file (default: $STATION_CONFIG or <data dir>/station.toml)")
    p.add_argument("--db", metavar="URL", help="store database URL (overrides $STATION_DB and the config file)")
    p.add_argument("--terminal", metavar="ID", help="this terminal's id (overrides terminal.id)")
    p.add_argument("--demo", action="store_true", help="use the demo store (created on first use)")
    p.add_argument("--kiosk", action="store_true", default=None,
                   help="a till that boots into the station: Ctrl+C/Ctrl+Z do nothing, quitting logs out")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for mod in CLI_MODULES:
        mod.register(sub)
    return p


def main(argv: list[str] | None = None, *, app_factory=None) -> int:
    """Run the command. Without a subcommand, start the app made by
    ``app_factory(ctx)``: the console script ``station`` is ``screens.main:main``,
    the composition root that passes the UI in (station never imports it)."""
    parser = build_parser()
    args = parser.parse_args(argv)

    def run_app() -> int:
        if app_factory is None:
            raise StationError("no cashier app in this entry point: start it with the 'station' command")
        return core.run_app(args, app_factory) or 0

    args.run_app = run_app   # the app, for commands that end in it (ssh-session)
    try:
        if getattr(args, "func", None) is None:
            return run_app()
        return args.func(args) or 0
    except StationError as e:
        print(f"station: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("station: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # last resort: still one line, never a traceback (that goes to the log)
        from data.db import DatabaseUnavailable, storage_problem
        from data.migrations import SchemaMismatch
        if isinstance(e, (DatabaseUnavailable, SchemaMismatch)):
            print(f"station: {e}", file=sys.stderr)
            return EXIT_ERROR
        _log_unexpected(e, argv)
        named = storage_problem(e)
        if named:
            print(f"station: {named}", file=sys.stderr)
            return EXIT_ERROR
        import peewee
        if isinstance(e, peewee.DatabaseError):
            print(f"station: database error: {str(e).strip().splitlines()[0] if str(e).strip() else e}",
                  file=sys.stderr)
            return EXIT_ERROR
        if isinstance(e, OSError):
            print(f"station: {e.strerror or e}: {getattr(e, 'filename', '') or ''}".rstrip(": "), file=sys.stderr)
            return EXIT_ERROR
        print(f"station: unexpected error ({e.__class__.__name__}); details in station.log", file=sys.stderr)
        return EXIT_ERROR


def _log_unexpected(e: BaseException, argv) -> None:
    """The traceback of an unexpected error goes to station.log (the data dir's),
    never to the terminal: the one-line message follows on stderr."""
    import logging
    root = logging.getLogger()
    if not root.handlers:
        from data.db import default_data_dir
        try:
            handler: logging.Handler = logging.FileHandler(default_data_dir() / "station.log", encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        except OSError:
            handler = logging.NullHandler()
        root.addHandler(handler)
    logging.getLogger("station.cli").error("unexpected error in 'station %s'", " ".join(argv or sys.argv[1:]),
                                           exc_info=e)
