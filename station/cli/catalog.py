"""``station catalog``: import, export, lookup, search.

  station catalog import FILE.csv [--strict]   upsert by sku; bad rows reported
  station catalog export [FILE.csv]            same format (stdout without FILE)
  station catalog lookup CODE                  the product of a barcode
  station catalog search TEXT                  products by name / sku / barcode

Exit codes of ``import``: 0 all rows imported, 1 some rows were bad (the good
ones were imported, or nothing with --strict), 2 the file could not be used.
``import`` asks who you are (catalog.manage, with TOTP) and journals as that
user; the others too unless ``security.cli_login_reads`` is off.
"""
from __future__ import annotations

import sys
import time
from station.cli.common import Parser, open_ctx, sign_in, sign_in_to_read

EXIT_BAD_ROWS = 1


class ProgressBar:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.last = 0.0
        self.start = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        frac = 0 if total <= 0 else min(1.0, done / total)
        fill = int(frac * self.width)
        self.stream.write(f"\rimporting [{'#' * fill}{'.' * (self.width - fill)}] {frac * 100:5.1f}% "
                          f"{now - self.start:5.1f}s")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def cmd_import(args) -> int:
    from station import catalog
    from station.errors import InvalidInput
    from pathlib import Path
    path = Path(args.file)
    if not path.exists():
        raise InvalidInput(f"file {path} does not exist")
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder, not a CSV file")
    ctx = open_ctx(args)
    actor = sign_in(ctx, "catalog.manage")
    bar = ProgressBar() if (sys.stderr.isatty() and not args.quiet) else None
    try:
        report = catalog.import_csv(ctx, path, strict=args.strict, progress=bar, actor=actor)
    finally:
        if bar is not None:
            bar.close()
    out = sys.stdout
    shown = report.errors if args.all_errors else report.errors[:args.max_errors]
    for e in shown:
        print(f"{path}:{e.line}: {e.reason}", file=out)
    if len(shown) < len(report.errors):
        print(f"... and {len(report.errors) - len(shown)} more bad rows (--all-errors to list them)", file=out)
    print(report.summary(), file=out)
    return EXIT_BAD_ROWS if report.errors else 0


def cmd_export(args) -> int:
    from station import catalog
    from station.errors import InvalidInput
    ctx = open_ctx(args)
    sign_in_to_read(ctx, "catalog.view")
    if args.file in (None, "-"):
        try:
            n = catalog.export_csv(ctx, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:   # e.g. | head: the reader has all it wanted
            import os
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        print(f"{n} rows exported", file=sys.stderr)
        return 0
    from pathlib import Path
    dest = Path(args.file)
    if dest.is_dir():
        raise InvalidInput(f"{dest} is a folder: give a file name")
    n = catalog.export_csv(ctx, dest)
    print(f"{n} rows exported to {dest}")
    return 0


def _line(ctx, p) -> str:
    from station import catalog, money
    cfg = ctx.config.store
    price = money.format_amount(p.price, minor_units=cfg.minor_units)
    codes = ",".join(catalog.barcodes_of(p)) or "-"
    state = "" if p.active else "  (inactive)"
    return (f"{p.sku:<12} {price:>10} {cfg.currency_symbol}/{p.unit:<2} "
            f"vat {p.vat_rate / 100:g}%  {p.name}  [{codes}]{state}")


def cmd_lookup(args) -> int:
    from station import catalog
    from station.errors import NotFound
    ctx = open_ctx(args)
    sign_in_to_read(ctx, "catalog.view")
    catalog.validate_barcode(args.code)
    p = catalog.lookup_barcode(args.code, include_inactive=True)
    if p is None:
        raise NotFound(f"no product has barcode {args.code}")
    print(_line(ctx, p))
    return 0


def cmd_search(args) -> int:
    from station import catalog
    from station.errors import InvalidInput
    if args.limit <= 0:
        raise InvalidInput("--limit must be a positive number")
    ctx = open_ctx(args)
    sign_in_to_read(ctx, "catalog.view")
    found = catalog.search(" ".join(args.text), limit=args.limit, include_inactive=True)
    for p in found:
        print(_line(ctx, p))
    if not found:
        print("nothing found", file=sys.stderr)
        return 1
    return 0


def register(sub) -> None:
    cat = sub.add_parser("catalog", help="products: import, export, lookup, search")
    cs = cat.add_subparsers(dest="catalog_command", metavar="ACTION", parser_class=Parser)
    cs.required = True
    p = cs.add_parser("import", help="import a CSV (sku,barcode,name,price,vat_rate,category); upsert by sku")
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--strict", action="store_true", help="import nothing if any row is bad")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--max-errors", type=int, default=200, metavar="N", help="list at most N bad rows (200)")
    p.add_argument("--all-errors", action="store_true", help="list every bad row")
    p.set_defaults(func=cmd_import)
    p = cs.add_parser("export", help="write the catalog as CSV (the import format)")
    p.add_argument("file", nargs="?", metavar="FILE.csv", help="output file (default: stdout)")
    p.set_defaults(func=cmd_export)
    p = cs.add_parser("lookup", help="the product of a barcode")
    p.add_argument("code")
    p.set_defaults(func=cmd_lookup)
    p = cs.add_parser("search", help="products by name, sku or barcode")
    p.add_argument("text", nargs="+")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_search)
