"""What the treasury screens and ``station treasury`` list: plain rows, read
without locks. A fund's balance is its cached column; its ledger is read a page
at a time, newest first, from the (fund, seq) index (``before`` = the last seq
of the page shown: keyset paging, the same cost on the first and the 1000th page)."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from peewee import fn

from data import db as dbmod
from data.models import User, utcnow
from data.treasury import CashBag, Fund, Replenishment, Requisition, Variance
from station.errors import InvalidInput
from station.treasury.ledger import fund_id


@dataclass(frozen=True)
class FundView:
    id: int
    name: str
    kind: str
    balance: int
    reorder_level: int
    target_level: int
    auto_replenish: bool
    pending: int                 # requisitions, variances and replenishments waiting for this fund
    spark: tuple[int, ...] = ()  # the balance at the end of each of the last days, oldest first


@dataclass(frozen=True)
class EntryView:
    id: int
    seq: int
    created_at: _dt.datetime
    kind: str
    amount: int
    balance_after: int
    counter: str | None
    ref_type: str
    ref_id: int | None
    memo: str
    user: str
    terminal: str
    reconciled: bool


def _fid(fund) -> int:
    """A fund's id from its id (not looked up) or its name (one indexed SELECT)."""
    if isinstance(fund, int) and not isinstance(fund, bool):
        return fund
    return fund_id(fund)


def balance(fund) -> int:
    """A fund's balance: its cached column, one indexed SELECT."""
    row = dbmod.current().execute_sql(dbmod.q("SELECT balance FROM fund WHERE id = ?"), (_fid(fund),)).fetchone()
    if row is None:
        fund_id(fund)   # raises NotFound naming the funds
    return row[0]


def funds(*, spark_days: int = 0) -> list[FundView]:
    pend: dict[int, int] = {}
    for model in (Requisition, Variance, Replenishment):
        open_states = ("requested", "approved") if model is Requisition else ("pending",)
        for fid, n in (model.select(model.fund, fn.COUNT(model.id)).where(model.status.in_(open_states))
                       .group_by(model.fund).tuples()):
            pend[fid] = pend.get(fid, 0) + n
    out = []
    for f in Fund.select().where(Fund.active).order_by(Fund.id):
        out.append(FundView(f.id, f.name, f.kind, f.balance, f.reorder_level, f.target_level, f.auto_replenish,
                            pend.get(f.id, 0), sparkline(f.id, spark_days) if spark_days else ()))
    return out


_AT = "SELECT balance_after FROM ledger_entry WHERE fund_id = ? AND created_at < ? ORDER BY created_at DESC LIMIT 1"


def sparkline(fid: int, days: int = 30) -> tuple[int, ...]:
    """The fund's balance at the end of each of the last ``days`` days (UTC), oldest
    first: one index probe per day, whatever the ledger's size."""
    db = dbmod.current()
    end = _dt.datetime.combine(utcnow().date() + _dt.timedelta(days=1), _dt.time())
    out = []
    for k in range(days - 1, -1, -1):
        row = db.execute_sql(dbmod.q(_AT), (fid, dbmod.param_time(end - _dt.timedelta(days=k)))).fetchone()
        out.append(row[0] if row else 0)
    return tuple(out)


ENTRY_FILTERS = ("debit", "credit", "adjustment")


def ledger(fund, *, limit: int = 50, before: int | None = None, since: _dt.datetime | None = None,
           until: _dt.datetime | None = None, kind: str | None = None, ref_type: str | None = None,
           ref_id: int | None = None) -> list[EntryView]:
    """A page of a fund's ledger, newest first (``before``: the seq the page starts below):
    one statement, served by the (fund, seq) index."""
    fid = _fid(fund)
    if kind is not None and kind not in ENTRY_FILTERS:
        raise InvalidInput(f"unknown kind {kind!r}: choose {', '.join(ENTRY_FILTERS)}")
    where, params = ["e.fund_id = ?"], [fid]
    if before is not None:
        where.append("e.seq < ?")
        params.append(before)
    if since is not None:
        where.append("e.created_at >= ?")
        params.append(dbmod.param_time(since))
    if until is not None:
        where.append("e.created_at < ?")
        params.append(dbmod.param_time(until))
    if kind:
        where.append("e.kind = ?")
        params.append(kind)
    if ref_type:
        where.append("e.ref_type = ?")
        params.append(ref_type)
    if ref_id is not None:
        where.append("e.ref_id = ?")
        params.append(ref_id)
    sql = ("SELECT e.id, e.seq, e.created_at, e.kind, e.amount, e.balance_after, c.name, e.ref_type, e.ref_id, "
           "e.memo, u.name, e.terminal, (SELECT 1 FROM reconciliation r WHERE r.entry_id = e.id) "
           'FROM ledger_entry e JOIN "user" u ON u.id = e.user_id LEFT JOIN fund c ON c.id = e.counter_fund_id '
           f"WHERE {' AND '.join(where)} ORDER BY e.seq DESC LIMIT ?")
    params.append(int(limit))
    rows = dbmod.current().execute_sql(dbmod.q(sql), params).fetchall()
    return [EntryView(r[0], r[1], _time(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], bool(r[12]))
            for r in rows]


def _time(v):
    return v if isinstance(v, _dt.datetime) else _dt.datetime.fromisoformat(str(v))


@dataclass(frozen=True)
class RequisitionView:
    id: int
    fund: str
    amount: int
    payee: str
    purpose: str
    method: str
    destination: str
    status: str
    requester: str
    requester_id: int
    approver: str | None
    approved_at: _dt.datetime | None
    retry_count: int
    max_retries: int
    last_error: str
    created_at: _dt.datetime


def requisitions(*, status: tuple[str, ...] | None = None, limit: int = 200) -> list[RequisitionView]:
    names = dict(User.select(User.id, User.name).tuples())
    fnames = dict(Fund.select(Fund.id, Fund.name).tuples())
    q = Requisition.select().order_by(Requisition.id.desc()).limit(limit)
    if status:
        q = q.where(Requisition.status.in_(status))
    return [RequisitionView(r.id, fnames[r.fund_id], r.amount, r.payee, r.purpose, r.method, r.destination,
                            r.status, names.get(r.requester_id, "?"), r.requester_id,
                            names.get(r.approver_id) if r.approver_id else None, r.approved_at, r.retry_count,
                            r.max_retries, r.last_error, r.created_at) for r in q]


@dataclass(frozen=True)
class VarianceView:
    id: int
    fund: str
    source: str
    original: int
    adjusted: int
    variance: int
    reason: str
    status: str
    recorded_by: str
    recorded_by_id: int
    decided_by: str | None
    recorded_at: _dt.datetime


def variances(*, status: tuple[str, ...] | None = None, limit: int = 200) -> list[VarianceView]:
    names = dict(User.select(User.id, User.name).tuples())
    fnames = dict(Fund.select(Fund.id, Fund.name).tuples())
    q = Variance.select().order_by(Variance.id.desc()).limit(limit)
    if status:
        q = q.where(Variance.status.in_(status))
    return [VarianceView(v.id, fnames[v.fund_id], v.source, v.original, v.adjusted, v.variance, v.reason, v.status,
                         names.get(v.recorded_by_id, "?"), v.recorded_by_id,
                         names.get(v.decided_by_id) if v.decided_by_id else None, v.recorded_at) for v in q]


@dataclass(frozen=True)
class ReplenishmentView:
    id: int
    fund: str
    source: str | None
    automatic: bool
    balance_snapshot: int
    amount: int
    status: str
    requested_by: str | None
    requested_by_id: int | None
    requested_at: _dt.datetime


def replenishments(*, status: tuple[str, ...] | None = None, limit: int = 200) -> list[ReplenishmentView]:
    names = dict(User.select(User.id, User.name).tuples())
    fnames = dict(Fund.select(Fund.id, Fund.name).tuples())
    q = Replenishment.select().order_by(Replenishment.id.desc()).limit(limit)
    if status:
        q = q.where(Replenishment.status.in_(status))
    return [ReplenishmentView(r.id, fnames[r.fund_id], fnames.get(r.source_id), r.automatic, r.balance_snapshot,
                              r.amount, r.status, names.get(r.requested_by_id), r.requested_by_id, r.requested_at)
            for r in q]


@dataclass(frozen=True)
class BagView:
    id: int
    number: str
    kind: str
    status: str
    declared: int
    counted: int | None
    session_id: int | None
    sealed_by: str
    sealed_at: _dt.datetime
    slip_ref: str | None


def bags(*, status: tuple[str, ...] | None = None, limit: int = 200) -> list[BagView]:
    names = dict(User.select(User.id, User.name).tuples())
    q = CashBag.select().order_by(CashBag.id.desc()).limit(limit)
    if status:
        q = q.where(CashBag.status.in_(status))
    return [BagView(b.id, b.number, b.kind, b.status, b.declared, b.counted, b.session_id,
                    names.get(b.sealed_by_id, "?"), b.sealed_at, b.slip_ref) for b in q]
