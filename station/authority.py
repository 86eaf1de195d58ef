"""Manager authority: TOTP, approvals (manager override), and ``require`` — the
one gate every service calls before acting.

An Approval covers exactly one action: its kind, amount and ref (ticket, session)
must match, it is used once (``used_at`` set under a row lock in the same
transaction as the action), and the approver is never the requester.
"""
from __future__ import annotations

import time

import pyotp

from data import db as dbmod
from data.models import Approval, User, utcnow
from station import auth, journal, permissions
from station.errors import AuthFailed, InvalidInput, LockedOut, NeedsApproval, PermissionDenied

TOTP_INTERVAL = 30


# ------------------------------------------------------------------- TOTP ---

def encrypt_secret(ctx, secret: str) -> str:
    return ctx.keys.fernet().encrypt(secret.encode()).decode()


def decrypt_secret(ctx, token: str) -> str:
    return ctx.keys.fernet().decrypt(token.encode()).decode()


def needs_totp(ctx, user: User) -> bool:
    return user.role in ctx.config.security.totp_roles


def verify_totp(ctx, user: User, code: str, *, now: float | None = None) -> None:
    """Accept the current step and one either side, never a step at or below the
    last accepted one (no replay). A wrong code counts toward the lockout."""
    if user.totp_secret is None:
        raise AuthFailed(f"{user.name} has no TOTP enrolled: run 'station user totp {user.name}'")
    code = (code or "").strip()
    if not (code.isdigit() and len(code) == 6):
        if auth.record_failure(ctx, user, "totp.failed"):
            raise LockedOut(f"too many wrong attempts: {user.name} is locked for "
                            f"{ctx.config.security.lockout_minutes} minutes")
        raise AuthFailed("a TOTP code is 6 digits")
    totp = pyotp.TOTP(decrypt_secret(ctx, user.totp_secret), interval=TOTP_INTERVAL)
    t = time.time() if now is None else now
    ok, step = False, None
    for delta in (0, -1, 1):
        s = int(t // TOTP_INTERVAL) + delta
        if totp.verify(code, for_time=s * TOTP_INTERVAL, valid_window=0):
            ok, step = True, s
            break
    if not ok:
        if auth.record_failure(ctx, user, "totp.failed"):
            raise LockedOut(f"too many wrong attempts: {user.name} is locked for "
                            f"{ctx.config.security.lockout_minutes} minutes")
        raise AuthFailed("wrong TOTP code")
    with dbmod.write():
        u = dbmod.locked(User.select().where(User.id == user.id)).get()
        replay = u.totp_last_step is not None and step <= u.totp_last_step
        if not replay:
            User.update(totp_last_step=step, failed_attempts=0).where(User.id == u.id).execute()
    if replay:  # one failure event (kind totp.replayed), counted toward the lockout
        if auth.record_failure(ctx, user, "totp.replayed"):
            raise LockedOut(f"too many wrong attempts: {user.name} is locked for "
                            f"{ctx.config.security.lockout_minutes} minutes")
        raise AuthFailed("this TOTP code was already used: wait for the next one")


# -------------------------------------------------------------- approvals ---

def approve(ctx, requester: User, approver_name: str, pin: str, totp_code: str | None,
            action: str, *, amount: int | None = None, ref: str | None = None,
            reason: str = "") -> Approval:
    """A manager approves exactly one action at this terminal (PIN, then TOTP
    where the approver's role needs it). Returns the unused Approval."""
    if action not in permissions.TABLE:
        raise InvalidInput(f"unknown action {action}")
    # the failure counter is reset only when every factor passed, so wrong TOTP
    # codes after a right PIN still add up to the lockout
    approver = auth.check_credentials(ctx, approver_name, pin, purpose="approval", reset=False)
    if approver.id == requester.id:
        journal.append("override.refused", terminal=ctx.terminal, user=approver, amount=amount, ref=ref,
                       data={"action": action, "why": "approver is the requester"})
        raise PermissionDenied("the approver must be someone else than the requester")
    if approver.role not in permissions.approvers(action) or \
            permissions.decide(approver.role, action, amount=amount, config=ctx.config) != permissions.ALLOW:
        journal.append("override.refused", terminal=ctx.terminal, user=approver, amount=amount, ref=ref,
                       data={"action": action, "why": f"role {approver.role} may not approve"})
        raise PermissionDenied(f"{approver.name} ({approver.role}) may not approve {action}")
    if needs_totp(ctx, approver):
        verify_totp(ctx, approver, totp_code or "")  # resets the counter on success
    elif approver.failed_attempts:
        with dbmod.write():
            auth.reset_failures(approver)
    with dbmod.write():
        a = Approval.create(action=action, requester=requester, approver=approver, amount=amount,
                            ref=None if ref is None else str(ref), reason=reason or "", terminal=ctx.terminal)
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
    if fresh is None or not fresh.active:
        raise PermissionDenied(f"user {user.name} is disabled")
    d = permissions.decide(fresh.role, action, amount=amount, config=ctx.config)
    if d == permissions.ALLOW:
        return None
    if d == permissions.REFUSE:
        raise PermissionDenied(f"{fresh.role} may not {action.replace('.', ' ').replace('_', ' ')}")
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
