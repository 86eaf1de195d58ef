"""CLI of the drawer area:

  station drawer status [--drawer D] [--history N]
      every drawer (open session, or its last closed one): cashier, opened,
      expected cash, counted, variance, Z number; with --drawer, that drawer's
      last N sessions.
  station drawer x [--drawer D] [--print]
      the X report (interim) of the drawer's open session.
  station drawer z [--reprint N] [--drawer D] [--print]
      the last Z report of the drawer (or number N), from the stored row,
      marked COPY; --print sends it to the configured printer.

Each asks who you are first (unless ``security.cli_login_reads`` is off):
``status`` and ``z`` need drawer.view_all, ``x`` is the session's cashier's or
a supervisor's. Nothing changes except the journal of a printed copy, in the
name of whoever signed in.
"""
from __future__ import annotations

import argparse
import json
import sys
from station.cli.common import open_ctx, sign_in_to_read

def _fmt(ctx, v):
    from station.drawer import _fmt as f
    return f(ctx, v)


def cmd_status(args) -> int:
    from station import drawer
    ctx = open_ctx(args)
    sign_in_to_read(ctx, "drawer.view_all")
    rows = (drawer.list_sessions(ctx, drawer=args.drawer, limit=args.history) if args.drawer
            else drawer.overview(ctx))
    if args.json:
        print(json.dumps([{**r.__dict__, "opened_at": str(r.opened_at),
                           "closed_at": None if r.closed_at is None else str(r.closed_at), "kick": None}
                          for r in rows], indent=2))
        return 0
    if not rows:
        print("no drawer sessions yet" + (f" on drawer {args.drawer}" if args.drawer else ""))
        return 0
    head = f"{'DRAWER':<8} {'TERM':<6} {'SESS':>5} {'STATUS':<7} {'CASHIER':<12} {'OPENED':<16} " \
           f"{'EXPECTED':>11} {'COUNTED':>11} {'VARIANCE':>10} {'Z':>4}"
    print(head)
    for r in rows:
        exp = r.expected_cash if r.status == "open" else r.expected_at_close
        print(f"{r.drawer:<8.8} {r.terminal:<6.6} {r.id:>5} {r.status:<7} {r.cashier:<12.12} "
              f"{r.opened_at:%Y-%m-%d %H:%M} {_fmt(ctx, exp):>11} {_fmt(ctx, r.counted):>11} "
              f"{_fmt(ctx, r.variance):>10} {r.z_number if r.z_number is not None else '-':>4}")
    return 0


def _show(ctx, user, data, args, copy: bool) -> int:
    from station import journal, reports
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print("\n".join(reports.lines(data, ctx.config.values["printer"]["width"], copy=copy)))
    if args.print:
        msg = reports.print_report(ctx, data, copy=copy)
        journal.append(f"drawer.{data['report'].lower()}_printed", terminal=ctx.terminal, user=user,
                       ref=data["session"], data={"drawer": data["drawer"], "copy": copy,
                                                  "z": data.get("z_number")})
        print(msg, file=sys.stderr)
    return 0


def cmd_x(args) -> int:
    from station import drawer
    ctx = open_ctx(args)
    user = sign_in_to_read(ctx, "drawer.x_report")
    data = drawer.x_data(ctx, args.drawer) if user is None else drawer.x_report(ctx, user, args.drawer)
    return _show(ctx, user, data, args, copy=False)


def cmd_z(args) -> int:
    from station import drawer
    ctx = open_ctx(args)
    user = sign_in_to_read(ctx, "drawer.view_all")
    data = drawer.z_report(ctx, drawer=args.drawer, z_number=args.reprint)
    return _show(ctx, user, data, args, copy=True)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a Z number (1, 2, 3 ...)")
    return int(text)


def register(sub) -> None:
    p = sub.add_parser("drawer", help="cash drawers: status, X report, Z report",
                       description="Cash drawer sessions of every terminal.")
    ds = p.add_subparsers(dest="drawer_command", metavar="ACTION", parser_class=type(p))
    p.set_defaults(func=lambda args: p.error("choose an action: status, x or z"))
    st = ds.add_parser("status", help="every drawer: open/closed, cashier, expected, counted, variance")
    st.add_argument("--drawer", metavar="D", help="only drawer D, with its recent sessions")
    st.add_argument("--history", type=_positive, default=20, metavar="N", help="with --drawer: last N sessions")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)
    x = ds.add_parser("x", help="X report (interim) of the open session")
    x.add_argument("--drawer", metavar="D", help="drawer id (default: this terminal's drawer)")
    x.add_argument("--print", action="store_true", help="also print it on the configured printer")
    x.add_argument("--json", action="store_true", help="the report data as JSON")
    x.set_defaults(func=cmd_x)
    z = ds.add_parser("z", help="the last Z report (or number N), marked COPY")
    z.add_argument("--reprint", type=_positive, metavar="N", help="Z number N instead of the last one")
    z.add_argument("--drawer", metavar="D", help="drawer id (default: this terminal's drawer)")
    z.add_argument("--print", action="store_true", help="also print it on the configured printer")
    z.add_argument("--json", action="store_true", help="the report data as JSON")
    z.set_defaults(func=cmd_z)
