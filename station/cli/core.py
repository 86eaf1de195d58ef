"""The foundation's subcommands and the app start.

  station db upgrade            create or upgrade the schema (idempotent)
  station db version            the database's and this station's schema versions
  station config show           every effective setting and where it came from
  station user add NAME --role ROLE      (PIN asked, or read from stdin)
  station user list | disable NAME | enable NAME | unlock NAME | set-pin NAME
  station demo                  create (first time) or reuse the demo store
  station [--demo]              start the cashier app (run_app)

Commands that change people ask who you are first (user, PIN, and the TOTP code
where the permission table asks for it: :func:`station.cli.common.sign_in`) and
act as that user; ``user list`` too unless ``security.cli_login_reads`` is off.
The store's very first user is added without signing in (there is nobody yet).
A PIN is read with getpass on a terminal, or as one line from stdin otherwise;
never from the command line, never printed.
"""
from __future__ import annotations

import getpass
import sys

from data import db as dbmod
from station.cli.common import Parser, ask, load_config as _config, open_ctx as _ctx, sign_in, sign_in_to_read
from station.errors import InvalidInput

EXIT_MISMATCH = 1


def _out(text: str = "") -> None:
    print(text, file=sys.stdout)


# -------------------------------------------------------------------- db ---

def cmd_db_upgrade(args) -> int:
    from data import migrations
    cfg = _config(args)
    if getattr(args, "demo", False):
        from station import files
        files.make_private_dir(cfg.data_dir, group=cfg.security.store_group)
    ctx = _ctx_nocheck(cfg)
    from data.db import redact
    from station.context import attach_keys
    applied = migrations.upgrade(ctx.db)
    attach_keys(ctx)
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
    """A new PIN from the terminal (not echoed, typed twice) or one line of stdin; never argv."""
    from station.auth import validate_pin
    pin = ask(prompt, secret=True, what="new PIN")
    validate_pin(pin)
    if confirm and sys.stdin.isatty() and getpass.getpass("Again: ") != pin:
        raise InvalidInput("the two PINs differ: nothing was changed")
    return pin


def cmd_user_add(args) -> int:
    from station import auth
    from station.auth import validate_name
    from data.models import ROLES, User
    validate_name(args.name)
    if args.role not in ROLES:
        raise InvalidInput(f"unknown role {args.role!r}: one of {', '.join(ROLES)}")
    ctx = _ctx(args)
    if not User.select().exists():   # the store's first user: nobody to sign in as yet
        pin = read_pin(f"PIN for {args.name} (the store's first user): ")
        auth.add_first_user(ctx, args.name, args.role, pin, full_name=args.full_name or "")
        _out(f"user {args.name} ({args.role}) added: the store's first user")
        return 0
    actor = sign_in(ctx, "user.manage")
    if User.get_or_none(User.name == args.name.strip()) is not None:
        from station.errors import Conflict
        raise Conflict(f"user {args.name} already exists")
    pin = read_pin(f"PIN for {args.name}: ")
    auth.add_user(ctx, actor, args.name, args.role, pin, full_name=args.full_name or "")
    _out(f"user {args.name} ({args.role}) added by {actor.name}")
    return 0


def cmd_user_list(args) -> int:
    from station import auth
    from data.models import utcnow
    ctx = _ctx(args)
    sign_in_to_read(ctx, "user.view")
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
        actor = sign_in(ctx, "user.unlock" if action == "unlock" else "user.manage")
        getattr(auth, action)(ctx, actor, args.name)
        _out(f"user {args.name}: {action}{'d' if action.endswith('e') else 'ed'} by {actor.name}")
        return 0
    return run


def cmd_user_set_pin(args) -> int:
    from station import auth, authority
    from station.errors import NotFound
    from data.models import User
    ctx = _ctx(args)
    actor = sign_in(ctx, lambda u: authority.OWN_ACCOUNT if u.name == args.name else "user.manage")
    if User.get_or_none(User.name == args.name) is None:
        raise NotFound(f"no user named {args.name}")
    pin = read_pin(f"new PIN for {args.name}: ")
    auth.set_pin(ctx, actor, args.name, pin)
    _out(f"user {args.name}: PIN changed by {actor.name}")
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

def build_context(args):
    """The configured (or demo) store context the app runs on."""
    from data import migrations
    from station.context import open_station
    from station.errors import StationError
    cfg = _config(args)
    if getattr(args, "demo", False):
        from station import demo
        from station.ops.backup import sqlite_path
        if cfg.db_url.startswith("sqlite:") and not sqlite_path(cfg.db_url).exists():
            products = len({r[0] for r in demo.demo_rows()})
            print(f"station: building the demo store in {sqlite_path(cfg.db_url)} "
                  f"({products} products, {len(demo.DEMO_USERS)} users) ...", file=sys.stderr, flush=True)
        done = demo.ensure_demo(cfg, log=lambda m: print(f"station: {m}", file=sys.stderr, flush=True))
        if done["created"]:
            print(f"station: demo store ready: {demo_pins_text()}", file=sys.stderr, flush=True)
    try:
        return open_station(cfg)
    except migrations.SchemaMismatch as e:
        raise StationError(str(e)) from None


def run_app(args, app_factory) -> int:
    """Run the cashier app. ``app_factory(ctx)`` is handed in by the composition
    root (``screens.main``), so nothing in ``station`` imports the UI."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InvalidInput("the cashier app needs a terminal; for scripts use a subcommand (station --help)")
    ctx = build_context(args)
    # under the TUI nothing may write to the terminal: records go to station.log
    # (python-escpos calls logging.basicConfig on import: with our handler on the
    # root logger that call does nothing)
    from station.ops import logs, session
    logs.setup(ctx.config)
    if ctx.config.values["terminal"]["kiosk"]:
        session.enter_kiosk()
    app = app_factory(ctx)
    checkpointer = dbmod.start_checkpointer(app.ctx.db)   # SQLite: WAL checkpoints off the commit path
    try:
        app.run()
    finally:
        if checkpointer is not None:
            checkpointer.stop()
    rc = getattr(app, "return_code", 0) or 0
    return rc


# -------------------------------------------------------------- register ---

def register(sub) -> None:
    db = sub.add_parser("db", help="the store database: upgrade, version")
    dbs = db.add_subparsers(dest="db_command", metavar="ACTION", parser_class=Parser)
    dbs.required = True
    p = dbs.add_parser("upgrade", help="create or upgrade the schema (safe to run again)")
    p.set_defaults(func=cmd_db_upgrade)
    p = dbs.add_parser("version", help="schema version of the database and of this station")
    p.set_defaults(func=cmd_db_version)
    from station.cli import ops
    ops.register_db(dbs)

    cf = sub.add_parser("config", help="configuration: show")
    cfs = cf.add_subparsers(dest="config_command", metavar="ACTION", parser_class=Parser)
    cfs.required = True
    p = cfs.add_parser("show", help="every effective setting and where it came from")
    p.add_argument("-v", "--verbose", action="store_true", help="also print what each key means")
    p.set_defaults(func=cmd_config_show)

    user = sub.add_parser("user", help="people: add, list, disable, enable, unlock, set-pin (asks who you "
                                       "are; PINs from a prompt or stdin, never the command line)")
    us = user.add_subparsers(dest="user_command", metavar="ACTION", parser_class=Parser)
    us.required = True
    p = us.add_parser("add", help="add a user (asks who you are, then the new PIN; the store's first "
                                  "user is added without signing in)")
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
