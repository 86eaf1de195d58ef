"""Running a shop: backups, moving to PostgreSQL, the till's health, the log,
and the SSH entry point.

  station backup FILE [--overwrite] [--no-verify]   a consistent copy while tills sell
  station restore FILE [--force]                    put a backup in place of the store
  station db copy --to postgresql://...             move the store to PostgreSQL, verified
  station doctor                                    one line per finding; exit 1 on a problem
  station log tail [-n N] [--follow]                the end of station.log
  station ssh-session                               sshd's ForceCommand for managers (deploy/ssh)

backup, restore and db copy ask who you are first (store.backup / .restore /
.copy; a backup, which only reads, not when ``security.cli_login_reads`` is off,
e.g. on the machine that runs the nightly backup); a restore over a store that
cannot be opened, or has nobody in it, does not (it is the disaster a restore is
for). doctor and log tail need no sign-in:
they are what a broken till is diagnosed with.
"""
from __future__ import annotations

import sys

from station.cli.common import Parser, load_config, open_ctx, sign_in, sign_in_to_read
from station.errors import StationError

EXIT_PROBLEM = 1


def _out(text: str = "") -> None:
    print(text, file=sys.stdout, flush=True)


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# ---------------------------------------------------------------- backup ---

def cmd_backup(args) -> int:
    from station.ops import backup
    ctx = open_ctx(args)
    # a backup reads everything (people, sales, the journal): a sign-in, unless this machine's
    # config lets read-only commands run without one (an unattended nightly backup)
    sign_in_to_read(ctx, "store.backup")
    res = backup.backup(ctx, args.file, overwrite=args.overwrite, verify=not args.no_verify)
    _out(f"backup written: {res.path} ({_size(res.size)}, {res.backend}, journal up to seq {res.head.seq}, "
         f"{res.seconds:.1f} s)")
    if not res.verified:
        _out("the copy was not verified (--no-verify)")
    elif res.problems:
        _out(f"verify on the copy: {len(res.problems)} problem(s):")
        for p in res.problems[:20]:
            _out(f"  - {p}")
    else:
        _out("verify on the copy: every check holds")
    _out(backup.KEY_NOTE.format(key=ctx.config.key_file))
    return EXIT_PROBLEM if res.problems else 0


def cmd_restore(args) -> int:
    from station.context import Context
    from station.errors import ConfigError
    from station import keys as keysmod
    from station.ops import backup
    cfg = load_config(args)
    try:
        keys = keysmod.read(cfg.key_file)
    except ConfigError as e:
        raise ConfigError(f"{e}: copy the store's key file there first (it is not in the backup)") from None
    _sign_in_to_restore(cfg)
    ctx = Context(config=cfg, db=None, keys=keys)
    res = backup.restore(cfg, args.file, force=args.force, ctx=ctx)
    from data.db import redact
    _out(f"restored {args.file} into {redact(cfg.db_url)}: journal now up to seq {res.backup.seq} "
         f"(it was at seq {res.store_before.seq})")
    if res.saved_as:
        _out(f"the store as it was is kept in {res.saved_as}")
    if res.problems:
        _out(f"restored although the backup did not check out (--force): {res.problems[0]}")
    _out("restart the station on every till")
    return 0


def _sign_in_to_restore(cfg) -> None:
    """A restore replaces everything: someone who may (an admin) signs in against
    the store as it is. A store that cannot be opened, or has nobody in it, is the
    disaster a restore is for: then the operator of this machine restores."""
    from data.models import User
    from station.context import open_station
    from station.errors import ConfigError, Unavailable
    try:
        ctx = open_station(cfg)
        people = User.select().exists()
    except (Unavailable, ConfigError, StationError):
        return
    except Exception:  # noqa: BLE001 - a broken store: nothing to sign in against
        return
    try:
        if people:
            sign_in(ctx, "store.restore")
    finally:
        ctx.db.close()


def cmd_db_copy(args) -> int:
    from station.ops import dbcopy
    ctx = open_ctx(args)
    sign_in(ctx, "store.copy")
    from data.db import redact
    _out(f"copying {redact(ctx.config.db_url)} to {redact(args.to)} ...")
    res = dbcopy.copy_store(ctx, args.to, progress=lambda t: _out(f"  {t}"))
    for m in res.mismatches:
        _out(f"MISMATCH {m}")
    for p in res.problems:
        _out(f"verify: {p}")
    if not res.ok:
        _out("the copy does NOT match the store: keep using the store as it is")
        return EXIT_PROBLEM
    total = sum(res.rows.values())
    _out(f"copied {total} rows in {len(res.rows)} tables in {res.seconds:.1f} s; every row count and every "
         f"sum (money, quantities, counters) matches; verify on the copy: every check holds")
    _out(f"next: point every till at it ([database] url = \"{res.target}\" or STATION_DB), "
         f"and keep the same station.key")
    return 0


# ---------------------------------------------------------------- doctor ---

def cmd_doctor(args) -> int:
    from station.ops import doctor
    findings = doctor.run(load_config(args))
    for f in findings:
        _out(f.line())
    code = doctor.exit_code(findings)
    bad = sum(f.level == doctor.FAIL for f in findings)
    _out("this till is ready" if not code else f"{bad} problem(s): this till is not ready")
    return code


# ------------------------------------------------------------------- log ---

def cmd_log_tail(args) -> int:
    from station.ops import logs
    cfg = load_config(args)
    if args.lines < 0:
        raise StationError("-n takes a number of lines, 0 or more")
    for line in logs.tail(cfg, args.lines):
        _out(line)
    if not logs.files(cfg) and not args.follow:
        _out(f"(no log yet: {cfg.log_file})")
    if args.follow:
        try:
            logs.follow(cfg, _out)
        except KeyboardInterrupt:
            pass
    return 0


# ----------------------------------------------------------- ssh session ---

def cmd_ssh_session(args) -> int:
    """sshd's ForceCommand for the store account: the station app, nothing else.
    A command asked for (``ssh store@till CMD``: a shell, scp, sftp...) is
    refused, and so is a session without a terminal."""
    import logging
    from station.ops import session
    asked = session.original_command()
    client = session.origin() or "ssh"
    load_config(args)   # the log of this store account (a refusal is written there)
    if asked is not None:
        logging.getLogger("station.ssh").warning("%s: command refused: %r", client, asked[:200])
        print("station: this account runs the station only; commands are refused", file=sys.stderr)
        return EXIT_PROBLEM
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("station: the station needs a terminal: connect with 'ssh -t'", file=sys.stderr)
        return EXIT_PROBLEM
    return args.run_app()


# -------------------------------------------------------------- register ---

def register_db(dbs) -> None:
    """``station db copy`` (the ``db`` group belongs to the core module)."""
    p = dbs.add_parser("copy", help="copy the store into an empty PostgreSQL database, then check the copy "
                                     "(same rows, same totals, verify)")
    p.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host:port/db (empty)")
    p.set_defaults(func=cmd_db_copy)


def register(sub) -> None:
    p = sub.add_parser("backup", help="a consistent copy of the store while tills sell, verified "
                                      "(SQLite file, or pg_dump for PostgreSQL); not the key file")
    p.add_argument("file")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.add_argument("--no-verify", action="store_true", help="skip running verify on the copy")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="put a backup in place of the store (refused when the store has "
                                       "newer data, unless --force); the store is kept aside first")
    p.add_argument("file")
    p.add_argument("--force", action="store_true", help="overwrite newer data / restore an unchecked backup")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("doctor", help="check this till: database, schema, key file, printer, drawer, clock, "
                                      "disk, terminal, log; one line each")
    p.set_defaults(func=cmd_doctor)

    lg = sub.add_parser("log", help="station.log: tail")
    ls = lg.add_subparsers(dest="log_command", metavar="ACTION", parser_class=Parser)
    ls.required = True
    p = ls.add_parser("tail", help="the last lines of station.log (across rotation)")
    p.add_argument("-n", "--lines", type=int, default=50, help="how many lines (default 50)")
    p.add_argument("-f", "--follow", action="store_true", help="keep showing new lines (Ctrl+C stops)")
    p.set_defaults(func=cmd_log_tail)

    p = sub.add_parser("ssh-session", help="sshd ForceCommand for managers: runs the station, refuses "
                                           "any other command (see deploy/ssh)")
    p.set_defaults(func=cmd_ssh_session)
