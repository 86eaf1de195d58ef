"""The pending payment: one state machine, every answer through one door.

Never lost: the row is written (``requesting``) BEFORE the request leaves, and
carries our reference, so a crash anywhere leaves something to find and settle;
every answer (callback, status query, the start answer, a refund result) goes
through :func:`settle`, which logs it (insert-only ``PaymentCallback``) and moves
the row only along ``data.payments.TRANSITIONS`` with a conditional UPDATE under
the row lock.

Never doubled:
* a retry (:func:`start` with the same ticket, method, phone and amount) first
  asks about the earlier request and takes it up again (paid, or still open)
  instead of sending another;
* one open request per ticket at a time;
* the sale uses a payment only in its own transaction (:func:`use_in_sale`,
  ``paid -> applied`` WHERE status = 'paid'), so exactly one sale gets it;
* money that arrives for a payment nobody will use (the cashier cancelled or
  switched to cash, the sale was completed otherwise, a wrong amount, a reference
  we never issued) is ``refund_due``: flagged "paid twice, refund due"
  (:func:`flagged`) and refundable in one step (:func:`refund`).

Tills find their payments in the store (:func:`watch`; a till behind NAT needs no
inbound port) and ask the provider's status API when no callback came.
"""
from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass

import peewee

from data import db as dbmod
from data.models import Ticket, utcnow
from data.payments import TRANSITIONS, ProviderPayment
from station import authority, journal, sale
from station.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from station.payments import phone, registry, rows, sale_rules
from station.payments.provider import (
    FAILED, PAID, PENDING, REFUNDED, Answer, NotSupported, ProviderError, Refused, Request, Uncertain, Unreachable,
)

#: what a logged answer did
VERDICTS = ("sent", "paid", "failed", "pending", "duplicate", "late_success", "amount_mismatch",
            "unknown_reference", "mismatch", "conflict", "refunding", "refunded", "refund_failed",
            "malformed", "bad_signature", "source_refused", "error")

MAX_BODY = 64 * 1024
WAITING = ("requesting", "pending")
MONEY_IN = ("paid", "applied", "refund_due", "refunding", "refunded")


@dataclass
class PaymentView:
    ref: str
    method: str
    provider: str
    label: str
    amount: int
    phone: str              # as the cashier reads it back (0712 345 678)
    status: str
    message: str
    receipt: str | None
    flag: str | None
    ticket_id: int | None
    terminal: str | None
    created_at: _dt.datetime
    seconds_left: int       # of the countdown (0 when over)
    paid_amount: int | None = None
    refund_amount: int = 0
    attempt: int = 1

    @property
    def waiting(self) -> bool:
        return self.status in WAITING

    @property
    def paid(self) -> bool:
        return self.status == "paid"

    @property
    def usable(self) -> bool:
        """The sale may count it."""
        return self.status == "paid"

    @property
    def over(self) -> bool:
        """Nothing more will happen at the till (paid and used, or not paid)."""
        return self.status not in WAITING and self.status != "paid"


def _settings(ctx):
    return ctx.config.payments


_label = sale_rules.label


def view(ctx, p: ProviderPayment) -> PaymentView:
    wait = _settings(ctx).wait_seconds
    left = 0
    if p.status in WAITING:
        left = max(0, int(wait - (utcnow() - p.created_at).total_seconds()))
    return PaymentView(ref=p.ref, method=p.method, provider=p.provider, label=_label(ctx, p.method),
                       amount=p.amount, phone=phone.display(p.phone) if p.phone else "", status=p.status,
                       message=p.message, receipt=p.receipt, flag=p.flag, ticket_id=p.ticket_id,
                       terminal=p.terminal, created_at=p.created_at, seconds_left=left,
                       paid_amount=p.paid_amount, refund_amount=p.refund_amount, attempt=p.attempt)


_fmt = sale_rules.fmt


def new_ref() -> str:
    """Our idempotency reference: 24 characters, upper-case letters and digits."""
    return "ST" + uuid.uuid4().hex[:22].upper()


_write = sale.run_write    # one write transaction, retried whole after a transient error


def _get(ref: str) -> ProviderPayment:
    p = rows.by_ref(ref, lock=False)
    if p is None:
        raise NotFound(f"no payment with reference {ref}")
    return p


def _locked(ref: str) -> ProviderPayment:
    p = rows.by_ref(ref)
    if p is None:
        raise NotFound(f"no payment with reference {ref}")
    return p


def _move(p: ProviderPayment, to: str, **fields) -> None:
    """``p`` (locked by the caller) -> ``to``, if the state machine allows it."""
    if to != p.status and to not in TRANSITIONS[p.status]:
        raise Conflict(f"payment {p.ref} cannot go from {p.status} to {to}")
    fields.setdefault("updated_at", utcnow())
    if rows.update(p.id, {"status": to, **fields}, status_was=p.status) != 1:
        raise Conflict(f"payment {p.ref} changed meanwhile")
    p.status = to
    for k, v in fields.items():
        setattr(p, k, v)


def _log(provider: str, source: str, verdict: str, *, payment=None, detail: str = "", body: str = "",
         remote: str = "", path: str = "", signature_ok=None, provider_ref=None, result_code=None) -> None:
    rows.log({"received_at": utcnow(), "provider": provider, "source": source, "verdict": verdict,
              "detail": (detail or "")[:200], "body": (body or "")[:MAX_BODY], "remote": (remote or "")[:64],
              "path": (path or "")[:200], "signature_ok": signature_ok,
              "payment_id": getattr(payment, "id", payment),
              "provider_ref": (provider_ref or None) and str(provider_ref)[:64],
              "result_code": (result_code or None) and str(result_code)[:32]})


def _flag(ctx, p: ProviderPayment, why: str, **fields) -> None:
    _move(p, "refund_due", flag=why[:200], **fields)
    journal.append("payment.flagged", terminal=p.terminal or ctx.terminal, amount=p.paid_amount or p.amount,
                   ref=p.ref, data={"method": p.method, "provider": p.provider, "why": why,
                                    "receipt": p.receipt, "ticket": p.ticket_id})


# ---------------------------------------------------------------- settle ---

def settle(ctx, provider: str, *, source: str, state: str, kind: str = "payment", ref: str | None = None,
           provider_ref: str | None = None, merchant_ref: str | None = None, receipt: str | None = None,
           paid_amount: int | None = None, result_code: str | None = None, message: str = "",
           body: str = "", remote: str = "", path: str = "", signature_ok=None) -> tuple[str, PaymentView | None]:
    """Apply one answer of a provider (callback, status query, start answer, refund
    result) to its payment and log it, in ONE transaction. Returns (verdict, view)."""
    def tx():
        p = rows.by_ref(ref) if ref else None
        if p is None and provider_ref and kind == "payment":
            p = rows.by_provider_ref(provider, provider_ref)
        verdict, detail = _apply(ctx, p, provider, source, state, kind, ref, provider_ref, merchant_ref, receipt,
                                 paid_amount, result_code, message)
        if p is None and verdict == "unknown_reference" and state == PAID and kind == "payment":
            p = _orphan(ctx, provider, provider_ref, receipt, paid_amount, result_code, message)
        _log(provider, source, verdict, payment=p, detail=detail or message, body=body, remote=remote, path=path,
             signature_ok=signature_ok, provider_ref=provider_ref, result_code=result_code)
        return verdict, (view(ctx, p) if p is not None else None)
    try:
        return _write(tx)
    except peewee.IntegrityError:   # the same unknown payment recorded meanwhile by another worker:
        return _write(tx)           # now it is found, and this answer is its duplicate


def _orphan(ctx, provider, provider_ref, receipt, paid_amount, result_code, message) -> ProviderPayment:
    method = next((m for m, k in ctx.config.get("payments.methods").items() if k == provider), provider)
    why = "paid with a reference we never issued: check the provider's statement before refunding"
    p = ProviderPayment.create(ref=new_ref(), method=method, provider=provider, terminal=None, ticket=None,
                               amount=paid_amount or 0, status="refund_due", provider_ref=provider_ref,
                               receipt=receipt, paid_amount=paid_amount, result_code=result_code,
                               message=message[:200], flag=why, settled_at=utcnow())
    journal.append("payment.flagged", terminal=ctx.terminal, amount=paid_amount, ref=p.ref,
                   data={"method": method, "provider": provider, "why": why, "receipt": receipt,
                         "provider_ref": provider_ref})
    return p


def _apply(ctx, p, provider, source, state, kind, ref, provider_ref, merchant_ref, receipt, paid_amount,
           result_code, message) -> tuple[str, str]:
    """The state machine. ``p`` is locked (or None). Returns (verdict, detail)."""
    if p is None:
        return "unknown_reference", f"no payment has reference {ref or provider_ref}"
    if p.provider != provider:
        return "mismatch", f"payment {p.ref} is a {p.provider} payment, not {provider}"
    if kind == "refund":
        return _refund_answer(ctx, p, state, message)
    if p.provider_ref and provider_ref and p.provider_ref != provider_ref:
        return "mismatch", f"payment {p.ref} has provider reference {p.provider_ref}, not {provider_ref}"
    if p.merchant_ref and merchant_ref and p.merchant_ref != merchant_ref:
        return "mismatch", f"payment {p.ref} has merchant reference {p.merchant_ref}, not {merchant_ref}"
    now = utcnow()
    known = {}
    if provider_ref and not p.provider_ref:
        known["provider_ref"] = provider_ref
    if merchant_ref and not p.merchant_ref:
        known["merchant_ref"] = merchant_ref

    def keep(**more):   # store what we learnt without changing the status
        fields = {**known, **more}
        if fields:
            rows.update(p.id, {"updated_at": now, **fields})

    if state == PENDING:
        if source == "start" and p.status in ("requesting", "abandoned"):
            if p.status == "requesting":
                _move(p, "pending", sent_at=p.sent_at or now, message=message[:200], **known)
            else:
                keep(sent_at=p.sent_at or now)
            return "sent", message
        keep(queried_at=now) if source == "query" else keep()
        return "pending", message

    if state == FAILED:
        if p.status in ("requesting", "pending", "abandoned"):
            _move(p, "failed", result_code=result_code, message=message[:200], settled_at=now,
                  queried_at=now if source == "query" else p.queried_at, **known)
            return "failed", message
        keep()
        if p.status == "failed":
            return "duplicate", message
        return "conflict", f"a failure for a payment that is {p.status}: kept {p.status}"

    # state == PAID
    got = paid_amount if paid_amount is not None else p.amount
    paid_fields = dict(receipt=receipt or p.receipt, paid_amount=got, result_code=result_code,
                       settled_at=p.settled_at or now, **known)
    if p.status in ("paid", "applied", "refund_due", "refunding", "refunded"):
        if receipt and p.receipt and receipt != p.receipt:
            keep()
            return "conflict", f"a second success with receipt {receipt} (first {p.receipt})"
        keep(**({"receipt": receipt} if receipt and not p.receipt else {}))
        return "duplicate", f"already {p.status}"
    if p.amount and got != p.amount:
        _flag(ctx, p, f"{_fmt(ctx, got)} paid but {_fmt(ctx, p.amount)} was asked: not used for the sale, "
                      f"refund due", message=message[:200], **paid_fields)
        return "amount_mismatch", f"paid {got}, asked {p.amount}"
    if p.status in ("failed", "abandoned"):
        why = ("paid after the cashier cancelled: paid twice, refund due" if p.status == "abandoned"
               else "paid after it was given up as not paid: paid twice, refund due")
        _flag(ctx, p, why, message=message[:200], **paid_fields)
        return "late_success", why
    ticket_status = rows.ticket_status(p.ticket_id)
    if ticket_status in ("completed", "voided"):
        why = f"paid for a sale that was {ticket_status} without it: paid twice, refund due"
        _flag(ctx, p, why, message=message[:200], **paid_fields)
        return "late_success", why
    _move(p, "paid", message=message[:200], **paid_fields)
    return "paid", message


def _refund_answer(ctx, p, state, message) -> tuple[str, str]:
    """The provider's answer to a refund we asked for."""
    if p.status != "refunding":
        return "duplicate", f"a refund answer for a payment that is {p.status}"
    if state == REFUNDED:
        total = p.refund_amount + p.refund_pending
        full = total >= (p.paid_amount or p.amount)
        back = "refunded" if full else ("applied" if p.applied_at else "refund_due")
        _move(p, back, refund_amount=total, refund_pending=0, message=message[:200])
        journal.append("payment.refunded", terminal=p.terminal or ctx.terminal, amount=total, ref=p.ref,
                       data={"method": p.method, "refund_ref": p.refund_ref, "receipt": p.receipt})
        return "refunded", message
    back = "applied" if p.applied_at else "refund_due"
    _move(p, back, refund_pending=0, message=message[:200])
    return "refund_failed", message


def log_rejected(provider: str, verdict: str, detail: str, *, body: bytes | str = b"", remote: str = "",
                 path: str = "", signature_ok=None) -> None:
    """A callback refused before it could be read (bad source, bad signature,
    malformed): logged, nothing else changes."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    _write(lambda: _log(provider, "callback", verdict, detail=detail, body=text, remote=remote, path=path,
                        signature_ok=signature_ok))


# ----------------------------------------------------------------- start ---

def _check_amount(ctx, amount) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidInput("the amount must be an amount in minor units")
    if amount <= 0:
        raise InvalidInput("the amount must be more than zero")
    if amount > ctx.config.limits.max_amount:
        raise InvalidInput(f"the amount is more than the maximum {_fmt(ctx, ctx.config.limits.max_amount)}")


def _earlier(ticket_id: int, method: str, msisdn: str, amount: int) -> list[ProviderPayment]:
    return list(ProviderPayment.select().where(
        (ProviderPayment.ticket == ticket_id) & (ProviderPayment.method == method)
        & (ProviderPayment.phone == msisdn) & (ProviderPayment.amount == amount)
        & ProviderPayment.status.in_(("requesting", "pending", "abandoned", "paid", "refund_due")))
        .order_by(ProviderPayment.id.desc()))


def start(ctx, user, ticket_id: int, method: str, amount: int, phone_text: str | None = None) -> PaymentView:
    """Ask the customer to pay ``amount`` of ticket ``ticket_id`` by ``method``.

    Bad input (phone, amount, a method that settles at the till) is InvalidInput
    and changes nothing. A retry for the same money first asks about the earlier
    request: paid -> it is returned (nothing sent); still open -> it is returned
    to wait on; only when it failed is a new request sent."""
    prov = registry.provider_for(ctx, method)
    if not prov.waits:
        raise InvalidInput(f"{method} is settled at the till, not through a provider")
    _check_amount(ctx, amount)
    prov.check_amount(amount)
    msisdn = phone.normalise(phone_text) if prov.needs_phone else ""

    for p in _earlier(ticket_id, method, msisdn, amount):
        v = _take_up(ctx, user, p)
        if v is not None:
            return v

    def tx():
        authority.require(ctx, user, "sale.tender", ref=ticket_id)
        t = dbmod.locked(Ticket.select().where(Ticket.id == ticket_id)).first()
        if t is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        if t.status != "open":
            raise Conflict(f"the ticket is {t.status}: nothing was sent")
        if t.terminal != ctx.terminal:
            raise Conflict(f"the ticket is open on terminal {t.terminal}, not here")
        mine = list(ProviderPayment.select().where(ProviderPayment.ticket == ticket_id))
        busy = [q for q in mine if q.status in WAITING]
        if busy:
            q = busy[0]
            raise Conflict(f"a {_label(ctx, q.method)} request of {_fmt(ctx, q.amount)}"
                           f"{' to ' + phone.masked(q.phone) if q.phone else ''} is still waiting: "
                           f"cancel it first")
        held = sum((q.paid_amount or q.amount) for q in mine if q.status == "paid")
        due = sale.totals_of(ctx, t).total
        if held + amount > due:
            raise InvalidInput(f"{_fmt(ctx, amount)} is more than is left to pay "
                               f"({_fmt(ctx, max(0, due - held))})")
        return ProviderPayment.create(
            ref=new_ref(), method=method, provider=prov.kind, terminal=ctx.terminal, ticket=ticket_id,
            attempt=len(mine) + 1, amount=amount, currency=ctx.config.store.currency, phone=msisdn,
            status="requesting", user=user.id, message=f"asking {prov.label}...")
    p = _write(tx)
    return _send(ctx, p, prov)


def _send(ctx, p: ProviderPayment, prov) -> PaymentView:
    req = Request(ref=p.ref, method=p.method, amount=p.amount, currency=p.currency, phone=p.phone,
                  label=f"T{p.ticket_id}" if p.ticket_id else p.ref[:12], terminal=p.terminal or "")
    try:
        a = prov.start(req)
    except Uncertain as e:
        msg = str(e)

        def unknown():   # it may have arrived: wait for its callback (matched by our ref), never resend
            (ProviderPayment.update(sent_at=utcnow(), message=msg[:200], updated_at=utcnow())
             .where((ProviderPayment.id == p.id) & (ProviderPayment.status == "requesting")).execute())
            _log(p.provider, "start", "error", payment=p.id, detail=msg)
        _write(unknown)
        return view(ctx, _get(p.ref))
    except (Unreachable, Refused, NotSupported, InvalidInput) as e:
        settle(ctx, p.provider, source="start", state=FAILED, ref=p.ref,
               result_code=getattr(e, "code", None) or e.__class__.__name__.lower(), message=str(e))
        return view(ctx, _get(p.ref))
    except ProviderError as e:
        settle(ctx, p.provider, source="start", state=FAILED, ref=p.ref, result_code="error", message=str(e))
        return view(ctx, _get(p.ref))
    _verdict, v = settle(ctx, p.provider, source="start", state=a.state, ref=p.ref, provider_ref=a.provider_ref,
                         merchant_ref=a.merchant_ref, receipt=a.receipt, paid_amount=a.paid_amount,
                         result_code=a.result_code, message=a.message, body=a.body)
    return v


def _take_up(ctx, user, p: ProviderPayment) -> PaymentView | None:
    """An earlier request for the same money: paid -> take it; open -> ask, then
    wait on it if it is still open. None: it failed, send a new one."""
    if p.status == "paid":
        return view(ctx, p)
    if p.status == "refund_due":
        return _reclaim(ctx, user, p)
    if p.status == "abandoned":
        def revive():
            authority.require(ctx, user, "sale.tender", ref=p.ticket_id)
            q = _locked(p.ref)
            if q.status == "abandoned":
                _move(q, "pending" if q.provider_ref else "requesting",
                      message="asking again about the earlier request")
        _write(revive)
    v = ask(ctx, _get(p.ref))
    if v.status == "failed":
        return None
    return v


def _reclaim(ctx, user, p: ProviderPayment) -> PaymentView | None:
    """A late payment for THIS open ticket, same money: the sale takes it after all
    (no refund, no second charge)."""
    if not p.flag or "paid twice" not in p.flag or p.paid_amount != p.amount:
        return None

    def tx():
        authority.require(ctx, user, "sale.tender", ref=p.ticket_id)
        q = _locked(p.ref)
        t = Ticket.select(Ticket.status, Ticket.terminal).where(Ticket.id == q.ticket_id).first()
        if q.status != "refund_due" or t is None or t.status != "open" or t.terminal != ctx.terminal:
            return None
        _move(q, "paid", flag=None, message="the earlier payment arrived: taken for this sale")
        journal.append("payment.reclaimed", terminal=ctx.terminal, user=user, amount=q.paid_amount, ref=q.ref,
                       data={"ticket": q.ticket_id, "method": q.method})
        return view(ctx, q)
    return _write(tx)


# ------------------------------------------------------------ the till ---

def ask(ctx, p: ProviderPayment) -> PaymentView:
    """Ask the provider's status API about ``p`` now, and settle what it says."""
    prov = registry.provider_for(ctx, p.method)
    try:
        a: Answer = prov.status(p)
    except ProviderError as e:
        msg = str(e)

        def note():
            ProviderPayment.update(queried_at=utcnow()).where(ProviderPayment.id == p.id).execute()
            _log(p.provider, "query", "error", payment=p.id, detail=msg, provider_ref=p.provider_ref)
        _write(note)
        return view(ctx, _get(p.ref))
    _verdict, v = settle(ctx, p.provider, source="query", state=a.state, ref=p.ref, provider_ref=a.provider_ref,
                         merchant_ref=a.merchant_ref, receipt=a.receipt, paid_amount=a.paid_amount,
                         result_code=a.result_code, message=a.message, body=a.body)
    return v


def watch(ctx, ref: str) -> PaymentView:
    """What the till shows for payment ``ref``: read from the store (where the
    receiver wrote the callback); when no callback came in time, ask the provider."""
    p = _get(ref)
    if p.status not in WAITING:
        return view(ctx, p)
    s = _settings(ctx)
    now = utcnow()
    since = (now - (p.sent_at or p.created_at)).total_seconds()
    if p.status == "requesting" and not p.provider_ref and (now - p.created_at).total_seconds() > s.wait_seconds:
        return give_up(ctx, p)
    if since >= s.query_after_seconds and (
            p.queried_at is None or (now - p.queried_at).total_seconds() >= s.query_every_seconds):
        return ask(ctx, p)
    return view(ctx, p)


def give_up(ctx, p: ProviderPayment) -> PaymentView:
    """A request whose answer never came (no provider reference, no callback)."""
    msg = (f"no answer from {_label(ctx, p.method)}: not paid as far as we know "
           "(a late payment would be flagged for a refund)")

    def tx():
        q = _locked(p.ref)
        if q.status == "requesting" and not q.provider_ref:
            _move(q, "failed", message=msg, result_code="no_answer", settled_at=utcnow())
            _log(q.provider, "query", "failed", payment=q, detail=msg)
        return view(ctx, q)
    return _write(tx)


def flag_unused(ctx, ref: str) -> PaymentView:
    """A paid payment whose sale was completed or voided without it: refund due."""
    def tx():
        q = _locked(ref)
        status = rows.ticket_status(q.ticket_id)
        if q.status == "paid" and status in ("completed", "voided"):
            _flag(ctx, q, f"paid for a sale that was {status} without it: paid twice, refund due")
        return view(ctx, q)
    return _write(tx)


def cancel(ctx, user, ref: str) -> PaymentView:
    """The cashier stops waiting. Where the provider can cancel, it is asked to;
    otherwise the payment is ``abandoned``: a success that still comes is flagged
    "paid twice, refund due". Already paid: returned as is (the sale takes it)."""
    p = _get(ref)
    if p.status not in WAITING:
        return view(ctx, p)
    prov = registry.provider_for(ctx, p.method)
    if prov.can_cancel:
        try:
            a = prov.cancel(p)
        except ProviderError:
            a = None
        if a is not None and a.state in (PAID, FAILED):
            _verdict, v = settle(ctx, p.provider, source="cancel", state=a.state, ref=p.ref,
                                 provider_ref=a.provider_ref, receipt=a.receipt, paid_amount=a.paid_amount,
                                 result_code=a.result_code, message=a.message, body=a.body)
            if v is not None and v.status != "pending":
                return v

    def tx():
        authority.require(ctx, user, "sale.tender", ref=p.ticket_id)
        q = _locked(ref)
        if q.status in WAITING:
            _move(q, "abandoned", message="cancelled by the cashier")
            journal.append("payment.abandoned", terminal=ctx.terminal, user=user, amount=q.amount, ref=q.ref,
                           data={"method": q.method, "ticket": q.ticket_id})
        return view(ctx, q)
    return _write(tx)


def give_back(ctx, user, ref: str) -> PaymentView:
    """The cashier takes a paid payment off the sale (the customer pays another
    way after all): it is flagged for a refund, never silently dropped."""
    def tx():
        authority.require(ctx, user, "sale.tender")
        q = _locked(ref)
        if q.status != "paid":
            raise Conflict(f"the {_label(ctx, q.method)} payment is {q.status}, not paid: nothing to take off")
        _flag(ctx, q, "paid, then taken off the sale by the cashier: refund due")
        return view(ctx, q)
    return _write(tx)


def for_ticket(ctx, ticket_id: int) -> list[PaymentView]:
    """Every provider payment of a ticket, oldest first (the tender screen on
    re-entry, the returns to find what to refund)."""
    return [view(ctx, p) for p in ProviderPayment.select().where(ProviderPayment.ticket == ticket_id)
            .order_by(ProviderPayment.id)]


def open_here(ctx) -> list[PaymentView]:
    """This terminal's payments still to be settled or used, on an open ticket
    (after a restart: what the tender screen takes up again)."""
    q = (ProviderPayment.select().join(Ticket, on=(ProviderPayment.ticket == Ticket.id))
         .where((ProviderPayment.terminal == ctx.terminal) & (Ticket.status == "open")
                & ProviderPayment.status.in_(("requesting", "pending", "paid")))
         .order_by(ProviderPayment.id))
    return [view(ctx, p) for p in q]


# ----------------------------------------------------------- the flags ---

def flagged(ctx, *, terminal: str | None = None) -> list[PaymentView]:
    """Money received that no sale uses: "paid twice, refund due" (and refunds
    under way). The manager's dashboard and the X/Z reports read this."""
    q = ProviderPayment.select().where(ProviderPayment.status.in_(("refund_due", "refunding")))
    if terminal is not None:
        q = q.where(ProviderPayment.terminal == terminal)
    return [view(ctx, p) for p in q.order_by(ProviderPayment.id)]


def report_section(ctx, terminal: str) -> dict:
    """For the X and Z reports of ``terminal``: its payments still waiting for a
    refund ("paid twice, refund due"), as plain data."""
    items = [{"ref": v.ref, "method": v.method, "amount": (v.paid_amount or v.amount) - v.refund_amount,
              "receipt": v.receipt, "status": v.status} for v in flagged(ctx, terminal=terminal)]
    return {"count": len(items), "total": sum(i["amount"] for i in items), "items": items}


# ---------------------------------------------------------------- refund ---

def refund(ctx, user, ref: str, amount: int | None = None, *, reason: str = "", approval=None) -> PaymentView:
    """Give money back through the provider: a flagged payment (whole, by default)
    or part of a payment a sale used (the returns). ``refunding`` is set before
    the provider is asked, so two managers can never refund it twice."""
    p = _get(ref)
    prov = (registry.provider_for(ctx, p.method) if registry.kind_of(ctx.config, p.method) == p.provider
            else registry.provider_of_kind(ctx, p.provider))
    if prov is None or not prov.waits:
        raise NotSupported(f"{p.method} is not refunded through a provider: give it back from the drawer")
    if not prov.can_refund:
        raise NotSupported(f"{prov.label} payments cannot be refunded through the provider here: "
                           "refund them another way and mark them with 'station payments resolve'")
    remaining = (p.paid_amount if p.paid_amount is not None else p.amount) - p.refund_amount
    if p.status not in ("refund_due", "applied") or remaining <= 0:
        raise Conflict(f"payment {ref} is {p.status}: there is nothing to refund")
    if amount is None:
        amount = remaining
    _check_amount(ctx, amount)
    if amount > remaining:
        raise InvalidInput(f"{_fmt(ctx, amount)} is more than is left to refund ({_fmt(ctx, remaining)})")
    if amount != remaining and not prov.partial_refund:
        raise InvalidInput(f"{prov.label} refunds a whole payment only ({_fmt(ctx, remaining)}): "
                           "give a part back in cash")
    refund_ref = new_ref()

    def begin():
        authority.require(ctx, user, "payments.refund", amount=amount, ref=ref, approval=approval)
        q = _locked(ref)
        if q.status not in ("refund_due", "applied"):
            raise Conflict(f"payment {ref} is {q.status}: there is nothing to refund")
        _move(q, "refunding", refund_pending=amount, refund_ref=refund_ref, message="asking for the refund...")
        journal.append("payment.refund_requested", terminal=ctx.terminal, user=user, amount=amount, ref=ref,
                       data={"method": q.method, "provider": q.provider, "reason": reason, "refund_ref": refund_ref})
        return q
    q = _write(begin)
    try:
        a = prov.refund(q, amount, refund_ref)
    except Uncertain as e:
        msg = str(e)[:200]
        _write(lambda: ProviderPayment.update(message=msg, updated_at=utcnow()).where(ProviderPayment.id == q.id)
               .execute())
        raise
    except ProviderError as e:
        settle(ctx, q.provider, source="refund", kind="refund", state=FAILED, ref=ref, message=str(e))
        raise
    if a.state == REFUNDED:
        _verdict, v = settle(ctx, q.provider, source="refund", kind="refund", state=REFUNDED, ref=ref,
                             result_code=a.result_code, message=a.message, body=a.body)
        return v
    def asked():   # the provider answers later (its result callback settles it)
        ProviderPayment.update(message=a.message[:200], updated_at=utcnow()).where(ProviderPayment.id == q.id).execute()
        _log(q.provider, "refund", "refunding", payment=q.id, detail=a.message, body=a.body,
             provider_ref=a.provider_ref)
    _write(asked)
    return view(ctx, _get(ref))


def resolve(ctx, user, ref: str, note: str) -> PaymentView:
    """A manager marks a flagged payment as refunded outside the provider (cash
    handed back, a reversal made on the provider's portal): ``refunded``, journaled."""
    if not (note or "").strip():
        raise InvalidInput("say how it was refunded (e.g. 'cash from drawer T1', 'reversed on the portal')")

    def tx():
        authority.require(ctx, user, "payments.refund", amount=None, ref=ref)
        q = _locked(ref)
        if q.status != "refund_due":
            raise Conflict(f"payment {ref} is {q.status}, not flagged for a refund")
        got = q.paid_amount if q.paid_amount is not None else q.amount
        _move(q, "refunded", refund_amount=got, message=f"refunded outside the provider: {note.strip()}"[:200])
        journal.append("payment.resolved", terminal=ctx.terminal, user=user, amount=got, ref=ref,
                       data={"method": q.method, "note": note.strip()})
        return view(ctx, q)
    return _write(tx)


def require_viewer(ctx, user) -> None:
    if user is None:
        raise PermissionDenied("nobody is logged in")
    _write(lambda: authority.require(ctx, user, "payments.view"))

