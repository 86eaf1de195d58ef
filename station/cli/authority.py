"""CLI of the manager-authority area:

  station user totp NAME   enrol a TOTP authenticator (URI + QR code, first code checked)
  station verify [--anchor FILE...]   the integrity audit (exit 0 only when every check holds)
  station audit            list journal events (table, CSV or JSON)
  station journal anchor [FILE]       the journal's head, to keep outside the database

Each asks who you are first (``station.cli.common.sign_in``); the read-only
ones only while ``security.cli_login_reads`` is on.
"""
from __future__ import annotations

import argparse
import os
import sys

from station.cli.common import Parser, open_ctx, sign_in, sign_in_to_read
from station.errors import AuthFailed, InvalidInput, Unavailable

EXIT_FAILED = 1


# ------------------------------------------------------------ user totp ---

def _user_subparsers(sub):
    """The sub-commands of ``station user`` (registered by ``station.cli.core``)."""
    for a in sub.choices["user"]._actions:
        if isinstance(a, argparse._SubParsersAction):
            return a
    raise LookupError("'station user' has no sub-commands")


def cmd_user_totp(args) -> int:
    from station import authority, totp_enrol
    ctx = open_ctx(args)
    name = args.name
    actor = sign_in(ctx, lambda u: authority.OWN_ACCOUNT if u.name == name else "user.manage")
    totp_enrol._user(name)  # NotFound before anything is shown
    secret = totp_enrol.validate_secret(args.secret) if args.secret else totp_enrol.new_secret()
    uri = totp_enrol.provisioning_uri(ctx, name, secret)
    out = sys.stdout
    if not args.quiet:
        print(f"TOTP enrolment for {name}", file=out)
        print("Scan this QR code with the authenticator app, or type the secret by hand.", file=out)
        if not args.no_qr:
            print(totp_enrol.qr_ascii(uri) if args.ascii else totp_enrol.qr_text(uri), file=out)
        print(f"URI:    {uri}", file=out)
        print(f"Secret: {' '.join(secret[i:i + 4] for i in range(0, len(secret), 4))}", file=out)
    if args.secret_out:
        fd = os.open(args.secret_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
    out.flush()
    tries = 1 if (args.code or not sys.stdin.isatty()) else 3
    for attempt in range(tries):
        if args.code:
            code = args.code
        else:
            if sys.stdin.isatty():
                print("First code from the authenticator: ", end="", file=out, flush=True)
            line = sys.stdin.readline()
            if not line:
                raise InvalidInput("no code given: nothing was saved")
            code = line.strip()
        try:
            totp_enrol.enrol(ctx, actor, name, secret, code)
        except AuthFailed as e:
            if attempt + 1 < tries:
                print(f"station: {e}", file=sys.stderr)
                continue
            raise AuthFailed(f"{e}; nothing was saved") from None
        print(f"TOTP enrolled for {name}.", file=out)
        return 0
    return EXIT_FAILED


# --------------------------------------------------------------- verify ---

def cmd_verify(args) -> int:
    from station import verify
    if args.list:
        for name, (_fn, doc) in sorted(verify.load_checks().items()):
            if not args.only or any(name.startswith(o) for o in args.only):
                print(f"{name}: {doc}")
        return 0
    anchors = _read_anchors(args.anchor or [])
    ctx = open_ctx(args)
    sign_in_to_read(ctx, "verify.run")
    results = verify.run(ctx, only=args.only or None)
    if args.only and not results:
        raise InvalidInput(f"no check starts with {', '.join(args.only)}: see 'station verify --list'")
    if args.anchor:
        results.append(verify.anchors_result(anchors, args.anchor))
    print(verify.report_json(results) if args.json else verify.report_text(results))
    return 0 if all(r.ok for r in results) else EXIT_FAILED


def _read_anchors(files: list[str]) -> list[tuple[int, str]]:
    from station import journal
    out = []
    for name in files:
        try:
            with open(name, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise InvalidInput(f"cannot read anchor file {name}: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise InvalidInput(f"anchor file {name} is not text") from None
        found = journal.parse_anchors(text)
        if not found:
            raise InvalidInput(f"anchor file {name} has no 'seq N ... head HEX' anchor in it")
        out += found
    return out


# -------------------------------------------------------------- journal ---

def cmd_journal_anchor(args) -> int:
    from station import journal
    ctx = open_ctx(args)
    user = sign_in_to_read(ctx, "journal.view")
    line = journal.anchor_text(ctx.config.store.name)
    if args.file in (None, "-"):
        print(line)
    else:
        try:
            with open(args.file, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError as e:
            raise Unavailable(f"cannot write anchor file {args.file}: {e.strerror or e}") from None
        print(f"anchor appended to {os.path.abspath(args.file)}: {line}")
    journal.append("journal.anchored", terminal=ctx.terminal, user=user,
                   data={"anchor": line.split(" at=")[0]})
    return 0


# ---------------------------------------------------------------- audit ---

def cmd_audit(args) -> int:
    from station import audit
    ctx = open_ctx(args)
    actor = sign_in_to_read(ctx, "journal.view")
    f = audit.make_filters(user=args.user, kind=args.kind, terminal=args.event_terminal,
                           since=args.since, until=args.until)
    if args.limit is not None and args.limit < 1:
        raise InvalidInput("--limit must be at least 1")
    evs = audit.events(ctx, actor, f, limit=args.limit, newest_first=args.limit is not None)
    if args.limit is not None:
        evs.reverse()  # the last N, shown oldest first
    if args.format == "csv":
        sys.stdout.write(audit.to_csv(evs))
    elif args.format == "json":
        print(audit.to_json(evs))
    else:
        print(audit.to_table(ctx, evs))
    return 0


def register(sub) -> None:
    us = _user_subparsers(sub)
    p = us.add_parser("totp", help="enrol a TOTP authenticator for a user (QR code, first code checked)",
                      description="Shows a new secret as a provisioning URI and a QR code, asks for the "
                                  "first code, and saves the secret (encrypted with the key file) only "
                                  "when that code is right.")
    p.add_argument("name", help="user name")
    p.add_argument("--secret", metavar="BASE32", help="use this secret instead of a new random one")
    p.add_argument("--secret-out", metavar="FILE", help="also write the secret to FILE (mode 0600), for scripts")
    p.add_argument("--code", metavar="CODE", help="the first code (else asked, or read from standard input)")
    p.add_argument("--ascii", action="store_true", help="draw the QR code with '#' instead of block characters")
    p.add_argument("--no-qr", action="store_true", help="do not draw the QR code")
    p.add_argument("--quiet", action="store_true", help="print neither QR code nor URI nor secret")
    p.set_defaults(func=cmd_user_totp)

    p = sub.add_parser("verify", help="integrity audit: journal chain, drawers, sales (exit 0 when all hold)",
                       description="Runs every named integrity check and prints a report. Exit status 0 "
                                   "only when every check holds, 1 when one fails, 2 on error.")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument("--only", metavar="PREFIX", action="append",
                   help="run only checks whose name starts with PREFIX (repeatable), e.g. journal")
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.add_argument("--anchor", metavar="FILE", nargs="+",
                   help="also prove the journal still holds every anchor in FILE(s) (from 'station journal "
                        "anchor', or 'seq N head HEX' typed from a Z report)")
    p.set_defaults(func=cmd_verify)

    j = sub.add_parser("journal", help="the journal: anchor its head outside the database")
    js = j.add_subparsers(dest="journal_command", metavar="ACTION", parser_class=Parser)
    js.required = True
    p = js.add_parser("anchor", help="write the journal's head (seq and hash) for the back office to keep",
                      description="Prints (or appends to FILE) one line with the journal's current seq and "
                                  "head hash. Keep it outside the store's database (another machine, paper): "
                                  "'station verify --anchor FILE' later proves the journal still holds it.")
    p.add_argument("file", nargs="?", metavar="FILE", help="append the line to FILE (default: standard output)")
    p.set_defaults(func=cmd_journal_anchor)

    p = sub.add_parser("audit", help="list journal events (filters; table, CSV or JSON)",
                       description="Lists journal events in order. Dates are UTC; a bare date means the "
                                   "whole day. --kind takes an exact kind or a prefix ending in '*'.")
    p.add_argument("--user", metavar="NAME")
    p.add_argument("--kind", metavar="KIND", help="e.g. login.failed, or override.*")
    p.add_argument("--terminal", dest="event_terminal", metavar="ID", help="only events of terminal ID")
    p.add_argument("--since", metavar="DATE", help="YYYY-MM-DD or YYYY-MM-DDTHH:MM (inclusive)")
    p.add_argument("--until", metavar="DATE", help="YYYY-MM-DD (whole day, inclusive) or YYYY-MM-DDTHH:MM")
    p.add_argument("--limit", type=int, metavar="N", help="only the last N matching events")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.set_defaults(func=cmd_audit)
