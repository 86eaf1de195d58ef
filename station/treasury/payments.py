"""Requisitions: a request to pay money out of a fund, approved by someone else
than its requester, executed by someone else than its requester with the
executor's TOTP code, paid exactly once.

:func:`execute` is one transaction: the requisition row is locked (two
treasurers, a double Enter, a retry after a crash: the second finds it paid),
then the fund (the balance checked under the lock; too little is refused with
the balance shown), then the executor's row, where the TOTP step is checked
against replay and stored; then the ledger entry with its journal row, the
execution (UNIQUE per requisition and per idempotency key: the database's
word if the code were wrong) and the status ``paid``. A refused attempt (too
little in the fund, the approval too old) is counted in ``retry_count`` with its
``last_error``; after ``max_retries`` the requisition is ``failed``.
"""
from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass

import peewee

from data import db as dbmod
from data.models import User, utcnow
from data.treasury import METHODS, Fund, LedgerEntry, PaymentExecution, Requisition
from station import authority, journal, permissions
from station.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from station.treasury.ledger import Books, InsufficientFunds, fund_id, lock_clause, parse_amount, text

#: methods that need a destination (an account, a phone number)
NEEDS_DESTINATION = ("bank_transfer", "mobile_money")


@dataclass(frozen=True)
class ExecutionView:
    requisition_id: int
    execution_id: int
    amount: int
    fund: str
    balance: int
    reference: str
    executor: str
    already: bool = False      # an earlier execution with the same key, returned again


def new_key() -> str:
    """An idempotency key for one execution attempt (kept by the caller across retries)."""
    return uuid.uuid4().hex


def _check_user(user) -> None:
    if user is None or not getattr(user, "active", False):
        raise PermissionDenied("nobody is logged in")


def _method(value) -> str:
    m = value.strip() if isinstance(value, str) else ""
    if m not in METHODS:
        raise InvalidInput(f"unknown method {value!r}: choose {', '.join(METHODS)}")
    return m


def request(ctx, user, fund, amount, payee, purpose: str = "", method: str = "cash",
            destination: str = "") -> int:
    """Ask for a payment out of ``fund``; returns the requisition id."""
    _check_user(user)
    fid = fund_id(fund)
    a = parse_amount(ctx, amount)
    who = text(payee, "the payee", max_len=120, required=True)
    why = text(purpose, "the purpose")
    m = _method(method)
    dest = text(destination, "the destination", max_len=120, required=m in NEEDS_DESTINATION)
    with dbmod.write():
        authority.require(ctx, user, "treasury.request")
        r = Requisition.create(fund=fid, requester=user.id, amount=a, payee=who, purpose=why, method=m,
                               destination=dest, status="requested", terminal=ctx.terminal,
                               max_retries=ctx.config.get("treasury.max_retries"))
        journal.append("treasury.requested", terminal=ctx.terminal, user=user, amount=a, ref=f"requisition {r.id}",
                       data={"requisition": r.id, "fund": fid, "payee": who, "purpose": why, "method": m,
                             "destination": dest})
    return r.id


def _lock(req_id) -> Requisition:
    if isinstance(req_id, bool) or not isinstance(req_id, int):
        raise InvalidInput(f"{req_id!r} is not a requisition number")
    r = dbmod.current().execute_sql(dbmod.q(
        "SELECT id, requester_id, status, approved_at, fund_id, amount, payee, retry_count, max_retries "
        f"FROM requisition WHERE id = ?{lock_clause()}"), (req_id,)).fetchone()
    if r is None:
        raise NotFound(f"no requisition #{req_id}")
    return Requisition(id=r[0], requester=r[1], status=r[2], approved_at=_as_time(r[3]), fund=r[4], amount=r[5],
                       payee=r[6], retry_count=r[7], max_retries=r[8])


def _as_time(v):
    if v is None or isinstance(v, _dt.datetime):
        return v
    return _dt.datetime.fromisoformat(str(v))


def approve(ctx, user, req_id, note: str = "") -> None:
    """Approve a requisition (never one's own). An approved one whose execution
    window passed may be approved again (its window starts anew)."""
    _check_user(user)
    n = text(note, "the note", max_len=500)
    with dbmod.write():
        r = _lock(req_id)
        authority.require(ctx, user, "treasury.approve")
        if r.requester_id == user.id:
            raise PermissionDenied("a requisition is approved by someone else than its requester")
        if r.status not in ("requested", "approved"):
            raise Conflict(f"requisition #{r.id} is {r.status}: it cannot be approved")
        Requisition.update(status="approved", approver=user.id, approved_at=utcnow(), decided_note=n,
                           updated_at=utcnow()).where(Requisition.id == r.id).execute()
        journal.append("treasury.approved", terminal=ctx.terminal, user=user, amount=r.amount,
                       ref=f"requisition {r.id}", data={"requisition": r.id, "note": n})


def reject(ctx, user, req_id, note: str = "") -> None:
    """Reject a requisition that is not paid (never one's own)."""
    _check_user(user)
    n = text(note, "the reason", max_len=500)
    with dbmod.write():
        r = _lock(req_id)
        authority.require(ctx, user, "treasury.approve")
        if r.requester_id == user.id:
            raise PermissionDenied("a requisition is rejected by someone else than its requester")
        if r.status not in ("requested", "approved"):
            raise Conflict(f"requisition #{r.id} is {r.status}: it cannot be rejected")
        Requisition.update(status="rejected", approver=user.id, decided_note=n, updated_at=utcnow()).where(
            Requisition.id == r.id).execute()
        journal.append("treasury.rejected", terminal=ctx.terminal, user=user, amount=r.amount,
                       ref=f"requisition {r.id}", data={"requisition": r.id, "note": n})


class _Replayed(Exception):
    pass


class _Refused(Exception):
    """An attempt that counts toward ``max_retries`` (recorded after the rollback)."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


_EXISTS = "SELECT 1 FROM payment_execution WHERE idem_key = ?"


def _existing(key: str, req_id: int) -> ExecutionView | None:
    if dbmod.current().execute_sql(dbmod.q(_EXISTS), (key,)).fetchone() is None:
        return None       # the usual case: one indexed probe, no view to build
    row = (PaymentExecution.select(PaymentExecution, User.name.alias("executor_name"))
           .join(User, on=(PaymentExecution.executor == User.id))
           .where(PaymentExecution.idem_key == key).objects().first())
    if row is None:
        return None
    if row.requisition_id != req_id:
        raise InvalidInput("this execution key belongs to another requisition")
    e = LedgerEntry.get_by_id(row.entry_id)
    return ExecutionView(req_id, row.id, row.amount, Fund.get_by_id(e.fund_id).name, e.balance_after,
                         row.reference, row.executor_name, already=True)


_USER_LOCK = 'SELECT active, role, totp_last_step FROM "user" WHERE id = ?'
_INSERT_EXEC = ("INSERT INTO payment_execution (requisition_id, idem_key, executor_id, requester_id, amount, "
                "entry_id, terminal, origin, totp_step, reference, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id")
_PAID = "UPDATE requisition SET status = 'paid', updated_at = ? WHERE id = ? AND status = 'approved'"
_STEP = 'UPDATE "user" SET totp_last_step = ?, failed_attempts = 0 WHERE id = ?'


def execute(ctx, user, req_id, totp_code, *, key: str, reference: str = "",
            now: float | None = None) -> ExecutionView:
    """Pay an approved requisition out of its fund (see the module's docstring).
    ``key``: the attempt's idempotency key (:func:`new_key`), the same on a retry."""
    _check_user(user)
    if not isinstance(key, str) or not 8 <= len(key) <= 64:
        raise InvalidInput("an execution needs its idempotency key")
    ref = text(reference, "the reference", max_len=120)
    if isinstance(req_id, bool) or not isinstance(req_id, int):
        raise InvalidInput(f"{req_id!r} is not a requisition number")
    again = _existing(key, req_id)
    if again is not None:
        return again
    step = authority.match_totp(ctx, user, totp_code, now=now)
    window = ctx.config.get("treasury.execute_window_minutes")
    try:
        with dbmod.write():
            db = dbmod.current()
            r = _lock(req_id)
            if r.status in ("paid", "reconciled"):
                again = _existing(key, req_id)
                if again is not None:
                    return again
                done = PaymentExecution.get(PaymentExecution.requisition == r.id)
                raise Conflict(f"requisition #{r.id} was already paid by {User.get_by_id(done.executor_id).name} "
                               f"at {done.created_at:%H:%M:%S}: it is paid once")
            if r.requester_id == user.id:
                raise PermissionDenied("the executor of a payment may not be its requester")
            if r.status != "approved":
                raise Conflict(f"requisition #{r.id} is {r.status}: only an approved requisition is paid")
            at = utcnow()
            if r.approved_at + _dt.timedelta(minutes=window) < at:
                raise _Refused(Conflict(f"requisition #{r.id} was approved more than {window} minutes ago: "
                                        f"it must be approved again before it is paid"))
            books = Books(ctx, user)
            books.lock(r.fund_id)
            _probe(ctx, "locked")
            active, role, last = db.execute_sql(dbmod.q(_USER_LOCK + lock_clause()), (user.id,)).fetchone()
            if not active:
                raise PermissionDenied(f"user {user.name} is disabled")
            if permissions.decide(role, "treasury.execute", config=ctx.config) != permissions.ALLOW:
                raise PermissionDenied(f"{role} may not execute payments")
            if last is not None and step <= last:
                raise _Replayed()
            dbmod.defer(dbmod.q(_STEP), (step, user.id))
            try:
                p = books.move(r.fund_id, -r.amount, ref_type="requisition", ref_id=r.id, memo=r.payee,
                               data={"op": "payment", "requisition": r.id, "reference": ref})
            except InsufficientFunds as e:
                raise _Refused(e) from None
            books.write()
            xid = db.execute_sql(dbmod.q(_INSERT_EXEC), (
                r.id, key, user.id, r.requester_id, r.amount, p.id, ctx.terminal, ctx.origin or "console", step,
                ref, dbmod.param_time(at))).fetchone()[0]
            dbmod.defer(dbmod.q(_PAID), (dbmod.param_time(at), r.id))
            return ExecutionView(r.id, xid, r.amount, p.fund.name, p.balance_after, ref, user.name)
    except _Replayed:
        authority.refuse_totp(ctx, user, "totp.replayed")
    except _Refused as e:
        _attempt_failed(ctx, user, req_id, e.error)
        raise e.error from None
    except peewee.IntegrityError:
        again = _existing(key, req_id)
        if again is not None:
            return again
        raise Conflict(f"requisition #{req_id} was paid at another terminal meanwhile: it is paid once") from None


def _probe(ctx, point: str) -> None:
    """A named point inside the execution where tests pause one terminal."""
    hook = ctx.extras.get("treasury.probe")
    if hook is not None:
        hook(point)


def _attempt_failed(ctx, user, req_id: int, error: Exception) -> None:
    """Count a refused execution attempt; the last allowed one marks the requisition failed."""
    with dbmod.write():
        r = _lock(req_id)
        if r.status != "approved":
            return
        n = r.retry_count + 1
        status = "failed" if n >= r.max_retries else "approved"
        Requisition.update(retry_count=min(n, r.max_retries), status=status, last_error=str(error)[:500],
                           updated_at=utcnow()).where(Requisition.id == r.id).execute()
        journal.append("treasury.execute_failed", terminal=ctx.terminal, user=user, amount=r.amount,
                       ref=f"requisition {r.id}", data={"requisition": r.id, "attempt": n, "error": str(error),
                                                        "status": status})

