"""Cash drawer sessions: counted float, cash postings, paid in/out, drops,
no-sale, X report, blind close with variance, Z report.

Expected cash = SUM(cash_movement.amount) of the session (signed amounts:
float + cash taken - change given + paid in - paid out - drops - cash refunded).

Running figures, kept in the SAME transaction as every posting (one UPDATE of the
locked session row, :class:`SessionPosting`), so X and Z never read the
session's rows: ``expected_cash``; ``totals`` (sales count and total, first and
last receipt, tenders by method, movements by kind, the movement count); and
``digest``, a SHA-256 chain over the session's movements in order
(:func:`movement_digest`), from which the close digest is made. ``station
verify`` (checks_drawer) recomputes all of them from the rows. A session opened
before these columns existed (digest NULL) has them computed once from its rows
when it is next locked.

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
import json
from dataclasses import dataclass, field

import peewee

from data import db as dbmod
from data.models import CashMovement, DenominationCount, DrawerSession, User, ZReport, utcnow
from station import authority, journal, money, permissions, reports
from station.errors import Conflict, InvalidInput, NeedsApproval, NotFound, PermissionDenied
from station.treasury import custody

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
    bag: str | None = None      # a drop: the number of its sealed bag (to write on the bag)


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


# ------------------------------------------------------- running figures ---

def movement_digest(prev: str, n: int, kind: str, amount: int, user_id, ticket_id, reason: str, note: str) -> str:
    """The session's running digest after its n-th movement."""
    body = prev + journal.canonical([n, kind, amount, user_id, ticket_id, reason or "", note or ""])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def totals_text(totals: dict) -> str:
    """The running totals as stored (compact JSON; compared parsed, never as text)."""
    return json.dumps(totals, separators=(",", ":"))


@dataclass
class OpenSession:
    """An open session's row as a posting transaction holds it (locked)."""
    id: int
    drawer: str
    terminal: str
    cashier_id: int
    float_amount: int
    expected_cash: int
    totals: dict
    digest: str
    opened_at: _dt.datetime | None
    status: str = "open"


_SESSION_COLUMNS = ("SELECT id, drawer, terminal, cashier_id, float_amount, expected_cash, totals, digest, "
                    "opened_at FROM drawer_session ")


def _open_session_row(drawer: str, *, lock: bool) -> OpenSession | None:
    sql = _SESSION_COLUMNS + "WHERE drawer = ? AND status = 'open'"
    if lock and dbmod.is_postgres():
        sql += " FOR UPDATE"
    row = dbmod.current().execute_sql(dbmod.q(sql), (drawer,)).fetchone()
    if row is None:
        return None
    s = OpenSession(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6] or "{}"), row[7],
                    DrawerSession.opened_at.python_value(row[8]))
    if s.digest is None or (s.totals and "users" not in s.totals):
        # opened before running figures (or their per-person part) existed: computed once from its rows
        s.totals, s.digest = recompute_running(s.id)
    return s


def lock_open_session(ctx, drawer: str | None = None, user=None) -> OpenSession:
    """Inside a write transaction: lock and return the open session of the
    drawer (one statement), or raise Conflict. Postings into it go through
    :class:`SessionPosting`.

    ``user``: who is about to post into it. A drawer session belongs to its
    cashier: anyone else must close it (Z) and open their own, unless the store
    shares drawers (``drawer.shared``; every movement still records who made it)."""
    db = dbmod.current()
    if not db.in_transaction():
        raise RuntimeError("lock_open_session must run inside a write transaction (dbmod.write())")
    drawer = drawer or ctx.drawer
    s = _open_session_row(drawer, lock=True)
    if s is None:
        raise Conflict(f"no drawer session is open on drawer {drawer}: open the drawer first")
    if user is not None and s.cashier_id != user.id and not ctx.config.values["drawer"]["shared"]:
        owner = User.select(User.name).where(User.id == s.cashier_id).scalar()
        raise PermissionDenied(f"drawer {drawer} is open for {owner}: they close it (Z) and you open your own, "
                               f"or the store shares drawers (drawer.shared)")
    return s


_INSERT_MOVEMENT = ("INSERT INTO cash_movement (session_id, kind, amount, user_id, reason, note, ticket_id, "
                    "approval_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_UPDATE_RUNNING = ("UPDATE drawer_session SET expected_cash = ?, totals = ?, digest = ? "
                   "WHERE id = ? AND status = 'open'")


class SessionPosting:
    """What one transaction adds to a locked open session: cash movements
    (:meth:`cash`) and, for a sale, its receipt and tenders (:meth:`sale`).
    :meth:`write` inserts the movements and updates the session's expected cash,
    running totals and digest in ONE statement. Sales and refunds post through
    it; so does every drawer movement."""

    def __init__(self, session: OpenSession, user_id: int):
        self.session, self.user_id = session, user_id
        self._rows: list[tuple] = []

    def cash(self, kind: str, amount: int, *, reason: str = "", note: str = "", ticket_id=None,
             approval_id=None) -> None:
        s, t = self.session, self.session.totals
        n = t["n"] = t.get("n", 0) + 1
        by_kind = t.setdefault("moves", {}).setdefault(kind, [0, 0])
        by_kind[0] += 1
        by_kind[1] += amount
        s.digest = movement_digest(s.digest, n, kind, amount, self.user_id, ticket_id, reason, note)
        s.expected_cash += amount
        mine = t.setdefault("users", {}).setdefault(str(self.user_id), {}).setdefault(kind, [0, 0])
        mine[0] += 1
        mine[1] += amount
        self._rows.append((s.id, kind, amount, self.user_id, reason, note, ticket_id, approval_id))

    def sale(self, receipt_no: int, total: int, tenders) -> None:
        """A completed sale of this session: ``tenders`` are (method, amount applied)."""
        t = self.session.totals
        sales = t.setdefault("sales", [0, 0, None, None])
        sales[0] += 1
        sales[1] += total
        sales[2] = receipt_no if sales[2] is None else min(sales[2], receipt_no)
        sales[3] = receipt_no if sales[3] is None else max(sales[3], receipt_no)
        mine = t.setdefault("users", {}).setdefault(str(self.user_id), {}).setdefault("sales", [0, 0])
        mine[0] += 1
        mine[1] += total
        per_method: dict[str, int] = {}
        for method, amount in tenders:
            per_method[method] = per_method.get(method, 0) + amount
        by_method = t.setdefault("tenders", {})
        for method, amount in per_method.items():
            m = by_method.setdefault(method, [0, 0])
            m[0] += 1
            m[1] += amount

    def refund(self, reason: str, tenders) -> None:
        """A refund processed in this session: ``tenders`` are (method, amount
        gone back, positive); its cash goes through :meth:`cash` ("refund")."""
        r = self.session.totals.setdefault("refunds", {"count": 0, "methods": {}, "reasons": {}})
        r["count"] += 1
        per_method: dict[str, int] = {}
        for method, amount in tenders:
            per_method[method] = per_method.get(method, 0) + amount
        for method, amount in per_method.items():
            m = r["methods"].setdefault(method, [0, 0])
            m[0] += 1
            m[1] += amount
        total = sum(per_method.values())
        k = r["reasons"].setdefault(reason, [0, 0])
        k[0] += 1
        k[1] += total

    def write(self, *, movement_id: bool = False) -> int | None:
        """Write it all (on PostgreSQL with the COMMIT); with ``movement_id`` the
        last movement is inserted at once and its id returned."""
        s = self.session
        now = dbmod.param_time(utcnow())
        last_id = None
        for i, row in enumerate(self._rows):
            if movement_id and i == len(self._rows) - 1:
                cur = dbmod.current().execute_sql(dbmod.q(_INSERT_MOVEMENT + " RETURNING id"), (*row, now))
                last_id = cur.fetchone()[0]
            else:
                dbmod.defer(dbmod.q(_INSERT_MOVEMENT), (*row, now))
        self._rows = []
        dbmod.defer(dbmod.q(_UPDATE_RUNNING), (s.expected_cash, totals_text(s.totals), s.digest, s.id))
        return last_id


def recompute_running(session_id: int) -> tuple[dict, str]:
    """(totals, digest) of a session recomputed from its rows: what the postings
    kept (verify compares them; a session from before running figures gets them)."""
    totals: dict = {"n": 0, "moves": {}}
    digest = ""
    q = (CashMovement.select(CashMovement.kind, CashMovement.amount, CashMovement.user, CashMovement.ticket_id,
                             CashMovement.reason, CashMovement.note)
         .where(CashMovement.session == session_id).order_by(CashMovement.id).tuples())
    moves = totals["moves"]
    users: dict = {}
    n = 0
    for kind, amount, user_id, ticket_id, reason, note in q.iterator():
        n += 1
        m = moves.setdefault(kind, [0, 0])
        m[0] += 1
        m[1] += amount
        mine = users.setdefault(str(user_id), {}).setdefault(kind, [0, 0])
        mine[0] += 1
        mine[1] += amount
        digest = movement_digest(digest, n, kind, amount, user_id, ticket_id, reason, note)
    totals["n"] = n
    for cashier, count, total in reports.sales_by_cashier(session_id):
        users.setdefault(str(cashier), {})["sales"] = [count, total]
    if users:
        totals["users"] = users
    sales = reports.sales_summary(session_id)
    if sales["count"]:
        totals["sales"] = [sales["count"], sales["total"], sales["first_receipt"], sales["last_receipt"]]
    tenders = {t["method"]: [t["count"], t["amount"]] for t in reports.sales_by_method(session_id)}
    if tenders:
        totals["tenders"] = tenders
    from station.refund.totals import session_refunds  # noqa: PLC0415
    refunds = session_refunds(session_id)
    if refunds["count"]:
        totals["refunds"] = refunds
    return totals, digest


def rebuild_running_totals(session_id: int) -> None:
    """Recompute an OPEN session's running figures from its rows and store them
    (a repair, and for loading sessions in bulk)."""
    with dbmod.write():
        totals, digest = recompute_running(session_id)
        DrawerSession.update(totals=totals_text(totals), digest=digest).where(
            (DrawerSession.id == session_id) & (DrawerSession.status == "open")).execute()


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
    s = lock_open_session(ctx, drawer, user)
    if amount == 0:
        return Posting(s.id, None, s.expected_cash)
    if kind == "refund" and -amount > s.expected_cash:
        raise InvalidInput(f"a cash refund of {_fmt(ctx, -amount)} is more than the expected cash in the drawer "
                           f"({_fmt(ctx, s.expected_cash)}): refund by another method or drop less")
    p = SessionPosting(s, user.id)
    p.cash(kind, amount, ticket_id=ticket_id)
    mid = p.write(movement_id=True)
    return Posting(s.id, mid, s.expected_cash)


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
              perm_amount=None, check_cash: bool = False, kick: bool = True, bag: str | None = None) -> MovementView:
    _check_user(user)
    r = _reason(ctx, reason)
    n = _note(note)
    bag = custody.bag_number(bag) if kind == "drop" else None
    with dbmod.write():
        s = lock_open_session(ctx, user=user)
        if check_cash and -signed_amount > s.expected_cash:
            raise InvalidInput(
                f"{kind.replace('_', ' ')} of {_fmt(ctx, -signed_amount)} is more than the expected cash "
                f"in the drawer ({_fmt(ctx, s.expected_cash)}): nothing was recorded")
        a = authority.require(ctx, user, action, amount=perm_amount, ref=s.id, approval=approval)
        p = SessionPosting(s, user.id)
        p.cash(kind, signed_amount, reason=r, note=n, approval_id=a.id if a is not None else None)
        mid = p.write(movement_id=True)
        new = s.expected_cash
        data = {"drawer": s.drawer, "session": s.id, "movement": mid, "reason": r, "note": n,
                "expected_cash": new}
        if a is not None:
            data["approval"] = a.id
        if kind == "drop":
            data["to"] = "safe"
            data["bag"] = custody.seal_drop(ctx, user, movement_id=mid, session_id=s.id, amount=-signed_amount,
                                            number=bag)
        journal.append(f"drawer.{kind}", terminal=ctx.terminal, user=user, amount=signed_amount,
                       ref=s.id, data=data)
    k = _kick_and_journal(ctx, user, s.id, kind) if kick else None
    return MovementView(mid, s.id, kind, signed_amount, r, n, new, k, data.get("bag"))


def paid_in(ctx, user, amount, reason, note: str = "") -> MovementView:
    a = parse_amount(ctx, amount)
    return _movement(ctx, user, "paid_in", a, action="drawer.paid_in", reason=reason, note=note)


def paid_out(ctx, user, amount, reason, note: str = "", approval=None) -> MovementView:
    """Cash out of the drawer (supplier, petty cash). Above ``limits.paid_out_alone``
    a cashier needs an approval; never more than the expected cash."""
    a = parse_amount(ctx, amount)
    return _movement(ctx, user, "paid_out", -a, action="drawer.paid_out", reason=reason, note=note,
                     approval=approval, perm_amount=a, check_cash=True)


def drop(ctx, user, amount, reason="safe drop", note: str = "", bag: str | None = None) -> MovementView:
    """Cash from the drawer into a sealed bag on its way to the safe (the treasury's
    transit fund; ``bag``: the bag's own number, else ``D<movement id>``)."""
    a = parse_amount(ctx, amount)
    return _movement(ctx, user, "drop", -a, action="drawer.drop", reason=reason, note=note, check_cash=True,
                     bag=bag)


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
                                     float_amount=total, expected_cash=0, totals="{}", digest="")
            DenominationCount.insert_many([{"session": s.id, "stage": "float", "denomination": d, "quantity": q}
                                           for d, q in c.items()]).execute()
            p = SessionPosting(OpenSession(s.id, drawer, ctx.terminal, user.id, total, 0, {}, "", s.opened_at),
                               user.id)
            p.cash("float", total, note="counted float")
            p.write()
            issued = custody.issue_float(ctx, user, session_id=s.id, amount=total)
            journal.append("drawer.open", terminal=ctx.terminal, user=user, amount=total, ref=s.id,
                           data={"drawer": drawer, "session": s.id, "float_from": issued,
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

def _counts_of(session_id: int) -> list[list]:
    return [list(c) for c in DenominationCount.select(DenominationCount.stage, DenominationCount.denomination,
                                                      DenominationCount.quantity)
            .where(DenominationCount.session == session_id)
            .order_by(DenominationCount.stage, DenominationCount.denomination).tuples()]


def close_digest(fields: dict, counts: list[list], running: str, moves: int) -> str:
    """The digest of a closed session: its figures, every count row and the
    running digest of its movements (so no movement row is read at the close)."""
    body = journal.canonical({**fields, "counts": counts, "movements": running, "moves": moves})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _legacy_digest_of(s_fields: dict, session_id: int) -> str:
    """The close digest of a session closed before running digests existed."""
    moves = list(CashMovement.select(CashMovement.id, CashMovement.kind, CashMovement.amount, CashMovement.user,
                                     CashMovement.ticket_id, CashMovement.reason, CashMovement.note)
                 .where(CashMovement.session == session_id).order_by(CashMovement.id).tuples())
    body = journal.canonical({**s_fields, "counts": _counts_of(session_id), "movements": [list(m) for m in moves]})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


_NEXT_Z = ("INSERT INTO z_counter (drawer, last) VALUES (?, 1) ON CONFLICT (drawer) "
           "DO UPDATE SET last = z_counter.last + 1 RETURNING last")
_CLOSE = ("UPDATE drawer_session SET status = 'closed', closed_at = ?, closed_by_id = ?, counted = ?, "
          "expected_at_close = ?, variance = ?, close_approval_id = ?, close_reason = ?, z_number = ?, "
          "close_hash = ?, totals = ?, digest = ? WHERE id = ? AND status = 'open'")


def close_session(ctx, user, counts, reason: str | None = None, approval=None, *,
                  drawer: str | None = None, kick: bool = False) -> ZReportView:
    """Blind close of this terminal's drawer session.

    variance = counted - expected (the session's running expected cash, kept
    with every movement). Beyond ``limits.variance_alone`` a cashier needs a
    manager's approval (raises NeedsApproval; nothing recorded) with a reason.
    One transaction, in constant time whatever the session holds (it reads the
    running figures, never the movements): counts, Z number (gapless per
    drawer), Z report, closed status, digest, journal. A sale posted meanwhile
    lands before or is refused."""
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
        expected = s.expected_cash
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
        DenominationCount.insert_many([{"session": s.id, "stage": "close", "denomination": d, "quantity": q}
                                       for d, q in c.items()]).execute()
        db = dbmod.current()
        z = db.execute_sql(dbmod.q(_NEXT_Z), (s.drawer,)).fetchone()[0]
        now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
        data = reports.build_z_data(ctx, s, counts=c, counted=counted, expected=expected, variance=variance,
                                    z_number=z, closed_at=now, closed_by=user.name, approval=a, reason=why)
        fields = {"session": s.id, "drawer": s.drawer, "cashier": s.cashier_id, "float": s.float_amount,
                  "counted": counted, "expected": expected, "variance": variance, "z": z}
        counts_rows = sorted([["close", d, q] for d, q in c.items()]
                             + [r for r in _counts_of(s.id) if r[0] == "float"])
        digest = close_digest(fields, counts_rows, s.digest, s.totals.get("n", 0))
        cash_out = custody.seal_close(ctx, user, session_id=s.id, counted=counted, float_amount=s.float_amount)
        dbmod.defer(dbmod.q(_CLOSE), (
            dbmod.param_time(now), user.id, counted, expected, variance, a.id if a is not None else None,
            why or None, z, digest, totals_text(s.totals), s.digest, s.id))
        entry = journal.append("drawer.close", terminal=ctx.terminal, user=user, amount=variance, ref=s.id,
                               data={"drawer": s.drawer, "session": s.id, "z": z, "counted": counted,
                                     "expected": expected, "variance": variance, "reason": why,
                                     "approval": a.id if a is not None else None, "cash_out": cash_out,
                                     "counts": {str(d): q for d, q in c.items() if q}})
        # the Z anchors the journal: its own close entry's seq and a short head digest, printed
        data["journal"] = {"seq": entry.seq, "head": entry.hash[:journal.SHORT]}
        ZReport.insert(session=s.id, drawer=s.drawer, z_number=z, created_at=now,
                       data=journal.canonical(data)).execute()
    v = ZReportView(s.id, s.drawer, z, counted, expected, variance, data)
    if kick:
        v.kick = _kick_and_journal(ctx, user, s.id, "close")
    return v


def verify_digest(session_id: int) -> bool:
    """Does a closed session still match the digest taken at its close? (Its
    movements are read again and chained: this is verify's job, not the close's.)"""
    s = DrawerSession.get_by_id(session_id)
    fields = {"session": s.id, "drawer": s.drawer, "cashier": s.cashier_id, "float": s.float_amount,
              "counted": s.counted, "expected": s.expected_at_close, "variance": s.variance,
              "z": s.z_number}
    if s.digest is None:
        return s.close_hash == _legacy_digest_of(fields, s.id)
    totals, running = recompute_running(s.id)
    return s.close_hash == close_digest(fields, _counts_of(s.id), running, totals["n"])


# --------------------------------------------------------------- reports ---

def x_report(ctx, user, drawer: str | None = None) -> dict:
    """The X report of the open session (or NotFound): sales per tender
    method, movements per kind, expected cash, from the running figures.
    Read-only, constant time."""
    _check_user(user)
    authority.require(ctx, user, "drawer.x_report")
    s = _open_or_not_found(ctx, drawer)
    if s.cashier_id != user.id and permissions.decide(user.role, "drawer.view_all") != permissions.ALLOW:
        raise PermissionDenied("only the session's cashier or a supervisor may see this drawer's X report")
    return reports.build_x_data(ctx, s)


def x_data(ctx, drawer: str | None = None) -> dict:
    """The X report of a drawer's open session (NotFound when none is open), for
    a caller that has decided who may see it (the CLI, the drawers overview)."""
    return reports.build_x_data(ctx, _open_or_not_found(ctx, drawer))


def _open_or_not_found(ctx, drawer: str | None) -> OpenSession:
    drawer = drawer or ctx.drawer
    s = _open_session_row(drawer, lock=False)
    if s is None:
        raise NotFound(f"no drawer session is open on drawer {drawer}")
    return s


def z_report(ctx, *, drawer: str | None = None, z_number: int | None = None) -> dict:
    """A stored Z report (the last of the drawer, or number ``z_number``)."""
    drawer = drawer or ctx.drawer
    q = ZReport.select().where(ZReport.drawer == drawer)
    if z_number is not None:
        q = q.where(ZReport.z_number == z_number)
    row = q.order_by(ZReport.z_number.desc()).first()
    if row is None:
        raise NotFound(f"no Z report {z_number} for drawer {drawer}" if z_number is not None
                       else f"no Z report yet for drawer {drawer}")
    return json.loads(row.data)
