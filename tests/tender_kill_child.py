"""Child for tests/test_tender_kill.py: rings up and tenders sales in a loop on the
real store until it is SIGKILLed. Before and after every service call it appends
one line to a log (flushed + fsynced), so the parent knows what was asked and what
came back when the kill landed.

usage: python tests/tender_kill_child.py HOME DB_URL LOG
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    home, url, log_path = sys.argv[1], sys.argv[2], sys.argv[3]
    from tests.conftest import make_config
    from tests.sale_helpers import BREAD, MILK, WINE
    from station.context import open_station
    from station import sale, tender
    from data.models import User

    ctx = open_station(make_config(Path(home), url))
    user = User.get(User.name == "carla")
    log = open(log_path, "a", buffering=1)

    def note(*parts):
        log.write(" ".join(str(p) for p in parts) + "\n")
        log.flush()
        os.fsync(log.fileno())

    cur = sale.current_ticket(ctx, user)
    note("restored", cur.id if cur else 0, len(cur.lines) if cur else 0)
    codes = [MILK, WINE, BREAD]
    i = 0
    while True:
        i += 1
        note("scan", i)
        v = sale.scan(ctx, user, codes[i % 3])
        note("scanned", v.id, len(v.lines), v.total)
        if i % 2:
            continue
        st = tender.begin_tender(ctx, user)
        note("tender", st.ticket_id, st.idem_key, st.due)
        r = tender.complete_sale(ctx, user, st.idem_key, [tender.Payment("cash", st.cash_due + 100)])
        time.sleep(0.03)   # the screen taking its time to show the result: a kill here is the
        #                    "crash between the commit and the screen" case
        note("done", st.idem_key, r.receipt_no, r.duplicate)


if __name__ == "__main__":
    main()
