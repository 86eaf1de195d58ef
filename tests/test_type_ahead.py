"""Type-ahead equals typing slowly: a seeded random cashier session (open the
drawer with a counted float, a paid-in, sales with scans, quantities, line
discounts, park/resume and tender) is typed into the real ``station`` on a pty
twice: once step by step, waiting after each step until its answer is on the
screen or in the store, and once as one burst. The rows left in the store
(drawer session, movements, tickets, lines, tenders) must be identical.

The seed is printed; CI runs the fixed seeds below (STATION_TYPE_AHEAD_SEEDS,
comma separated, runs others). A lone Escape ends a write (a terminal tells it
from the start of an escape sequence only by the pause after it), so the burst
is cut once, where Escape leaves the drawer screen.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Callable

import pytest

from tests.sale_ui_support import CHOC, COLA, ERASER, PENCIL
from tests.terminal import Terminal, make_till

pytestmark = pytest.mark.slow

SEEDS = [int(s) for s in os.environ.get("STATION_TYPE_AHEAD_SEEDS", "11,23,37").split(",") if s.strip()]
CODES = [PENCIL, COLA, CHOC, ERASER]
DENOMINATIONS = [50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100]


def amount(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


@dataclass
class Step:
    """Keys typed as one unit, and how a careful cashier knows it is done:
    ``screen`` text to wait for, or ``store`` changed (signature differs)."""
    keys: list[str]
    screen: str | None = None
    store: bool = False
    cut_after: bool = False            # a lone Escape: the burst is cut here


@dataclass
class Script:
    seed: int
    steps: list[Step] = field(default_factory=list)

    def add(self, *keys: str, screen: str | None = None, store: bool = False, cut_after: bool = False):
        self.steps.append(Step(list(keys), screen, store, cut_after))


def make_script(seed: int) -> Script:
    rng = random.Random(seed)
    sc = Script(seed)
    # the drawer: a counted float, a paid-in, back home
    sc.add("f3", screen="No session open")
    sc.add("f2", screen="pieces of 500.00")
    total = 0
    rows = rng.randint(3, len(DENOMINATIONS))
    for i in range(rows):
        n = rng.randint(0, 3)
        total += n * DENOMINATIONS[i]
        nxt = f"pieces of {amount(DENOMINATIONS[i + 1])}" if i + 1 < len(DENOMINATIONS) else None
        sc.add(*(str(n) if n else ""), "enter", screen=nxt)
    sc.add("f10", screen=f"float {amount(total)} recorded")
    paid = rng.randint(1, 5000)
    sc.add("f3", amount(paid), "enter", "enter", f"note{seed}", "enter", screen=f"{amount(paid)} (")
    sc.add("escape", screen="F8  Lock", cut_after=True)
    # sales
    sc.add("f2", screen="TOTAL")
    parked_once = False
    for _sale in range(rng.randint(2, 3)):
        qty: dict[str, int] = {}
        discounted: set[str] = set()
        selected = None
        for _ in range(rng.randint(1, 4)):
            code = rng.choice(CODES)
            if code not in qty:
                selected = code
            qty[code] = qty.get(code, 0) + 1
            sc.add(code, "enter", store=True)
            r = rng.random()
            if r < 0.25:
                n = rng.choice([q for q in range(2, 6) if q != qty[selected]])
                qty[selected] = n
                sc.add(str(n), "f3", store=True)
            elif r < 0.4 and selected not in discounted:
                discounted.add(selected)
                sc.add(str(rng.randint(1, 9)), "f6", store=True)
        if not parked_once and rng.random() < 0.6:
            parked_once = True
            sc.add("f8", store=True)
            sc.add("f9", screen="Parked tickets")
            sc.add("enter", store=True)
        sc.add("f10", screen="DUE")
        if rng.random() < 0.5:
            sc.add("f3", store=True)
        else:
            sc.add("100", "enter", store=True)
    return sc


def open_store(home):
    from station import config as configmod
    from station.context import open_station
    return open_station(configmod.load(env={"STATION_HOME": str(home)}))


def signature(home) -> tuple:
    """Changes with every step that writes (lines, quantities, discounts, ticket
    states, tenders, movements, sessions)."""
    from data import models as m
    ctx = open_store(home)
    try:
        with ctx.db.atomic():
            return _signature(m)
    finally:
        ctx.db.close()


def _signature(m) -> tuple:
    lines = [(ln.ticket_id, ln.qty, ln.discount, ln.voided) for ln in m.TicketLine.select()]
    return (tuple(sorted(lines)), tuple((t.id, t.status) for t in m.Ticket.select().order_by(m.Ticket.id)),
            m.Tender.select().count(), m.CashMovement.select().count(), m.DrawerSession.select().count())


def outcome(home) -> dict:
    """Every row the session left, without ids, times and keys."""
    from data import models as m
    ctx = open_store(home)
    try:
        with ctx.db.atomic():       # one snapshot: the app may be writing meanwhile
            return _rows(m)
    finally:
        ctx.db.close()


def _rows(m) -> dict:
    tickets = list(m.Ticket.select().order_by(m.Ticket.id))
    idx = {t.id: i for i, t in enumerate(tickets)}
    return {
        "sessions": [(s.status, s.float_amount, s.expected_cash) for s in m.DrawerSession.select()],
        "movements": [(c.kind, c.amount, idx.get(c.ticket_id)) for c in
                      m.CashMovement.select().order_by(m.CashMovement.id)],
        "tickets": [(t.status, t.total, t.receipt_no, t.discount_bp) for t in tickets],
        "lines": [(idx[ln.ticket_id], ln.position, ln.code, ln.qty, ln.unit_price, ln.discount, ln.line_total,
                   ln.voided) for ln in m.TicketLine.select().order_by(m.TicketLine.ticket, m.TicketLine.position)],
        "tenders": [(idx[t.ticket_id], t.method, t.amount, t.tendered, t.change) for t in
                    m.Tender.select().order_by(m.Tender.id)],
    }


def login(term: Terminal) -> None:
    term.wait_for("Type your user name")
    term.type("carla", "enter", "1111", "enter")
    term.wait_for("Home")


def run_slowly(home, script: Script) -> None:
    with Terminal.start(home) as term:
        login(term)
        for step in script.steps:
            before = signature(home) if step.store else None
            term.type(*step.keys)
            if step.store:
                term.wait_until(lambda: signature(home) != before, f"the store to change after {step.keys}")
            if step.screen:
                term.wait_for(step.screen)


def run_as_bursts(home, script: Script, done: Callable[[], bool]) -> None:
    with Terminal.start(home) as term:
        login(term)
        burst: list[str] = []
        for step in script.steps:
            burst += step.keys
            if step.cut_after:
                term.type(*burst)
                term.wait_for(step.screen)
                burst = []
        term.type(*burst)
        term.wait_until(done, "the burst's last sale")


@pytest.mark.parametrize("seed", SEEDS)
def test_a_burst_leaves_the_same_rows_as_slow_typing(tmp_path, seed):
    print(f"type-ahead seed {seed}")
    script = make_script(seed)
    slow_home, burst_home = tmp_path / "slow", tmp_path / "burst"
    make_till(slow_home)
    make_till(burst_home)
    run_slowly(slow_home, script)
    expected = outcome(slow_home)
    sales = len(expected["tickets"])
    assert sales >= 2 and all(t[0] == "completed" for t in expected["tickets"]), expected["tickets"]

    def all_sales_done() -> bool:
        got = outcome(burst_home)["tickets"]
        return len(got) == sales and all(t[0] == "completed" for t in got)
    run_as_bursts(burst_home, script, all_sales_done)
    assert outcome(burst_home) == expected
