"""``station key``: the store's key file on several tills.

  station key check            is this till's key file the store's key? (exit 1 if not)
  station key export [FILE]    write the key file (mode 0600) to FILE or stdout
  station key import FILE [--replace]
                               install the store's key on this till (mode 0600)

Every till of a store needs the same key file: PIN hashes, TOTP secrets and the
journal's MAC depend on it. ``export`` and ``import`` ask who you are (key.manage,
with TOTP); ``import`` first checks FILE against the store's check value and
then signs you in WITH that key, so a wrong key is never installed.
"""
from __future__ import annotations

import datetime as _dt
import os
import sys
from pathlib import Path

from station.cli.common import Parser, load_config, open_ctx, sign_in
from station.errors import ConfigError, InvalidInput, Unavailable

EXIT_WRONG = 1


def cmd_check(args) -> int:
    from station import keys
    ok, message = keys.check(load_config(args))
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else EXIT_WRONG


def cmd_export(args) -> int:
    from station import journal
    ctx = open_ctx(args)
    user = sign_in(ctx, "key.manage")
    text = ctx.keys.text()
    if args.file in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
        where = "standard output"
    else:
        try:
            fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InvalidInput(f"{args.file} already exists: give a new file name") from None
        except OSError as e:
            raise Unavailable(f"cannot write {args.file}: {e.strerror or e}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        where = os.path.abspath(args.file)
        print(f"the store's key written to {where} (mode 0600): copy it to the new till and run "
              f"'station key import FILE' there, then delete this copy", file=sys.stderr)
    journal.append("key.exported", terminal=ctx.terminal, user=user, data={"to": where})
    return 0


def cmd_import(args) -> int:
    from station import journal, keys
    from station.context import attach_keys, open_station
    cfg = load_config(args)
    src = Path(args.file)
    try:
        text = src.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read {src}: {getattr(e, 'strerror', None) or e}") from None
    candidate = keys.parse(text, str(src))
    dest = cfg.key_file
    ctx = open_station(cfg, keys=candidate)
    if keys.matches_store(candidate) is False:
        raise ConfigError(f"{src} is not this store's key (its check value differs from the one in the "
                          f"database): nothing was installed")
    from data.models import User
    # signing in with the candidate's pepper proves it is the key the PINs were made with
    user = sign_in(ctx, "key.manage") if User.select().exists() else None
    if dest.exists():
        try:
            same = keys.read(dest) == candidate
        except ConfigError:
            same = False
        if same:
            print(f"{dest} already holds the store's key: nothing to do")
            return 0
        if not args.replace:
            raise InvalidInput(f"{dest} holds another key: run again with --replace (it is kept as "
                               f"{dest.name}.replaced-DATE)")
        kept = dest.with_name(f"{dest.name}.replaced-{_dt.datetime.now():%Y%m%d%H%M%S}")
        os.replace(dest, kept)
        print(f"the old key file is kept as {kept}", file=sys.stderr)
    keys.write(dest, candidate)
    keys.record_check_value(candidate, ctx.terminal)
    ctx.keys = None
    attach_keys(ctx)
    journal.append("key.imported", terminal=ctx.terminal, user=user, data={"file": str(dest)})
    print(f"the store's key is installed at {dest} (mode 0600)")
    return 0


def register(sub) -> None:
    k = sub.add_parser("key", help="the store's key file: check, export, import (one key for every till)",
                       description="Every till of a store uses the same key file: PIN hashes, TOTP secrets "
                                   "and the journal's MAC depend on it.")
    ks = k.add_subparsers(dest="key_command", metavar="ACTION", parser_class=Parser)
    ks.required = True
    p = ks.add_parser("check", help="is this till's key file the store's key? (exit 1 if not)")
    p.set_defaults(func=cmd_check)
    p = ks.add_parser("export", help="write the store's key (mode 0600) for another till (asks who you are)")
    p.add_argument("file", nargs="?", metavar="FILE", help="a new file (default: standard output)")
    p.set_defaults(func=cmd_export)
    p = ks.add_parser("import", help="install the store's key on this till (checked, then asks who you are)")
    p.add_argument("file", metavar="FILE", help="the file 'station key export' wrote")
    p.add_argument("--replace", action="store_true",
                   help="replace a different key file already here (the old one is kept beside it)")
    p.set_defaults(func=cmd_import)
