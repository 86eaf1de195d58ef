"""THE permission table. Every service consults it through :func:`require`.

For each action and role: ALLOW (alone), APPROVE (only with a manager's approval
for exactly this action), or REFUSE. Some actions are ALLOW up to a limit from
config (``[limits]``) and APPROVE above it. ``approve_by`` says which roles may
approve an action; where an action needs two people the approver may never be
the requester (enforced in ``station.authority``).
"""
from __future__ import annotations

ALLOW, APPROVE, REFUSE = "allow", "approve", "refuse"
ROLES = ("cashier", "supervisor", "manager", "treasurer", "admin")

_A, _P, _R = ALLOW, APPROVE, REFUSE


def _row(cashier, supervisor, manager, treasurer, admin):
    return dict(zip(ROLES, (cashier, supervisor, manager, treasurer, admin)))


#: action -> role -> decision. Later issues append rows here, nowhere else.
TABLE: dict[str, dict[str, str]] = {
    # sale
    "sale.ring_up":        _row(_A, _A, _A, _R, _A),
    "sale.void_line":      _row(_A, _A, _A, _R, _A),
    "sale.void_ticket":    _row(_P, _A, _A, _R, _A),
    "sale.discount":       _row(_A, _A, _A, _R, _A),   # cashier: up to limits.cashier_line_discount_pct
    "sale.price_override": _row(_P, _A, _A, _R, _A),
    "sale.park":           _row(_A, _A, _A, _R, _A),
    "sale.tender":         _row(_A, _A, _A, _R, _A),
    "receipt.reprint":     _row(_A, _A, _A, _R, _A),
    # drawer
    "drawer.open":         _row(_A, _A, _A, _R, _A),
    "drawer.paid_in":      _row(_A, _A, _A, _R, _A),
    "drawer.paid_out":     _row(_A, _A, _A, _R, _A),   # cashier: up to limits.paid_out_alone
    "drawer.drop":         _row(_A, _A, _A, _R, _A),
    "drawer.no_sale":      _row(_P, _P, _A, _R, _A),
    "drawer.x_report":     _row(_A, _A, _A, _A, _A),
    "drawer.close":        _row(_A, _A, _A, _R, _A),   # cashier: variance up to limits.variance_alone
    "drawer.view_all":     _row(_R, _A, _A, _A, _A),
    # authority
    "journal.view":        _row(_R, _A, _A, _A, _A),
    "user.manage":         _row(_R, _R, _A, _R, _A),
    "user.unlock":         _row(_R, _A, _A, _R, _A),
    "catalog.manage":      _row(_R, _R, _A, _R, _A),
    "verify.run":          _row(_R, _A, _A, _A, _A),
}

#: which roles may approve an action that needs approval
APPROVERS: dict[str, tuple[str, ...]] = {
    "default": ("supervisor", "manager", "admin"),
    "drawer.close": ("manager", "admin"),
    "sale.price_override": ("supervisor", "manager", "admin"),
}

#: actions whose limit comes from config; amount above the limit -> APPROVE
LIMITS = {
    "sale.discount": ("limits.cashier_line_discount_pct", "percent"),
    "drawer.paid_out": ("limits.paid_out_alone", "amount"),
    "drawer.close": ("limits.variance_alone", "abs_amount"),
}
LIMITED_ROLES = ("cashier",)


def decide(role: str, action: str, *, amount: int | None = None, config=None) -> str:
    """ALLOW, APPROVE or REFUSE for ``role`` doing ``action`` (with ``amount``:
    minor units, or basis points for percentages)."""
    if action not in TABLE:
        raise KeyError(f"unknown action {action!r}: add it to station.permissions.TABLE")
    d = TABLE[action].get(role, REFUSE)
    if d == ALLOW and action in LIMITS and role in LIMITED_ROLES and amount is not None and config is not None:
        key, kind = LIMITS[action]
        limit = config.get(key)
        value = abs(amount) if kind == "abs_amount" else amount
        if kind == "percent":
            limit = limit * 100  # percent -> basis points
        if value > limit:
            return APPROVE
    return d


def approvers(action: str) -> tuple[str, ...]:
    return APPROVERS.get(action, APPROVERS["default"])


def actions_for(role: str) -> list[str]:
    return [a for a, row in TABLE.items() if row.get(role) != REFUSE]
