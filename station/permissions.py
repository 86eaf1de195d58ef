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
    "receipt.manage":      _row(_R, _A, _A, _R, _A),   # dismiss a receipt that never printed
    # refunds (station.refund)
    "sale.lookup":         _row(_A, _A, _A, _A, _A),
    "refund.process":      _row(_A, _A, _A, _R, _A),   # cashier: up to limits.refund_alone
    "refund.override":     _row(_P, _A, _A, _R, _A),   # late, without a receipt, to another method
    "refund.post_void":    _row(_P, _P, _A, _R, _A),   # the terminal's last sale, within the window
    "refund.post_void_late": _row(_P, _P, _P, _R, _A),  # outside the window: the owner decides
    "refund.decide":       _row(_R, _A, _A, _R, _A),   # approve or reject a waiting refund request
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
    "user.view":           _row(_R, _A, _A, _R, _A),
    "key.manage":          _row(_R, _R, _A, _R, _A),   # export / import the store's key file
    "catalog.view":        _row(_A, _A, _A, _A, _A),
    # operations
    "dashboard.view":      _row(_R, _A, _A, _A, _A),
    "report.view":         _row(_R, _A, _A, _A, _A),   # sales, products, profit, cashiers, tax, stock
    "log.view":            _row(_R, _R, _A, _R, _A),
    "store.backup":        _row(_R, _R, _A, _R, _A),
    "store.restore":       _row(_R, _R, _R, _R, _A),
    "store.copy":          _row(_R, _R, _R, _R, _A),
    # products and stock (station.stock)
    "product.add":         _row(_P, _A, _A, _R, _A),   # a cashier adds an unknown item with approval
    "product.edit":        _row(_R, _R, _A, _R, _A),   # name, price, VAT, category, cost, barcodes
    "product.bulk_price":  _row(_R, _R, _P, _R, _A),   # a category's prices by percent
    "stock.view":          _row(_A, _A, _A, _A, _A),
    "stock.receive":       _row(_R, _A, _A, _R, _A),
    "stock.adjust":        _row(_R, _A, _A, _R, _A),   # supervisor: up to stock.adjust_alone at cost
    "stock.alert_resolve": _row(_R, _A, _A, _R, _A),
    "stock.count":         _row(_A, _A, _A, _R, _A),   # scan into an open count
    "stock.count_manage":  _row(_R, _A, _A, _R, _A),   # start, cancel, complete
    "stock.count_large":   _row(_R, _P, _A, _R, _A),   # complete a count worth more than stock.count_approval_value
    # payments through providers (mobile money, card gateway)
    "payments.view":       _row(_R, _A, _A, _A, _A),
    "payments.refund":     _row(_P, _A, _A, _R, _A),
    # treasury (station.treasury): who requests, approves, executes, records, decides
    "treasury.view":       _row(_R, _A, _A, _A, _A),   # funds, ledgers, queues
    "treasury.request":    _row(_R, _A, _A, _A, _A),   # ask for a payment out of a fund
    "treasury.approve":    _row(_R, _R, _A, _A, _A),   # approve or reject a requisition (not one's own)
    "treasury.execute":    _row(_R, _R, _A, _A, _A),   # pay it out, with TOTP (never one's own request)
    "treasury.record":     _row(_R, _R, _A, _A, _A),   # count a fund, receive a bag, deposit, transfer
    "treasury.decide":     _row(_R, _R, _A, _A, _A),   # approve or reject a variance (not one's own)
    "treasury.replenish":  _row(_R, _R, _A, _A, _A),   # ask for, decide and fund replenishments
    "treasury.reconcile":  _row(_R, _R, _A, _A, _A),   # match payments and deposits to the statement
    "treasury.manage":     _row(_R, _R, _A, _R, _A),   # add funds, set reorder and target levels
}

#: actions for which signing in (the ``station`` command line) also asks the
#: TOTP code of a role in ``security.totp_roles``: people, keys, prices
SECOND_FACTOR = {"user.manage", "key.manage", "catalog.manage", "product.edit"}

#: which roles may approve an action that needs approval
APPROVERS: dict[str, tuple[str, ...]] = {
    "default": ("supervisor", "manager", "admin"),
    "drawer.close": ("manager", "admin"),
    "sale.price_override": ("supervisor", "manager", "admin"),
    "refund.post_void": ("manager", "admin"),
    "refund.post_void_late": ("admin",),
    "product.bulk_price": ("manager", "admin"),
    "stock.adjust": ("manager", "admin"),
    "stock.count_large": ("manager", "admin"),
}

#: actions whose limit comes from config; amount above the limit -> APPROVE
LIMITS = {
    "sale.discount": ("limits.cashier_line_discount_pct", "percent"),
    "drawer.paid_out": ("limits.paid_out_alone", "amount"),
    "drawer.close": ("limits.variance_alone", "abs_amount"),
    "refund.process": ("limits.refund_alone", "amount"),
    "stock.adjust": ("stock.adjust_alone", "abs_amount"),
}
LIMITED_ROLES = ("cashier",)
#: roles an action's limit applies to, where it is not LIMITED_ROLES
LIMITED_ROLES_OF = {"stock.adjust": ("cashier", "supervisor")}


def decide(role: str, action: str, *, amount: int | None = None, config=None) -> str:
    """ALLOW, APPROVE or REFUSE for ``role`` doing ``action`` (with ``amount``:
    minor units, or basis points for percentages)."""
    if action not in TABLE:
        raise KeyError(f"unknown action {action!r}: add it to station.permissions.TABLE")
    d = TABLE[action].get(role, REFUSE)
    if d == ALLOW and action in LIMITS and role in LIMITED_ROLES_OF.get(action, LIMITED_ROLES) and amount is not None and config is not None:
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
