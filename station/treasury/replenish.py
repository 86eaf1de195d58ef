"""Replenishment requests: automatic ones (a debit took a fund below its reorder
level: ``station.treasury.ledger``), manual ones; approved or rejected by
someone else than a manual request's requester, then funded by a transfer
from the source fund up to the request's amount."""
from __future__ import annotations

from data import db as dbmod
from data.models import utcnow
from data.treasury import Fund, Replenishment
from station import authority, journal
from station.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from station.treasury.ledger import Books, fund_id, lock_clause, parse_amount, text


def request(ctx, user, fund, source, amount=None, note: str = "") -> int:
    """Ask for money for ``fund`` from ``source`` (amount: up to the target level by default)."""
    fid, sid = fund_id(fund), fund_id(source)
    if fid == sid:
        raise InvalidInput("a fund is replenished from another fund")
    n = text(note, "the note", max_len=500)
    with dbmod.write():
        authority.require(ctx, user, "treasury.replenish")
        f = Fund.get_by_id(fid)
        a = parse_amount(ctx, amount) if amount not in (None, "") else f.target_level - f.balance
        if a <= 0:
            raise InvalidInput(f"{f.name} is at or above its target level: give the amount")
        r = Replenishment.create(fund=fid, source=sid, automatic=False, balance_snapshot=f.balance, amount=a,
                                 requested_by=user.id, note=n)
        journal.append("treasury.replenishment_requested", terminal=ctx.terminal, user=user, amount=a,
                       ref=f"replenishment {r.id}", data={"fund": f.name, "replenishment": r.id,
                                                          "automatic": False, "balance": f.balance})
    return r.id


def _lock(rid) -> Replenishment:
    if isinstance(rid, bool) or not isinstance(rid, int):
        raise InvalidInput(f"{rid!r} is not a replenishment number")
    row = dbmod.current().execute_sql(dbmod.q(f"SELECT id FROM replenishment WHERE id = ?{lock_clause()}"),
                                      (rid,)).fetchone()
    if row is None:
        raise NotFound(f"no replenishment #{rid}")
    return Replenishment.get_by_id(row[0])


def decide(ctx, user, rid, approve: bool, note: str = "") -> None:
    n = text(note, "the note", max_len=500)
    with dbmod.write():
        r = _lock(rid)
        authority.require(ctx, user, "treasury.replenish")
        if r.requested_by_id == user.id:
            raise PermissionDenied("a replenishment is decided by someone else than its requester")
        if r.status != "pending":
            raise Conflict(f"replenishment #{r.id} is already {r.status}")
        Replenishment.update(status="approved" if approve else "rejected", decided_by=user.id, decided_at=utcnow(),
                             note=n or r.note).where(Replenishment.id == r.id).execute()
        journal.append("treasury.replenishment_" + ("approved" if approve else "rejected"), terminal=ctx.terminal,
                       user=user, amount=r.amount, ref=f"replenishment {r.id}", data={"replenishment": r.id,
                                                                                     "note": n})


def fund(ctx, user, rid) -> int:
    """Transfer an approved replenishment's amount from its source; returns the credit's entry id."""
    with dbmod.write():
        r = _lock(rid)
        authority.require(ctx, user, "treasury.replenish")
        if r.status != "approved":
            raise Conflict(f"replenishment #{r.id} is {r.status}: only an approved one is funded")
        if r.source_id is None:
            raise Conflict(f"replenishment #{r.id} names no source fund")
        books = Books(ctx, user)
        books.lock(r.fund_id, r.source_id)
        _out, inn = books.transfer(r.source_id, r.fund_id, r.amount, ref_type="replenishment", ref_id=r.id,
                                   memo=f"replenishment {r.id}", data={"op": "replenishment.funded"})
        books.write()
        Replenishment.update(status="funded", entry=inn.id).where(Replenishment.id == r.id).execute()
        return inn.id


def transfer(ctx, user, source, dest, amount, memo: str = "") -> int:
    """Move cash or money between two funds (e.g. the safe to petty cash); returns the credit's entry id."""
    sid, did = fund_id(source), fund_id(dest)
    if sid == did:
        raise InvalidInput("a transfer goes to another fund")
    a = parse_amount(ctx, amount)
    m = text(memo, "the memo")
    with dbmod.write():
        authority.require(ctx, user, "treasury.record")
        books = Books(ctx, user)
        books.lock(sid, did)
        _out, inn = books.transfer(sid, did, a, ref_type="transfer", memo=m, data={"op": "transfer"})
        books.write()
        return inn.id
