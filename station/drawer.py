"""Cash drawer sessions: counted float, cash postings, paid in/out, drops,
no-sale, X report, blind close with variance, Z report.

Expected cash = SUM(cash_movement.amount) of the session (signed amounts:
float + cash taken - change given + paid in - paid out - drops - cash refunded).
``DrawerSession.expected_cash`` caches it and is updated in the SAME transaction
as every movement; ``station verify`` (checks_drawer) recomputes both.

Concurrency: every movement and the close lock the session row of the drawer
(``SELECT ... WHERE status='open' FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` serialises writers) and re-check that it is open, so a
posting racing a close lands before it or is refused, never outside a session.
Lock order in every transaction: the drawer session row first, then the
ZCounter row, then the journal head (``journal.append`` last). Callers of
:func:`post_cash` (the sale) should post cash before their own
``journal.append`` to keep the same order.

Hardware: movements that open the drawer (open, paid in/out, drop, no-sale,
close) kick it AFTER the commit (no I/O while holding the write lock); the kick
is journalled (``drawer.kick`` / ``drawer.kick_failed``) and returned to the
caller to show. A failed kick never undoes the recorded movement.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, field

import peewee

from data import db as dbmod
from data.models import (
    CashMovement, DenominationCount, DrawerSession, User, ZCounter, ZReport,
)
from station import authority, journal, money, permissions
from station.errors import Conflict, InvalidInput, NeedsApproval, NotFound, PermissionDenied

#: largest quantity of one denomination in a count (more is a typing mistake)
MAX_COUNT_QTY = 10_000

#: kinds a sale or refund posts through :func:`post_cash`, with their sign
POST_KINDS = {"sale": 1, "change": -1, "refund": -1}


# ------------------------------------------------------------------ views ---

@dataclass
class KickInfo:
    ok: bool
    message: str
    skipped: bool = False


@dataclass
class SessionView:
    id: int
    drawer: str
    terminal: str
    cashier: str
    cashier_id: int
    status: str
    opened_at: _dt.datetime
    float_amount: int
    expected_cash: int          # cached running balance (hide it on a blind close)
    closed_at: _dt.datetime | None = None
    counted: int | None = None
    expected_at_close: int | None = None
    variance: int | None = None
    z_number: int | None = None
    kick: KickInfo | None = None


@dataclass
class MovementView:
    id: int
    session_id: int
    kind: str
    amount: int                 # signed, as stored
    reason: str
    note: str
    expected_cash: int          # after this movement
    kick: KickInfo | None = None


@dataclass
class Posting:
    """What :func:`post_cash` returns: the session the cash went into."""
    session_id: int
    movement_id: int | None     # None when the amount was 0 (nothing to record)
    expected_cash: int


@dataclass
class ZReportView:
    session_id: int
    drawer: str
    z_number: int
    counted: int
    expected: int
    variance: int
    data: dict = field(default_factory=dict)   # the stored report (reports.z_bytes prints it)
    kick: KickInfo | None = None


def _view(s: DrawerSession, cashier_name: str | None = None) -> SessionView:
    if cashier_name is None:
        cashier_name = User.get_by_id(s.cashier_id).name
    return SessionView(
        id=s.id, drawer=s.drawer, terminal=s.terminal, cashier=cashier_name, cashier_id=s.cashier_id,
        status=s.status, opened_at=s.opened_at, float_amount=s.float_amount,
        expected_cash=s.expected_cash, closed_at=s.closed_at, counted=s.counted,
        expected_at_close=s.expected_at_close, variance=s.variance, z_number=s.z_number)


# ------------------------------------------------------------ validation ---

def denominations(ctx) -> list[int]:
    return list(ctx.config.values["cash"]["denominations"])


def parse_quantity(text, *, denomination: int | None = None, ctx=None) -> int:
    """A counted quantity as typed: digits only, 0..MAX_COUNT_QTY."""
    what = f" for {_fmt(ctx, denomination)}" if denomination is not None and ctx is not None else ""
    if isinstance(text, bool):
        raise InvalidInput(f"the count{what} must be a whole number")
    if isinstance(text, int):
        q = text
    elif isinstance(text, str):
        s = text.strip()
        if s == "":
            return 0
        if s.startswith("-"):
            raise InvalidInput(f"the count{what} cannot be negative ({text.strip()})")
        if not (s.isascii() and s.isdigit()):
            raise InvalidInput(f"the count{what} must be a whole number of pieces, not {text.strip()!r}")
        if len(s) > 9:
            raise InvalidInput(f"the count{what} ({s}) is more than {MAX_COUNT_QTY}: check the count")
        q = int(s)
    else:
        raise InvalidInput(f"the count{what} must be a whole number of pieces, not {text!r}")
    if q < 0:
        raise InvalidInput(f"the count{what} cannot be negative ({q})")
    if q > MAX_COUNT_QTY:
        raise InvalidInput(f"the count{what} ({q}) is more than {MAX_COUNT_QTY}: check the count")
    return q


def clean_counts(ctx, counts) -> dict[int, int]:
    """Validate a count: ``{denomination (minor units): quantity}``. Keys must be
    configured denominations; quantities whole numbers 0..MAX_COUNT_QTY. Returns
    every configured denomination (missing ones 0), largest first."""
    if counts is None or not hasattr(counts, "items"):
        raise InvalidInput("a count is a quantity per denomination")
    known = denominations(ctx)
    out = {d: 0 for d in known}
    seen = set()
    for k, v in counts.items():
        if isinstance(k, bool):
            raise InvalidInput(f"{k!r} is not a denomination")
        if isinstance(k, str):
            ks = k.strip()
            if not (ks.isascii() and ks.isdigit()):
                raise InvalidInput(f"{k!r} is not a denomination (minor units, e.g. 500)")
            k = int(ks)
        if not isinstance(k, int) or k not in out:
            raise InvalidInput(f"{k!r} is not one of this store's notes and coins")
        if k in seen:
            raise InvalidInput(f"{_fmt(ctx, k)} is counted twice")
        seen.add(k)
        out[k] = parse_quantity(v, denomination=k, ctx=ctx)
    return out


def count_total(counts: dict[int, int]) -> int:
    return sum(d * q for d, q in counts.items())


def parse_amount(ctx, value) -> int:
    """An amount typed by a person (text, the configured decimal separator) or
    already in minor units (int). Positive, at most limits.max_amount."""
    cfg = ctx.config.values
    maximum = cfg["limits"]["max_amount"]
    if isinstance(value, bool):
        raise InvalidInput("enter an amount")
    if isinstance(value, int):
        if value <= 0:
            raise InvalidInput("the amount must be more than zero")
        if value > maximum:
            raise InvalidInput(f"the amount is more than the maximum {_fmt(ctx, maximum)}")
        return value
    if not isinstance(value, str):
        raise InvalidInput("enter an amount")
    try:
        return money.parse_amount(value, minor_units=cfg["store"]["minor_units"],
                                  decimal_sep=cfg["store"]["decimal_separator"], maximum=maximum)
    except money.AmountError as e:
        raise InvalidInput(str(e)) from None


def _reason(ctx, reason) -> str:
    reasons = ctx.config.values["drawer"]["reasons"]
    r = (reason or "").strip() if isinstance(reason, str) else ""
    if not r:
        raise InvalidInput(f"choose a reason: {', '.join(reasons)}")
    if r not in reasons:
        raise InvalidInput(f"unknown reason {r!r}: choose one of {', '.join(reasons)}")
    return r


def _note(note) -> str:
    n = (note or "").strip() if isinstance(note, str) else ""
    if len(n) > 500:
        raise InvalidInput("the note is longer than 500 characters")
    return n


def _fmt(ctx, amount: int | None) -> str:
    if amount is None:
        return "-"
    if ctx is None:
        return str(amount)
    s = ctx.config.values["store"]
    sep = "," if s["decimal_separator"] == "," else "."
    return money.format_amount(amount, minor_units=s["minor_units"], decimal_sep=sep)


def _check_user(user) -> None:
    if user is None or not getattr(user, "active", False):
        raise PermissionDenied("nobody is logged in")


# -------------------------------------------------------------- queries ---

def expected_cash(session_id: int) -> int:
    """Expected cash of a session from its movements: ONE SQL query."""
    v = (CashMovement.select(peewee.fn.COALESCE(peewee.fn.SUM(CashMovement.amount), 0))
         .where(CashMovement.session == session_id).scalar())
    return int(v or 0)


def _open_query(drawer: str):
    return DrawerSession.select().where((DrawerSession.drawer == drawer) & (DrawerSession.status == "open"))


def current_session(ctx, drawer: str | None = None) -> SessionView | None:
    """The open session of ``drawer`` (default: this terminal's drawer), or None."""
    s = _open_query(drawer or ctx.drawer).first()
    return _view(s) if s else None


def session_of_cashier(ctx, user) -> SessionView | None:
    s = DrawerSession.select().where((DrawerSession.cashier == user.id) &
                                     (DrawerSession.status == "open")).first()
    return _view(s) if s else None


def get_session(session_id: int) -> SessionView:
    s = DrawerSession.get_or_none(DrawerSession.id == session_id)
    if s is None:
        raise NotFound(f"no drawer session {session_id}")
    return _view(s)


def list_sessions(ctx, *, drawer: str | None = None, limit: int = 200) -> list[SessionView]:
    """Sessions newest first (all drawers unless ``drawer``), with cashier names."""
    q = (DrawerSession.select(DrawerSession, User.name.alias("cashier_name"))
         .join(User, on=(DrawerSession.cashier == User.id)))
    if drawer:
        q = q.where(DrawerSession.drawer == drawer)
    q = q.order_by(DrawerSession.id.desc()).limit(limit)
    return [_view(s, s.cashier_name) for s in q.objects()]


def overview(ctx) -> list[SessionView]:
    """Every drawer across terminals: its open session, or else its last closed one
    (the newest session of a drawer is the open one when there is one). Two queries."""
    latest = (DrawerSession.select(peewee.fn.MAX(DrawerSession.id)).group_by(DrawerSession.drawer))
    q = (DrawerSession.select(DrawerSession, User.name.alias("cashier_name"))
         .join(User, on=(DrawerSession.cashier == User.id))
         .where(DrawerSession.id.in_(latest)).order_by(DrawerSession.drawer))
    return [_view(s, s.cashier_name) for s in q.objects()]


def lock_open_session(ctx, drawer: str | None = None) -> DrawerSession:
    """Inside a write transaction: lock and return the open session of the
    drawer, or raise Conflict. (The sale uses it to stamp Ticket.session.)"""
    db = dbmod.current()
    if not db.in_transaction():
        raise RuntimeError("lock_open_session must run inside a write transaction (dbmod.write())")
    drawer = drawer or ctx.drawer
    s = dbmod.locked(_open_query(drawer)).first()
    if s is None:
        raise Conflict(f"no drawer session is open on drawer {drawer}: open the drawer first")
    return s


# ------------------------------------------------------------- movements ---

def _insert_movement(s: DrawerSession, user, kind: str, amount: int, *, reason: str = "", note: str = "",
                     ticket_id=None, approval=None) -> tuple[CashMovement, int]:
    """Insert one movement into the locked open session ``s`` and update the
    cached expected cash in the same transaction."""
    m = CashMovement.create(session=s.id, kind=kind, amount=amount, user=user.id, reason=reason, note=note,
                            ticket_id=ticket_id, approval=approval.id if approval is not None else None)
    new = s.expected_cash + amount
    n = (DrawerSession.update(expected_cash=DrawerSession.expected_cash + amount)
         .where((DrawerSession.id == s.id) & (DrawerSession.status == "open")).execute())
    if n != 1:
        raise Conflict("the drawer session was closed meanwhile: nothing was recorded")
    s.expected_cash = new
    return m, new


def post_cash(ctx, user, kind: str, amount: int, ticket_id=None, *, drawer: str | None = None) -> Posting:
    """Post cash of a sale or refund into this drawer's open session.

    Runs INSIDE the caller's write transaction (the sale commit); if there is
    none it opens its own. ``amount`` is signed as stored: ``sale`` >= 0 (cash
    handed over by the customer), ``change`` <= 0 (change given back),
    ``refund`` <= 0 (cash paid back). Raises Conflict when no session is open
    (the caller's transaction then rolls back: no sale outside a session).
    An amount of 0 records nothing but still checks the session is open.
    """
    _check_user(user)
    if kind not in POST_KINDS:
        raise InvalidInput(f"post_cash takes sale, change or refund, not {kind!r}")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput("a cash amount is a whole number of minor units")
    if amount * POST_KINDS[kind] < 0:
        raise InvalidInput(f"a {kind} amount must be {'positive' if POST_KINDS[kind] > 0 else 'negative'} "
                           f"(got {amount})")
    if abs(amount) > ctx.config.values["limits"]["max_amount"] * 100:
        raise InvalidInput("the cash amount is implausibly large")
    db = dbmod.current()
    if not db.in_transaction():
        with dbmod.write():
            return post_cash(ctx, user, kind, amount, ticket_id, drawer=drawer)
    s = lock_open_session(ctx, drawer)
    if amount == 0:
        return Posting(s.id, None, s.expected_cash)
    if kind == "refund" and -amount > s.expected_cash:
        raise InvalidInput(f"a cash refund of {_fmt(ctx, -amount)} is more than the expected cash in the drawer "
                           f"({_fmt(ctx, s.expected_cash)}): refund by another method or drop less")
    m, new = _insert_movement(s, user, kind, amount, ticket_id=ticket_id)
    return Posting(s.id, m.id, new)


def _kick_and_journal(ctx, user, ref, why: str) -> KickInfo:
    from station.hardware import drawer as hw  # noqa: PLC0415
    r = hw.kick(ctx)
    if r.skipped:
        return KickInfo(True, r.message, skipped=True)
    kind = "drawer.kick" if r.ok else "drawer.kick_failed"
    try:
        journal.append(kind, terminal=ctx.terminal, user=user, ref=ref,
                       data={"drawer": ctx.drawer, "via": r.via, "why": why, "message": r.message})
    except Exception as e:  # noqa: BLE001 - the movement is committed; say so, do not crash
        return KickInfo(r.ok, f"{r.message} (and the kick could not be journalled: {e})")
    return KickInfo(r.ok, r.message)


def kick(ctx, user, why: str = "manual", ref=None) -> KickInfo:
    """Open the drawer for a recorded reason (e.g. to count it at close); journalled."""
    _check_user(user)
    return _kick_and_journal(ctx, user, ref, why)


def _movement(ctx, user, kind: str, signed_amount: int, *, action: str, reason, note, approval=None,
              perm_amount=None, check_cash: bool = False, kick: bool = True) -> MovementView:
    _check_user(user)
    r = _reason(ctx, reason)
    n = _note(note)
    with dbmod.write():
        s = lock_open_session(ctx)
        if check_cash and -signed_amount > s.expected_cash:
            raise InvalidInput(
                f"{kind.replace('_', ' ')} of {_fmt(ctx, -signed_amount)} is more than the expected cash "
                f"in the drawer ({_fmt(ctx, s.expected_cash)}): nothing was recorded")
        a = authority.require(ctx, user, action, amount=perm_amount, ref=s.id, approval=approval)
        m, new = _insert_movement(s, user, kind, signed_amount, reason=r, note=n, approval=a)
        data = {"drawer": s.drawer, "session": s.id, "movement": m.id, "reason": r, "note": n,
                "expected_cash": new}
        if a is not None:
            data["approval"] = a.id
        if kind == "drop":
            data["to"] = "safe"   # the treasury receives drops by movement id
        journal.append(f"drawer.{kind}", terminal=ctx.terminal, user=user, amount=signed_amount,
                       ref=s.id, data=data)
    k = _kick_and_journal(ctx, user, s.id, kind) if kick else None
    return MovementView(m.id, s.id, kind, signed_amount, r, n, new, k)


def paid_in(ctx, user, amount, reason, note: str = "") -> MovementView:
    a = parse_amount(ctx, amount)
    return _movement(ctx, user, "paid_in", a, action="drawer.paid_in", reason=reason, note=note)


def paid_out(ctx, user, amount, reason, note: str = "", approval=None) -> MovementView:
    """Cash out of the drawer (supplier, petty cash). Above ``limits.paid_out_alone``
    a cashier needs an approval; never more than the expected cash."""
    a = parse_amount(ctx, amount)
    return _movement(ctx, user, "paid_out", -a, action="drawer.paid_out", reason=reason, note=note,
                     approval=approval, perm_amount=a, check_cash=True)


def drop(ctx, user, amount, reason="safe drop", note: str = "") -> MovementView:
    """Cash from the drawer to the safe; journalled as ``drawer.drop`` so the
    treasury can receive it (by movement id)."""
    a = parse_amount(ctx, amount)
    return _movement(ctx, user, "drop", -a, action="drawer.drop", reason=reason, note=note, check_cash=True)


def no_sale(ctx, user, reason, note: str = "", approval=None) -> MovementView:
    """Open the drawer without a sale: needs approval per the permission table."""
    return _movement(ctx, user, "no_sale", 0, action="drawer.no_sale", reason=reason, note=note,
                     approval=approval)


@dataclass
class DropView:
    movement_id: int
    session_id: int
    drawer: str
    amount: int          # positive: what went to the safe
    user: str
    reason: str
    note: str
    created_at: _dt.datetime


def list_drops(ctx, *, drawer: str | None = None, after_id: int = 0, limit: int = 500) -> list[DropView]:
    """Cash drops to the safe, oldest first (for the treasury to receive them by
    movement id; ``after_id`` continues from the last one received)."""
    q = (CashMovement.select(CashMovement, DrawerSession.drawer, User.name.alias("user_name"))
         .join(DrawerSession, on=(CashMovement.session == DrawerSession.id))
         .switch(CashMovement).join(User, on=(CashMovement.user == User.id))
         .where((CashMovement.kind == "drop") & (CashMovement.id > after_id)))
    if drawer:
        q = q.where(DrawerSession.drawer == drawer)
    return [DropView(m.id, m.session_id, m.drawer, -m.amount, m.user_name, m.reason, m.note, m.created_at)
            for m in q.order_by(CashMovement.id).limit(limit).objects()]


# ------------------------------------------------------------------ open ---

def open_session(ctx, user, counts, *, kick: bool = True) -> SessionView:
    """Open a session on this terminal's drawer with the counted float.

    One open session per drawer and per cashier: the database's partial unique
    indexes decide when two terminals try at once; the loser gets Conflict."""
    _check_user(user)
    c = clean_counts(ctx, counts)
    total = count_total(c)
    drawer = ctx.drawer
    try:
        with dbmod.write():
            authority.require(ctx, user, "drawer.open")
            if _open_query(drawer).exists():
                raise Conflict(_held_message(ctx, drawer, user))
            if DrawerSession.select().where((DrawerSession.cashier == user.id) &
                                            (DrawerSession.status == "open")).exists():
                raise Conflict(_held_message(ctx, drawer, user))
            s = DrawerSession.create(drawer=drawer, terminal=ctx.terminal, cashier=user.id, status="open",
                                     float_amount=total, expected_cash=0)
            for d, q in c.items():
                DenominationCount.create(session=s.id, stage="float", denomination=d, quantity=q)
            _insert_movement(s, user, "float", total, reason="", note="counted float")
            journal.append("drawer.open", terminal=ctx.terminal, user=user, amount=total, ref=s.id,
                           data={"drawer": drawer, "session": s.id,
                                 "counts": {str(d): q for d, q in c.items() if q}})
    except peewee.IntegrityError:
        raise Conflict(_held_message(ctx, drawer, user)) from None
    v = _view(DrawerSession.get_by_id(s.id), user.name)
    if kick:
        v.kick = _kick_and_journal(ctx, user, s.id, "open")
    return v


def _held_message(ctx, drawer: str, user) -> str:
    """Why an open was refused (read after the failed transaction)."""
    try:
        mine = DrawerSession.select().where((DrawerSession.cashier == user.id) &
                                            (DrawerSession.status == "open")).first()
        if mine is not None:
            if mine.drawer == drawer:
                return f"you already have drawer {drawer} open (session {mine.id})"
            return (f"you already have drawer {mine.drawer} open on terminal {mine.terminal}: "
                    f"close it before opening another")
        other = _open_query(drawer).first()
        if other is not None:
            who = User.get_by_id(other.cashier_id).name
            return f"drawer {drawer} is already open for {who} (terminal {other.terminal})"
    except peewee.PeeweeException:
        pass
    return f"drawer {drawer} was opened by someone else at the same moment: nothing was recorded"


# ----------------------------------------------------------------- close ---

def _digest_of(s_fields: dict, session_id: int) -> str:
    counts = list(DenominationCount.select(DenominationCount.stage, DenominationCount.denomination,
                                           DenominationCount.quantity)
                  .where(DenominationCount.session == session_id)
                  .order_by(DenominationCount.stage, DenominationCount.denomination).tuples())
    moves = list(CashMovement.select(CashMovement.id, CashMovement.kind, CashMovement.amount, CashMovement.user,
                                     CashMovement.ticket_id, CashMovement.reason, CashMovement.note)
                 .where(CashMovement.session == session_id).order_by(CashMovement.id).tuples())
    body = journal.canonical({**s_fields, "counts": [list(c) for c in counts], "movements": [list(m) for m in moves]})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def close_session(ctx, user, counts, reason: str | None = None, approval=None, *,
                  drawer: str | None = None, kick: bool = False) -> ZReportView:
    """Blind close of this terminal's drawer session.

    variance = counted - expected (expected from the movements, in the same
    transaction). Beyond ``limits.variance_alone`` a cashier needs a manager's
    approval (raises NeedsApproval; nothing recorded) with a reason. One
    transaction: counts, Z number (gapless per drawer), Z report, closed status,
    digest, journal. A sale posted meanwhile lands before or is refused."""
    from station import reports  # noqa: PLC0415
    _check_user(user)
    c = clean_counts(ctx, counts)
    counted = count_total(c)
    why = (reason or "").strip() if isinstance(reason, str) else ""
    if len(why) > 500:
        raise InvalidInput("the reason is longer than 500 characters")
    drawer = drawer or ctx.drawer
    with dbmod.write():
        s = lock_open_session(ctx, drawer)
        if s.cashier_id != user.id and permissions.decide(user.role, "drawer.view_all") != permissions.ALLOW:
            raise PermissionDenied(f"this drawer session belongs to {User.get_by_id(s.cashier_id).name}: "
                                   f"only they or a supervisor may close it")
        expected = expected_cash(s.id)
        variance = counted - expected
        try:
            a = authority.require(ctx, user, "drawer.close", amount=variance, ref=s.id, approval=approval)
        except NeedsApproval as e:
            limit = ctx.config.values["limits"]["variance_alone"]
            raise NeedsApproval(
                f"variance {'+' if variance > 0 else ''}{_fmt(ctx, variance)} is beyond the {_fmt(ctx, limit)} "
                f"a cashier may close with alone: a manager's approval with a reason is needed",
                e.action, e.amount, e.ref) from None
        if a is not None:
            why = why or (a.reason or "").strip()
            if not why:
                raise InvalidInput("a close with this variance needs a reason")
        for d, q in c.items():
            DenominationCount.create(session=s.id, stage="close", denomination=d, quantity=q)
        ZCounter.insert(drawer=s.drawer, last=0).on_conflict_ignore().execute()
        zc = dbmod.locked(ZCounter.select().where(ZCounter.drawer == s.drawer)).get()
        z = zc.last + 1
        ZCounter.update(last=z).where(ZCounter.drawer == s.drawer).execute()
        now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
        closer = User.get_by_id(user.id)
        data = reports.build_z_data(ctx, s, counts=c, counted=counted, expected=expected, variance=variance,
                                    z_number=z, closed_at=now, closed_by=closer.name,
                                    approval=a, reason=why)
        ZReport.create(session=s.id, drawer=s.drawer, z_number=z, created_at=now,
                       data=journal.canonical(data))
        fields = {"session": s.id, "drawer": s.drawer, "cashier": s.cashier_id, "float": s.float_amount,
                  "counted": counted, "expected": expected, "variance": variance, "z": z}
        digest = _digest_of(fields, s.id)
        n = (DrawerSession.update(
            status="closed", closed_at=now, closed_by=user.id, counted=counted, expected_at_close=expected,
            variance=variance, close_approval=a.id if a is not None else None,
            close_reason=why or None, z_number=z, close_hash=digest)
            .where((DrawerSession.id == s.id) & (DrawerSession.status == "open")).execute())
        if n != 1:
            raise Conflict("the drawer session was closed meanwhile")
        journal.append("drawer.close", terminal=ctx.terminal, user=user, amount=variance, ref=s.id,
                       data={"drawer": s.drawer, "session": s.id, "z": z, "counted": counted,
                             "expected": expected, "variance": variance, "reason": why,
                             "approval": a.id if a is not None else None,
                             "counts": {str(d): q for d, q in c.items() if q}})
    v = ZReportView(s.id, s.drawer, z, counted, expected, variance, data)
    if kick:
        v.kick = _kick_and_journal(ctx, user, s.id, "close")
    return v


def verify_digest(session_id: int) -> bool:
    s = DrawerSession.get_by_id(session_id)
    fields = {"session": s.id, "drawer": s.drawer, "cashier": s.cashier_id, "float": s.float_amount,
              "counted": s.counted, "expected": s.expected_at_close, "variance": s.variance,
              "z": s.z_number}
    return s.close_hash == _digest_of(fields, s.id)


# --------------------------------------------------------------- reports ---

def x_report(ctx, user, drawer: str | None = None) -> dict:
    """The X report of the open session (or NotFound): sales per tender
    method, movements per kind, expected cash. Read-only."""
    from station import reports  # noqa: PLC0415
    _check_user(user)
    authority.require(ctx, user, "drawer.x_report")
    drawer = drawer or ctx.drawer
    s = _open_query(drawer).first()
    if s is None:
        raise NotFound(f"no drawer session is open on drawer {drawer}")
    if s.cashier_id != user.id and permissions.decide(user.role, "drawer.view_all") != permissions.ALLOW:
        raise PermissionDenied("only the session's cashier or a supervisor may see this drawer's X report")
    return reports.build_x_data(ctx, s)


def z_report(ctx, *, drawer: str | None = None, z_number: int | None = None) -> dict:
    """A stored Z report (the last of the drawer, or number ``z_number``)."""
    import json  # noqa: PLC0415
    drawer = drawer or ctx.drawer
    q = ZReport.select().where(ZReport.drawer == drawer)
    if z_number is not None:
        q = q.where(ZReport.z_number == z_number)
    row = q.order_by(ZReport.z_number.desc()).first()
    if row is None:
        raise NotFound(f"no Z report {z_number} for drawer {drawer}" if z_number is not None
                       else f"no Z report yet for drawer {drawer}")
    return json.loads(row.data)
