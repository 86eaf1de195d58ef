"""Child for tests/test_refund_kill.py: returns one item after another (each its
own refund, half of them partly by card) on the real store until it is
SIGKILLed. Before and after every refund call it appends one line to a log
(flushed + fsynced), so the parent knows what was asked and what came back.

usage: python tests/refund_kill_child.py HOME DB_URL LOG
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
    from station.context import open_station
    from station.refund import lookup, service
    from station.refund.service import ReturnItem
    from data.models import Ticket, User

    ctx = open_station(make_config(Path(home), url))
    user = User.get(User.name == "carla")
    log = open(log_path, "a", buffering=1)

    def note(*parts):
        log.write(" ".join(str(p) for p in parts) + "\n")
        log.flush()
        os.fsync(log.fileno())

    note("ready")
    for t in Ticket.select().where(Ticket.status == "completed").order_by(Ticket.id):
        while True:
            info = lookup.sale_info(ctx, t)
            line = next((ln for ln in info.lines if ln.returnable), None)
            if line is None:
                break
            key = service.new_key()
            note("refund", key, t.id, line.line_id)
            r = service.refund(ctx, user, key, t.id, [ReturnItem(line.line_id, 1000)], "damaged",
                               references={"card": f"K{t.id}"})
            time.sleep(0.03)   # the screen taking its time: a kill here is "committed, not yet shown"
            note("done", key, r.refund_no, r.duplicate)
    note("finished")


if __name__ == "__main__":
    main()
