"""Locking the terminal after idle minutes (``security.idle_lock_minutes``).

Pure logic, no UI: :class:`IdleClock` says when the terminal is due to lock;
:func:`lock` records it; :func:`unlock` checks who comes back. The same user
resumes exactly where they were; another user gets a fresh start and the first
user's open ticket is parked for them (never inherited).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from data import db as dbmod
from data.models import User
from station import auth, journal
from station.errors import StationError


@dataclass
class IdleClock:
    """``minutes`` <= 0 means never lock. ``clock`` is monotonic seconds."""
    minutes: float
    clock: Callable[[], float] = time.monotonic
    last: float = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        if self.last is None:
            self.last = self.clock()

    @property
    def enabled(self) -> bool:
        return self.minutes > 0

    def touch(self, now: float | None = None) -> None:
        """Something happened (a key, the mouse): the idle time starts again."""
        self.last = self.clock() if now is None else now

    def deadline(self) -> float | None:
        return self.last + self.minutes * 60 if self.enabled else None

    def remaining(self, now: float | None = None) -> float | None:
        d = self.deadline()
        if d is None:
            return None
        return max(0.0, d - (self.clock() if now is None else now))

    def expired(self, now: float | None = None) -> bool:
        d = self.deadline()
        return d is not None and (self.clock() if now is None else now) >= d


def clock_for(ctx, clock: Callable[[], float] = time.monotonic) -> IdleClock:
    return IdleClock(minutes=ctx.config.security.idle_lock_minutes, clock=clock)


def lock(ctx, user: User | None) -> None:
    """Record that this terminal locked with ``user`` at it (again after a dropped
    connection: the event is not lost to a database restart)."""
    def tx():
        with dbmod.write():
            journal.append("terminal.locked", terminal=ctx.terminal, user=user)
    dbmod.retrying(tx)


@dataclass(frozen=True)
class Unlocked:
    user: User
    same: bool                     # True: resume exactly where they were
    parked_ticket: int | None = None  # the first user's ticket parked for them (other user only)
    note: str = ""


def unlock(ctx, locked_user: User | None, name: str, pin: str) -> Unlocked:
    """Someone types name + PIN at a locked terminal. Same user: resume. Another
    user: a fresh login; the first user's open ticket on this terminal is parked
    (kept for them, not handed over). Bad PIN etc.: AuthFailed/LockedOut with
    only the failure event recorded (shared DB-held lockout)."""
    user = auth.check_credentials(ctx, name, pin, purpose="unlock")
    if locked_user is not None and user.id == locked_user.id:
        journal.append("terminal.unlocked", terminal=ctx.terminal, user=user)
        return Unlocked(user=user, same=True)
    parked, note = None, ""
    if locked_user is not None:
        parked, note = park_for(ctx, locked_user)
        journal.append("logout", terminal=ctx.terminal, user=locked_user, data={"why": "another user at the lock"})
    journal.append("login", terminal=ctx.terminal, user=user,
                   data={"at_lock_of": locked_user.name} if locked_user is not None else {})
    return Unlocked(user=user, same=False, parked_ticket=parked, note=note)


def park_for(ctx, user: User) -> tuple[int | None, str]:
    """Park ``user``'s open ticket on this terminal, if any (sale service, when
    present). Returns (ticket id or None, a sentence for the screen)."""
    try:
        from station import sale
    except ImportError:
        return None, ""
    if not hasattr(sale, "park") or not hasattr(sale, "current_ticket"):
        return None, ""
    try:
        t = sale.current_ticket(ctx, user)
        if t is None:
            return None, ""
        tid = sale.park(ctx, user)
        return tid, f"{user.name}'s ticket was parked for them"
    except StationError as e:
        return None, f"{user.name}'s ticket was not parked: {e}"
