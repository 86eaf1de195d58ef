"""People and PINs. PINs: scrypt over HMAC(pepper, PIN), pepper in the key file
(never in the database). Failed attempts and lockouts live in the database so
every terminal shares them. A PIN is never printed, logged or stored in clear."""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import secrets

from data import db as dbmod
from data.models import ROLES, User, utcnow
from station import journal, permissions
from station.errors import AuthFailed, Conflict, InvalidInput, LockedOut, NotFound, PermissionDenied

SCRYPT_R, SCRYPT_P = 8, 1


def _peppered(pin: str, pepper: bytes) -> bytes:
    return hmac.new(pepper, pin.encode("utf-8"), hashlib.sha256).digest()


def hash_pin(pin: str, pepper: bytes, n: int = 2 ** 15) -> str:
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(_peppered(pin, pepper), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P,
                        maxmem=256 * 1024 * 1024, dklen=32)
    return "scrypt${}${}${}${}${}".format(n, SCRYPT_R, SCRYPT_P, base64.b64encode(salt).decode(),
                                          base64.b64encode(dk).decode())


def check_pin(pin: str, stored: str, pepper: bytes) -> bool:
    try:
        algo, n, r, p, salt, dk = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(_peppered(pin, pepper), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), maxmem=256 * 1024 * 1024, dklen=32)
        return hmac.compare_digest(got, base64.b64decode(dk))
    except (ValueError, TypeError):
        return False


def validate_pin(pin: str) -> str:
    if not isinstance(pin, str) or not pin.isdigit() or not (4 <= len(pin) <= 8) or not pin.isascii():
        raise InvalidInput("a PIN is 4 to 8 digits")
    return pin


def validate_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-" for c in name):
        raise InvalidInput("a user name is 1 to 64 letters, digits, '.', '_' or '-'")
    return name


def _now() -> _dt.datetime:
    return utcnow()


def is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > _now()


def record_failure(ctx, user: User | None, kind: str, *, name: str | None = None,
                   reason: str = "unknown user") -> bool:
    """Count one failed PIN or TOTP attempt against ``user`` in the database.
    Returns True if this failure locked the user. Opens its own transaction so
    the failure is kept even though the caller then raises."""
    cfg = ctx.config.security
    locked = False
    with dbmod.write():
        if user is None:
            journal.append(kind, terminal=ctx.terminal, user=name, data={"reason": reason})
            return False
        u = dbmod.locked(User.select().where(User.id == user.id)).get()
        if is_locked(u):
            # another terminal locked this user while the PIN was being checked:
            # the attempt is journalled, the fresh lockout's counter is left alone
            journal.append(kind, terminal=ctx.terminal, user=u, data={"reason": "already locked"})
            return True
        failed = u.failed_attempts + 1
        upd = {User.failed_attempts: failed}
        if failed >= cfg.max_failed_attempts:
            upd[User.locked_until] = _now() + _dt.timedelta(minutes=cfg.lockout_minutes)
            upd[User.failed_attempts] = 0
            locked = True
        User.update(upd).where(User.id == u.id).execute()
        journal.append(kind, terminal=ctx.terminal, user=u, data={"failed_attempts": failed})
        if locked:
            journal.append("user.locked", terminal=ctx.terminal, user=u,
                           data={"minutes": cfg.lockout_minutes})
    return locked


def reset_failures(user: User) -> None:
    User.update(failed_attempts=0).where(User.id == user.id).execute()


def check_credentials(ctx, name: str, pin: str, *, purpose: str = "login", reset: bool = True) -> User:
    """Verify a user's PIN with the shared lockout. Raises AuthFailed/LockedOut
    (after recording the failure); returns the user on success (the failure
    counter reset). Does not journal the success: callers do."""
    name = (name or "").strip()
    user = User.get_or_none(User.name == name) if name else None
    if user is None:
        record_failure(ctx, None, f"{purpose}.failed", name=name or "?")
        raise AuthFailed("unknown user or wrong PIN")
    if not user.active:
        record_failure(ctx, None, f"{purpose}.failed", name=name, reason="disabled user")
        raise AuthFailed(f"user {name} is disabled")
    if is_locked(user):
        journal.append(f"{purpose}.refused_locked", terminal=ctx.terminal, user=user)
        raise LockedOut(f"user {name} is locked until {user.locked_until:%H:%M} UTC: ask a manager to unlock")
    if not isinstance(pin, str) or not check_pin(pin, user.pin_hash, ctx.keys.pepper):
        if record_failure(ctx, user, f"{purpose}.failed"):
            raise LockedOut(f"too many wrong attempts: user {name} is locked for "
                            f"{ctx.config.security.lockout_minutes} minutes")
        raise AuthFailed("unknown user or wrong PIN")
    with dbmod.write():
        # re-read under the row lock: another terminal may have locked or disabled
        # this user while the (slow) PIN hash was being checked
        u = dbmod.locked(User.select().where(User.id == user.id)).get()
        if is_locked(u) or not u.active:
            journal.append(f"{purpose}.refused_locked", terminal=ctx.terminal, user=u)
        elif reset and u.failed_attempts:  # reset=False: a second factor follows (it resets)
            reset_failures(u)
    if not u.active:
        raise AuthFailed(f"user {name} is disabled")
    if is_locked(u):
        raise LockedOut(f"user {name} is locked until {u.locked_until:%H:%M} UTC: ask a manager to unlock")
    return User.get_by_id(user.id)


def login(ctx, name: str, pin: str) -> User:
    user = check_credentials(ctx, name, pin, purpose="login")
    journal.append("login", terminal=ctx.terminal, user=user)
    return user


def logout(ctx, user: User) -> None:
    journal.append("logout", terminal=ctx.terminal, user=user)


def require_role_action(user: User | None, action: str) -> None:
    """For admin tools: ``user`` None means the machine's operator at the CLI."""
    if user is None:
        return
    if permissions.decide(user.role, action) != permissions.ALLOW:
        raise PermissionDenied(f"{user.name} ({user.role}) may not {action.replace('.', ' ')}")


def _actor_name(actor) -> str:
    return actor.name if actor is not None else "cli"


def add_user(ctx, actor, name: str, role: str, pin: str, full_name: str = "") -> User:
    require_role_action(actor, "user.manage")
    name = validate_name(name)
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    validate_pin(pin)
    h = hash_pin(pin, ctx.keys.pepper, ctx.config.security.scrypt_n)
    with dbmod.write():
        if User.select().where(User.name == name).exists():
            raise Conflict(f"user {name} already exists")
        u = User.create(name=name, role=role, pin_hash=h, full_name=full_name)
        journal.append("user.added", terminal=ctx.terminal, user=_actor_name(actor), ref=name,
                       data={"role": role})
    return u


def add_first_user(ctx, name: str, role: str, pin: str, full_name: str = "") -> User:
    """The store's first user, added with nobody signed in (there is nobody yet):
    only while the store has no user at all, and only in a role that may manage
    users (so someone can add the others)."""
    if permissions.decide(role, "user.manage") != permissions.ALLOW:
        managers = [r for r in ROLES if permissions.decide(r, "user.manage") == permissions.ALLOW]
        raise InvalidInput(f"the first user must be able to add the others: role {' or '.join(managers)}")
    name = validate_name(name)
    validate_pin(pin)
    h = hash_pin(pin, ctx.keys.pepper, ctx.config.security.scrypt_n)
    with dbmod.write():
        journal.head(lock=True)   # two first users at once: one waits here and finds the other
        if User.select().exists():
            raise PermissionDenied("this store already has users: sign in as one who may add users")
        u = User.create(name=name, role=role, pin_hash=h, full_name=full_name)
        journal.append("user.added", terminal=ctx.terminal, user=name, ref=name,
                       data={"role": role, "first_user": True})
    return u


def _get(name: str) -> User:
    u = User.get_or_none(User.name == name)
    if u is None:
        raise NotFound(f"no user named {name}")
    return u


def set_pin(ctx, actor, name: str, pin: str) -> None:
    if actor is None or actor.name != name:
        require_role_action(actor, "user.manage")
    validate_pin(pin)
    h = hash_pin(pin, ctx.keys.pepper, ctx.config.security.scrypt_n)
    with dbmod.write():
        u = _get(name)
        User.update(pin_hash=h, failed_attempts=0).where(User.id == u.id).execute()
        journal.append("user.pin_set", terminal=ctx.terminal, user=_actor_name(actor), ref=name)


def disable(ctx, actor, name: str) -> None:
    require_role_action(actor, "user.manage")
    with dbmod.write():
        u = _get(name)
        User.update(active=False).where(User.id == u.id).execute()
        journal.append("user.disabled", terminal=ctx.terminal, user=_actor_name(actor), ref=name)


def enable(ctx, actor, name: str) -> None:
    require_role_action(actor, "user.manage")
    with dbmod.write():
        u = _get(name)
        User.update(active=True).where(User.id == u.id).execute()
        journal.append("user.enabled", terminal=ctx.terminal, user=_actor_name(actor), ref=name)


def unlock(ctx, actor, name: str) -> None:
    require_role_action(actor, "user.unlock")
    with dbmod.write():
        u = _get(name)
        User.update(locked_until=None, failed_attempts=0).where(User.id == u.id).execute()
        journal.append("user.unlocked", terminal=ctx.terminal, user=_actor_name(actor), ref=name)


def list_users():
    return list(User.select().order_by(User.name))
