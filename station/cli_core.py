"""The foundation's subcommands and the app start.

  station db upgrade            create or upgrade the schema (idempotent)
  station db version            the database's and this station's schema versions
  station config show           every effective setting and where it came from
  station user add NAME --role ROLE      (PIN asked, or read from stdin)
  station user list | disable NAME | enable NAME | unlock NAME | set-pin NAME
  station demo                  create (first time) or reuse the demo store
  station [--demo]              start the cashier app (run_app)

A PIN is read with getpass on a terminal, or as one line from stdin otherwise;
never from the command line, never printed.
"""
from __future__ import annotations

import getpass
import sys

from station.errors import InvalidInput

EXIT_MISMATCH = 1


def _config(args):
    from station.cli import load_config
    return load_config(args)


def _ctx(args, *, check_schema: bool = True):
    from station.context import open_station
    return open_station(_config(args), check_schema=check_schema)


def _out(text: str = "") -> None:
    print(text, file=sys.stdout)


# -------------------------------------------------------------------- db ---

def cmd_db_upgrade(args) -> int:
    from data import migrations
    cfg = _config(args)
    if getattr(args, "demo", False):
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
    ctx = _ctx_nocheck(cfg)
    from data.db import redact
    applied = migrations.upgrade(ctx.db)
    where = redact(cfg.db_url)
    if applied:
        for a in applied:
            _out(f"applied {a}")
        _out(f"{where}: schema is now at version {migrations.CODE_VERSION}")
    else:
        _out(f"{where}: schema already at version {migrations.schema_version(ctx.db)}; nothing to do")
    return 0


def _ctx_nocheck(cfg):
    from station.context import open_station
    return open_station(cfg, check_schema=False)


def cmd_db_version(args) -> int:
    from data import migrations
    from data.db import redact
    cfg = _config(args)
    ctx = _ctx_nocheck(cfg)
    v = migrations.schema_version(ctx.db)
    _out(f"database: {redact(cfg.db_url)}")
    _out(f"database schema version: {v}")
    _out(f"this station's schema version: {migrations.CODE_VERSION}")
    try:
        migrations.check_version(ctx.db)
    except migrations.SchemaMismatch as e:
        print(f"station: {e}", file=sys.stderr)
        return EXIT_MISMATCH
    return 0


# ---------------------------------------------------------------- config ---

def _show(value) -> str:
    if isinstance(value, str):
        return repr(value) if value else "''"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {v!r}" for k, v in value.items()) + "}"
    return str(value)


def cmd_config_show(args) -> int:
    from data.db import redact
    cfg = _config(args)
    _out(f"# config file: {cfg.file or '(none; defaults and environment only)'}")
    _out(f"# data dir:    {cfg.data_dir}")
    _out(f"# database:    {redact(cfg.db_url)}")
    _out(f"# key file:    {cfg.key_file}")
    rows = list(cfg.rows())
    width = max(len(k) for k, *_ in rows)
    section = None
    for key, value, source, doc in rows:
        s = key.split(".", 1)[0]
        if s != section:
            section = s
            _out(f"[{s}]")
        shown = redact(value) if key == "database.url" and value else _show(value)
        line = f"  {key.ljust(width)} = {shown}  ({source})"
        if args.verbose:
            line += f"  # {doc}"
        _out(line)
    return 0


# ------------------------------------------------------------------ user ---

def read_pin(prompt: str = "PIN: ", *, confirm: bool = True) -> str:
    """A PIN from the terminal (not echoed) or one line of stdin; never argv."""
    from station.auth import validate_pin
    if sys.stdin.isatty():
        pin = getpass.getpass(prompt)
        validate_pin(pin)
        if confirm and getpass.getpass("Again: ") != pin:
            raise InvalidInput("the two PINs differ: nothing was changed")
        return pin
    line = sys.stdin.readline()
    if not line:
        raise InvalidInput("no PIN given on stdin: nothing was changed")
    pin = line.rstrip("\r\n")
    validate_pin(pin)
    return pin


def cmd_user_add(args) -> int:
    from station import auth
    from station.auth import validate_name
    from data.models import ROLES
    validate_name(args.name)
    if args.role not in ROLES:
        raise InvalidInput(f"unknown role {args.role!r}: one of {', '.join(ROLES)}")
    ctx = _ctx(args)
    from data.models import User
    if User.get_or_none(User.name == args.name.strip()) is not None:
        from station.errors import Conflict
        raise Conflict(f"user {args.name} already exists")
    pin = read_pin(f"PIN for {args.name}: ")
    auth.add_user(ctx, None, args.name, args.role, pin, full_name=args.full_name or "")
    _out(f"user {args.name} ({args.role}) added")
    return 0


def cmd_user_list(args) -> int:
    from station import auth
    from data.models import utcnow
    _ctx(args)
    users = auth.list_users()
    if not users:
        _out("no users yet: add one with 'station user add NAME --role ROLE'")
        return 0
    now = utcnow()
    _out(f"{'NAME':<16} {'ROLE':<10} {'STATUS':<22} {'FAILED':>6}  {'TOTP':<4}  FULL NAME")
    for u in users:
        status = "active" if u.active else "disabled"
        if u.locked_until is not None and u.locked_until > now:
            status += f", locked to {u.locked_until:%H:%M}"
        _out(f"{u.name:<16} {u.role:<10} {status:<22} {u.failed_attempts:>6}  "
             f"{'yes' if u.totp_secret else 'no':<4}  {u.full_name}")
    return 0


def _simple(action):
    def run(args) -> int:
        from station import auth
        ctx = _ctx(args)
        getattr(auth, action)(ctx, None, args.name)
        _out(f"user {args.name}: {action}{'d' if action.endswith('e') else 'ed'}")
        return 0
    return run


def cmd_user_set_pin(args) -> int:
    from station import auth
    from station.errors import NotFound
    from data.models import User
    ctx = _ctx(args)
    if User.get_or_none(User.name == args.name) is None:
        raise NotFound(f"no user named {args.name}")
    pin = read_pin(f"new PIN for {args.name}: ")
    auth.set_pin(ctx, None, args.name, pin)
    _out(f"user {args.name}: PIN changed")
    return 0


# ------------------------------------------------------------------ demo ---

def demo_pins_text() -> str:
    from station.demo import DEMO_USERS
    return "  ".join(f"{n} {p}" for n, _r, p, _f in DEMO_USERS)


def cmd_demo(args) -> int:
    from station import demo
    from data.db import redact
    cfg = demo.demo_config(args.config, db=args.db, terminal=args.terminal)
    done = demo.ensure_demo(cfg, log=lambda m: print(m, file=sys.stderr))
    where = redact(cfg.db_url)
    if done["created"] or done["users"]:
        _out(f"demo store created: {where} ({done['products']} products, users {', '.join(done['users'])})")
    else:
        _out(f"demo store reused: {where}")
    _out(f"demo users and PINs: {demo_pins_text()}")
    secret = demo.demo_totp_secret()
    if secret:
        _out(f"demo TOTP secret (supervisor, manager, treasurer, admin): {secret}")
    _out("start it with: station --demo")
    return 0


# -------------------------------------------------------------------- app ---

def _quiet_logging(cfg) -> None:
    """Under the TUI nothing may write to stderr: warnings and log records go to
    <data dir>/station.log (python-escpos calls logging.basicConfig on import;
    with a handler already on the root logger that call does nothing)."""
    import logging
    import warnings
    path = cfg.data_dir / "station.log"
    try:
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    warnings.simplefilter("default")


def build_context(args):
    """The configured (or demo) store context the app runs on."""
    from data import migrations
    from station.context import open_station
    from station.errors import StationError
    cfg = _config(args)
    if getattr(args, "demo", False):
        from station import demo
        demo.ensure_demo(cfg)
    try:
        return open_station(cfg)
    except migrations.SchemaMismatch as e:
        raise StationError(str(e)) from None


def run_app(args, app_factory) -> int:
    """Run the cashier app. ``app_factory(ctx)`` is handed in by the composition
    root (``screens.main``), so nothing in ``station`` imports the UI."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InvalidInput("the cashier app needs a terminal; for scripts use a subcommand (station --help)")
    app = app_factory(build_context(args))
    _quiet_logging(app.ctx.config)
    app.run()
    rc = getattr(app, "return_code", 0) or 0
    return rc


# -------------------------------------------------------------- register ---

def register(sub) -> None:
    from station.cli import Parser
    db = sub.add_parser("db", help="the store database: upgrade, version")
    dbs = db.add_subparsers(dest="db_command", metavar="ACTION", parser_class=Parser)
    dbs.required = True
    p = dbs.add_parser("upgrade", help="create or upgrade the schema (safe to run again)")
    p.set_defaults(func=cmd_db_upgrade)
    p = dbs.add_parser("version", help="schema version of the database and of this station")
    p.set_defaults(func=cmd_db_version)

    cf = sub.add_parser("config", help="configuration: show")
    cfs = cf.add_subparsers(dest="config_command", metavar="ACTION", parser_class=Parser)
    cfs.required = True
    p = cfs.add_parser("show", help="every effective setting and where it came from")
    p.add_argument("-v", "--verbose", action="store_true", help="also print what each key means")
    p.set_defaults(func=cmd_config_show)

    user = sub.add_parser("user", help="people: add, list, disable, enable, unlock, set-pin (PINs from "
                                       "a prompt or stdin, never the command line)")
    us = user.add_subparsers(dest="user_command", metavar="ACTION", parser_class=Parser)
    us.required = True
    p = us.add_parser("add", help="add a user (asks for the PIN)")
    p.add_argument("name")
    p.add_argument("--role", required=True, help="cashier | supervisor | manager | treasurer | admin")
    p.add_argument("--full-name", default="", help="name shown on screen")
    p.set_defaults(func=cmd_user_add)
    p = us.add_parser("list", help="list users, roles and lock state")
    p.set_defaults(func=cmd_user_list)
    for action, text in (("disable", "disable a user (cannot log in)"), ("enable", "enable a user again"),
                         ("unlock", "clear a lockout after wrong PINs")):
        p = us.add_parser(action, help=text)
        p.add_argument("name")
        p.set_defaults(func=_simple(action))
    p = us.add_parser("set-pin", help="set a new PIN (asks for it)")
    p.add_argument("name")
    p.set_defaults(func=cmd_user_set_pin)

    p = sub.add_parser("demo", help="create (first time) or reuse the demo store and print its PINs")
    p.set_defaults(func=cmd_demo)
