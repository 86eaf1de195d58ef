"""Reconciliation: every provider payment with its callbacks, settlement and sale;
the open ones asked about again; a provider statement matched against our records.

``station payments reconcile --from --to [--older-than N] [--statement FILE]``.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from peewee import fn

from data.models import Ticket, utcnow
from data.payments import PaymentCallback, ProviderPayment
from station.errors import InvalidInput
from station.payments import registry, service


@dataclass
class Line:
    ref: str
    method: str
    terminal: str | None
    created_at: _dt.datetime
    amount: int
    paid_amount: int | None
    status: str
    receipt: str | None
    provider_ref: str | None
    callbacks: int
    last_verdict: str | None
    sale: str | None           # "T1/42" (terminal / receipt number) when a sale used it
    flag: str | None


def listing(ctx, start: _dt.datetime | None = None, end: _dt.datetime | None = None,
            status: str | None = None, terminal: str | None = None) -> list[Line]:
    """Every provider payment created in [start, end), oldest first."""
    q = ProviderPayment.select()
    if start is not None:
        q = q.where(ProviderPayment.created_at >= start)
    if end is not None:
        q = q.where(ProviderPayment.created_at < end)
    if status:
        q = q.where(ProviderPayment.status == status)
    if terminal:
        q = q.where(ProviderPayment.terminal == terminal)
    rows = list(q.order_by(ProviderPayment.created_at, ProviderPayment.id))
    ids = [p.id for p in rows]
    counts: dict[int, int] = {}
    last: dict[int, str] = {}
    if ids:
        for pid, n in (PaymentCallback.select(PaymentCallback.payment, fn.COUNT(PaymentCallback.id))
                       .where(PaymentCallback.payment.in_(ids)).group_by(PaymentCallback.payment).tuples()):
            counts[pid] = n
        for pid, verdict in (PaymentCallback.select(PaymentCallback.payment, PaymentCallback.verdict)
                             .where(PaymentCallback.payment.in_(ids)).order_by(PaymentCallback.id).tuples()):
            last[pid] = verdict
    tickets = {t.id: t for t in Ticket.select(Ticket.id, Ticket.terminal, Ticket.receipt_no, Ticket.status)
               .where(Ticket.id.in_([p.ticket_id for p in rows if p.ticket_id]))} if rows else {}
    out = []
    for p in rows:
        t = tickets.get(p.ticket_id)
        sale = f"{t.terminal}/{t.receipt_no}" if t is not None and p.applied_at and t.receipt_no else None
        out.append(Line(p.ref, p.method, p.terminal, p.created_at, p.amount, p.paid_amount, p.status, p.receipt,
                        p.provider_ref, counts.get(p.id, 0), last.get(p.id), sale, p.flag))
    return out


@dataclass
class Settled:
    ref: str
    before: str
    after: str
    message: str


def settle_stale(ctx, older_than_minutes: int | None = None) -> list[Settled]:
    """Ask the provider about every payment still open (requesting, pending,
    abandoned) for longer than N minutes, and settle what it says; a request that
    never got an answer is failed; a paid payment whose sale went on without it is
    flagged for a refund."""
    n = ctx.config.payments.reconcile_after_minutes if older_than_minutes is None else older_than_minutes
    cutoff = utcnow() - _dt.timedelta(minutes=n)
    out = []
    stale = (ProviderPayment.select().where(ProviderPayment.status.in_(("requesting", "pending", "abandoned"))
                                            & (ProviderPayment.created_at <= cutoff))
             .order_by(ProviderPayment.id))
    for p in stale:
        before = p.status
        if registry.kind_of(ctx.config, p.method) != p.provider:
            out.append(Settled(p.ref, before, before, f"{p.method} is no longer paid through {p.provider} here"))
            continue
        v = service.ask(ctx, p)
        if v.status == "requesting":
            v = service.give_up(ctx, ProviderPayment.get(ProviderPayment.ref == p.ref))
        out.append(Settled(p.ref, before, v.status, v.message))
    unused = (ProviderPayment.select().join(Ticket, on=(ProviderPayment.ticket == Ticket.id))
              .where((ProviderPayment.status == "paid") & Ticket.status.in_(("completed", "voided"))
                     & (ProviderPayment.created_at <= cutoff)))
    for p in unused:
        v = service.flag_unused(ctx, p.ref)
        out.append(Settled(p.ref, "paid", v.status, v.flag or v.message))
    return out


# ------------------------------------------------------------ statements ---

RECEIPT_COLUMNS = ("receipt no.", "receipt no", "receipt", "transaction id", "transactionid", "airtel_money_id",
                   "airtel money id", "reference")
AMOUNT_COLUMNS = ("paid in", "amount", "credit", "paid_in")
TIME_COLUMNS = ("completion time", "time", "date", "transaction date")
STATUS_COLUMNS = ("transaction status", "status")


@dataclass
class StatementRow:
    receipt: str
    amount: int
    time: str


@dataclass
class Matched:
    rows: int = 0
    matched: list[tuple[str, str]] = field(default_factory=list)          # (receipt, our ref)
    only_there: list[StatementRow] = field(default_factory=list)          # in the statement, not ours
    only_here: list[Line] = field(default_factory=list)                   # ours (received), not in the statement
    amount_differs: list[tuple[str, int, int]] = field(default_factory=list)   # receipt, theirs, ours


def _col(header: list[str], names) -> int | None:
    low = [h.strip().lower() for h in header]
    for n in names:
        if n in low:
            return low.index(n)
    return None


def _amount(ctx, text: str) -> int:
    t = (text or "").strip().replace(",", "").replace(" ", "")
    if not t:
        return 0
    try:
        d = Decimal(t) * 10 ** ctx.config.store.minor_units
    except InvalidOperation:
        raise InvalidInput(f"'{text}' in the statement is not an amount") from None
    if d != d.to_integral_value():
        raise InvalidInput(f"'{text}' in the statement has more decimals than the currency")
    return int(d)


def read_statement(ctx, path: str | Path) -> list[StatementRow]:
    """The money-in rows of a provider statement (CSV with a header: a receipt
    column, an amount column such as M-Pesa's "Receipt No." / "Paid In")."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as e:
        raise InvalidInput(f"cannot read the statement {path}: {e.strerror or e}") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise InvalidInput(f"the statement {path} is empty")
    ri, ai = _col(header, RECEIPT_COLUMNS), _col(header, AMOUNT_COLUMNS)
    ti, si = _col(header, TIME_COLUMNS), _col(header, STATUS_COLUMNS)
    if ri is None or ai is None:
        raise InvalidInput(f"the statement {path} needs a receipt column ({RECEIPT_COLUMNS[0]!r} ...) and an "
                           f"amount column ({AMOUNT_COLUMNS[0]!r} ...)")
    out = []
    for n, row in enumerate(reader, start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) <= max(ri, ai):
            raise InvalidInput(f"line {n} of the statement has too few columns")
        if si is not None and len(row) > si and row[si].strip().lower() not in ("", "completed", "success", "ts"):
            continue
        amount = _amount(ctx, row[ai])
        if amount <= 0:
            continue
        out.append(StatementRow(row[ri].strip(), amount, row[ti].strip() if ti is not None and len(row) > ti else ""))
    return out


def match_statement(ctx, path: str | Path, provider: str, start=None, end=None) -> Matched:
    rows = read_statement(ctx, path)
    ours = [ln for ln in listing(ctx, start, end)
            if ProviderPayment.get(ProviderPayment.ref == ln.ref).provider == provider]
    by_receipt = {ln.receipt: ln for ln in ours if ln.receipt}
    m = Matched(rows=len(rows))
    seen = set()
    for r in rows:
        ln = by_receipt.get(r.receipt)
        if ln is None:
            m.only_there.append(r)
            continue
        seen.add(r.receipt)
        m.matched.append((r.receipt, ln.ref))
        got = ln.paid_amount if ln.paid_amount is not None else ln.amount
        if got != r.amount:
            m.amount_differs.append((r.receipt, r.amount, got))
    for ln in ours:
        if ln.status in service.MONEY_IN and ln.receipt not in seen:
            m.only_here.append(ln)
    return m
