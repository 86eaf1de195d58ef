"""SIGKILL of a real process at random moments around the sale commit (service level;
the full-app version through a terminal is tests/test_crash_restart.py).

A child (tests/tender_kill_child.py) scans and tenders in a loop and is killed after
a random delay (every other run: within 60 ms after a tender began),
STATION_KILL_RUNS times (default 10) on each backend. After every
kill, on the same store and terminal, as a restarted screen would:
  * never two sales for one key, never a lost paid sale (every "done" in the log is
    completed); receipt numbers 1..N without a gap; every cash sale has its posting;
  * the open ticket is exactly what the last answered scan showed (or that plus the
    one scan in flight);
  * the key the child was tendering with, retried by the restarted process, either
    returns the stored sale (duplicate=True) or records it once.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from data.models import CashMovement, Tender, Ticket
from station import sale, tender, verify
from tests.conftest import seed_for
from tests.sale_helpers import make_products, open_drawer

RUNS = int(os.environ.get("STATION_KILL_RUNS", "10"))
ROOT = Path(__file__).resolve().parents[1]


def _parse(log: Path):
    lines = [ln.split() for ln in log.read_text().splitlines() if ln.strip()]
    return lines


def test_kill_around_commit(ctx, people, db_url, station_home, tmp_path):
    make_products()
    c = people["cashier"]
    open_drawer(ctx, c)
    rnd = random.Random(seed_for("STATION_KILL_SEED", 5))
    done_keys: set[str] = set()
    kills_after_tender = 0
    committed_unseen = 0
    for run in range(RUNS):
        log = tmp_path / f"run{run}.log"
        p = subprocess.Popen([sys.executable, str(ROOT / "tests" / "tender_kill_child.py"), str(station_home),
                              db_url, str(log)], cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # wait for the child to be running, then kill it a random moment later
        t0 = time.monotonic()
        while (not log.exists() or "restored" not in log.read_text()) and time.monotonic() - t0 < 30:
            if p.poll() is not None:
                raise AssertionError(p.stderr.read().decode())
            time.sleep(0.02)
        time.sleep(rnd.uniform(0.05, 0.5))
        if run % 2:     # every other run: aim at the commit (just after a tender began)
            t1 = time.monotonic()
            while time.monotonic() - t1 < 5:
                tail = log.read_text().splitlines()[-1:]
                if tail and tail[0].startswith("tender"):
                    break
                time.sleep(0.001)
            time.sleep(rnd.uniform(0, 0.06))
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        p.stderr.close()
        events = _parse(log)
        # ---- what the restarted terminal finds
        for ev in events:
            if ev[0] == "done":
                done_keys.add(ev[1])
        for key in done_keys:        # never a lost paid sale
            t = Ticket.get(Ticket.idem_key == key)
            assert t.status == "completed"
        last_tender = next((ev for ev in reversed(events) if ev[0] == "tender"), None)
        pending = last_tender if last_tender and last_tender[2] not in done_keys else None
        cur = sale.current_ticket(ctx, c)
        last_scanned = next((ev for ev in reversed(events) if ev[0] == "scanned"), None)
        if pending is None and cur is not None and last_scanned and int(last_scanned[1]) == cur.id:
            # the ticket is exactly what the screen last showed, or that plus the scan in flight
            shown_lines = int(last_scanned[2])
            in_flight = events[-1][0] == "scan"
            assert len(cur.lines) in ((shown_lines, shown_lines + 1) if in_flight else (shown_lines,))
        if pending is not None:
            kills_after_tender += 1
            key = pending[2]
            t = Ticket.get(Ticket.idem_key == key)
            if t.status == "completed":
                # the commit landed before the kill: the retry must say so, not charge again
                committed_unseen += 1
                r = tender.complete_sale(ctx, c, key, [tender.Payment("cash", int(pending[3]) + 100)])
                assert r.duplicate and r.ticket_id == t.id
            else:
                assert t.status == "open" and cur is not None and cur.id == t.id
                r = tender.complete_sale(ctx, c, key, [tender.Payment("cash", int(pending[3]) + 100)])
                assert not r.duplicate
                r2 = tender.complete_sale(ctx, c, key, [tender.Payment("cash", int(pending[3]) + 100)])
                assert r2.duplicate and r2.receipt_no == r.receipt_no
            done_keys.add(key)
        # ---- never two sales; gapless; cash posted
        done = list(Ticket.select().where(Ticket.status == "completed"))
        assert len(done) == len({t.idem_key for t in done})
        assert {t.idem_key for t in done} == done_keys
        assert sorted(t.receipt_no for t in done) == list(range(1, len(done) + 1))
        for t in done:
            assert Tender.select().where(Tender.ticket == t.id).count() == 1
            assert CashMovement.select().where((CashMovement.ticket_id == t.id)
                                               & (CashMovement.kind == "sale")).count() == 1
    bad = [r for r in verify.run(ctx, only=["sale.", "drawer.", "journal."]) if not r.ok]
    assert not bad, [(r.name, r.problems[:3], r.error) for r in bad]
    assert len(done_keys) > 0
    print(f"\n{RUNS} kills, {len(done_keys)} sales, {kills_after_tender} kills between tender and screen "
          f"({committed_unseen} after the commit, before the screen saw it)")
