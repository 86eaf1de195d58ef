"""A hypothesis property test: random sequences of treasury operations (payments,
transfers, counts with their variances decided, bank deposits) run by two
terminal processes at once, on a SQLite file and on PostgreSQL. After each
sequence ``station verify`` finds nothing and every fund equals an independent
model: the starting balances plus the effect of each operation that succeeded,
as the operation means it (a payment takes its amount, a transfer moves its
amount, an approved variance adds what the count found), never read from the
ledger.

The seed is printed (replay with TREASURY_SEED=N); CI runs a fixed one.
TREASURY_EXAMPLES sets how many sequences (default 8)."""
from __future__ import annotations

import collections
import multiprocessing as mp
import os
import re
import traceback

import pytest
from hypothesis import HealthCheck, given, seed, settings, strategies as st

from tests.conftest import make_config, seed_for

pytestmark = pytest.mark.slow

CASH = ("safe", "petty", "change")
START = {"safe": 100_000, "petty": 20_000, "change": 10_000}

amounts = st.integers(min_value=1, max_value=30_000)
ops = st.one_of(
    st.tuples(st.just("pay"), st.sampled_from(CASH), amounts),
    st.tuples(st.just("transfer"), st.sampled_from(CASH), st.sampled_from(CASH), amounts).filter(
        lambda o: o[1] != o[2]),
    st.tuples(st.just("count"), st.sampled_from(CASH), st.integers(min_value=-5000, max_value=5000)),
    st.tuples(st.just("deposit"), amounts),
)


def _counts(total: int, denominations: list[int]) -> dict[int, int]:
    out = {}
    for d in denominations:
        out[d], total = divmod(total, d)
    return out


def _worker(home, url, terminal, executor, approver, inbox, outbox, barrier):
    """One terminal: runs each batch of operations it is given, after the barrier."""
    try:
        import pyotp
        from data.models import User
        from station.context import open_station
        from station.errors import StationError
        from station.treasury import bags, payments, queries, replenish, variances
        from tests.treasury_helpers import SECRETS
        ctx = open_station(make_config(home, url, **{"terminal.id": terminal}))
        who = {n: User.get(User.name == n) for n in ("mia", "theo", "ada")}
        step = 2_100_000_000 // 30 + (0 if terminal == "T1" else 10_000_000)
        while True:
            batch = inbox.get(timeout=300)
            if batch is None:
                return
            barrier.wait(60)
            results = []
            for op in batch:
                try:
                    if op[0] == "pay":
                        _, fund, amount = op
                        rid = payments.request(ctx, who["mia"], fund, amount, "Acme")
                        payments.approve(ctx, who[approver], rid)
                        step += 1
                        payments.execute(ctx, who[executor], rid, pyotp.TOTP(SECRETS[executor]).at(step * 30),
                                         key=payments.new_key(), now=step * 30)
                        results.append({fund: -amount})
                    elif op[0] == "transfer":
                        _, src, dst, amount = op
                        replenish.transfer(ctx, who[executor], src, dst, amount)
                        results.append({src: -amount, dst: amount})
                    elif op[0] == "count":
                        _, fund, delta = op
                        seen = queries.balance(fund)
                        total = max(0, seen + delta)
                        c = variances.count_fund(ctx, who[executor], fund,
                                                 _counts(total, ctx.config.get("cash.denominations")))
                        effect = {}
                        if c.variance_id is not None:
                            variances.decide(ctx, who["mia"], c.variance_id, True)
                            effect = {fund: c.counted - c.expected}
                        results.append(effect)
                    elif op[0] == "deposit":
                        _, amount = op
                        number = bags.prepare_deposit(ctx, who[executor], amount)
                        results.append({"safe": -amount, "transit": amount})
                        bags.bank_deposit(ctx, who[executor], number, f"SLIP-{number}")
                        results.append({"transit": -amount, "bank": amount})
                except StationError as e:
                    results.append(f"refused: {e}")
            outbox.put((terminal, results))
    except BaseException:  # noqa: BLE001
        outbox.put((terminal, traceback.format_exc()))


def test_random_operations_from_two_terminals_keep_the_books(db_url, station_home):
    from data.treasury import Fund, LedgerEntry
    from station import verify
    from station.context import open_station
    from tests.conftest import add_user
    from tests.treasury_helpers import enrol, fund_up
    ctx = open_station(make_config(station_home, db_url), upgrade=True)
    for name, role, pin in (("mia", "manager", "3333"), ("theo", "treasurer", "4444"), ("ada", "admin", "5555")):
        add_user(ctx, name, role, pin)
    enrol(ctx)
    for name, amount in START.items():
        fund_up(ctx, name, amount)
    model = {f.name: f.balance for f in Fund.select()}
    ctx.db.close()
    sp = mp.get_context("spawn")
    barrier, outbox = sp.Barrier(2), sp.Queue()
    inboxes = {"T1": sp.Queue(), "T2": sp.Queue()}
    procs = [sp.Process(target=_worker, args=(str(station_home), db_url, t, ex, ap, inboxes[t], outbox, barrier))
             for t, ex, ap in (("T1", "theo", "ada"), ("T2", "ada", "theo"))]
    for p in procs:
        p.start()
    ran = {"ops": 0, "refused": 0}
    why: collections.Counter = collections.Counter()
    try:
        @seed(seed_for("TREASURY_SEED", 20261128))
        @settings(max_examples=int(os.environ.get("TREASURY_EXAMPLES", "8")), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(ops, min_size=1, max_size=6), st.lists(ops, min_size=1, max_size=6))
        def sequences(one, two):
            inboxes["T1"].put(one)
            inboxes["T2"].put(two)
            got = dict(outbox.get(timeout=240) for _ in procs)
            for t, res in got.items():
                assert not isinstance(res, str), f"{t} crashed:\n{res}"
                for r in res:
                    ran["ops"] += 1
                    if isinstance(r, str):
                        ran["refused"] += 1
                        why[re.sub(r"[0-9.#]+", "N", r)[:70]] += 1
                        continue
                    for fund, delta in r.items():
                        model[fund] += delta
            for f in Fund.select():
                assert f.balance == model[f.name], (f.name, f.balance, model[f.name], got)
            low = LedgerEntry.select().join(Fund, on=(LedgerEntry.fund == Fund.id)).where(
                (Fund.kind != "bank") & (LedgerEntry.balance_after < 0)).count()
            assert low == 0
            bad = [r for r in verify.run(ctx, only=["treasury", "journal"]) if not r.ok]
            assert not bad, [(r.name, r.problems[:3], r.error) for r in bad]

        sequences()
    finally:
        for q in inboxes.values():
            q.put(None)
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.terminate()
    print(f"\n{ran['ops']} operations, {ran['refused']} refused: {why.most_common(4)}")
