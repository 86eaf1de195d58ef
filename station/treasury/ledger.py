"""Funds and their ledger: every change of a fund's balance is one insert-only
ledger entry, written by :class:`Books` inside the caller's write transaction.

:class:`Books` locks the funds it will touch (``SELECT ... FOR NO KEY UPDATE``
on PostgreSQL, in ascending id order, so two transactions never wait on each
other in a circle; a plain key-share lock, as the foreign keys of new ledger
rows take, is not blocked), refuses a cash fund going below zero with the
balance shown, and on :meth:`Books.write` inserts each entry (the fund's next
``seq``, ``prev_hash`` -> ``hash`` chained per fund), appends its journal row
(``treasury.entry``: the entry's hash is in the journal's keyed chain), moves
each fund's cached balance, entry count and chain head, and asks for an
automatic replenishment when a debit took a fund below its reorder level (at
most one pending per fund: a partial unique index).

Lock order of every treasury transaction: the requisition, variance, bag or
replenishment row first, then the funds (ascending id), then a user row (the
executor's TOTP step), then the journal head (``journal.append``, last).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, field

from data import db as dbmod
from data.models import utcnow
from data.treasury import CASH_KINDS, Fund
from station import journal, money
from station.errors import InvalidInput, NotFound, StationError

GENESIS = "0" * 64


class InsufficientFunds(StationError):
    """A cash fund cannot pay this: its balance is shown; nothing was changed."""

    def __init__(self, message: str, fund: str, balance: int, amount: int):
        super().__init__(message)
        self.fund, self.balance, self.amount = fund, balance, amount


# ---------------------------------------------------------------- input ---

def fmt(ctx, amount: int | None) -> str:
    if amount is None:
        return "-"
    s = ctx.config.values["store"]
    sep = "," if s["decimal_separator"] == "," else "."
    return money.format_amount(amount, minor_units=s["minor_units"], decimal_sep=sep)


def parse_amount(ctx, value, what: str = "the amount") -> int:
    """An amount typed by a person (the configured decimal separator) or given in
    minor units (int): more than zero, at most ``limits.max_amount``."""
    cfg = ctx.config.values
    maximum = cfg["limits"]["max_amount"]
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidInput(f"enter {what}")
    if isinstance(value, int):
        if value <= 0:
            raise InvalidInput(f"{what} must be more than zero")
        if value > maximum:
            raise InvalidInput(f"{what} is more than the maximum {fmt(ctx, maximum)}")
        return value
    try:
        return money.parse_amount(value, minor_units=cfg["store"]["minor_units"],
                                  decimal_sep=cfg["store"]["decimal_separator"], maximum=maximum)
    except money.AmountError as e:
        raise InvalidInput(str(e)) from None


def text(value, what: str, *, max_len: int = 200, required: bool = False) -> str:
    t = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{what} must be text")
    if required and not t:
        raise InvalidInput(f"enter {what}")
    if len(t) > max_len:
        raise InvalidInput(f"{what} is longer than {max_len} characters")
    if any(ord(c) < 32 for c in t):
        raise InvalidInput(f"{what} may not hold control characters")
    return t


def fund_id(name_or_id) -> int:
    """The id of an active fund given by name (or id)."""
    db = dbmod.current()
    row = None
    if isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
        row = db.execute_sql(dbmod.q("SELECT id, active FROM fund WHERE id = ?"), (name_or_id,)).fetchone()
    elif isinstance(name_or_id, str) and name_or_id.strip():
        row = db.execute_sql(dbmod.q("SELECT id, active FROM fund WHERE name = ?"),
                             (name_or_id.strip(),)).fetchone()
    if row is None or not row[1]:
        names = ", ".join(x.name for x in Fund.select(Fund.name).where(Fund.active).order_by(Fund.id))
        raise NotFound(f"unknown fund {name_or_id!r}: the funds are {names}")
    return row[0]


def configured_fund(ctx, key: str) -> int:
    """The fund named by setting ``treasury.<key>``."""
    return fund_id(ctx.config.get(f"treasury.{key}"))


# ---------------------------------------------------------------- books ---

@dataclass
class FundRow:
    id: int
    name: str
    kind: str
    balance: int
    entries: int
    head: str
    reorder_level: int
    target_level: int
    auto_replenish: bool
    replenish_from: int | None
    active: bool
    touched: bool = False
    dipped: bool = False


@dataclass
class Pending:
    fund: FundRow
    seq: int
    kind: str
    amount: int
    balance_after: int
    counter: int | None
    ref_type: str
    ref_id: int | None
    memo: str
    prev: str
    hash: str
    data: dict = field(default_factory=dict)
    id: int | None = None


def entry_hash(fund_id: int, seq: int, kind: str, amount: int, balance_after: int, counter, ref_type: str,
               ref_id, memo: str, user_id: int, terminal: str, created_at: _dt.datetime, prev: str) -> str:
    """The hash of one ledger entry over its content and the fund's previous entry's
    hash (the one place it is computed; verify recomputes with it)."""
    body = journal.canonical({"fund": fund_id, "seq": seq, "kind": kind, "amount": amount,
                              "balance": balance_after, "counter": counter, "ref_type": ref_type,
                              "ref_id": ref_id, "memo": memo, "user": user_id, "terminal": terminal,
                              "at": stamp(created_at), "prev": prev})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def stamp(t: _dt.datetime) -> str:
    return t.isoformat(sep=" ", timespec="microseconds")


def lock_clause() -> str:
    return " FOR NO KEY UPDATE" if dbmod.is_postgres() else ""


_FUND_COLS = ("id, name, kind, balance, entries, head, reorder_level, target_level, auto_replenish, "
              "replenish_from_id, active")
_INSERT = ("INSERT INTO ledger_entry (fund_id, seq, kind, amount, balance_after, counter_fund_id, ref_type, "
           "ref_id, memo, user_id, terminal, created_at, prev_hash, hash, journal_seq) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id")
_UPDATE_FUND = "UPDATE fund SET balance = ?, entries = ?, head = ? WHERE id = ?"
_AUTO_REPLENISH = (
    "INSERT INTO replenishment (fund_id, source_id, automatic, balance_snapshot, amount, status, requested_at, "
    "note) VALUES (?, ?, ?, ?, ?, 'pending', ?, '') "
    "ON CONFLICT (fund_id) WHERE status = 'pending' AND automatic DO NOTHING RETURNING id")


class Books:
    """The ledger entries of one transaction (see the module's docstring)."""

    def __init__(self, ctx, user):
        self.ctx, self.user = ctx, user
        self.funds: dict[int, FundRow] = {}
        self.pending: list[Pending] = []
        self.now = utcnow()
        self.replenishments: list[tuple[int, FundRow]] = []

    def lock(self, *ids: int) -> dict[int, FundRow]:
        """Lock these funds (ascending id) and read them; call once, with every
        fund the transaction will touch."""
        want = sorted({i for i in ids if i is not None and i not in self.funds})
        if want:
            if self.funds and want[0] < max(self.funds):
                raise RuntimeError("funds are locked once per transaction, in ascending id order")
            marks = ", ".join("?" * len(want))
            rows = dbmod.current().execute_sql(dbmod.q(
                f"SELECT {_FUND_COLS} FROM fund WHERE id IN ({marks}) ORDER BY id{lock_clause()}"), want).fetchall()
            for r in rows:
                self.funds[r[0]] = FundRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]), r[9],
                                           bool(r[10]))
            missing = set(want) - set(self.funds)
            if missing:
                raise NotFound(f"no fund #{min(missing)}")
        return self.funds

    def fund(self, fid: int) -> FundRow:
        return self.funds[fid]

    def move(self, fid: int, amount: int, *, ref_type: str, ref_id=None, counter: int | None = None,
             memo: str = "", adjustment: bool = False, data: dict | None = None) -> Pending:
        """One entry: ``amount`` signed (credit > 0, debit < 0). A cash fund never goes
        below zero: InsufficientFunds names the balance."""
        f = self.funds[fid]
        if not f.active:
            raise InvalidInput(f"fund {f.name} is closed")
        if amount == 0:
            raise InvalidInput("an entry of zero moves nothing")
        new = f.balance + amount
        if new < 0 and f.kind in CASH_KINDS:
            raise InsufficientFunds(
                f"{f.name} holds {fmt(self.ctx, f.balance)}: it cannot pay {fmt(self.ctx, -amount)}; "
                f"nothing was recorded", f.name, f.balance, -amount)
        kind = "adjustment" if adjustment else ("credit" if amount > 0 else "debit")
        seq = f.entries + 1
        memo = memo[:200]
        h = entry_hash(fid, seq, kind, amount, new, counter, ref_type, ref_id, memo, self.user.id,
                       self.ctx.terminal, self.now, f.head)
        p = Pending(f, seq, kind, amount, new, counter, ref_type, ref_id, memo, f.head, h, data or {})
        f.balance, f.entries, f.head, f.touched = new, seq, h, True
        if amount < 0 and new < f.reorder_level:
            f.dipped = True
        self.pending.append(p)
        return p

    def transfer(self, src: int, dst: int, amount: int, *, ref_type: str, ref_id=None, memo: str = "",
                 data: dict | None = None) -> tuple[Pending, Pending]:
        """``amount`` (> 0) from ``src`` to ``dst``: a debit and a credit naming each other."""
        out = self.move(src, -amount, ref_type=ref_type, ref_id=ref_id, counter=dst, memo=memo, data=data)
        inn = self.move(dst, amount, ref_type=ref_type, ref_id=ref_id, counter=src, memo=memo, data=data)
        return out, inn

    def write(self) -> list[Pending]:
        """Insert the entries (each with its journal row), move the funds' cached
        balances and heads, ask for automatic replenishments. Returns the entries
        with their ids. The journal head is taken here: call it last."""
        db = dbmod.current()
        ts = dbmod.param_time(self.now)
        for f in self.funds.values():
            if f.touched:
                dbmod.defer(dbmod.q(_UPDATE_FUND), (f.balance, f.entries, f.head, f.id))
            if f.dipped and f.auto_replenish and f.replenish_from and f.target_level > f.balance:
                row = db.execute_sql(dbmod.q(_AUTO_REPLENISH), (
                    f.id, f.replenish_from, True, f.balance, f.target_level - f.balance, ts)).fetchone()
                if row is not None:
                    self.replenishments.append((row[0], f))
        for p in self.pending:
            counter = self.funds[p.counter].name if p.counter in self.funds else p.counter
            e = journal.append("treasury.entry", terminal=self.ctx.terminal, user=self.user, amount=p.amount,
                               ref=f"{p.fund.name}#{p.seq}",
                               data={"fund": p.fund.name, "seq": p.seq, "kind": p.kind, "hash": p.hash,
                                     "balance": p.balance_after, "counter": counter, "ref_type": p.ref_type,
                                     "ref_id": p.ref_id, "memo": p.memo, **p.data})
            p.id = db.execute_sql(dbmod.q(_INSERT), (
                p.fund.id, p.seq, p.kind, p.amount, p.balance_after, p.counter, p.ref_type, p.ref_id, p.memo,
                self.user.id, self.ctx.terminal, ts, p.prev, p.hash, e.seq)).fetchone()[0]
        for rid, f in self.replenishments:
            journal.append("treasury.replenishment_requested", terminal=self.ctx.terminal, user=self.user,
                           amount=f.target_level - f.balance, ref=f"replenishment {rid}",
                           data={"fund": f.name, "replenishment": rid, "automatic": True, "balance": f.balance})
        return self.pending
