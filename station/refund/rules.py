"""When a refund needs a manager, and which approval covers it.

One approval covers one refund: its action, its amount (the refund's total) and
its ref (:func:`approval_ref`: the sale's receipt and the refund's idempotency
key), used once, as the override of a void.

* a post-void: ``refund.post_void`` within ``limits.post_void_minutes`` of the sale,
  ``refund.post_void_late`` after (the owner decides);
* otherwise, when any of these holds, ``refund.override``: the sale is older than
  ``limits.refund_days``; there is no receipt; the money goes back by another
  method than the sale was paid by;
* otherwise ``refund.process``, which a cashier may do alone up to
  ``limits.refund_alone``.
"""
from __future__ import annotations

import datetime as _dt

from station import authority, money, permissions
from station.errors import NeedsApproval


def fmt(ctx, v: int) -> str:
    s = ctx.config.store
    return money.format_amount(v, minor_units=s.minor_units, currency=s.currency_symbol)


def approval_ref(idem_key: str, terminal: str | None = None, receipt_no: int | None = None) -> str:
    """What a refund's approval is bound to, as a manager reads it: the sale's
    receipt (none: a return without one) and the refund's own key."""
    what = "no receipt" if terminal is None else f"receipt {terminal}/{receipt_no}"
    return f"refund of {what} #{idem_key[:12]}"


def post_void_action(ctx, age: _dt.timedelta) -> tuple[str, list[str]]:
    window = ctx.config.limits.post_void_minutes
    minutes = int(age.total_seconds() // 60)
    if age.total_seconds() <= window * 60:
        return "refund.post_void", ["a post-void"]
    return "refund.post_void_late", [f"the sale is {minutes} minutes old: a post-void within {window} minutes "
                                     f"needs a manager, later the owner"]


def return_action(ctx, *, age: _dt.timedelta | None, method_changes: list[tuple[str, str]]) -> tuple[str, list[str]]:
    reasons = []
    if age is None:
        reasons.append("a return without a receipt")
    elif age.total_seconds() > ctx.config.limits.refund_days * 86400:
        reasons.append(f"the sale is {age.days} days old (more than {ctx.config.limits.refund_days})")
    for against, method in method_changes:
        reasons.append(f"{method} back for a sale paid by {against}")
    return ("refund.override", reasons) if reasons else ("refund.process", [])


def gate(ctx, user, action: str, reasons: list[str], amount: int, ref: str, approval=None, *, role=False):
    """``authority.require`` for the refund (``authority.require_role`` when the
    caller read the user's fresh ``role`` in its own statement); NeedsApproval says why."""
    try:
        if role is not False:
            return authority.require_role(ctx, user, role, action, amount=amount, ref=ref, approval=approval)
        return authority.require(ctx, user, action, amount=amount, ref=ref, approval=approval)
    except NeedsApproval as e:
        why = list(reasons)
        if action == "refund.process":
            why.append(f"more than the {fmt(ctx, ctx.config.limits.refund_alone)} a cashier may refund alone")
        raise NeedsApproval(f"a refund of {fmt(ctx, amount)} needs a manager's approval: {'; '.join(why)}",
                            e.action, e.amount, e.ref) from None


def needs_approval(ctx, user, action: str, amount: int) -> bool:
    return permissions.decide(user.role, action, amount=amount, config=ctx.config) == permissions.APPROVE

