"""Returns and refunds through the service (real SQLite file and real PostgreSQL):
finding the sale, what a line gives back (hand-computed), the methods it goes back
by, exactly once, the quantity and cash limits, approvals, requests, post-void,
exchange. Every test ends with ``station verify`` finding nothing."""
from __future__ import annotations

import peewee
import pytest

from data import db as dbmod
from data.models import Approval, CashMovement, Journal, Product, Tender, Ticket, TicketLine
from data.refund import Refund, RefundCounter, RefundedAmount, RefundLine, RefundTender, ReturnedQty
from station import authority, drawer, sale, tender, verify
from station.errors import Conflict, InvalidInput, NeedsApproval, NotFound, PermissionDenied
from station.refund import lookup, service
from station.refund.service import ProductItem, ReturnItem
from station.tender import Payment
from tests.refund_helpers import approve, grant, sell
from tests.sale_helpers import APPLES_SKU, BREAD, MILK, WINE, make_products, open_drawer


@pytest.fixture
def shop(ctx, people):
    make_products()
    open_drawer(ctx, people["cashier"])
    return people["cashier"]


def _clean(ctx):
    bad = [r for r in verify.run(ctx) if not r.ok]
    assert not bad, [(r.name, r.problems[:3], r.error) for r in bad]


def _snapshot():
    return (Refund.select().count(), RefundLine.select().count(), RefundTender.select().count(),
            CashMovement.select().count(), [r.last for r in RefundCounter.select()], Journal.select().count(),
            [(r.line_id, r.returned) for r in ReturnedQty.select().order_by(ReturnedQty.line)],
            [(r.ticket_id, r.method, r.refunded) for r in RefundedAmount.select()])


def _lines(info):
    return {ln.name: ln for ln in info.lines}


# ---------------------------------------------------------- finding ---

def test_find_sale_by_receipt_code(ctx, shop):
    c = shop
    r = sell(ctx, c, [MILK, WINE])
    code = lookup.receipt_code(ctx.terminal, r.receipt_no)
    assert code == "T1-000001"          # what the receipt prints as CODE128
    for text in (code, f"  {code}\r", "T1/1", "T1-1", "1"):
        info = lookup.find_sale(ctx, text)
        assert (info.ticket_id, info.receipt_no, info.total) == (r.ticket_id, 1, 1018), text
    info = lookup.find_sale(ctx, code)
    assert [(ln.name, ln.sold, ln.returned, ln.returnable, ln.paid) for ln in info.lines] == [
        ("Milk 1l", 1000, 0, 1000, 119), ("Red wine", 1000, 0, 1000, 899)]
    assert info.paid == {"cash": 1018} and info.refunded == {} and info.refunds == []
    with pytest.raises(NotFound):
        lookup.find_sale(ctx, "T1-000002")
    with pytest.raises(NotFound):
        lookup.find_sale(ctx, "T9-000001")
    for bad in ("", "hello", "T1-"):
        with pytest.raises(InvalidInput):
            lookup.find_sale(ctx, bad)


def test_search_recent_sales(ctx, shop):
    c = shop
    a = sell(ctx, c, [MILK])
    b = sell(ctx, c, [WINE], lambda st: [Payment("card", st.due, reference="AUTH 5512")])
    rows = lookup.search_sales(ctx)
    assert [x.receipt_no for x in rows] == [b.receipt_no, a.receipt_no]
    assert [x.receipt_no for x in lookup.search_sales(ctx, amount=119)] == [a.receipt_no]
    assert [x.receipt_no for x in lookup.search_sales(ctx, last4="5512")] == [b.receipt_no]
    assert lookup.search_sales(ctx, last4="9999") == []
    day = Ticket.get_by_id(a.ticket_id).completed_at.date()
    assert len(lookup.search_sales(ctx, day=day)) == 2
    with pytest.raises(InvalidInput):
        lookup.search_sales(ctx, last4="12")


# ---------------------------------------------------------- amounts ---

def test_line_with_ticket_discount_and_split_tender_hand_computed(ctx, shop):
    """2 wine 8.99 (19 %), 1 bread 2.49 and 3 milk 1.19 (7 %), 10 % off the ticket;
    paid 10.00 by card and the rest in cash.

    7 %: 2.49 + 3.57 = 6.06, 10 % = 0.606 -> 0.61, shared over the lines by their
         totals: bread 0.61 x 249/606 = 0.2506 -> 0.25, milk 0.36:
         bread paid 2.24, milk 3.21 (1.07 each);
    19 %: 17.98, 10 % = 1.798 -> 1.80: wine paid 16.18 (8.09 each);
    total 21.63 = card 10.00 + cash 11.63.
    Return 1 wine and 1 milk: 8.09 + 1.07 = 9.16, back over the methods in
    proportion: card 9.16 x 1000/2163 = 4.2349 -> 4.23, cash 4.93.
    Then the rest (1 wine, 2 milk, bread): 8.09 + 2.14 + 2.24 = 12.47, which is
    exactly what each method has left: card 5.77, cash 6.70."""
    c = shop
    r = sell(ctx, c, [f"2*{WINE}", BREAD, f"3*{MILK}"],
             lambda st: [Payment("card", 1000, reference="A1"), Payment("cash", st.due - 1000)],
             discount_bp=1000)
    assert r.total == 2163
    info = lookup.find_sale(ctx, str(r.receipt_no))
    ln = _lines(info)
    assert (ln["Red wine"].paid, ln["Bread"].paid, ln["Milk 1l"].paid) == (1618, 224, 321)
    assert info.paid == {"card": 1000, "cash": 1163}
    before = drawer.current_session(ctx).expected_cash
    res = service.refund(ctx, c, service.new_key(), r.ticket_id,
                         [ReturnItem(ln["Red wine"].line_id, 1000), ReturnItem(ln["Milk 1l"].line_id, 1000)],
                         "changed mind", references={"card": "RF-1"})
    assert (res.refund_no, res.total, res.rounding) == (1, 916, 0)
    assert [(t.method, t.against, t.amount, t.reference) for t in res.tenders] == [
        ("card", "card", -423, "RF-1"), ("cash", "cash", -493, "")]
    assert drawer.current_session(ctx).expected_cash == before - 493
    amounts = {x.original_line_id: x.amount for x in RefundLine.select().where(RefundLine.refund == res.refund_id)}
    assert amounts == {ln["Red wine"].line_id: 809, ln["Milk 1l"].line_id: 107}
    info = lookup.find_sale(ctx, str(r.receipt_no))
    ln = _lines(info)
    assert (ln["Red wine"].returned, ln["Red wine"].returnable, ln["Red wine"].refund_now) == (1000, 1000, 809)
    assert (ln["Milk 1l"].returnable, ln["Milk 1l"].refund_now) == (2000, 214)
    assert info.refunded == {"card": 423, "cash": 493}
    rest = service.refund(ctx, c, service.new_key(), r.ticket_id,
                          [ReturnItem(x.line_id, x.returnable) for x in info.lines], "damaged",
                          references={"card": "RF-2"})
    assert (rest.refund_no, rest.total, rest.rounding) == (2, 1247, 0)
    assert [(t.method, t.amount) for t in rest.tenders] == [("card", -577), ("cash", -670)]
    info = lookup.find_sale(ctx, str(r.receipt_no))
    assert info.refunded == info.paid and not info.returnable
    assert [x.refund_no for x in info.refunds] == [1, 2]
    j = Journal.select().where(Journal.kind == "refund.processed").order_by(Journal.seq)
    assert [(x.amount, x.ref) for x in j] == [(916, "R1"), (1247, "R2")]
    _clean(ctx)


def test_cash_rounding_on_the_way_back(ctx, shop):
    """Cash step 0.05: a sale of 2 x 1.19 + 8.99 = 11.37 paid in cash is 11.35.
    Returning one milk (1.19) gives back 1.20 in cash (rounding +0.01); the rest
    (1 milk, wine: 10.18) gives back exactly what is left: 10.15 (rounding -0.03)."""
    c = shop
    ctx.config.set("cash.rounding_step", 5)
    r = sell(ctx, c, [f"2*{MILK}", WINE])
    assert (r.total, r.paid_cash, r.rounding) == (1137, 1135, -2)
    info = lookup.find_sale(ctx, str(r.receipt_no))
    milk = _lines(info)["Milk 1l"]
    a = service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(milk.line_id, 1000)], "damaged")
    assert (a.total, a.rounding, a.cash) == (119, 1, 120)
    info = lookup.find_sale(ctx, str(r.receipt_no))
    b = service.refund(ctx, c, service.new_key(), r.ticket_id,
                       [ReturnItem(x.line_id, x.returnable) for x in info.lines if x.returnable], "damaged")
    assert (b.total, b.rounding, b.cash) == (1018, -3, 1015)
    assert a.cash + b.cash == r.paid_cash
    _clean(ctx)


def test_weighed_item_returned_by_weight(ctx, shop):
    """0.350 kg apples at 2.99/kg = 1.0465 -> 1.05; 0.100 kg back: 1.05 x 100/350 = 0.30."""
    c = shop
    sale.add_product(ctx, c, Product.get(Product.sku == APPLES_SKU).id, 350)
    st = tender.begin_tender(ctx, c)
    r = tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", st.cash_due)])
    info = lookup.find_sale(ctx, str(r.receipt_no))
    ap = info.lines[0]
    assert (ap.unit, ap.sold, ap.paid) == ("kg", 350, 105)
    with pytest.raises(service.NotReturnable) as e:
        service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(ap.line_id, 351)], "damaged")
    assert e.value.returnable == {ap.line_id: 350} and "0.350 kg" in str(e.value)
    res = service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(ap.line_id, 100)], "damaged")
    assert res.total == 30
    _clean(ctx)


# ---------------------------------------------------------- limits ---

def test_more_than_returnable_is_refused_and_changes_nothing(ctx, shop):
    c = shop
    r = sell(ctx, c, [f"2*{WINE}"])
    line = lookup.find_sale(ctx, "1").lines[0]
    service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(line.line_id, 1000)], "damaged")
    snap = _snapshot()
    with pytest.raises(service.NotReturnable) as e:
        service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(line.line_id, 2000)], "damaged")
    assert "only 1 of 2 can still be returned" in str(e.value)
    # the same line twice in one return counts once
    with pytest.raises(service.NotReturnable):
        service.refund(ctx, c, service.new_key(), r.ticket_id,
                       [ReturnItem(line.line_id, 1000), ReturnItem(line.line_id, 1000)], "damaged")
    for bad in ([ReturnItem(line.line_id, 0)], [ReturnItem(line.line_id, -1000)], [ReturnItem(line.line_id, 500)],
                [], [ReturnItem(999999, 1000)]):
        with pytest.raises((InvalidInput, NotFound)):
            service.refund(ctx, c, service.new_key(), r.ticket_id, bad, "damaged")
    with pytest.raises(InvalidInput):
        service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(line.line_id, 1000)], "no reason")
    with pytest.raises(InvalidInput):
        service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(line.line_id, 1000)], "damaged",
                       method="bitcoin")
    assert _snapshot() == snap
    _clean(ctx)


def test_the_database_refuses_more_than_was_sold(ctx, shop):
    """Even bypassing the service, the returned quantity per sale line cannot pass
    what was sold, and refund rows never change."""
    c = shop
    r = sell(ctx, c, [WINE])
    line = TicketLine.get(TicketLine.ticket == r.ticket_id)
    res = service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(line.id, 1000)], "damaged")
    with pytest.raises(peewee.DatabaseError):
        with dbmod.write():
            RefundLine.create(refund=res.refund_id, position=9, original_line=line.id, name="x", qty=1000,
                              unit_price=899, amount=0, vat_rate=1900)
    with pytest.raises(peewee.DatabaseError):
        with dbmod.write():
            RefundTender.create(refund=res.refund_id, method="cash", against="cash", amount=-1)
    for q in (RefundLine.update(qty=1).where(RefundLine.refund == res.refund_id),
              RefundTender.update(amount=-1).where(RefundTender.refund == res.refund_id),
              Refund.update(total=0).where(Refund.id == res.refund_id),
              Refund.delete().where(Refund.id == res.refund_id),
              RefundLine.delete().where(RefundLine.refund == res.refund_id),
              ReturnedQty.delete()):
        with pytest.raises(peewee.DatabaseError):
            with dbmod.write():
                q.execute()
    # a refund line must name a line of the refund's own sale
    other = sell(ctx, c, [MILK])
    oline = TicketLine.get(TicketLine.ticket == other.ticket_id)
    with pytest.raises(peewee.DatabaseError):
        with dbmod.write():
            rid = Refund.insert(terminal="T1", kind="return", status="requested", original=r.ticket_id,
                                reason="x", cashier=c.id, idem_key="k-foreign", total=0).execute()
            RefundLine.create(refund=rid, position=1, original_line=oline.id, name="x", qty=1000, unit_price=1,
                              amount=0, vat_rate=700)
    _clean(ctx)


def test_cash_refund_with_too_little_in_the_drawer(ctx, shop, people):
    c = shop
    r = sell(ctx, c, [WINE, WINE, WINE], lambda st: [Payment("card", st.due, reference="C1")])
    line = TicketLine.get(TicketLine.ticket == r.ticket_id)
    drawer.drop(ctx, c, 9000)                  # 10.00 left in the drawer
    snap = _snapshot()
    with pytest.raises(NeedsApproval):          # cash for a card sale: a manager first
        service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(line.id, 2000)], "damaged",
                       method="cash")
    key = service.new_key()
    with pytest.raises(NeedsApproval) as e:
        service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.id, 2000)], "damaged", method="cash")
    a = approve(ctx, c, people["manager"], "3333", e.value)
    with pytest.raises(InvalidInput) as e2:
        service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.id, 2000)], "damaged", method="cash",
                       approval=a.id)
    assert "more than the expected cash in the drawer (10.00)" in str(e2.value)
    assert _snapshot()[:5] == snap[:5] and _snapshot()[6:] == snap[6:]
    assert Approval.get_by_id(a.id).used_at is None       # the approval is still there to use
    assert drawer.current_session(ctx).expected_cash == 1000
    res = service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.id, 1000)], "damaged", method="card",
                         references={"card": "X"})
    assert res.cash == 0
    _clean(ctx)


def test_a_refund_needs_an_open_drawer(ctx, shop, people):
    c = shop
    r = sell(ctx, c, [WINE])
    from data.models import DrawerSession
    s = DrawerSession.get(DrawerSession.status == "open")
    counts = {}
    left = s.expected_cash
    for d in ctx.config.cash.denominations:
        counts[d], left = divmod(left, d)
    drawer.close_session(ctx, c, counts)
    with pytest.raises(Conflict) as e:
        service.refund(ctx, c, service.new_key(), r.ticket_id,
                       [ReturnItem(TicketLine.get(TicketLine.ticket == r.ticket_id).id, 1000)], "damaged")
    assert "open the drawer first" in str(e.value)
    assert Refund.select().count() == 0


# ------------------------------------------------------------- once ---

def test_same_key_twice_is_one_refund(ctx, shop):
    c = shop
    r = sell(ctx, c, [WINE, MILK])
    line = lookup.find_sale(ctx, "1").lines[0]
    key = service.new_key()
    a = service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.line_id, 1000)], "damaged")
    b = service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.line_id, 1000)], "damaged")
    assert not a.duplicate and b.duplicate and (b.refund_id, b.refund_no, b.cash) == (a.refund_id, 1, a.cash)
    assert Refund.select().count() == 1 and CashMovement.select().where(CashMovement.kind == "refund").count() == 1
    _clean(ctx)


def test_injected_failure_then_retry(ctx, shop):
    """A failure inside the commit (after the drawer posting, before the journal)
    rolls everything back; the retry with the same key refunds once. A transient
    database error there is retried inside the service."""
    c = shop
    r = sell(ctx, c, [WINE, MILK])
    line = lookup.find_sale(ctx, "1").lines[0]
    key = service.new_key()
    snap = _snapshot()
    fails = {"n": 1}

    def probe(point):
        if point == "before_journal" and fails["n"]:
            fails["n"] -= 1
            raise RuntimeError("power cut")
    ctx.extras["refund.probe"] = probe
    with pytest.raises(RuntimeError):
        service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.line_id, 1000)], "damaged")
    assert _snapshot() == snap
    a = service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.line_id, 1000)], "damaged")
    assert not a.duplicate and a.refund_no == 1
    fails["n"] = 1

    def transient(point):
        if point == "before_journal" and fails["n"]:
            fails["n"] -= 1
            raise peewee.OperationalError("database is locked")
    ctx.extras["refund.probe"] = transient
    line2 = lookup.find_sale(ctx, "1").lines[1]
    b = service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(line2.line_id, 1000)], "damaged")
    assert b.refund_no == 2 and fails["n"] == 0
    del ctx.extras["refund.probe"]
    assert Refund.select().count() == 2 and [x.last for x in RefundCounter.select()] == [2]
    _clean(ctx)


# ------------------------------------------------------- approvals ---

def test_over_the_cashier_limit_needs_a_manager(ctx, shop, people):
    c = shop
    ctx.config.set("limits.refund_alone", 500)
    r = sell(ctx, c, [WINE, MILK])
    info = lookup.find_sale(ctx, "1")
    wine, milk = _lines(info)["Red wine"], _lines(info)["Milk 1l"]
    service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(milk.line_id, 1000)], "damaged")
    key = service.new_key()
    with pytest.raises(NeedsApproval) as e:
        service.refund(ctx, c, key, r.ticket_id, [ReturnItem(wine.line_id, 1000)], "damaged")
    assert e.value.amount == 899 and e.value.ref == f"refund of receipt T1/1 #{key[:12]}"
    assert "more than the 5.00" in str(e.value)
    # an approval for another refund (key) or amount does not do
    other = approve(ctx, c, people["manager"], "3333", NeedsApproval("x", "refund.process", 899, "other-key"))
    with pytest.raises(PermissionDenied):
        service.refund(ctx, c, key, r.ticket_id, [ReturnItem(wine.line_id, 1000)], "damaged", approval=other.id)
    a = approve(ctx, c, people["manager"], "3333", e.value)
    res = service.refund(ctx, c, key, r.ticket_id, [ReturnItem(wine.line_id, 1000)], "damaged", approval=a.id)
    assert Refund.get_by_id(res.refund_id).approver_id == people["manager"].id
    # a supervisor refunds that much alone
    r2 = sell(ctx, c, [WINE])
    res2 = service.refund(ctx, people["supervisor"], service.new_key(), r2.ticket_id,
                          [ReturnItem(TicketLine.get(TicketLine.ticket == r2.ticket_id).id, 1000)], "damaged")
    assert Refund.get_by_id(res2.refund_id).approval_id is None
    r3 = sell(ctx, c, [MILK])
    with pytest.raises(PermissionDenied):
        service.refund(ctx, people["treasurer"], service.new_key(), r3.ticket_id,
                       [ReturnItem(TicketLine.get(TicketLine.ticket == r3.ticket_id).id, 1000)], "damaged")
    _clean(ctx)


def test_late_return_needs_a_manager(ctx, shop, people):
    c = shop
    r = sell(ctx, c, [MILK])
    ctx.config.set("limits.refund_days", 0)         # every sale is "older" than 0 days
    line = lookup.find_sale(ctx, "1").lines[0]
    key = service.new_key()
    with pytest.raises(NeedsApproval) as e:
        service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.line_id, 1000)], "damaged")
    assert e.value.action == "refund.override" and "days old (more than 0)" in str(e.value)
    a = approve(ctx, c, people["supervisor"], "2222", e.value)
    service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.line_id, 1000)], "damaged", approval=a.id)
    _clean(ctx)


def test_return_without_receipt(ctx, shop, people):
    """Refused without approval; accepted with it, at the current price or a lower
    one; journalled with its approval."""
    c = shop
    sell(ctx, c, [WINE])                     # cash in the drawer
    key = service.new_key()
    items = [ProductItem(WINE, 1000)]
    snap = _snapshot()
    with pytest.raises(NeedsApproval) as e:
        service.return_without_receipt(ctx, c, key, items, "damaged")
    assert "without a receipt" in str(e.value) and e.value.amount == 899
    assert _snapshot() == snap
    with pytest.raises(InvalidInput):
        service.return_without_receipt(ctx, c, key, [ProductItem(WINE, 1000, price=900)], "damaged")
    with pytest.raises(NotFound):
        service.return_without_receipt(ctx, c, key, [ProductItem("0000000000000", 1000)], "damaged")
    lower = [ProductItem(WINE, 1000, price=500)]
    with pytest.raises(NeedsApproval) as e:
        service.return_without_receipt(ctx, c, key, lower, "damaged")
    assert e.value.amount == 500
    a = approve(ctx, c, people["manager"], "3333", e.value)
    before = drawer.current_session(ctx).expected_cash
    res = service.return_without_receipt(ctx, c, key, lower, "damaged", approval=a.id)
    assert (res.total, res.cash, res.original_id) == (500, 500, None)
    assert drawer.current_session(ctx).expected_cash == before - 500
    j = Journal.select().where(Journal.kind == "refund.processed").get()
    import json
    data = json.loads(j.data)
    assert data["approval"] == a.id and data["original"] is None and data["lines"][0]["amount"] == 500
    assert service.return_without_receipt(ctx, c, key, lower, "damaged", approval=a.id).duplicate
    _clean(ctx)


def test_refund_to_another_method_needs_a_manager(ctx, shop, people):
    c = shop
    sell(ctx, c, [WINE])    # cash in the drawer
    r = sell(ctx, c, [WINE], lambda st: [Payment("card", st.due, reference="C")])
    line = TicketLine.get(TicketLine.ticket == r.ticket_id)
    with pytest.raises(InvalidInput) as e0:        # a card refund needs its slip's reference
        service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(line.id, 1000)], "damaged")
    assert "reference" in str(e0.value)
    key = service.new_key()
    with pytest.raises(NeedsApproval) as e:
        service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.id, 1000)], "damaged", method="cash")
    assert "cash back for a sale paid by card" in str(e.value)
    a = approve(ctx, c, people["manager"], "3333", e.value)
    res = service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.id, 1000)], "damaged", method="cash",
                         approval=a.id)
    assert [(t.method, t.against, t.amount) for t in res.tenders] == [("cash", "card", -899)]
    assert RefundedAmount.get((RefundedAmount.ticket == r.ticket_id) & (RefundedAmount.method == "card")).refunded == 899
    _clean(ctx)


# -------------------------------------------------------- requests ---

def test_request_waits_for_a_manager_at_any_terminal(ctx, shop, people):
    """The refund waits as "requested" with its quantity held; its approval
    request is on every manager's dashboard (station.authority); granted there,
    the cashier gives the money back once."""
    c = shop
    ctx.config.set("limits.refund_alone", 100)
    r = sell(ctx, c, [f"2*{WINE}"])
    line = lookup.find_sale(ctx, "1").lines[0]
    key = service.new_key()
    with pytest.raises(InvalidInput):           # half a bottle: not a whole quantity
        service.request_refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(line.line_id, 500)], "damaged")
    q = service.request_refund(ctx, c, key, r.ticket_id, [ReturnItem(line.line_id, 1000)], "damaged")
    assert (q.status, q.refund_no, q.total, q.needs) == ("requested", None, 899, "refund.process")
    # the quantity is held: another return can only take the other bottle
    assert lookup.find_sale(ctx, "1").lines[0].returnable == 1000
    with pytest.raises(Conflict):
        service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.line_id, 1000)], "damaged")
    queue = service.list_requests(ctx)
    assert [(x.id, x.status, x.cashier, x.original) for x in queue] == [(q.refund_id, "requested", "carla", "T1/1")]
    (pending,) = authority.pending_requests(ctx, people["manager"])      # the manager's dashboard
    assert (pending.action, pending.amount, pending.requester) == ("refund.process", 899, "carla")
    assert pending.ref.startswith("refund of receipt T1/1 #") and "1 x Red wine" in pending.reason
    assert authority.pending_requests(ctx, c) == []                     # not her own
    with pytest.raises(Conflict):
        service.process_request(ctx, c, q.refund_id)          # not approved yet
    grant(ctx, people["manager"], "3333", pending.id)
    assert [x.status for x in service.list_requests(ctx)] == ["approved"]
    before = drawer.current_session(ctx).expected_cash
    done = service.process_request(ctx, c, q.refund_id)
    assert (done.status, done.refund_no, done.cash) == ("processed", 1, 899)
    assert drawer.current_session(ctx).expected_cash == before - 899
    assert Refund.get_by_id(q.refund_id).approver_id == people["manager"].id
    assert service.process_request(ctx, c, q.refund_id).duplicate
    assert service.refund(ctx, c, key, r.ticket_id, [ReturnItem(line.line_id, 1000)], "damaged").duplicate
    assert service.list_requests(ctx) == []
    kinds = [j.kind for j in Journal.select().where(Journal.kind.startswith("refund.")).order_by(Journal.seq)]
    assert kinds == ["refund.requested", "refund.approved", "refund.processed"]
    _clean(ctx)


def test_refused_or_expired_request_gives_the_quantity_back(ctx, shop, people):
    c = shop
    ctx.config.set("limits.refund_alone", 100)
    r = sell(ctx, c, [WINE, MILK])
    wine, milk = lookup.find_sale(ctx, "1").lines
    q = service.request_refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(wine.line_id, 1000)], "damaged")
    assert lookup.find_sale(ctx, "1").lines[0].returnable == 0
    (pending,) = authority.pending_requests(ctx, people["supervisor"])
    authority.refuse_request(ctx, people["supervisor"], pending.id, "no")
    with pytest.raises(Conflict) as e:
        service.process_request(ctx, c, q.refund_id)
    assert "refused by sam" in str(e.value)
    assert Refund.get_by_id(q.refund_id).status == "rejected"
    assert lookup.find_sale(ctx, "1").lines[0].returnable == 1000
    with pytest.raises(peewee.DatabaseError):
        with dbmod.write():
            Refund.update(status="approved").where(Refund.id == q.refund_id).execute()
    # a request nobody answers expires: the refund is rejected when it is looked at
    q2 = service.request_refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(milk.line_id, 1000)],
                                "damaged")
    with dbmod.write():
        from data.models import ApprovalRequest, utcnow
        ApprovalRequest.update(expires_at=utcnow()).where(ApprovalRequest.status == "pending").execute()
    assert service.list_requests(ctx) == []
    assert Refund.get_by_id(q2.refund_id).status == "rejected"
    assert lookup.find_sale(ctx, "1").lines[1].returnable == 1000
    with pytest.raises(Conflict) as e:
        service.process_request(ctx, c, q2.refund_id)
    assert "expired" in str(e.value)
    _clean(ctx)


# -------------------------------------------------------- post-void ---

def test_post_void_reverses_the_last_sale(ctx, shop, people):
    c, m = shop, people["manager"]
    sell(ctx, c, [MILK])
    before = drawer.current_session(ctx).expected_cash
    r = sell(ctx, c, [WINE, f"2*{MILK}"], lambda st: [Payment("card", 500, reference="C9"),
                                                     Payment("cash", 2000)])
    assert drawer.current_session(ctx).expected_cash == before + r.paid_cash
    key = service.new_key()
    with pytest.raises(NeedsApproval) as e:                     # a cashier needs a manager
        service.post_void(ctx, c, key, r.ticket_id, references={"card": "V1"})
    assert e.value.action == "refund.post_void"
    a = approve(ctx, c, m, "3333", e.value)
    res = service.post_void(ctx, c, key, r.ticket_id, approval=a.id, references={"card": "V1"})
    assert (res.kind, res.reason, res.total, res.rounding) == ("post_void", "post-void", 1137, 0)
    assert sorted((t.method, t.amount) for t in res.tenders) == [("card", -500), ("cash", -637)]
    assert drawer.current_session(ctx).expected_cash == before
    with pytest.raises(Conflict):
        service.post_void(ctx, m, service.new_key(), r.ticket_id, references={"card": "V2"})
    assert service.post_void(ctx, c, key, r.ticket_id, approval=a.id).duplicate
    _clean(ctx)


def test_post_void_only_the_last_sale_and_within_the_window(ctx, shop, people):
    c, m, admin = shop, people["manager"], people["admin"]
    first = sell(ctx, c, [WINE])
    last = sell(ctx, c, [MILK])
    with pytest.raises(Conflict) as e:
        service.post_void(ctx, m, service.new_key(), first.ticket_id)
    assert "only the last sale" in str(e.value)
    ctx.config.set("limits.post_void_minutes", 0)        # the sale is now outside the window
    key = service.new_key()
    snap = _snapshot()
    with pytest.raises(NeedsApproval) as e:               # even a manager needs the owner
        service.post_void(ctx, m, key, last.ticket_id)
    assert e.value.action == "refund.post_void_late" and "minutes old" in str(e.value)
    assert _snapshot() == snap
    with pytest.raises(PermissionDenied):                 # another manager may not approve it
        approve(ctx, m, people["supervisor"], "2222", e.value)
    a = approve(ctx, m, admin, "5555", e.value)
    res = service.post_void(ctx, m, key, last.ticket_id, approval=a.id)
    assert res.kind == "post_void" and res.cash == 119
    j = Journal.select().where(Journal.kind == "refund.processed").get()
    assert '"kind":"post_void"' in j.data and f'"approval":{a.id}' in j.data
    _clean(ctx)


# --------------------------------------------------------- exchange ---

def test_exchange_customer_pays_the_difference(ctx, shop):
    c = shop
    r = sell(ctx, c, [f"2*{MILK}"])                       # 2.38 cash
    milk = lookup.find_sale(ctx, "1").lines[0]
    before = drawer.current_session(ctx).expected_cash
    sale.scan(ctx, c, WINE)                                # takes a wine instead (8.99)
    st = tender.begin_tender(ctx, c)
    x = service.exchange(ctx, c, st.idem_key, r.ticket_id, [ReturnItem(milk.line_id, 2000)], "changed mind",
                         [Payment("cash", 1000)])
    assert (x.credit, x.difference, x.sale.total, x.sale.change) == (238, 661, 899, 339)
    assert [(t.method, t.against, t.amount) for t in x.refund.tenders] == [("exchange", "cash", -238)]
    assert drawer.current_session(ctx).expected_cash == before + 661
    tenders = sorted((t.method, t.amount) for t in Tender.select().where(Tender.ticket == x.sale.ticket_id))
    assert tenders == [("cash", 661), ("exchange", 238)]
    assert Refund.get_by_id(x.refund.refund_id).exchange_ticket_id == x.sale.ticket_id
    again = service.exchange(ctx, c, st.idem_key, r.ticket_id, [ReturnItem(milk.line_id, 2000)], "changed mind",
                             [Payment("cash", 1000)])
    assert again.duplicate and again.sale.receipt_no == x.sale.receipt_no
    _clean(ctx)


def test_exchange_customer_gets_the_difference_back(ctx, shop):
    c = shop
    r = sell(ctx, c, [WINE], lambda st: [Payment("card", st.due, reference="C")])   # 8.99 card
    wine = lookup.find_sale(ctx, "1").lines[0]
    sale.scan(ctx, c, BREAD)                              # 2.49 instead
    st = tender.begin_tender(ctx, c)
    x = service.exchange(ctx, c, st.idem_key, r.ticket_id, [ReturnItem(wine.line_id, 1000)], "wrong item",
                         references={"card": "RF"})
    assert (x.credit, x.difference) == (249, -650)
    assert sorted((t.method, t.amount) for t in x.refund.tenders) == [("card", -650), ("exchange", -249)]
    assert x.sale.total == 249 and x.sale.paid_cash == 0
    _clean(ctx)
