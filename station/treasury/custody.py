"""The cash custody chain at the drawer: called by ``station.drawer`` inside its
own transactions (after the drawer session row is locked, before its journal
row), so a drawer movement and the treasury's side of it commit together.

* a drop becomes a sealed bag in transit (number ``D<movement id>`` unless the
  cashier typed the bag's own number), credited to the transit fund;
* a close puts the counted cash less the float kept into a bag in transit
  (``Z<session id>``); with ``treasury.float_fund`` set the float kept goes back
  to that fund (the till insert goes into the safe overnight);
* opening a drawer with ``treasury.float_fund`` set issues the counted float
  from that fund (too little in it refuses the open, with its balance).

Every cent of cash so has one place: a drawer session, a bag, or a fund.
"""
from __future__ import annotations

from data.treasury import CashBag
from station.errors import Conflict, InvalidInput
from station.treasury.ledger import Books, configured_fund, text

BAG_NUMBER_MAX = 32


def bag_number(value) -> str | None:
    """A bag number as typed (letters, digits, '-'), or None for the default."""
    n = text(value, "the bag number", max_len=BAG_NUMBER_MAX)
    if not n:
        return None
    if not all(c.isalnum() or c == "-" for c in n):
        raise InvalidInput(f"bag number {n!r}: letters, digits and '-' only")
    return n.upper()


def seal_bag(ctx, user, books: Books, transit: int, amount: int, *, kind: str, number: str, ref_type: str,
             ref_id: int | None, session_id: int | None, movement_id: int | None,
             from_fund: int | None = None) -> CashBag:
    """A sealed bag of ``amount`` credited to the transit fund (inside the caller's
    transaction; writes the books)."""
    if CashBag.select().where(CashBag.number == number).exists():
        raise Conflict(f"bag {number} already exists: give the bag's own number")
    p = books.move(transit, amount, ref_type=ref_type, ref_id=ref_id, memo=f"bag {number}",
                   data={"op": f"bag.{kind}", "bag": number, "session": session_id})
    books.write()
    return CashBag.create(number=number, kind=kind, status="in_transit", declared=amount, movement_id=movement_id,
                          session_id=session_id, from_fund=from_fund, sealed_by=user.id, terminal=ctx.terminal, transit_entry=p.id,
                          sealed_at=books.now)


def seal_drop(ctx, user, *, movement_id: int, session_id: int, amount: int, number: str | None = None) -> str:
    """The drop's bag, in transit. Returns its number."""
    books = Books(ctx, user)
    transit = configured_fund(ctx, "transit_fund")
    books.lock(transit)
    bag = seal_bag(ctx, user, books, transit, amount, kind="drop", number=number or f"D{movement_id}",
                ref_type="drop", ref_id=movement_id, session_id=session_id, movement_id=movement_id)
    return bag.number


def seal_close(ctx, user, *, session_id: int, counted: int, float_amount: int) -> dict:
    """At a drawer's close: the float kept (``min(counted, float)``) back to the
    float fund when one is configured, the rest sealed in a bag in transit.
    Returns what was done, for the close's journal row and the Z report."""
    kept = min(counted, float_amount)
    bagged = counted - kept
    float_name = ctx.config.get("treasury.float_fund")
    float_fund = configured_fund(ctx, "float_fund") if float_name else None
    transit = configured_fund(ctx, "transit_fund") if bagged > 0 else None
    if float_fund is None and transit is None:
        return {"float_kept": kept}
    books = Books(ctx, user)
    books.lock(float_fund, transit)
    out = {"float_kept": kept}
    if float_fund is not None and kept > 0:
        books.move(float_fund, kept, ref_type="drawer_session", ref_id=session_id, memo="float back at close",
                   data={"op": "float.returned", "session": session_id})
        out["float_to"] = float_name
    if transit is not None:
        bag = seal_bag(ctx, user, books, transit, bagged, kind="close", number=f"Z{session_id}",
                    ref_type="drawer_session", ref_id=session_id, session_id=session_id, movement_id=None)
        out["bag"] = bag.number
        out["bagged"] = bagged
    else:
        books.write()
    return out


def issue_float(ctx, user, *, session_id: int, amount: int) -> str | None:
    """A drawer opened with ``amount`` of float: taken from the float fund, when
    one is configured (returns its name)."""
    name = ctx.config.get("treasury.float_fund")
    if not name or amount <= 0:
        return None
    fid = configured_fund(ctx, "float_fund")
    books = Books(ctx, user)
    books.lock(fid)
    books.move(fid, -amount, ref_type="drawer_session", ref_id=session_id, memo="float issued",
               data={"op": "float.issued", "session": session_id})
    books.write()
    return name
