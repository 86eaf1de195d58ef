"""Funds: added, their reorder and target levels set, and the opening balance of
a fund that has no entries yet (the cash already there on the first day)."""
from __future__ import annotations

import peewee

from data import db as dbmod
from data.treasury import FUND_KINDS, Fund
from station import authority, journal
from station.errors import Conflict, InvalidInput
from station.treasury.ledger import Books, fund_id, parse_amount, text


def _level(ctx, value, what: str) -> int:
    if value in (None, "", 0, "0"):
        return 0
    return parse_amount(ctx, value, what)


def add_fund(ctx, user, name, kind, *, currency: str | None = None) -> int:
    n = text(name, "the fund's name", max_len=64, required=True)
    if not all(c.isalnum() or c in "-_" for c in n):
        raise InvalidInput(f"fund name {n!r}: letters, digits, '-' and '_' only")
    if kind not in FUND_KINDS:
        raise InvalidInput(f"unknown kind {kind!r}: choose {', '.join(FUND_KINDS)}")
    try:
        with dbmod.write():
            authority.require(ctx, user, "treasury.manage")
            f = Fund.create(name=n, kind=kind, currency=currency or ctx.config.get("store.currency"))
            journal.append("treasury.fund_added", terminal=ctx.terminal, user=user, ref=n,
                           data={"fund": n, "kind": kind})
    except peewee.IntegrityError:
        raise Conflict(f"a fund called {n} already exists") from None
    return f.id


def set_levels(ctx, user, fund, *, reorder=None, target=None, auto_replenish: bool | None = None,
               replenish_from=None) -> None:
    """Reorder and target levels (target >= reorder), automatic replenishment and its source."""
    fid = fund_id(fund)
    src = fund_id(replenish_from) if replenish_from not in (None, "") else None
    if src == fid:
        raise InvalidInput("a fund is replenished from another fund")
    with dbmod.write():
        authority.require(ctx, user, "treasury.manage")
        f = Fund.get_by_id(fid)
        r = f.reorder_level if reorder is None else _level(ctx, reorder, "the reorder level")
        t = f.target_level if target is None else _level(ctx, target, "the target level")
        if t < r:
            raise InvalidInput("the target level must be at least the reorder level")
        auto = f.auto_replenish if auto_replenish is None else bool(auto_replenish)
        src = src if src is not None else f.replenish_from_id
        if auto and src is None:
            raise InvalidInput("automatic replenishment needs a source fund")
        Fund.update(reorder_level=r, target_level=t, auto_replenish=auto, replenish_from=src).where(
            Fund.id == fid).execute()
        journal.append("treasury.fund_levels", terminal=ctx.terminal, user=user, ref=f.name,
                       data={"fund": f.name, "reorder": r, "target": t, "auto": auto, "from": src})


def opening_balance(ctx, user, fund, amount) -> int:
    """The cash a fund holds when the treasury starts keeping it (only while it has no entries)."""
    fid = fund_id(fund)
    a = parse_amount(ctx, amount)
    with dbmod.write():
        authority.require(ctx, user, "treasury.manage")
        books = Books(ctx, user)
        f = books.lock(fid)[fid]
        if f.entries:
            raise Conflict(f"{f.name} already has entries: count it instead (a difference is a variance)")
        p = books.move(fid, a, ref_type="opening", memo="opening balance", data={"op": "opening"})
        books.write()
        return p.id
