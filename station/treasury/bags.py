"""Bags in transit: received into the safe by counting them, and bank deposits
(safe -> transit -> bank when the bank's slip is entered). A difference between
what a bag declared and what was counted (or what the slip says) is a variance,
applied only when another person approves it (``station.treasury.variances``).
"""
from __future__ import annotations

from dataclasses import dataclass

from data import db as dbmod
from data.models import utcnow
from data.treasury import CashBag, FundCount, FundCountLine, Variance
from station import authority, drawer, journal
from station.errors import Conflict, InvalidInput, NotFound
from station.treasury.custody import bag_number, seal_bag
from station.treasury.ledger import Books, configured_fund, fmt, lock_clause, parse_amount, text


@dataclass(frozen=True)
class Received:
    number: str
    declared: int
    counted: int
    variance_id: int | None
    fund: str
    balance: int


def _lock_bag(number: str) -> CashBag:
    row = dbmod.current().execute_sql(dbmod.q(f"SELECT id FROM cash_bag WHERE number = ?{lock_clause()}"),
                                      (number,)).fetchone()
    if row is None:
        raise NotFound(f"no bag {number}")
    return CashBag.get_by_id(row[0])


def _number(value) -> str:
    n = bag_number(value)
    if n is None:
        raise InvalidInput("enter the bag number")
    return n


def record_count(fund_id: int, user, expected: int, counts: dict[int, int], bag_id: int | None = None) -> int:
    total = drawer.count_total(counts)
    c = FundCount.create(fund=fund_id, bag=bag_id, counted_by=user.id, expected=expected, total=total)
    FundCountLine.insert_many([{"count": c.id, "denomination": d, "quantity": q}
                               for d, q in counts.items() if q]).execute()
    return c.id


def record_variance(ctx, user, fund_id: int, *, source: str, ref_id, original: int, adjusted: int,
                    reason: str) -> int:
    """A pending variance (call inside the transaction that found it, after its ledger entries)."""
    v = Variance.create(fund=fund_id, source=source, ref_id=ref_id, original=original, adjusted=adjusted,
                        variance=adjusted - original, reason=reason, status="pending", recorded_by=user.id,
                        terminal=ctx.terminal)
    journal.append("treasury.variance_recorded", terminal=ctx.terminal, user=user, amount=adjusted - original,
                   ref=f"variance {v.id}", data={"variance": v.id, "fund": fund_id, "source": source,
                                                 "ref_id": ref_id, "original": original, "adjusted": adjusted,
                                                 "reason": reason})
    return v.id


def receive(ctx, user, number, counts) -> Received:
    """Receive a drop or close bag into the safe, counted by denomination: the
    declared amount moves transit -> safe; a different count is a pending variance
    of the safe."""
    n = _number(number)
    c = drawer.clean_counts(ctx, counts)
    counted = drawer.count_total(c)
    with dbmod.write():
        bag = _lock_bag(n)
        authority.require(ctx, user, "treasury.record")
        if bag.kind == "deposit":
            raise Conflict(f"bag {n} is a bank deposit: enter the bank's slip for it")
        if bag.status != "in_transit":
            raise Conflict(f"bag {n} was already received by {bag.received_by.name} at {bag.received_at:%H:%M}")
        transit, safe = configured_fund(ctx, "transit_fund"), configured_fund(ctx, "safe_fund")
        books = Books(ctx, user)
        books.lock(transit, safe)
        _out, inn = books.transfer(transit, safe, bag.declared, ref_type="bag", ref_id=bag.id, memo=f"bag {n}",
                                   data={"op": "bag.received", "bag": n, "counted": counted})
        books.write()
        record_count(safe, user, bag.declared, c, bag.id)
        CashBag.update(status="received", received_by=user.id, received_at=utcnow(), counted=counted,
                       in_entry=inn.id).where(CashBag.id == bag.id).execute()
        vid = None
        if counted != bag.declared:
            vid = record_variance(ctx, user, safe, source="bag", ref_id=bag.id, original=bag.declared,
                                  adjusted=counted, reason=f"bag {n} declared {fmt(ctx, bag.declared)}, "
                                                           f"counted {fmt(ctx, counted)}")
    return Received(n, bag.declared, counted, vid, inn.fund.name, inn.balance_after)


def prepare_deposit(ctx, user, amount, number=None) -> str:
    """Take ``amount`` out of the safe into a sealed deposit bag in transit to the
    bank; returns the bag's number (``B<entry id>`` unless one is given)."""
    a = parse_amount(ctx, amount)
    given = bag_number(number)
    with dbmod.write():
        authority.require(ctx, user, "treasury.record")
        safe, transit = configured_fund(ctx, "safe_fund"), configured_fund(ctx, "transit_fund")
        books = Books(ctx, user)
        books.lock(safe, transit)
        books.move(safe, -a, ref_type="deposit", counter=transit, memo="bank deposit",
                   data={"op": "deposit.prepared"})
        number = given or f"B{safe}-{books.funds[safe].entries}"
        bag = seal_bag(ctx, user, books, transit, a, kind="deposit", number=number, ref_type="deposit",
                       ref_id=None, session_id=None, movement_id=None, from_fund=safe)
    return bag.number


def bank_deposit(ctx, user, number, slip_ref, amount=None) -> Received:
    """The bank's slip for a deposit bag: transit -> bank for what the bag
    declared; a slip for a different amount is a pending variance of the bank."""
    n = _number(number)
    slip = text(slip_ref, "the slip reference", max_len=120, required=True)
    with dbmod.write():
        bag = _lock_bag(n)
        authority.require(ctx, user, "treasury.record")
        settled = bag.declared if amount in (None, "") else parse_amount(ctx, amount, "the slip's amount")
        if bag.kind != "deposit":
            raise Conflict(f"bag {n} is not a bank deposit: receive it into the safe")
        if bag.status != "in_transit":
            raise Conflict(f"bag {n} was already banked (slip {bag.slip_ref})")
        transit, bank = configured_fund(ctx, "transit_fund"), configured_fund(ctx, "bank_fund")
        books = Books(ctx, user)
        books.lock(transit, bank)
        _out, inn = books.transfer(transit, bank, bag.declared, ref_type="bag", ref_id=bag.id, memo=f"slip {slip}",
                                   data={"op": "deposit.banked", "bag": n, "slip": slip, "settled": settled})
        books.write()
        CashBag.update(status="banked", received_by=user.id, received_at=utcnow(), counted=settled, slip_ref=slip,
                       in_entry=inn.id).where(CashBag.id == bag.id).execute()
        vid = None
        if settled != bag.declared:
            vid = record_variance(ctx, user, bank, source="deposit", ref_id=bag.id, original=bag.declared,
                                  adjusted=settled, reason=f"slip {slip} says {fmt(ctx, settled)}")
    return Received(n, bag.declared, settled, vid, inn.fund.name, inn.balance_after)
