"""Fund counts and variances. A treasurer counts a fund by denomination; a
difference to its balance is a pending variance. A variance (from a count, a
bag received, a deposit slip, a settlement) is applied to its fund's ledger
(an ``adjustment`` entry) only when approved, and only by someone else than
the person who recorded it (service check and a database CHECK)."""
from __future__ import annotations

from dataclasses import dataclass

from data import db as dbmod
from data.models import utcnow
from data.treasury import Variance
from station import authority, drawer, journal
from station.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from station.treasury.bags import record_count, record_variance
from station.treasury.ledger import Books, fund_id, lock_clause, text


@dataclass(frozen=True)
class Counted:
    fund: str
    expected: int
    counted: int
    variance_id: int | None


def count_fund(ctx, user, fund, counts, reason: str = "") -> Counted:
    """Count a cash fund; a difference to its balance is recorded, pending approval."""
    fid = fund_id(fund)
    c = drawer.clean_counts(ctx, counts)
    why = text(reason, "the reason", max_len=500)
    with dbmod.write():
        authority.require(ctx, user, "treasury.record")
        books = Books(ctx, user)
        f = books.lock(fid)[fid]
        if f.kind == "bank":
            raise InvalidInput(f"{f.name} is a bank account: reconcile it against the statement, do not count it")
        record_count(fid, user, f.balance, c)
        total = drawer.count_total(c)
        vid = None
        if total != f.balance:
            vid = record_variance(ctx, user, fid, source="count", ref_id=None, original=f.balance, adjusted=total,
                                  reason=why or "fund count")
        else:
            journal.append("treasury.counted", terminal=ctx.terminal, user=user, amount=total, ref=f.name,
                           data={"fund": f.name, "counted": total})
    return Counted(f.name, f.balance, total, vid)


def decide(ctx, user, variance_id, approve: bool, note: str = "") -> int | None:
    """Approve (the fund's ledger is adjusted by the variance) or reject a pending
    variance. Returns the adjustment's ledger entry id when approved."""
    if user is None or not getattr(user, "active", False):
        raise PermissionDenied("nobody is logged in")
    if isinstance(variance_id, bool) or not isinstance(variance_id, int):
        raise InvalidInput(f"{variance_id!r} is not a variance number")
    n = text(note, "the note", max_len=500)
    with dbmod.write():
        row = dbmod.current().execute_sql(dbmod.q(f"SELECT id FROM variance WHERE id = ?{lock_clause()}"),
                                          (variance_id,)).fetchone()
        if row is None:
            raise NotFound(f"no variance #{variance_id}")
        v = Variance.get_by_id(row[0])
        authority.require(ctx, user, "treasury.decide")
        if v.recorded_by_id == user.id:
            raise PermissionDenied("a variance is decided by someone else than the person who recorded it")
        if v.status != "pending":
            raise Conflict(f"variance #{v.id} was already {v.status}")
        now = utcnow()
        if not approve:
            Variance.update(status="rejected", decided_by=user.id, decided_at=now, reason=_with(v.reason, n)).where(
                Variance.id == v.id).execute()
            journal.append("treasury.variance_rejected", terminal=ctx.terminal, user=user, amount=v.variance,
                           ref=f"variance {v.id}", data={"variance": v.id, "note": n})
            return None
        books = Books(ctx, user)
        books.lock(v.fund_id)
        p = books.move(v.fund_id, v.variance, ref_type="variance", ref_id=v.id, adjustment=True,
                       memo=(v.reason or "variance")[:200], data={"op": "variance.approved", "variance": v.id,
                                                                 "note": n})
        books.write()
        Variance.update(status="approved", decided_by=user.id, decided_at=now, entry=p.id,
                        reason=_with(v.reason, n)).where(Variance.id == v.id).execute()
        return p.id


def _with(reason: str, note: str) -> str:
    return f"{reason} / {note}" if note else reason
