"""CLI of the sale area:

  station receipt reprint N [--terminal T] [--out FILE]
      print a copy of receipt N (of this terminal, or of terminal T) on the configured
      printer, or write its raw ESC/POS bytes to FILE ('-' = standard output).
  station receipt show N [--terminal T]
      the receipt as plain text.

Both ask who you are first (receipt.reprint; ``show`` only while
``security.cli_login_reads`` is on) and journal ``receipt.reprinted`` as that user.
"""
from __future__ import annotations

import os
import sys

from station.errors import Unavailable
from station.cli.common import open_ctx, sign_in, sign_in_to_read

def cmd_reprint(args) -> int:
    from station import printing
    ctx = open_ctx(args)
    user = sign_in(ctx, "receipt.reprint")
    if args.out:
        data = printing.reprint_bytes(ctx, user, args.number, args.receipt_terminal)
        if args.out == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            try:
                with open(args.out, "wb") as f:
                    f.write(data)
            except OSError as e:
                raise Unavailable(f"cannot write {args.out}: {e.strerror or e}") from None
            print(f"receipt {args.number} (copy): {len(data)} bytes written to {os.path.abspath(args.out)}")
        return 0
    res = printing.reprint(ctx, user, args.number, args.receipt_terminal)
    if not res.ok or res.skipped:
        raise Unavailable(res.message + ("; use --out FILE to get the bytes" if res.skipped else ""))
    print(res.message)
    return 0


def cmd_show(args) -> int:
    from station import receipt
    ctx = open_ctx(args)
    sign_in_to_read(ctx, "receipt.reprint")
    r = receipt.receipt_data(ctx, receipt_no=args.number, terminal=args.receipt_terminal)
    sys.stdout.write(receipt.receipt_text(ctx, r))
    return 0


def _number(text: str) -> int:
    import argparse
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a receipt number")
    return int(text)


def register(sub) -> None:
    p = sub.add_parser("receipt", help="receipts: reprint a copy, show one",
                       description="Receipts of completed sales, by receipt number (numbers are per terminal).")
    rs = p.add_subparsers(dest="receipt_command", metavar="ACTION", parser_class=type(p))
    p.set_defaults(func=lambda args: p.error("choose an action: reprint or show"))
    r = rs.add_parser("reprint", help="print a copy of receipt N (marked COPY)",
                      description="Prints a copy (marked COPY) on the configured printer, or writes the raw "
                                  "ESC/POS bytes to FILE.")
    r.add_argument("number", type=_number, metavar="N", help="receipt number")
    r.add_argument("--terminal", dest="receipt_terminal", metavar="T",
                   help="the terminal the receipt belongs to (default: this terminal)")
    r.add_argument("--out", metavar="FILE", help="write the bytes to FILE ('-' = standard output) instead")
    r.set_defaults(func=cmd_reprint)
    s = rs.add_parser("show", help="show receipt N as text")
    s.add_argument("number", type=_number, metavar="N")
    s.add_argument("--terminal", dest="receipt_terminal", metavar="T")
    s.set_defaults(func=cmd_show)
