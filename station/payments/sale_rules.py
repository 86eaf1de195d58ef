"""What the sale asks of the provider payments, inside its own transactions.
Imports nothing of the sale (``station.sale`` and ``station.tender`` call it).

* :func:`use_in_sale` - in ``complete_sale``: each provider-paid payment is used
  by this sale, exactly once;
* :func:`refuse_leaving` - in ``void_ticket`` / ``park``: a ticket whose provider
  payment is still waiting or paid is finished on the tender screen first.
"""
from __future__ import annotations

from data import db as dbmod
from data.models import utcnow
from data.payments import ProviderPayment
from station import money
from station.errors import Conflict, InvalidInput
from station.payments import registry


def label(ctx, method: str) -> str:
    try:
        return registry.provider_for(ctx, method).label
    except Exception:  # noqa: BLE001 - a label only (an orphan's method may be unconfigured)
        return method


def fmt(ctx, v: int) -> str:
    s = ctx.config.store
    return money.format_amount(v, minor_units=s.minor_units, currency=s.currency_symbol)


_APPLY = ("UPDATE provider_payment SET status = 'applied', applied_at = ?, updated_at = ? "
          "WHERE ref = ? AND status = 'paid' AND ticket_id = ? AND method = ? AND paid_amount = ?")


def use_in_sale(ctx, ticket_id: int, payments) -> None:
    """Inside the sale's transaction (``tender.complete_sale``, before the drawer
    lock): every payment of a waiting method must name its paid provider payment
    (``payment_ref``), which becomes ``applied`` to this ticket, exactly once (one
    conditional UPDATE each, ``WHERE status = 'paid'``); otherwise Conflict and
    the whole sale rolls back. Payments of other methods cost no statement."""
    kinds = ctx.config.get("payments.methods")
    for pay in payments:
        ref = getattr(pay, "payment_ref", None)
        if not ref:
            if kinds.get(pay.method) in registry.WAITING_KINDS:
                raise InvalidInput(f"{pay.method} is confirmed by the provider: take it from the tender screen, "
                                   "it cannot be typed")
            continue
        now = dbmod.param_time(utcnow())
        cur = dbmod.current().execute_sql(dbmod.q(_APPLY), (now, now, ref, ticket_id, pay.method, pay.amount))
        if cur.rowcount != 1:
            raise Conflict(_why_not(ctx, ref, ticket_id, pay.amount))


def _why_not(ctx, ref: str, ticket_id: int, amount: int) -> str:
    p = ProviderPayment.get_or_none(ProviderPayment.ref == ref)
    if p is None:
        return f"payment {ref} does not exist: nothing was charged"
    if p.ticket_id != ticket_id:
        return f"payment {ref} belongs to another sale: nothing was charged"
    if p.status == "applied":
        return f"payment {ref} is already used by a sale: nothing was charged"
    if p.status != "paid":
        return f"the {label(ctx, p.method)} payment is {p.status}, not paid: nothing was charged"
    return (f"the {label(ctx, p.method)} payment is {fmt(ctx, p.paid_amount or 0)}, not {fmt(ctx, amount)}: "
            "nothing was charged")


def refuse_leaving(ctx, ticket_id: int, what: str) -> None:
    """Conflict when the ticket has a provider payment still waiting or paid and
    not used: ``what`` (void, park) would leave the customer's money behind."""
    p = (ProviderPayment.select(ProviderPayment.method, ProviderPayment.amount, ProviderPayment.status)
         .where((ProviderPayment.ticket == ticket_id)
                & ProviderPayment.status.in_(("requesting", "pending", "paid"))).first())
    if p is not None:
        state = "paid" if p.status == "paid" else "still waiting"
        raise Conflict(f"a {label(ctx, p.method)} payment of {fmt(ctx, p.amount)} on this ticket is {state}: "
                       f"finish it on the tender screen (F10) before you {what}")
