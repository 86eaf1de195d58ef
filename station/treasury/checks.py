"""``station verify`` checks of the treasury, recomputed from the stored rows
independently of the code that wrote them."""
from __future__ import annotations

import json
from collections import defaultdict

from peewee import fn

from data.models import CashMovement, Journal, SchemaMeta
from data.treasury import (
    CASH_KINDS, DROPS_AFTER, CashBag, Fund, LedgerEntry, PaymentExecution, Replenishment, Requisition, Variance,
)
from station.checks import check
from station.treasury.ledger import GENESIS, entry_hash

PAID = ("paid", "reconciled")


@check("treasury.ledger_chain")
def ledger_chain(ctx) -> list[str]:
    """each fund's ledger is gapless, hash-chained, its running balances add up, and the fund's head is its last entry"""
    problems = []
    for f in Fund.select():
        prev, seq, running = GENESIS, 0, 0
        q = LedgerEntry.select().where(LedgerEntry.fund == f.id).order_by(LedgerEntry.seq)
        for e in q.iterator():
            seq += 1
            running += e.amount
            name = f"{f.name} entry {e.seq}"
            if e.seq != seq:
                problems.append(f"{name}: expected seq {seq} (an entry is missing)")
                seq = e.seq
            if e.prev_hash != prev:
                problems.append(f"{name}: does not link to the entry before it")
            h = entry_hash(e.fund_id, e.seq, e.kind, e.amount, e.balance_after, e.counter_fund_id, e.ref_type,
                           e.ref_id, e.memo, e.user_id, e.terminal, e.created_at, e.prev_hash)
            if h != e.hash:
                problems.append(f"{name}: its content does not match its hash (changed after it was written)")
            if e.balance_after != running:
                problems.append(f"{name}: balance after {e.balance_after}, but the entries add up to {running}")
            prev = e.hash
        if f.entries != seq or f.head != prev:
            problems.append(f"{f.name}: the fund's head says {f.entries} entries, its ledger has {seq}")
    return problems


@check("treasury.balances")
def balances(ctx) -> list[str]:
    """every fund's cached balance equals the sum of its ledger, and no cash fund is below zero"""
    sums = dict(LedgerEntry.select(LedgerEntry.fund, fn.SUM(LedgerEntry.amount)).group_by(LedgerEntry.fund).tuples())
    problems = []
    for f in Fund.select():
        total = int(sums.get(f.id) or 0)
        if f.balance != total:
            problems.append(f"{f.name}: cached balance {f.balance}, its ledger adds up to {total}")
        if f.kind in CASH_KINDS and total < 0:
            problems.append(f"{f.name}: a cash fund below zero ({total})")
    return problems


@check("treasury.journal")
def in_journal(ctx) -> list[str]:
    """every ledger entry is in the journal's chain (its row names the entry's hash)"""
    problems = []
    entries = {e.journal_seq: e for e in LedgerEntry.select(LedgerEntry.id, LedgerEntry.journal_seq,
                                                           LedgerEntry.hash)}
    seen = set()
    for j in Journal.select(Journal.seq, Journal.kind, Journal.data).where(Journal.kind == "treasury.entry"):
        e = entries.get(j.seq)
        h = json.loads(j.data).get("hash")
        if e is None:
            problems.append(f"journal seq {j.seq}: a treasury entry with no ledger row (hash {str(h)[:12]})")
        elif e.hash != h:
            problems.append(f"ledger entry {e.id}: its journal row (seq {j.seq}) names another hash")
        seen.add(j.seq)
    for seq, e in entries.items():
        if seq not in seen:
            problems.append(f"ledger entry {e.id}: its journal row (seq {seq}) is missing or of another kind")
    return problems


@check("treasury.executions")
def executions(ctx) -> list[str]:
    """each execution pays one paid requisition once, by someone else than its requester, from its fund"""
    problems = []
    reqs = {r.id: r for r in Requisition.select()}
    per_req = defaultdict(int)
    for x in PaymentExecution.select():
        r = reqs.get(x.requisition_id)
        per_req[x.requisition_id] += 1
        if r is None:
            problems.append(f"execution {x.id}: no requisition #{x.requisition_id}")
            continue
        if x.executor_id == r.requester_id:
            problems.append(f"requisition #{r.id}: executed by its own requester")
        if x.requester_id != r.requester_id:
            problems.append(f"execution {x.id}: names another requester than requisition #{r.id}")
        if r.status not in PAID:
            problems.append(f"requisition #{r.id}: executed but {r.status}")
        e = LedgerEntry.get_or_none(LedgerEntry.id == x.entry_id)
        if e is None or e.fund_id != r.fund_id or e.amount != -r.amount or x.amount != r.amount \
                or e.ref_type != "requisition" or e.ref_id != r.id:
            problems.append(f"requisition #{r.id}: its execution's ledger entry does not pay {r.amount} from its fund")
    for r in reqs.values():
        if r.status in PAID and per_req[r.id] != 1:
            problems.append(f"requisition #{r.id}: {r.status} with {per_req[r.id]} executions")
        if r.approver_id is not None and r.approver_id == r.requester_id:
            problems.append(f"requisition #{r.id}: decided by its own requester")
    return problems


@check("treasury.variances")
def variances(ctx) -> list[str]:
    """no variance decided by its recorder; an approved one is exactly one adjustment of its fund, others none"""
    problems = []
    for v in Variance.select():
        if v.decided_by_id is not None and v.decided_by_id == v.recorded_by_id:
            problems.append(f"variance #{v.id}: decided by the person who recorded it")
        e = LedgerEntry.get_or_none(LedgerEntry.id == v.entry_id) if v.entry_id else None
        if v.status == "approved" and (e is None or e.fund_id != v.fund_id or e.amount != v.variance
                                       or e.kind != "adjustment"):
            problems.append(f"variance #{v.id}: approved but its fund was not adjusted by {v.variance}")
        if v.status != "approved" and v.entry_id is not None:
            problems.append(f"variance #{v.id}: {v.status} but applied to the ledger")
    return problems


@check("treasury.bags")
def bags(ctx) -> list[str]:
    """every drop has its bag; every bag was credited to transit; every received bag entered the safe (a deposit, the bank); transit holds the bags in it"""
    problems = []
    meta = SchemaMeta.get_or_none(SchemaMeta.key == DROPS_AFTER)
    after = int(meta.value) if meta else 0
    by_move = {b.movement_id: b for b in CashBag.select().where(CashBag.movement_id.is_null(False))}
    for m in CashMovement.select().where((CashMovement.kind == "drop") & (CashMovement.id > after)):
        b = by_move.get(m.id)
        if b is None:
            problems.append(f"drop {m.id} ({-m.amount}) has no bag")
        elif b.declared != -m.amount:
            problems.append(f"bag {b.number}: declares {b.declared}, its drop was {-m.amount}")
    funds = {f.name: f for f in Fund.select()}
    transit = funds.get(ctx.config.get("treasury.transit_fund"))
    safe = funds.get(ctx.config.get("treasury.safe_fund"))
    in_transit = 0
    for b in CashBag.select():
        t = LedgerEntry.get_or_none(LedgerEntry.id == b.transit_entry_id)
        if t is None or t.amount != b.declared or (transit is not None and t.fund_id != transit.id):
            problems.append(f"bag {b.number}: its {b.declared} was not credited to the transit fund")
        if b.status == "in_transit":
            in_transit += b.declared
            continue
        e = LedgerEntry.get_or_none(LedgerEntry.id == b.in_entry_id)
        want = "bank" if b.kind == "deposit" else "safe"
        if e is None or e.amount != b.declared or e.ref_type != "bag" or e.ref_id != b.id or \
                (want == "safe" and safe is not None and e.fund_id != safe.id):
            problems.append(f"bag {b.number}: {b.status} without its {want} entry of {b.declared}")
    if transit is not None and transit.balance != in_transit:
        problems.append(f"transit fund {transit.name} holds {transit.balance}, the bags in transit declare {in_transit}")
    return problems


@check("treasury.replenishments")
def replenishments(ctx) -> list[str]:
    """at most one pending automatic replenishment per fund; a funded one has its credit"""
    problems = []
    per = defaultdict(int)
    for r in Replenishment.select():
        if r.status == "pending" and r.automatic:
            per[r.fund_id] += 1
        if r.status == "funded":
            e = LedgerEntry.get_or_none(LedgerEntry.id == r.entry_id) if r.entry_id else None
            if e is None or e.fund_id != r.fund_id or e.amount != r.amount:
                problems.append(f"replenishment #{r.id}: funded without its credit of {r.amount}")
    for fid, n in per.items():
        if n > 1:
            problems.append(f"fund #{fid}: {n} pending automatic replenishments")
    return problems
