"""``station verify`` checks of the provider payments: recomputed from the stored
rows, independently of the code that wrote them."""
from __future__ import annotations

from collections import defaultdict

from data.models import Tender, Ticket
from data.payments import PaymentCallback, ProviderPayment
from station.checks import check
from station.payments import registry

MONEY_IN = ("paid", "applied", "refund_due", "refunding", "refunded")


def _name(p) -> str:
    return f"payment {p.ref} ({p.method}, {p.terminal or 'no terminal'})"


@check("payments.used_exactly_once")
def used_exactly_once(ctx) -> list[str]:
    """every provider-paid tender of a sale is one applied payment of that sale, and every applied payment is in its sale"""
    waiting = {m for m, k in ctx.config.get("payments.methods").items() if k in registry.WAITING_KINDS}
    tendered: dict[tuple[int, str], int] = defaultdict(int)
    for tid, method, amount in Tender.select(Tender.ticket, Tender.method, Tender.amount).tuples():
        if method in waiting:
            tendered[(tid, method)] += amount
    applied: dict[tuple[int, str], int] = defaultdict(int)
    problems = []
    status_of = dict(Ticket.select(Ticket.id, Ticket.status).where(
        Ticket.id.in_(ProviderPayment.select(ProviderPayment.ticket))).tuples())
    for p in ProviderPayment.select().where(ProviderPayment.applied_at.is_null(False)):
        applied[(p.ticket_id, p.method)] += p.paid_amount or 0
        if status_of.get(p.ticket_id) != "completed":
            problems.append(f"{_name(p)}: used by ticket {p.ticket_id}, which is {status_of.get(p.ticket_id)}")
    for key in sorted(set(tendered) | set(applied)):
        if tendered.get(key, 0) != applied.get(key, 0):
            problems.append(f"ticket {key[0]}: {key[1]} tenders add up to {tendered.get(key, 0)} but its applied "
                            f"{key[1]} payments to {applied.get(key, 0)}")
    return problems


@check("payments.states")
def states(ctx) -> list[str]:
    """every provider payment's fields agree with its state; money no sale uses is flagged, never left as paid"""
    problems = []
    status_of = dict(Ticket.select(Ticket.id, Ticket.status).where(
        Ticket.id.in_(ProviderPayment.select(ProviderPayment.ticket))).tuples())
    for p in ProviderPayment.select():
        n = _name(p)
        got = p.paid_amount
        if p.status in MONEY_IN and (got is None or p.settled_at is None):
            problems.append(f"{n}: {p.status} without the amount received or when")
        if p.status == "applied" and (p.applied_at is None or p.ticket_id is None):
            problems.append(f"{n}: applied without its sale")
        if p.status != "applied" and p.applied_at is not None and p.status not in ("refunding", "refunded"):
            problems.append(f"{n}: used by a sale but {p.status}")
        if got is not None and p.refund_amount + p.refund_pending > got:
            problems.append(f"{n}: {p.refund_amount + p.refund_pending} refunded of {got} received")
        if p.status == "refunded" and got is not None and p.refund_amount != got:
            problems.append(f"{n}: refunded but only {p.refund_amount} of {got} given back")
        if p.status == "paid" and status_of.get(p.ticket_id) in ("completed", "voided"):
            problems.append(f"{n}: paid, its sale {status_of.get(p.ticket_id)} without it, and not flagged "
                            f"for a refund")
        if p.status == "refund_due" and not p.flag:
            problems.append(f"{n}: refund due without saying why")
        if p.terminal is None and p.status not in ("refund_due", "refunding", "refunded"):
            problems.append(f"{n}: a payment nobody asked for is {p.status}")
    return problems


@check("payments.answers_logged")
def answers_logged(ctx) -> list[str]:
    """every provider payment whose outcome is known has the answer that settled it in the callback log"""
    logged = {pid for (pid,) in PaymentCallback.select(PaymentCallback.payment)
              .where(PaymentCallback.payment.is_null(False)).distinct().tuples()}
    return [f"{_name(p)}: {p.status} but no answer of the provider is logged for it"
            for p in ProviderPayment.select().where(ProviderPayment.settled_at.is_null(False))
            if p.id not in logged]
