"""``station verify`` checks of the sales (tickets, tenders, receipt numbers, cash).

Each check reads the stored rows and recomputes independently of the code that
wrote them; a non-empty list is a problem found (the report names the sale)."""
from __future__ import annotations

from collections import defaultdict

from peewee import fn

from data.models import CashMovement, ReceiptCounter, Tender, Ticket, TicketLine
from station.checks import check


def _completed():
    return Ticket.select().where(Ticket.status == "completed").order_by(Ticket.terminal, Ticket.receipt_no)


@check("sale.paid_equals_total")
def paid_equals_total(ctx) -> list[str]:
    """every completed sale is paid exactly: tenders add up to its total after cash rounding; change only from cash"""
    paid: dict[int, int] = defaultdict(int)
    noncash_change: dict[int, int] = defaultdict(int)
    count: dict[int, int] = defaultdict(int)
    for tid, method, amount, tendered, change in Tender.select(
            Tender.ticket, Tender.method, Tender.amount, Tender.tendered, Tender.change).tuples():
        paid[tid] += amount
        count[tid] += 1
        if method != "cash" and (change or tendered != amount):
            noncash_change[tid] += 1
    problems = []
    for t in _completed():
        name = f"sale {t.terminal}/{t.receipt_no} (ticket {t.id})"
        if t.total is None:
            problems.append(f"{name}: completed without a total")
            continue
        if paid.get(t.id, 0) != t.total + t.rounding:
            problems.append(f"{name}: tenders add up to {paid.get(t.id, 0)} but total + rounding is "
                            f"{t.total} + {t.rounding}")
        if noncash_change.get(t.id):
            problems.append(f"{name}: change or overpayment on a non-cash tender")
        if t.total > 0 and not count.get(t.id):
            problems.append(f"{name}: no tender at all")
    for tid, amount, tendered, change in (Tender.select(Tender.ticket, Tender.amount, Tender.tendered, Tender.change)
                                          .where(Tender.method == "cash").tuples()):
        if tendered - amount != change:
            problems.append(f"ticket {tid}: cash tendered {tendered} - applied {amount} is not the change {change}")
    for (tid,) in (Tender.select(Tender.ticket).join(Ticket, on=(Tender.ticket == Ticket.id))
                   .where(Ticket.status != "completed").tuples()):
        problems.append(f"ticket {tid}: tenders on a sale that is not completed")
    return problems


@check("sale.unique_keys")
def unique_keys(ctx) -> list[str]:
    """no two sales share an idempotency key or a (terminal, receipt number); every sale has both"""
    problems = []
    for key, n in (Ticket.select(Ticket.idem_key, fn.COUNT(Ticket.id)).where(Ticket.idem_key.is_null(False))
                   .group_by(Ticket.idem_key).having(fn.COUNT(Ticket.id) > 1).tuples()):
        problems.append(f"idempotency key {key} is on {n} tickets")
    for term, no, n in (Ticket.select(Ticket.terminal, Ticket.receipt_no, fn.COUNT(Ticket.id))
                        .where(Ticket.receipt_no.is_null(False))
                        .group_by(Ticket.terminal, Ticket.receipt_no).having(fn.COUNT(Ticket.id) > 1).tuples()):
        problems.append(f"receipt {term}/{no} is on {n} tickets")
    for t in _completed().where(Ticket.idem_key.is_null() | Ticket.receipt_no.is_null()):
        problems.append(f"ticket {t.id}: completed without an idempotency key or a receipt number")
    for term, n in (Ticket.select(Ticket.terminal, fn.COUNT(Ticket.id)).where(Ticket.status == "open")
                    .group_by(Ticket.terminal).having(fn.COUNT(Ticket.id) > 1).tuples()):
        problems.append(f"terminal {term} has {n} open tickets")
    return problems


@check("sale.receipts_gapless")
def receipts_gapless(ctx) -> list[str]:
    """receipt numbers run 1..N without a gap on every terminal, N = the terminal's receipt counter"""
    nums: dict[str, list[int]] = defaultdict(list)
    for term, no in (Ticket.select(Ticket.terminal, Ticket.receipt_no).where(Ticket.receipt_no.is_null(False))
                     .order_by(Ticket.terminal, Ticket.receipt_no).tuples()):
        nums[term].append(no)
    counters = {r.terminal: r.last for r in ReceiptCounter.select()}
    problems = []
    for term in sorted(set(nums) | set(counters)):
        got = nums.get(term, [])
        last = counters.get(term, 0)
        want = list(range(1, last + 1))
        if got != want:
            missing = sorted(set(want) - set(got))
            extra = sorted(set(got) - set(want))
            dup = len(got) - len(set(got))
            msg = f"terminal {term}: receipt counter at {last} but {len(got)} receipts"
            if missing:
                msg += f"; missing {_ranges(missing)}"
            if extra:
                msg += f"; beyond the counter {_ranges(extra)}"
            if dup:
                msg += f"; {dup} duplicates"
            problems.append(msg)
    return problems


@check("sale.cash_in_drawer")
def cash_in_drawer(ctx) -> list[str]:
    """every cash sale has its drawer movements (cash taken, change given) in the sale's session"""
    moves: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sess: dict[int, set] = defaultdict(set)
    for tid, kind, amount, sid in (CashMovement.select(CashMovement.ticket_id, CashMovement.kind,
                                                       CashMovement.amount, CashMovement.session)
                                   .where(CashMovement.ticket_id.is_null(False)
                                          & CashMovement.kind.in_(("sale", "change"))).tuples()):
        moves[tid][kind] += amount
        sess[tid].add(sid)
    cash: dict[int, tuple[int, int]] = {}
    for tid, tendered, change in (Tender.select(Tender.ticket, Tender.tendered, Tender.change)
                                  .where(Tender.method == "cash").tuples()):
        a, b = cash.get(tid, (0, 0))
        cash[tid] = (a + tendered, b + change)
    problems = []
    for t in _completed():
        tendered, change = cash.get(t.id, (0, 0))
        m = moves.get(t.id, {})
        name = f"sale {t.terminal}/{t.receipt_no} (ticket {t.id})"
        if m.get("sale", 0) != tendered or m.get("change", 0) != -change:
            problems.append(f"{name}: cash tendered {tendered}, change {change}, but the drawer has "
                            f"+{m.get('sale', 0)} / {m.get('change', 0)}")
        if sess.get(t.id) and sess[t.id] != {t.session_id}:
            problems.append(f"{name}: its cash went into session(s) {sorted(sess[t.id])}, "
                            f"not the sale's session {t.session_id}")
    return problems


@check("sale.lines_consistent")
def lines_consistent(ctx) -> list[str]:
    """every stored line total is qty x price - discount (the money rule)"""
    from station import money  # noqa: PLC0415
    problems = []
    for ln in TicketLine.select(TicketLine.id, TicketLine.ticket, TicketLine.qty, TicketLine.unit_price,
                                TicketLine.discount, TicketLine.line_total):
        if money.qty_times_price(ln.qty, ln.unit_price) - ln.discount != ln.line_total:
            problems.append(f"ticket {ln.ticket_id} line {ln.id}: total {ln.line_total} is not "
                            f"qty x price - discount")
    return problems


def _ranges(xs: list[int]) -> str:
    out, start, prev = [], None, None
    for x in xs:
        if start is None:
            start = prev = x
        elif x == prev + 1:
            prev = x
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = x
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    shown = ", ".join(out[:10])
    return shown + (f" (+{len(out) - 10} more)" if len(out) > 10 else "")


def _by_ticket(rows) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for r in rows:
        out[r.ticket_id].append(r)
    return out


@check("sale.lines_sum_to_totals")
def lines_sum_to_totals(ctx) -> list[str]:
    """every completed sale's lines add up to its subtotal, tax and total (the store's tax mode)"""
    from types import SimpleNamespace

    from station.sale import compute_totals
    inclusive = ctx.config.store.prices_include_tax
    lines = _by_ticket(TicketLine.select(TicketLine.ticket, TicketLine.qty, TicketLine.unit_price,
                                         TicketLine.discount, TicketLine.vat_rate, TicketLine.voided)
                       .join(Ticket, on=(TicketLine.ticket == Ticket.id)).where(Ticket.status == "completed"))
    problems = []
    for t in _completed():
        got = [SimpleNamespace(qty=ln.qty, unit_price=ln.unit_price, discount=ln.discount, vat_rate=ln.vat_rate,
                               voided=ln.voided, unit="pc") for ln in lines.get(t.id, [])]
        want = (t.subtotal, t.tax_total, t.total)
        sums = [compute_totals(got, t.discount_bp, mode) for mode in (inclusive, not inclusive)]
        if not any((s.subtotal, s.tax_total, s.total) == want for s in sums):
            s = sums[0]
            problems.append(f"sale {t.terminal}/{t.receipt_no} (ticket {t.id}): its lines add up to subtotal "
                            f"{s.subtotal}, tax {s.tax_total}, total {s.total} but the sale says {want[0]}, "
                            f"{want[1]}, {want[2]}")
    return problems


@check("sale.sealed")
def sealed(ctx) -> list[str]:
    """every completed sale has ONE sale.completed journal entry with its figures and every entry its sale; the digest the entry carries still matches the sale's rows"""
    import json

    from data.models import Journal
    from station import seal
    entries: dict[int, list] = defaultdict(list)
    problems = []
    for seq, terminal, amount, ref, data in (Journal.select(Journal.seq, Journal.terminal, Journal.amount,
                                                            Journal.ref, Journal.data)
                                             .where(Journal.kind == "sale.completed").tuples()):
        try:
            d = json.loads(data)
            entries[int(d["ticket"])].append((seq, terminal, amount, ref, d))
        except (ValueError, KeyError, TypeError):
            problems.append(f"journal seq {seq}: a sale.completed entry that names no ticket")
    tickets = {t.id: t for t in _completed()}
    lines = _by_ticket(TicketLine.select().join(Ticket, on=(TicketLine.ticket == Ticket.id))
                       .where(Ticket.status == "completed"))
    tenders = _by_ticket(Tender.select())
    for tid, t in tickets.items():
        name = f"sale {t.terminal}/{t.receipt_no} (ticket {tid})"
        es = entries.get(tid, [])
        if len(es) != 1:
            problems.append(f"{name}: {len(es)} sale.completed journal entries, not 1"
                            + (" (the sale is missing from the journal)" if not es else ""))
            continue
        seq, terminal, amount, ref, d = es[0]
        if (amount, ref, terminal) != (t.total, str(t.receipt_no), t.terminal):
            problems.append(f"{name}: the journal (seq {seq}) says total {amount}, receipt {terminal}/{ref}; "
                            f"the sale says {t.total}, {t.terminal}/{t.receipt_no}")
        if "digest" in d:
            now = seal.digest(seal.ticket_fields(t), [seal.line_fields(ln) for ln in lines.get(tid, [])],
                              [seal.tender_fields(x) for x in tenders.get(tid, [])])
            if now != d["digest"]:
                problems.append(f"{name}: changed after it was completed: its lines, totals or tenders no "
                                f"longer match the digest sealed in the journal (seq {seq})")
    for tid, es in entries.items():
        if tid not in tickets:
            seqs = ", ".join(str(e[0]) for e in es)
            problems.append(f"journal seq {seqs}: sale.completed for ticket {tid}, which is "
                            + ("not a completed sale" if Ticket.get_or_none(Ticket.id == tid) else "missing"))
    return problems
