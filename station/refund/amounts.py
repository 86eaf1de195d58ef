"""What a returned line is worth and how a refund goes back over the sale's methods.
Plain functions over plain values; every rounding goes through :mod:`station.money`.

What the customer paid for a line
---------------------------------
A line's own total is qty x price - its line discount. The ticket discount of
rate r (``money.percent_of`` of that rate's line totals, as the sale computed it)
is shared over the rate's lines in proportion to their totals
(``money.allocate``), and so is the tax of the rate when prices are net. So the
lines' paid amounts add up to the sale's total exactly, to the cent.

Returning part of a line
------------------------
Returning ``q`` more of a line of which ``done`` are already returned gives back
``share_upto(paid, done + q, sold)`` minus what its earlier returns gave back: the
running share. However a line is returned, in one go or piece by piece, the
pieces add up to exactly what was paid for it.

Back over the methods
---------------------
Money goes back by the sale's methods in the proportion the sale was paid: once X
has gone back of a sale, every method has given back its running share of X
(:func:`split_over_methods`), so no method ever gives back more than it took, and
what each has given back depends only on how much went back, not on the order of
the refunds. The refund that returns the last of a sale gives back exactly what
every method still has. Cash going back is rounded to ``cash.rounding_step``
(never beyond what is left to give back in cash); the difference is the refund's
``rounding``, as for a sale.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from station import money


@dataclass
class Paid:
    """What the customer paid for a whole sale line, and the tax in it."""
    amount: int
    tax: int


def paid_per_line(lines, discount_bp: int, inclusive: bool) -> dict[int, Paid]:
    """``{line id: Paid}`` for the live lines (objects with id, qty, unit_price,
    discount, vat_rate, voided) of a sale with ticket discount ``discount_bp``."""
    by_rate: dict[int, list] = defaultdict(list)
    for ln in lines:
        if not ln.voided:
            by_rate[ln.vat_rate].append(ln)
    out: dict[int, Paid] = {}
    for rate, lns in by_rate.items():
        own = [money.qty_times_price(ln.qty, ln.unit_price) - ln.discount for ln in lns]
        base = sum(own)
        d = money.percent_of(base, discount_bp) if discount_bp else 0
        after = [a - s for a, s in zip(own, _shares(d, own))]
        if inclusive:
            taxes = _shares(money.tax_included(base - d, rate), after)
            paid = after
        else:
            taxes = _shares(money.tax_on_net(base - d, rate), after)
            paid = [a + t for a, t in zip(after, taxes)]
        for ln, p, t in zip(lns, paid, taxes):
            out[ln.id] = Paid(p, t)
    return out


def _shares(amount: int, weights: list[int]) -> list[int]:
    if not amount:
        return [0] * len(weights)
    if sum(weights) <= 0:      # free goods only: nothing to share the amount over but the count
        return money.allocate(amount, [1] * len(weights))
    return money.allocate(amount, weights)


def part_of_line(paid: Paid, sold: int, done: int, qty: int, given: int, given_tax: int) -> Paid:
    """What returning ``qty`` more of a line gives back, ``done`` being already
    returned for ``given`` (tax ``given_tax``) of the ``paid`` for ``sold``."""
    upto = done + qty
    amount = money.share_upto(paid.amount, upto, sold) - given
    tax = money.share_upto(paid.tax, upto, sold) - given_tax
    return Paid(max(amount, 0), max(tax, 0) if amount > 0 else 0)


def split_over_methods(amount: int, paid: dict[str, int], refunded: dict[str, int], *,
                       settle: bool) -> dict[str, int]:
    """``amount`` going back over the sale's methods (``paid`` in the order given:
    non-cash first, cash last). After X has gone back of a sale, each method has
    given back its share of X in the proportion the sale was paid
    (``money.allocate(X, paid)``): this refund is what brings every method to its
    share for X + ``amount``, whatever refunds came before and in which order.
    ``settle``: this refund returns the last of the sale, so every method gives
    back all it has left."""
    methods = list(paid)
    left = {m: paid[m] - refunded.get(m, 0) for m in methods}
    if settle:
        return {m: left[m] for m in methods if left[m] > 0}
    whole = sum(paid.values())
    if amount <= 0 or whole <= 0:
        return {}
    given = sum(refunded.get(m, 0) for m in methods)
    target = money.allocate(min(given + amount, whole), [paid[m] for m in methods])
    parts = {m: min(max(t - refunded.get(m, 0), 0), left[m]) for m, t in zip(methods, target)}
    return {m: p for m, p in parts.items() if p > 0}


def cash_back(amount: int, step: int, cap: int) -> int:
    """Cash handed back for ``amount``: rounded to the cash step, never more than
    ``cap`` (what is left to give back), and then a multiple of the step too."""
    c = money.round_to_step(amount, step)
    if c > cap:
        c = cap - cap % step if step > 1 else cap
    return max(c, 0)
