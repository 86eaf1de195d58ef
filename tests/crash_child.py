"""Child process for tests/test_crash_restart.py.

Runs the REAL station app (screens.app.StationApp, logged in, the sale area:
SaleScreen -> TenderScreen) with ``App.run()`` on a pseudo-terminal that the parent test types into, on the real
store. The services it calls are wrapped only to REPORT (one JSON line per event,
appended to a report file and flushed, so a SIGKILL loses nothing written) what
the screen asked for and what it got back; their behaviour is untouched.

usage: python tests/crash_child.py HOME DB_URL REPORT_FILE
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    home, url, report = sys.argv[1], sys.argv[2], sys.argv[3]
    from tests.conftest import make_config
    from station.context import open_station
    from data.models import User
    from station import sale, tender

    ctx = open_station(make_config(Path(home), url))
    user = User.get(User.name == "carla")
    out = open(report, "a", buffering=1)

    def emit(kind, **data):
        out.write(json.dumps({"pid": os.getpid(), "kind": kind, "t": time.time(), **data}) + "\n")
        out.flush()

    def lines_of(view):
        if view is None:
            return None
        return [[ln.code, ln.qty, ln.unit_price, ln.voided] for ln in view.lines]

    real_scan, real_current = sale.scan, sale.current_ticket
    real_begin, real_complete = tender.begin_tender, tender.complete_sale

    def scan(c, u, code):
        emit("scan_start", code=code)
        v = real_scan(c, u, code)
        emit("scan_done", code=code, ticket=v.id, lines=lines_of(v))
        return v

    def current_ticket(c, u=None):
        v = real_current(c, u)
        emit("restored", ticket=None if v is None else v.id, lines=lines_of(v))
        return v

    def begin_tender(c, u):
        s = real_begin(c, u)
        emit("begin_done", ticket=s.ticket_id, idem_key=s.idem_key, due=s.due)
        return s

    def complete_sale(c, u, key, payments):
        emit("commit_start", idem_key=key, paid=sum((p.tendered or p.amount) for p in payments))
        r = real_complete(c, u, key, payments)
        emit("commit_done", idem_key=key, ticket=r.ticket_id, receipt_no=r.receipt_no, total=r.total,
             duplicate=r.duplicate)
        return r

    sale.scan, sale.current_ticket = scan, current_ticket
    tender.begin_tender, tender.complete_sale = begin_tender, complete_sale

    from tests.sale_ui_support import make_app
    make_app(ctx, user).run()   # the StationApp, logged in, sale area


if __name__ == "__main__":
    main()
