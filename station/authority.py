"""Manager authority: TOTP, approvals (manager override), approval requests
that wait for a manager at another terminal, and ``require`` — the one gate
every service calls before acting.

An Approval covers exactly one action: its kind, amount and ref (ticket, session)
must match, it is used once (``used_at`` set under a row lock in the same
transaction as the action), and the approver is never the requester.
"""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass

import pyotp

from data import db as dbmod
from data.models import Approval, ApprovalRequest, User, utcnow
from station import auth, journal, permissions
from station.errors import (
    AuthFailed, ConfigError, Conflict, InvalidInput, LockedOut, NeedsApproval, NotFound, PermissionDenied,
)

TOTP_INTERVAL = 30


# ------------------------------------------------------------------- TOTP ---

def encrypt_secret(ctx, secret: str) -> str:
    return ctx.keys.fernet().encrypt(secret.encode()).decode()


def decrypt_secret(ctx, token: str, name: str = "this user") -> str:
    """The TOTP secret in clear. A secret this till's key cannot read is ONE
    sentence (ConfigError), never counted as a wrong code."""
    from cryptography.fernet import InvalidToken
    try:
        return ctx.keys.fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        raise ConfigError(f"this till cannot read {name}'s TOTP secret: it was enrolled with another key "
                          f"file. Install the store's key ('station key import') or enrol again "
                          f"('station user totp {name}')") from None


def needs_totp(ctx, user: User) -> bool:
    return user.role in ctx.config.security.totp_roles


def asks_totp(ctx, name: str) -> bool:
    """Whether an approval by the user called ``name`` asks for a TOTP code
    (an unknown name asks for none: the approval then fails on the PIN)."""
    u = User.get_or_none(User.name == name.strip())
    return u is not None and needs_totp(ctx, u)


def verify_totp(ctx, user: User, code: str, *, now: float | None = None) -> None:
    """Accept the current step and one either side, never a step at or below the
    last accepted one (no replay). A wrong code counts toward the lockout."""
    step = match_totp(ctx, user, code, now=now)
    with dbmod.write():
        u = dbmod.locked(User.select().where(User.id == user.id)).get()
        replay = u.totp_last_step is not None and step <= u.totp_last_step
        if not replay:
            User.update(totp_last_step=step, failed_attempts=0).where(User.id == u.id).execute()
    if replay:
        refuse_totp(ctx, user, "totp.replayed")


def match_totp(ctx, user: User, code: str, *, now: float | None = None) -> int:
    """The time step ``code`` belongs to (the current one or one either side),
    not yet checked against replay: the caller stores it, under the user's row
    lock, only if it is above ``totp_last_step`` (:func:`verify_totp`, or inside
    the caller's own transaction). A wrong code is recorded (:func:`refuse_totp`)."""
    if user.totp_secret is None:
        raise AuthFailed(f"{user.name} has no TOTP enrolled: run 'station user totp {user.name}'")
    code = (code or "").strip()
    if not (code.isdigit() and len(code) == 6):
        refuse_totp(ctx, user, "totp.failed", "a TOTP code is 6 digits")
    totp = pyotp.TOTP(decrypt_secret(ctx, user.totp_secret, user.name), interval=TOTP_INTERVAL)
    t = time.time() if now is None else now
    for delta in (0, -1, 1):
        s = int(t // TOTP_INTERVAL) + delta
        if totp.verify(code, for_time=s * TOTP_INTERVAL, valid_window=0):
            return s
    refuse_totp(ctx, user, "totp.failed", "wrong TOTP code")


def refuse_totp(ctx, user: User, kind: str = "totp.replayed",
                message: str = "this TOTP code was already used: wait for the next one") -> None:
    """Record a refused TOTP code (its own transaction: one ``kind`` event,
    counted toward the lockout) and raise AuthFailed, or LockedOut when this
    failure locked the user."""
    if auth.record_failure(ctx, user, kind):
        raise LockedOut(f"too many wrong attempts: {user.name} is locked for "
                        f"{ctx.config.security.lockout_minutes} minutes")
    raise AuthFailed(message)


# ---------------------------------------------------------------- sign-in ---

#: ``sign_in``'s action for a user's own PIN or TOTP (no permission needed)
OWN_ACCOUNT = "own account"


def sign_in(ctx, name: str, pin: str, action, ask_totp, *, via: str = "cli") -> User:
    """Who is acting, for a command that is not run from a logged-in screen (the
    ``station`` command line): ``name`` and ``pin`` checked with the shared
    lockout, the permission of ``action`` (a name, or a function of the user
    giving it, e.g. for "their own PIN or someone else's") must be ALLOW, and
    where ``permissions.SECOND_FACTOR`` and the role ask for it, a TOTP code
    from ``ask_totp()``. Journalled as ``signin`` (with the action) or
    ``signin.refused``; returns the user to act as."""
    user = auth.check_credentials(ctx, name, pin, purpose="signin", reset=False)
    act = action(user) if callable(action) else action
    if act != OWN_ACCOUNT:
        if permissions.decide(user.role, act, config=ctx.config) != permissions.ALLOW:
            journal.append("signin.refused", terminal=ctx.terminal, user=user, data={"action": act, "via": via})
            raise PermissionDenied(f"{user.name} ({user.role}) may not {act.replace('.', ' ').replace('_', ' ')}")
    needs = needs_totp(ctx, user) and (act in permissions.SECOND_FACTOR
                                       or (act == OWN_ACCOUNT and user.totp_secret is not None))
    if needs:
        if user.totp_secret is None:
            journal.append("signin.refused", terminal=ctx.terminal, user=user,
                           data={"action": act, "via": via, "why": "no TOTP enrolled"})
            raise AuthFailed(f"{user.name} has no TOTP enrolled, which {act} needs: "
                             f"run 'station user totp {user.name}' first")
        verify_totp(ctx, user, ask_totp() or "")   # resets the failure counter on success
    elif user.failed_attempts:
        with dbmod.write():
            auth.reset_failures(user)
    journal.append("signin", terminal=ctx.terminal, user=user, data={"action": act, "via": via})
    return User.get_by_id(user.id)


# -------------------------------------------------------------- approvals ---

def _check_approver(ctx, requester: User, approver_name: str, pin: str, totp_code: str | None,
                    action: str, amount: int | None, ref) -> User:
    """The approver's PIN (then TOTP where the role needs it), role and "not the
    requester". Failures are journalled and counted toward the lockout."""
    if action not in permissions.TABLE:
        raise InvalidInput(f"unknown action {action}")
    # the failure counter is reset only when every factor passed, so wrong TOTP
    # codes after a right PIN still add up to the lockout
    approver = auth.check_credentials(ctx, approver_name, pin, purpose="approval", reset=False)
    if approver.id == requester.id:
        journal.append("override.refused", terminal=ctx.terminal, user=approver, amount=amount, ref=ref,
                       data={"action": action, "why": "approver is the requester"})
        raise PermissionDenied("the approver must be someone else than the requester")
    if not may_approve(ctx, approver, action, amount):
        journal.append("override.refused", terminal=ctx.terminal, user=approver, amount=amount, ref=ref,
                       data={"action": action, "why": f"role {approver.role} may not approve"})
        raise PermissionDenied(f"{approver.name} ({approver.role}) may not approve {action}")
    if needs_totp(ctx, approver):
        verify_totp(ctx, approver, totp_code or "")  # resets the counter on success
    elif approver.failed_attempts:
        with dbmod.write():
            auth.reset_failures(approver)
    return approver


def may_approve(ctx, approver: User, action: str, amount: int | None) -> bool:
    return approver.role in permissions.approvers(action) and \
        permissions.decide(approver.role, action, amount=amount, config=ctx.config) == permissions.ALLOW


def approve(ctx, requester: User, approver_name: str, pin: str, totp_code: str | None,
            action: str, *, amount: int | None = None, ref: str | None = None,
            reason: str = "") -> Approval:
    """A manager approves exactly one action at this terminal (PIN, then TOTP
    where the approver's role needs it). Returns the unused Approval."""
    approver = _check_approver(ctx, requester, approver_name, pin, totp_code, action, amount, ref)
    with dbmod.write():
        a = Approval.create(action=action, requester=requester, approver=approver, amount=amount,
                            ref=None if ref is None else str(ref), reason=reason or "", terminal=ctx.terminal,
                            origin=ctx.origin)
        journal.append("override.approved", terminal=ctx.terminal, user=approver, amount=amount, ref=ref,
                       data={"action": action, "requester": requester.name, "reason": reason or "",
                             "approval": a.id})
    return a


def require(ctx, user: User, action: str, *, amount: int | None = None, ref=None,
            approval: Approval | int | None = None) -> Approval | None:
    """The gate. Call INSIDE the action's write transaction. Returns the consumed
    approval (or None when the user may act alone); raises PermissionDenied or
    NeedsApproval otherwise — the same for the UI, the CLI and a direct call."""
    if user is None or not getattr(user, "active", False):
        raise PermissionDenied("nobody is logged in")
    # the database's word, not the session's copy: disabled or re-roled since login counts now
    fresh = User.select(User.active, User.role).where(User.id == user.id).first()
    return require_role(ctx, user, fresh.role if fresh is not None and fresh.active else None, action,
                        amount=amount, ref=ref, approval=approval)


#: the fresh role of a user, read in a caller's own statement (None: disabled or gone)
FRESH_ROLE_SQL = 'SELECT CASE WHEN active THEN role END FROM "user" WHERE id = ?'


def require_role(ctx, user: User, role: str | None, action: str, *, amount: int | None = None, ref=None,
                 approval: Approval | int | None = None) -> Approval | None:
    """:func:`require` with the user's role as the caller read it inside the same
    transaction (``FRESH_ROLE_SQL``, e.g. as a column of its own first statement;
    None when the user is disabled or gone)."""
    if user is None or not getattr(user, "active", False):
        raise PermissionDenied("nobody is logged in")
    if role is None:
        raise PermissionDenied(f"user {user.name} is disabled")
    d = permissions.decide(role, action, amount=amount, config=ctx.config)
    if d == permissions.ALLOW:
        return None
    if d == permissions.REFUSE:
        raise PermissionDenied(f"{role} may not {action.replace('.', ' ').replace('_', ' ')}")
    if approval is None:
        raise NeedsApproval(f"{action.replace('.', ' ').replace('_', ' ')} needs a manager's approval",
                            action, amount, None if ref is None else str(ref))
    aid = approval.id if isinstance(approval, Approval) else int(approval)
    a = dbmod.locked(Approval.select().where(Approval.id == aid)).get_or_none()
    ref_s = None if ref is None else str(ref)
    problem = None
    if a is None:
        problem = "no such approval"
    elif a.used_at is not None:
        problem = "this approval was already used"
    elif a.action != action:
        problem = f"the approval is for {a.action}, not {action}"
    elif a.requester_id != user.id:
        problem = "the approval was given to someone else"
    elif a.approver_id == user.id:
        problem = "the approver must be someone else than the requester"
    elif a.amount != amount:
        problem = "the approval is for a different amount"
    elif a.ref != ref_s:
        problem = "the approval is for a different ticket or session"
    if problem:
        raise PermissionDenied(problem)
    n = Approval.update(used_at=utcnow()).where((Approval.id == a.id) & Approval.used_at.is_null()).execute()
    if n != 1:
        raise PermissionDenied("this approval was already used")
    return a


# ------------------------------------------------------ approval requests ---
# A cashier's terminal asks (request_approval); the request waits in the
# database; a manager at another terminal or over SSH sees it (pending_requests)
# and grants it with PIN + TOTP (grant_request: the one Approval for exactly that
# action, amount and ref, used once by ``require``) or refuses it; the asking
# terminal polls request_state and goes on when the grant arrives. Unanswered
# requests expire after ``security.approval_request_minutes``.

@dataclass(frozen=True)
class PendingRequest:
    id: int
    action: str
    amount: int | None
    ref: str | None
    reason: str
    requester: str
    terminal: str
    origin: str | None
    created_at: _dt.datetime
    expires_at: _dt.datetime


@dataclass(frozen=True)
class RequestState:
    id: int
    status: str                 # pending | granted | refused | cancelled | expired
    approval_id: int | None
    decided_by: str | None
    note: str


def request_approval(ctx, requester: User, action: str, *, amount: int | None = None, ref=None,
                     reason: str = "") -> ApprovalRequest:
    """Ask for a manager's approval of exactly this action, amount and ref, to
    be given at another terminal. An older pending request of this terminal is
    cancelled (a terminal waits for one approval at a time)."""
    if requester is None or not getattr(requester, "active", False):
        raise PermissionDenied("nobody is logged in")
    if action not in permissions.TABLE:
        raise InvalidInput(f"unknown action {action}")
    d = permissions.decide(requester.role, action, amount=amount, config=ctx.config)
    if d == permissions.REFUSE:
        raise PermissionDenied(f"{requester.role} may not {action.replace('.', ' ').replace('_', ' ')}")
    if d == permissions.ALLOW:
        raise InvalidInput(f"{requester.name} may do this without an approval")
    ref_s = None if ref is None else str(ref)
    now = utcnow()
    minutes = ctx.config.security.approval_request_minutes
    with dbmod.write():
        older = list(dbmod.locked(ApprovalRequest.select().where(
            (ApprovalRequest.terminal == ctx.terminal) & (ApprovalRequest.status == "pending"))))
        for r in older:
            ApprovalRequest.update(status="cancelled", decided_at=now).where(ApprovalRequest.id == r.id).execute()
            journal.append("override.request_cancelled", terminal=ctx.terminal, user=requester, amount=r.amount,
                           ref=r.ref, data={"action": r.action, "request": r.id, "why": "a newer request"})
        req = ApprovalRequest.create(action=action, amount=amount, ref=ref_s, reason=reason or "",
                                     requester=requester, terminal=ctx.terminal, origin=ctx.origin,
                                     created_at=now, expires_at=now + _dt.timedelta(minutes=minutes))
        journal.append("override.requested", terminal=ctx.terminal, user=requester, amount=amount, ref=ref_s,
                       data={"action": action, "request": req.id, "reason": reason or ""})
    return req


def expire_requests(ctx) -> int:
    """Mark pending requests past their time as expired (journalled); returns how many."""
    now = utcnow()
    stale = ApprovalRequest.select(ApprovalRequest.id).where(
        (ApprovalRequest.status == "pending") & (ApprovalRequest.expires_at <= now))
    if not stale.exists():
        return 0
    n = 0
    with dbmod.write():
        for r in dbmod.locked(ApprovalRequest.select().where(
                (ApprovalRequest.status == "pending") & (ApprovalRequest.expires_at <= now))):
            ApprovalRequest.update(status="expired", decided_at=now).where(ApprovalRequest.id == r.id).execute()
            journal.append("override.request_expired", terminal=r.terminal, user=r.requester.name,
                           amount=r.amount, ref=r.ref, data={"action": r.action, "request": r.id})
            n += 1
    return n


def pending_requests(ctx, viewer: User | None = None) -> list[PendingRequest]:
    """Requests waiting for a manager, oldest first; with ``viewer``: only those
    this person may grant (an approver role for the action, not their own)."""
    expire_requests(ctx)
    q = (ApprovalRequest.select(ApprovalRequest, User.name)
         .join(User, on=(ApprovalRequest.requester == User.id))
         .where((ApprovalRequest.status == "pending") & (ApprovalRequest.expires_at > utcnow()))
         .order_by(ApprovalRequest.created_at, ApprovalRequest.id))
    out = []
    for r in q:
        if viewer is not None and (r.requester_id == viewer.id or not may_approve(ctx, viewer, r.action, r.amount)):
            continue
        out.append(PendingRequest(id=r.id, action=r.action, amount=r.amount, ref=r.ref, reason=r.reason,
                                  requester=r.requester.name, terminal=r.terminal, origin=r.origin,
                                  created_at=r.created_at, expires_at=r.expires_at))
    return out


def _decided(r: ApprovalRequest) -> str:
    who = r.decided_by.name if r.decided_by_id else None
    return {"granted": f"already granted by {who}", "refused": f"already refused by {who}",
            "cancelled": "cancelled by the terminal that asked", "expired": "expired"}.get(r.status, r.status)


def _open_request(request_id: int) -> ApprovalRequest:
    r = dbmod.locked(ApprovalRequest.select().where(ApprovalRequest.id == int(request_id))).get_or_none()
    if r is None:
        raise NotFound(f"no approval request #{request_id}")
    if r.status == "pending" and r.expires_at <= utcnow():
        raise Conflict(f"request #{r.id} expired")
    if r.status != "pending":
        raise Conflict(f"request #{r.id} was {_decided(r)}")
    return r


def grant_request(ctx, approver_name: str, pin: str, totp_code: str | None, request_id: int) -> Approval:
    """Grant a waiting request (the approver's PIN, then TOTP where the role needs
    it). Returns the Approval for exactly the request's action, amount and ref;
    the asking terminal uses it once. Two managers granting at once: one wins."""
    r = ApprovalRequest.get_or_none(ApprovalRequest.id == int(request_id))
    if r is None:
        raise NotFound(f"no approval request #{request_id}")
    if r.status != "pending" or r.expires_at <= utcnow():
        expire_requests(ctx)
        with dbmod.write():
            _open_request(r.id)   # raises with what became of it
    approver = _check_approver(ctx, r.requester, approver_name, pin, totp_code, r.action, r.amount, r.ref)
    now = utcnow()
    with dbmod.write():
        r = _open_request(r.id)
        a = Approval.create(action=r.action, requester=r.requester_id, approver=approver, amount=r.amount,
                            ref=r.ref, reason=r.reason, terminal=r.terminal, origin=ctx.origin)
        n = (ApprovalRequest.update(status="granted", decided_at=now, decided_by=approver,
                                    decided_origin=ctx.origin, approval=a)
             .where((ApprovalRequest.id == r.id) & (ApprovalRequest.status == "pending")).execute())
        if n != 1:
            raise Conflict(f"request #{r.id} was decided by someone else meanwhile")
        journal.append("override.approved", terminal=ctx.terminal, user=approver, amount=r.amount, ref=r.ref,
                       data={"action": r.action, "requester": r.requester.name, "reason": r.reason,
                             "approval": a.id, "request": r.id, "for_terminal": r.terminal})
    return a


def refuse_request(ctx, approver: User, request_id: int, note: str = "") -> None:
    """Refuse a waiting request: the asking terminal is told, nothing happens."""
    if approver is None or not getattr(approver, "active", False):
        raise PermissionDenied("nobody is logged in")
    with dbmod.write():
        r = _open_request(request_id)
        if r.requester_id == approver.id:
            raise PermissionDenied("the approver must be someone else than the requester")
        if not may_approve(ctx, approver, r.action, r.amount):
            raise PermissionDenied(f"{approver.name} ({approver.role}) may not decide on {r.action}")
        ApprovalRequest.update(status="refused", decided_at=utcnow(), decided_by=approver,
                               decided_origin=ctx.origin, note=note or "").where(ApprovalRequest.id == r.id).execute()
        journal.append("override.request_refused", terminal=ctx.terminal, user=approver, amount=r.amount,
                       ref=r.ref, data={"action": r.action, "requester": r.requester.name, "request": r.id,
                                        "note": note or "", "for_terminal": r.terminal})


def cancel_request(ctx, requester: User, request_id: int) -> None:
    """The asking terminal gives up waiting (Escape). A request already decided
    stays as it is (a granted but unused approval is never used)."""
    with dbmod.write():
        r = dbmod.locked(ApprovalRequest.select().where(ApprovalRequest.id == int(request_id))).get_or_none()
        if r is None or r.status != "pending":
            return
        if requester is None or r.requester_id != requester.id:
            raise PermissionDenied("only the person who asked may cancel the request")
        ApprovalRequest.update(status="cancelled", decided_at=utcnow()).where(ApprovalRequest.id == r.id).execute()
        journal.append("override.request_cancelled", terminal=ctx.terminal, user=requester, amount=r.amount,
                       ref=r.ref, data={"action": r.action, "request": r.id})


def granted_approval(ctx, state: "RequestState") -> Approval | None:
    """The unused Approval a granted request made (None unless granted)."""
    return Approval.get_by_id(state.approval_id) if state.status == "granted" else None


def request_state(ctx, request_id: int) -> RequestState:
    """What became of a request (the asking terminal polls this)."""
    r = ApprovalRequest.get_or_none(ApprovalRequest.id == int(request_id))
    if r is None:
        raise NotFound(f"no approval request #{request_id}")
    if r.status == "pending" and r.expires_at <= utcnow():
        expire_requests(ctx)
        r = ApprovalRequest.get_by_id(r.id)
    return RequestState(id=r.id, status=r.status, approval_id=r.approval_id,
                        decided_by=r.decided_by.name if r.decided_by_id else None, note=r.note)
