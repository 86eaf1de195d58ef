"""A :class:`~station.reporting.service.Report` as text (the CLI), CSV or JSON
(the CLI and the screen's exports).

JSON keeps the service's own values: amounts in minor units, quantities in
thousandths, rates in basis points, with the currency and its minor units, so a
program reads them exactly. CSV is for a spreadsheet: the report's table, one
line per row, with amounts as decimals (``12.34``), quantities with three
decimals, rates and shares in percent, a trend as its numbers.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
from pathlib import Path

from station import files, money
from station.reporting.service import Column, Report

BARS = "▁▂▃▄▅▆▇█"


def spark(values: list[int]) -> str:
    """A sparkline of ``values`` (lowest ▁, highest █; all equal: a flat line)."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi == lo:
        return BARS[0] * len(values)
    return "".join(BARS[(v - lo) * (len(BARS) - 1) // (hi - lo)] for v in values)


def value_text(ctx, v, kind: str, *, currency: bool = False) -> str:
    s = ctx.config.store
    if v is None:
        return ""
    if kind == "money":
        return money.format_amount(int(v), minor_units=s.minor_units, currency=s.currency_symbol if currency else "")
    if kind == "qty":
        return money.format_amount(int(v), minor_units=3)
    if kind == "pct":
        return f"{v:.1f}"
    if kind == "rate":
        return f"{int(v) / 100:g}"
    if kind == "ratio":
        return f"{v:.2f}"
    if kind == "trend":
        return " ".join(str(x) for x in v)
    return str(v)


def as_dict(ctx, r: Report) -> dict:
    s = ctx.config.store
    return {
        "report": r.kind, "title": r.title, "by": r.by,
        "period": None if r.period is None else {"from": r.period.first.isoformat(),
                                                  "to": r.period.last.isoformat(), "name": r.period.name},
        "currency": s.currency, "minor_units": s.minor_units,
        "units": "amounts in minor units, quantities in thousandths, rates in basis points",
        "figures": [{"key": k, "label": label, "value": v, "kind": kind} for k, label, v, kind in r.figures],
        "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in r.columns],
        "rows": r.rows,
        "plot": {"label": r.series_label, "kind": r.series_kind, "points": [[x, y] for x, y in r.series]},
        "note": r.note,
    }


def to_json(ctx, r: Report) -> str:
    return json.dumps(as_dict(ctx, r), indent=2, ensure_ascii=False) + "\n"


def to_csv(ctx, r: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols: list[Column] = r.columns
    if not cols:      # a report with no table (stock not tracked): its note
        w.writerow(["note"])
        w.writerow([r.note])
        return buf.getvalue()
    w.writerow([c.key for c in cols])
    for row in r.rows:
        w.writerow([value_text(ctx, row.get(c.key), c.kind) if c.kind != "trend"
                    else " ".join(str(x) for x in row.get(c.key) or []) for c in cols])
    return buf.getvalue()


def to_text(ctx, r: Report, *, width: int = 100) -> str:
    out = [r.title + ("" if r.period is None else f"  {r.period.label()}")
           + (f"  (by {r.by})" if r.by else "")]
    if r.note:
        out.append(r.note)
    if r.figures:
        lw = max(len(label) for _k, label, _v, _kd in r.figures)
        for _k, label, v, kind in r.figures:
            out.append(f"  {label:<{lw}}  {value_text(ctx, v, kind):>14}")
    if r.series and any(y for _x, y in r.series):
        out.append(f"  {r.series_label}: {spark([y for _x, y in r.series])[:width - 4]}")
    if r.columns and r.rows:
        out.append("")
        cells = [[c.label for c in r.columns]]
        for row in r.rows:
            cells.append([spark(row.get(c.key) or []) if c.kind == "trend" else value_text(ctx, row.get(c.key), c.kind)
                          for c in r.columns])
        widths = [max(len(line[i]) for line in cells) for i in range(len(r.columns))]
        for line in cells:
            out.append("  ".join(x.rjust(w) if c.kind not in ("text", "trend") else x.ljust(w)
                                 for x, w, c in zip(line, widths, r.columns)).rstrip())
    elif r.columns:
        out.append("(nothing in this period)")
    return "\n".join(out) + "\n"


def export_dir(ctx) -> Path:
    return Path(ctx.config.data_dir) / "exports"


def write_export(ctx, r: Report, fmt: str, *, now: _dt.datetime | None = None) -> Path:
    """Write the report to ``<data dir>/exports/<report>-<by>-<from>-<to>.<fmt>``
    (private to the store's people like the rest of the data dir); the path."""
    if fmt not in ("csv", "json"):
        raise ValueError(fmt)
    d = export_dir(ctx)
    files.make_private_dir(d, group=ctx.config.security.store_group)
    parts = [r.kind] + ([r.by] if r.by else [])
    if r.period is not None:
        parts += [r.period.first.isoformat(), r.period.last.isoformat()]
    else:
        parts.append((now or _dt.datetime.now()).strftime("%Y-%m-%d"))
    path = d / ("-".join(parts) + f".{fmt}")
    text = to_csv(ctx, r) if fmt == "csv" else to_json(ctx, r)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    files.make_private_file(tmp, group=ctx.config.security.store_group)
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
