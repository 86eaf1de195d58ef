"""``station verify`` checks of refunds, returns, post-voids and exchanges.

Each check reads the stored rows and recomputes on its own (sums in Python, not
the counters the triggers keep, not the service's code), naming what it finds."""
from __future__ import annotations

from collections import defaultdict

from peewee import fn

from data.models import Approval, CashMovement, Tender, Ticket, TicketLine
from data.refund import Refund, RefundCounter, RefundedAmount, RefundLine, RefundTender, ReturnedQty
from station.checks import check


def _name(r) -> str:
    no = f"{r.terminal}/{r.refund_no}" if r.refund_no is not None else f"request {r.id}"
    return f"refund {no} (id {r.id})"


def _live_lines():
    """(original line, qty, amount, tax) of every refund line that holds its quantity."""
    return (RefundLine.select(RefundLine.original_line, RefundLine.qty, RefundLine.amount, RefundLine.tax)
            .join(Refund, on=(RefundLine.refund == Refund.id))
            .where(Refund.status != "rejected", RefundLine.original_line.is_null(False)).tuples())


@check("refund.lines_within_sold")
def lines_within_sold(ctx) -> list[str]:
    """no sale line is returned beyond what was sold nor refunded beyond what it was paid; the kept counts agree"""
    from station import sale  # noqa: PLC0415
    from station.refund import amounts, lookup  # noqa: PLC0415
    qty: dict[int, int] = defaultdict(int)
    amount: dict[int, int] = defaultdict(int)
    tax: dict[int, int] = defaultdict(int)
    for line_id, q, a, t in _live_lines():
        qty[line_id] += q
        amount[line_id] += a
        tax[line_id] += t
    problems = []
    sold = {}
    tickets = set()
    if qty:
        for lid, tid, q, voided in (TicketLine.select(TicketLine.id, TicketLine.ticket, TicketLine.qty,
                                                      TicketLine.voided)
                                    .where(TicketLine.id.in_(list(qty))).tuples()):
            sold[lid] = q
            tickets.add(tid)
            if voided:
                problems.append(f"sale line {lid} (ticket {tid}) was voided but is returned")
    paid: dict[int, int] = {}
    for tid in sorted(tickets):
        t = Ticket.get_by_id(tid)
        lines = [ln for ln in sale._read_lines(tid) if not ln.voided]
        inclusive = lookup.tax_inclusive(ctx, t, lines)
        paid.update({k: v.amount for k, v in amounts.paid_per_line(lines, t.discount_bp, inclusive).items()})
    for lid in sorted(qty):
        if qty[lid] > sold.get(lid, 0):
            problems.append(f"sale line {lid}: {qty[lid]} returned of {sold.get(lid, 0)} sold")
        if lid in paid and amount[lid] > paid[lid]:
            problems.append(f"sale line {lid}: {amount[lid]} refunded of {paid[lid]} paid for it")
    kept = {r.line_id: r for r in ReturnedQty.select()}
    for lid in sorted(set(kept) | set(qty)):
        k = kept.get(lid)
        got = (k.returned, k.amount, k.tax, k.sold) if k else (0, 0, 0, sold.get(lid, 0))
        want = (qty.get(lid, 0), amount.get(lid, 0), tax.get(lid, 0), sold.get(lid, got[3]))
        if got != want:
            problems.append(f"sale line {lid}: the kept count says returned/amount/tax/sold {got}, "
                            f"the refund lines add up to {want}")
    return problems


@check("refund.within_paid")
def within_paid(ctx) -> list[str]:
    """no sale gets back more by a method than it was paid by it, nor more in all than it was paid; the kept sums agree"""
    paid: dict[tuple[int, str], int] = defaultdict(int)
    for tid, method, amount in Tender.select(Tender.ticket, Tender.method, Tender.amount).tuples():
        paid[(tid, method)] += amount
    back: dict[tuple[int, str], int] = defaultdict(int)
    for tid, against, amount in (RefundTender.select(Refund.original, RefundTender.against, RefundTender.amount)
                                 .join(Refund, on=(RefundTender.refund == Refund.id))
                                 .where(Refund.original.is_null(False)).tuples()):
        if against is None:
            back[(tid, "?")] -= amount
        else:
            back[(tid, against)] -= amount
    problems = []
    per_sale: dict[int, int] = defaultdict(int)
    for (tid, m), v in sorted(back.items()):
        per_sale[tid] += v
        if m == "?":
            problems.append(f"ticket {tid}: {v} refunded against no method of the sale")
        elif v > paid.get((tid, m), 0):
            problems.append(f"ticket {tid}: {v} refunded against {m}, which paid {paid.get((tid, m), 0)}")
    for tid, v in sorted(per_sale.items()):
        total_paid = sum(a for (t, _m), a in paid.items() if t == tid)
        if v > total_paid:
            problems.append(f"ticket {tid}: {v} refunded in all, {total_paid} was paid")
    kept = {(r.ticket_id, r.method): (r.paid, r.refunded) for r in RefundedAmount.select()}
    for key in sorted(set(kept) | {k for k in back if k[1] != "?"}):
        want = (paid.get(key, 0), back.get(key, 0))
        if kept.get(key, (paid.get(key, 0), 0)) != want:
            problems.append(f"ticket {key[0]} {key[1]}: the kept sum says paid/refunded {kept.get(key)}, "
                            f"the rows add up to {want}")
    return problems


@check("refund.linked")
def linked(ctx) -> list[str]:
    """every refund returns a completed sale (or is an approved return without a receipt), its lines are that sale's, an exchange credit is in its new sale"""
    problems = []
    status = {tid: st for tid, st in Ticket.select(Ticket.id, Ticket.status).tuples()}
    line_ticket = {}
    rl = list(RefundLine.select(RefundLine.refund, RefundLine.original_line).tuples())
    wanted = {lid for _r, lid in rl if lid is not None}
    if wanted:
        line_ticket = dict(TicketLine.select(TicketLine.id, TicketLine.ticket)
                           .where(TicketLine.id.in_(list(wanted))).tuples())
    refunds = {r.id: r for r in Refund.select()}
    for rid, lid in rl:
        r = refunds[rid]
        if lid is None:
            if r.original_id is not None:
                problems.append(f"{_name(r)}: a line without its sale line")
        elif line_ticket.get(lid) != r.original_id:
            problems.append(f"{_name(r)}: line {lid} is not a line of the sale it returns")
    credit_in_sale: dict[int, int] = defaultdict(int)
    for tid, amount in Tender.select(Tender.ticket, Tender.amount).where(Tender.method == "exchange").tuples():
        credit_in_sale[tid] += amount
    credit_out: dict[int, int] = defaultdict(int)
    for rid, amount in (RefundTender.select(RefundTender.refund, RefundTender.amount)
                        .where(RefundTender.method == "exchange").tuples()):
        credit_out[rid] -= amount
    exchanged: dict[int, int] = defaultdict(int)
    for r in refunds.values():
        if r.original_id is None:
            if r.kind != "return" or (r.status == "processed" and r.approval_id is None):
                problems.append(f"{_name(r)}: a {r.kind} without a sale and without an approval")
        elif status.get(r.original_id) != "completed":
            problems.append(f"{_name(r)}: its sale (ticket {r.original_id}) is "
                            f"{status.get(r.original_id, 'missing')}")
        if r.kind == "exchange":
            if r.exchange_ticket_id is None or status.get(r.exchange_ticket_id) != "completed":
                problems.append(f"{_name(r)}: an exchange without a completed new sale")
            else:
                exchanged[r.exchange_ticket_id] += credit_out.get(r.id, 0)
        elif credit_out.get(r.id):
            problems.append(f"{_name(r)}: exchange credit on a {r.kind}")
    for tid in sorted(set(exchanged) | set(credit_in_sale)):
        if exchanged.get(tid, 0) != credit_in_sale.get(tid, 0):
            problems.append(f"ticket {tid}: exchange credit {credit_in_sale.get(tid, 0)} in the sale but "
                            f"{exchanged.get(tid, 0)} from its refund")
    return problems


@check("refund.numbers_gapless")
def numbers_gapless(ctx) -> list[str]:
    """refund numbers run 1..N without a gap on every terminal (N = its refund counter); only processed refunds have one"""
    nums: dict[str, list[int]] = defaultdict(list)
    problems = []
    for term, no, st, rid in (Refund.select(Refund.terminal, Refund.refund_no, Refund.status, Refund.id)
                              .order_by(Refund.terminal, Refund.refund_no).tuples()):
        if (no is None) != (st != "processed"):
            problems.append(f"refund id {rid}: {st} with number {no}")
        if no is not None:
            nums[term].append(no)
    counters = {r.terminal: r.last for r in RefundCounter.select()}
    for term in sorted(set(nums) | set(counters)):
        got, last = nums.get(term, []), counters.get(term, 0)
        if got != list(range(1, last + 1)):
            problems.append(f"terminal {term}: refund counter at {last} but numbers "
                            f"{got[:10]}{' ...' if len(got) > 10 else ''}")
    return problems


@check("refund.cash_in_drawer")
def cash_in_drawer(ctx) -> list[str]:
    """the cash of every refund left its drawer session, and every cash refund movement has its refund"""
    moves: dict[int, int] = defaultdict(int)
    sess: dict[int, set] = defaultdict(set)
    for rid, amount, sid in (CashMovement.select(CashMovement.ticket_id, CashMovement.amount, CashMovement.session)
                             .where(CashMovement.kind == "refund").tuples()):
        moves[rid] += amount
        sess[rid].add(sid)
    cash: dict[int, int] = defaultdict(int)
    for rid, amount in RefundTender.select(RefundTender.refund, RefundTender.amount).where(
            RefundTender.method == "cash").tuples():
        cash[rid] += amount
    refunds = {r.id: r for r in Refund.select()}
    problems = []
    for rid in sorted(set(moves) | set(cash)):
        r = refunds.get(rid)
        if r is None:
            problems.append(f"cash refund movement of {moves[rid]} for refund id {rid}, which does not exist")
            continue
        if moves.get(rid, 0) != cash.get(rid, 0):
            problems.append(f"{_name(r)}: {-cash.get(rid, 0)} back in cash but the drawer has {moves.get(rid, 0)}")
        if sess.get(rid) and sess[rid] != {r.session_id}:
            problems.append(f"{_name(r)}: its cash left session(s) {sorted(sess[rid])}, not {r.session_id}")
    return problems


@check("refund.unique_keys")
def unique_keys(ctx) -> list[str]:
    """no two refunds share an idempotency key or a (terminal, refund number)"""
    problems = []
    for key, n in (Refund.select(Refund.idem_key, fn.COUNT(Refund.id)).group_by(Refund.idem_key)
                   .having(fn.COUNT(Refund.id) > 1).tuples()):
        problems.append(f"idempotency key {key} is on {n} refunds")
    for term, no, n in (Refund.select(Refund.terminal, Refund.refund_no, fn.COUNT(Refund.id))
                        .where(Refund.refund_no.is_null(False)).group_by(Refund.terminal, Refund.refund_no)
                        .having(fn.COUNT(Refund.id) > 1).tuples()):
        problems.append(f"refund {term}/{no} is on {n} refunds")
    return problems


@check("refund.tenders_equal_total")
def tenders_equal_total(ctx) -> list[str]:
    """every refund's lines add up to its total and tax, its negative tenders to its total + rounding; only processed refunds have tenders"""
    lines: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for rid, amount, tax in RefundLine.select(RefundLine.refund, RefundLine.amount, RefundLine.tax).tuples():
        lines[rid][0] += amount
        lines[rid][1] += tax
        lines[rid][2] += 1
    back: dict[int, int] = defaultdict(int)
    for rid, amount in RefundTender.select(RefundTender.refund, RefundTender.amount).tuples():
        back[rid] += amount
    problems = []
    for r in Refund.select().order_by(Refund.id):
        s_amount, s_tax, n = lines.get(r.id, [0, 0, 0])
        if not n:
            problems.append(f"{_name(r)}: no lines")
        if (s_amount, s_tax) != (r.total, r.tax_total):
            problems.append(f"{_name(r)}: lines add up to {s_amount} (tax {s_tax}), the refund says "
                            f"{r.total} (tax {r.tax_total})")
        if r.status == "processed":
            if -back.get(r.id, 0) != r.total + r.rounding:
                problems.append(f"{_name(r)}: tenders add up to {back.get(r.id, 0)}, not -({r.total} + "
                                f"{r.rounding})")
        elif r.id in back:
            problems.append(f"{_name(r)}: {r.status} but has tenders")
    return problems


@check("refund.approved")
def approved(ctx) -> list[str]:
    """every refund that needed a manager used an approval given by someone else for exactly that refund and amount"""
    from station.refund import rules  # noqa: PLC0415
    approvals = {a.id: a for a in Approval.select().where(Approval.action.startswith("refund."))}
    sales = {tid: (term, no) for tid, term, no in Ticket.select(Ticket.id, Ticket.terminal, Ticket.receipt_no)
             .where(Ticket.id.in_(Refund.select(Refund.original))).tuples()}
    problems = []
    for r in Refund.select().where(Refund.status.in_(("approved", "processed")) & Refund.needs.is_null(False)):
        a = approvals.get(r.approval_id)
        if a is None:
            problems.append(f"{_name(r)}: needs {r.needs} but has no approval")
            continue
        ref = rules.approval_ref(r.idem_key, *sales.get(r.original_id, ()))
        if (a.action, a.amount, a.ref, a.requester_id) != (r.needs, r.total, ref, r.cashier_id) \
                or a.approver_id == r.cashier_id:
            problems.append(f"{_name(r)}: approval {a.id} is for {a.action} {a.amount} {a.ref}, not this refund")
        if r.status == "processed" and a.used_at is None:
            problems.append(f"{_name(r)}: processed but approval {a.id} was never used")
    return problems
