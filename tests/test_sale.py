"""Sale service: scanning, lines, totals, discounts, overrides, park/resume.
Real SQLite files and a real PostgreSQL (the ``ctx`` fixture is parametrized)."""
from __future__ import annotations

import pytest

from data.models import Journal, Ticket, TicketLine
from station import authority, sale
from station.errors import Conflict, InvalidInput, NeedsApproval, NotFound, PermissionDenied
from tests.sale_helpers import BREAD, MILK, WINE, ean13, make_products


@pytest.fixture
def shop(ctx, people):
    return make_products()


def _state():
    return (Ticket.select().count(), [(ln.id, ln.qty, ln.unit_price, ln.voided) for ln in
                                      TicketLine.select().order_by(TicketLine.id)])


def test_first_scan_creates_ticket_and_merges(ctx, people, shop):
    c = people["cashier"]
    assert sale.current_ticket(ctx, c) is None
    v = sale.scan(ctx, c, f"  {MILK}\r\n")
    assert v.status == "open" and len(v.lines) == 1 and v.lines[0].qty == 1000
    v = sale.scan(ctx, c, MILK)
    assert len(v.lines) == 1 and v.lines[0].qty == 2000 and v.lines[0].line_total == 238
    v = sale.scan(ctx, c, f"3*{BREAD}")
    assert [ln.qty for ln in v.lines] == [2000, 3000]
    assert v.item_count == 5 and v.total == 238 + 747
    again = sale.current_ticket(ctx, c)
    assert again == v


def test_a_line_keeps_the_cost_it_was_sold_at(ctx, people, shop):
    from data.models import Product
    from station.catalog import item_by_code
    Product.update(cost=95).where(Product.id == item_by_code(MILK).id).execute()
    c = people["cashier"]
    first = sale.scan(ctx, c, MILK).lines[0].id
    Product.update(cost=120).where(Product.id == item_by_code(MILK).id).execute()
    sale.scan(ctx, c, BREAD)
    assert TicketLine.get_by_id(first).cost == 95
    assert [ln.cost for ln in TicketLine.select().order_by(TicketLine.id)] == [95, 0]


def test_no_merge_when_configured_off(ctx, people, shop):
    ctx.config.set("scanner.merge_lines", False)
    c = people["cashier"]
    sale.scan(ctx, c, MILK)
    v = sale.scan(ctx, c, MILK)
    assert [ln.qty for ln in v.lines] == [1000, 1000]
    assert [ln.position for ln in v.lines] == [1, 2]


@pytest.mark.parametrize("code,err,msg", [
    ("123", NotFound, "unknown barcode 123"),
    ("4006381333932", InvalidInput, "check digit"),      # MILK with a wrong check digit
    ("9999999999994", NotFound, "unknown barcode 9999999999994"),
    ("", InvalidInput, "nothing was scanned"),
    ("   \r\n", InvalidInput, "nothing was scanned"),
    ("0*" + MILK, InvalidInput, "more than zero"),
    ("x*" + MILK, InvalidInput, "N*CODE"),
    ("10000*" + MILK, InvalidInput, "more than 9999"),
    ("1.5*" + MILK, InvalidInput, "whole quantity"),
    ("2212345000017", InvalidInput, "check digit"),
    (ean13("229999900123"), NotFound, "unknown barcode"),
    ("A" * 65, InvalidInput, "too long"),
    (ean13("23" + "00777" + "00500"), InvalidInput, "not sold by weight"),
    (ean13("23" + "12345" + "00000"), InvalidInput, "weight is zero"),
])
def test_bad_codes_change_nothing(ctx, people, shop, code, err, msg):
    c = people["cashier"]
    sale.scan(ctx, c, MILK)
    before = _state()
    with pytest.raises(err) as e:
        sale.scan(ctx, c, code)
    assert msg in str(e.value)
    assert _state() == before


def test_unknown_code_on_empty_terminal_creates_no_ticket(ctx, people, shop):
    with pytest.raises(NotFound):
        sale.scan(ctx, people["cashier"], "123")
    assert Ticket.select().count() == 0


def test_price_and_weight_embedded(ctx, people, shop):
    c = people["cashier"]
    # cheese: sku 00777 -> item digits 00777; price 3.45
    price_code = ean13("22" + "00777" + "00345")
    v = sale.scan(ctx, c, price_code)
    ln = v.lines[-1]
    assert (ln.name, ln.qty, ln.unit_price, ln.line_total) == ("Cheese piece", 1000, 345, 345)
    # apples sku 12345, 0.755 kg at 2.99/kg = 2.25745 -> 2.26 (half-up)
    weight_code = ean13("23" + "12345" + "00755")
    v = sale.scan(ctx, c, weight_code)
    ln = v.lines[-1]
    assert (ln.name, ln.qty, ln.unit_price, ln.line_total) == ("Apples", 755, 299, 226)
    v = sale.scan(ctx, c, weight_code)   # weighed items never merge
    assert len(v.lines) == 3
    with pytest.raises(InvalidInput):
        sale.scan(ctx, c, "2*" + weight_code)


def test_embedded_by_zeroed_barcode(ctx, people, shop):
    from data.models import Barcode
    from data import db as dbmod
    with dbmod.write():
        Barcode.create(code=ean13("22" + "55555" + "00000"), product=shop["wine"])
    v = sale.scan(ctx, people["cashier"], ean13("22" + "55555" + "01234"))
    assert v.lines[0].name == "Red wine" and v.lines[0].unit_price == 1234


def test_taxes_inclusive_and_exclusive(ctx, people, shop):
    c = people["cashier"]
    sale.scan(ctx, c, MILK)      # 1.19 @ 7 %
    v = sale.scan(ctx, c, WINE)  # 8.99 @ 19 %
    assert v.subtotal == 1018 and v.total == 1018
    # inclusive: 119 - round(119/1.07)=119-111=8 ; 899 - round(899/1.19)=899-755=144
    assert v.taxes == {700: 8, 1900: 144}
    ctx.config.set("store.prices_include_tax", False)
    v = sale.current_ticket(ctx, c)
    # exclusive: 119*0.07=8.33->8 ; 899*0.19=170.81->171
    assert v.taxes == {700: 8, 1900: 171} and v.total == 1018 + 8 + 171


def test_quantity_and_void_line(ctx, people, shop):
    c = people["cashier"]
    v = sale.scan(ctx, c, MILK)
    lid = v.lines[0].id
    v = sale.set_quantity(ctx, c, lid, 4000)
    assert v.lines[0].qty == 4000 and v.total == 476
    for bad in (0, -1000, 10_000_000, 1500):
        with pytest.raises(InvalidInput):
            sale.set_quantity(ctx, c, lid, bad)
    v = sale.void_line(ctx, c, lid)
    assert v.lines[0].voided and v.total == 0 and v.item_count == 0
    with pytest.raises(Conflict):
        sale.void_line(ctx, c, lid)
    assert Journal.select().where(Journal.kind == "sale.line_voided").count() == 1


def _approve(ctx, requester, approver, pin, exc):
    import pyotp
    from station.authority import encrypt_secret
    from data.models import User
    from data import db as dbmod
    secret = pyotp.random_base32()
    with dbmod.write():
        User.update(totp_secret=encrypt_secret(ctx, secret)).where(User.id == approver.id).execute()
    return authority.approve(ctx, requester, approver.name, pin, pyotp.TOTP(secret).now(), exc.action,
                             amount=exc.amount, ref=exc.ref, reason="test")


def test_price_override_needs_approval_for_cashier(ctx, people, shop):
    c = people["cashier"]
    v = sale.scan(ctx, c, WINE)
    lid = v.lines[0].id
    with pytest.raises(NeedsApproval) as e:
        sale.override_price(ctx, c, lid, 500)
    assert sale.current_ticket(ctx, c).lines[0].unit_price == 899
    a = _approve(ctx, c, people["manager"], "3333", e.value)
    with pytest.raises(PermissionDenied, match="different amount"):   # approval for 5.00 does not cover 4.00
        sale.override_price(ctx, c, lid, 400, approval=a)
    v = sale.override_price(ctx, c, lid, 500, approval=a)
    assert v.lines[0].unit_price == 500 and v.lines[0].price_override and v.total == 500
    with pytest.raises(PermissionDenied, match="already used"):
        sale.override_price(ctx, c, lid, 500, approval=a)
    j = Journal.select().where(Journal.kind == "sale.price_override").get()
    assert '"old_price":899' in j.data
    # a supervisor may alone
    v = sale.override_price(ctx, people["supervisor"], lid, 450)
    assert v.total == 450


def test_discounts_with_limit(ctx, people, shop):
    c = people["cashier"]
    sale.scan(ctx, c, WINE)
    v = sale.scan(ctx, c, MILK)
    wine = v.lines[0].id
    v = sale.discount_line(ctx, c, wine, 1000)        # 10 % alone
    assert v.lines[0].discount == 90 and v.lines[0].line_total == 809
    with pytest.raises(NeedsApproval) as e:
        sale.discount_line(ctx, c, wine, 2500)
    assert sale.current_ticket(ctx, c).lines[0].discount_bp == 1000
    a = _approve(ctx, c, people["manager"], "3333", e.value)
    v = sale.discount_line(ctx, c, wine, 2500, approval=a)
    assert v.lines[0].discount == 225
    v = sale.discount_ticket(ctx, c, 500)
    # per rate: 19 %: 674 -> 5 % = 33.7 -> 34 ; 7 %: 119 -> 5.95 -> 6
    assert v.ticket_discount == 40 and v.total == 674 + 119 - 40
    assert v.discount == 225 + 40
    with pytest.raises(NeedsApproval):
        sale.discount_ticket(ctx, c, 1500)
    with pytest.raises(InvalidInput):
        sale.discount_ticket(ctx, c, 10001)
    assert Journal.select().where(Journal.kind == "sale.discount").count() == 3


def test_void_ticket(ctx, people, shop):
    c = people["cashier"]
    sale.scan(ctx, c, WINE)
    with pytest.raises(NeedsApproval) as e:
        sale.void_ticket(ctx, c)
    assert e.value.amount == 899
    a = _approve(ctx, c, people["supervisor"], "2222", e.value)
    sale.void_ticket(ctx, c, approval=a)
    assert sale.current_ticket(ctx, c) is None
    assert Journal.select().where(Journal.kind == "sale.voided").count() == 1
    # the next scan starts a new ticket
    v = sale.scan(ctx, c, MILK)
    assert len(v.lines) == 1


def test_park_and_resume(ctx, people, shop):
    c = people["cashier"]
    v = sale.scan(ctx, c, WINE)
    tid = sale.park(ctx, c)
    assert tid == v.id and sale.current_ticket(ctx, c) is None
    parked = sale.list_parked(ctx)
    assert [(p.id, p.total, p.item_count) for p in parked] == [(tid, 899, 1)]
    sale.scan(ctx, c, MILK)                      # next customer
    with pytest.raises(Conflict):
        sale.resume(ctx, c, tid)
    sale.park(ctx, c)
    v2 = sale.resume(ctx, c, tid)
    assert v2.id == tid and v2.total == 899 and v2.status == "open"
    with pytest.raises(Conflict):     # this terminal already has it open
        sale.resume(ctx, c, tid)
    sale.void_line(ctx, c, v2.lines[0].id)
    with pytest.raises(InvalidInput):   # nothing left to park
        sale.park(ctx, c)
    with pytest.raises(NotFound):       # the empty open ticket is discarded, then: no such ticket
        sale.resume(ctx, c, 999999)
    kinds = [j.kind for j in Journal.select().order_by(Journal.seq)]
    assert kinds.count("sale.parked") == 2 and kinds.count("sale.resumed") == 1


def test_roles_that_may_not_sell(ctx, people, shop):
    from station.errors import PermissionDenied
    with pytest.raises(PermissionDenied):
        sale.scan(ctx, people["treasurer"], MILK)
    with pytest.raises(PermissionDenied):
        sale.scan(ctx, None, MILK)
    assert Ticket.select().count() == 0
