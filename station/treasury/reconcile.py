"""Reconciliation: a paid requisition or a ledger entry matched against the bank
statement's reference (an insert-only row, never an update of the ledger). A
settled amount that differs records a pending variance of the fund."""
from __future__ import annotations

from data import db as dbmod
from data.models import utcnow
from data.treasury import LedgerEntry, PaymentExecution, Reconciliation, Requisition
from station import authority, journal
from station.errors import Conflict, InvalidInput, NotFound
from station.treasury.bags import record_variance
from station.treasury.ledger import fmt, lock_clause, parse_amount, text


def _settled(ctx, value, default: int) -> int:
    return default if value in (None, "") else parse_amount(ctx, value, "the settled amount")


def requisition(ctx, user, req_id, statement_ref, settled=None) -> int | None:
    """Mark a paid requisition reconciled; returns the variance id when the bank settled another amount."""
    if isinstance(req_id, bool) or not isinstance(req_id, int):
        raise InvalidInput(f"{req_id!r} is not a requisition number")
    ref = text(statement_ref, "the statement reference", max_len=120, required=True)
    with dbmod.write():
        row = dbmod.current().execute_sql(dbmod.q(f"SELECT id FROM requisition WHERE id = ?{lock_clause()}"),
                                          (req_id,)).fetchone()
        if row is None:
            raise NotFound(f"no requisition #{req_id}")
        r = Requisition.get_by_id(row[0])
        authority.require(ctx, user, "treasury.reconcile")
        if r.status != "paid":
            raise Conflict(f"requisition #{r.id} is {r.status}: only a paid one is reconciled")
        amount = _settled(ctx, settled, r.amount)
        x = PaymentExecution.get(PaymentExecution.requisition == r.id)
        vid = None
        if amount != r.amount:
            vid = record_variance(ctx, user, r.fund_id, source="settlement", ref_id=r.id, original=-r.amount,
                                  adjusted=-amount, reason=f"statement {ref} settled {fmt(ctx, amount)}")
        Reconciliation.create(requisition=r.id, entry=x.entry_id, statement_ref=ref, settled=amount, variance=vid,
                              by=user.id, terminal=ctx.terminal)
        Requisition.update(status="reconciled", updated_at=utcnow()).where(Requisition.id == r.id).execute()
        journal.append("treasury.reconciled", terminal=ctx.terminal, user=user, amount=amount,
                       ref=f"requisition {r.id}", data={"requisition": r.id, "statement": ref, "variance": vid})
    return vid


def entry(ctx, user, entry_id, statement_ref, settled=None) -> int | None:
    """Mark a ledger entry (a deposit's bank credit, a transfer) reconciled."""
    if isinstance(entry_id, bool) or not isinstance(entry_id, int):
        raise InvalidInput(f"{entry_id!r} is not a ledger entry number")
    ref = text(statement_ref, "the statement reference", max_len=120, required=True)
    with dbmod.write():
        authority.require(ctx, user, "treasury.reconcile")
        e = LedgerEntry.get_or_none(LedgerEntry.id == entry_id)
        if e is None:
            raise NotFound(f"no ledger entry #{entry_id}")
        if Reconciliation.select().where(Reconciliation.entry == e.id).exists():
            raise Conflict(f"ledger entry #{e.id} is already reconciled")
        amount = _settled(ctx, settled, abs(e.amount))
        vid = None
        if amount != abs(e.amount):
            sign = 1 if e.amount > 0 else -1
            vid = record_variance(ctx, user, e.fund_id, source="settlement", ref_id=e.id, original=e.amount,
                                  adjusted=sign * amount, reason=f"statement {ref} settled {fmt(ctx, amount)}")
        Reconciliation.create(entry=e.id, statement_ref=ref, settled=amount, variance=vid, by=user.id,
                              terminal=ctx.terminal)
        journal.append("treasury.reconciled", terminal=ctx.terminal, user=user, amount=amount,
                       ref=f"entry {e.id}", data={"entry": e.id, "statement": ref, "variance": vid})
    return vid
