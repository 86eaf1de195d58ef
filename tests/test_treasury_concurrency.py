"""Two terminals (real processes, spawn) paying out of the treasury at the same
moment, on a SQLite file and on PostgreSQL:

* the same requisition executed by two treasurers: exactly one execution;
* two payouts on a fund that covers only one: one refused with the balance, the
  balance never below zero;
* two debits that each take a fund below its reorder level: one replenishment.

Overlap is proven: the terminal that holds the fund's lock inside its execution
(the service's ``treasury.probe`` point "locked") waits until the other terminal
has entered its own execute call; the times recorded show the loser entered
before the winner's transaction ended."""
from __future__ import annotations

import multiprocessing as mp
import time
import traceback

import pytest

from tests.conftest import make_config

pytestmark = pytest.mark.slow

ROUNDS = 3


def _terminal(home, url, terminal, name, reqs, steps, barrier, mine, other, out):
    try:
        import pyotp
        from data.models import User
        from station.context import open_station
        from station.errors import StationError
        from station.treasury import payments
        from tests.treasury_helpers import SECRETS
        ctx = open_station(make_config(home, url, **{"terminal.id": terminal}))
        me = User.get(User.name == name)
        results = []
        for rnd, (rid, t) in enumerate(zip(reqs, steps)):
            def probe(point, rnd=rnd):
                if point == "locked" and not other[rnd].wait(30):
                    raise AssertionError("the other terminal never entered its execution")
            ctx.extras["treasury.probe"] = probe
            code = pyotp.TOTP(SECRETS[name]).at(t)
            barrier.wait(60)
            t_enter = time.monotonic()
            mine[rnd].set()
            try:
                x = payments.execute(ctx, me, rid, code, key=payments.new_key(), now=t)
                results.append(("paid", x.balance, "", t_enter, time.monotonic()))
            except StationError as e:
                results.append(("refused", type(e).__name__, str(e), t_enter, time.monotonic()))
        out.put((terminal, results))
    except BaseException:  # noqa: BLE001
        out.put((terminal, traceback.format_exc()))


def race(home, url, reqs_t1, reqs_t2):
    """Run the two terminals (theo at T1, ada at T2) over the rounds; their results."""
    sp = mp.get_context("spawn")
    barrier, out = sp.Barrier(2), sp.Queue()
    ev = {t: [sp.Event() for _ in range(ROUNDS)] for t in ("T1", "T2")}
    steps = [2_000_000_000 + 60 * k for k in range(ROUNDS)]
    procs = [sp.Process(target=_terminal, args=(str(home), url, t, n, reqs, steps, barrier, ev[t],
                                                ev["T2" if t == "T1" else "T1"], out))
             for t, n, reqs in (("T1", "theo", reqs_t1), ("T2", "ada", reqs_t2))]
    for p in procs:
        p.start()
    got = dict(out.get(timeout=240) for _ in procs)
    for p in procs:
        p.join(30)
    for t, res in got.items():
        assert not isinstance(res, str), f"{t} crashed:\n{res}"
    return got


def _winner_loser(a, b):
    assert sorted((a[0], b[0])) == ["paid", "refused"], (a, b)
    winner, loser = (a, b) if a[0] == "paid" else (b, a)
    assert loser[3] < winner[4], "the two executions did not overlap"
    return winner, loser


@pytest.fixture
def books(db_url, station_home):
    from station.context import open_station
    from tests.conftest import add_user
    from tests.treasury_helpers import enrol
    ctx = open_station(make_config(station_home, db_url), upgrade=True)
    for name, role, pin in (("mia", "manager", "3333"), ("theo", "treasurer", "4444"), ("ada", "admin", "5555")):
        add_user(ctx, name, role, pin)
    enrol(ctx)
    yield ctx
    ctx.db.close()


def _approved(ctx, fund: str, amount: int) -> int:
    from station.treasury import payments
    from tests.treasury_helpers import user
    rid = payments.request(ctx, user("mia"), fund, amount, "Acme")
    payments.approve(ctx, user("ada"), rid)
    return rid


def _verified(ctx):
    from station import verify
    bad = [r for r in verify.run(ctx) if not r.ok]
    assert not bad, [(r.name, r.problems[:3], r.error) for r in bad]


def test_two_terminals_execute_the_same_requisition_once(books, db_url, station_home):
    from data.treasury import Fund, PaymentExecution
    from tests.treasury_helpers import fund_up
    ctx = books
    fund_up(ctx, "petty", 100_000)
    reqs = [_approved(ctx, "petty", 1000 + k) for k in range(ROUNDS)]
    ctx.db.close()
    got = race(station_home, db_url, reqs, reqs)
    for rnd in range(ROUNDS):
        _w, loser = _winner_loser(got["T1"][rnd], got["T2"][rnd])
        assert loser[1] == "Conflict" and "already paid by" in loser[2]
    assert PaymentExecution.select().count() == ROUNDS
    assert Fund.get(Fund.name == "petty").balance == 100_000 - sum(1000 + k for k in range(ROUNDS))
    _verified(ctx)


def test_two_payouts_on_a_fund_that_covers_one(books, db_url, station_home):
    from data.treasury import Fund, PaymentExecution, Requisition
    from station.treasury import funds
    from tests.treasury_helpers import user
    ctx = books
    t1, t2 = [], []
    for k in range(ROUNDS):
        name = f"float{k}"
        funds.add_fund(ctx, user("ada"), name, "petty_cash")
        funds.opening_balance(ctx, user("ada"), name, 50_000)
        t1.append(_approved(ctx, name, 30_000))
        t2.append(_approved(ctx, name, 30_000))
    ctx.db.close()
    got = race(station_home, db_url, t1, t2)
    for rnd in range(ROUNDS):
        winner, loser = _winner_loser(got["T1"][rnd], got["T2"][rnd])
        assert winner[1] == 20_000
        assert loser[1] == "InsufficientFunds" and f"float{rnd} holds 200.00: it cannot pay 300.00" in loser[2]
        assert Fund.get(Fund.name == f"float{rnd}").balance == 20_000
    assert PaymentExecution.select().count() == ROUNDS
    assert Requisition.select().where(Requisition.retry_count == 1).count() == ROUNDS
    _verified(ctx)


def test_two_debits_below_the_reorder_level_ask_once(books, db_url, station_home):
    from data.treasury import Fund, Replenishment
    from station.treasury import funds
    from tests.treasury_helpers import user
    ctx = books
    t1, t2 = [], []
    for k in range(ROUNDS):
        name = f"till{k}"
        funds.add_fund(ctx, user("ada"), name, "petty_cash")
        funds.opening_balance(ctx, user("ada"), name, 50_000)
        funds.set_levels(ctx, user("ada"), name, reorder="400.00", target="500.00", auto_replenish=True,
                         replenish_from="safe")
        t1.append(_approved(ctx, name, 15_000))
        t2.append(_approved(ctx, name, 15_000))
    ctx.db.close()
    got = race(station_home, db_url, t1, t2)
    for rnd in range(ROUNDS):
        a, b = got["T1"][rnd], got["T2"][rnd]
        assert a[0] == b[0] == "paid", (a, b)
        first, second = sorted((a, b), key=lambda r: -r[1])
        assert (first[1], second[1]) == (35_000, 20_000)
        assert second[3] < first[4], "the two executions did not overlap"
        f = Fund.get(Fund.name == f"till{rnd}")
        reps = list(Replenishment.select().where(Replenishment.fund == f.id))
        assert len(reps) == 1 and (reps[0].amount, reps[0].balance_snapshot) == (15_000, 35_000)
    _verified(ctx)
