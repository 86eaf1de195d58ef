"""Stock and the catalog behind the counter: movements with every sale and refund,
products managed at the till, receiving, adjustments, alerts, counts, verify.
Real SQLite files and a real PostgreSQL (``ctx`` is parametrized)."""
from __future__ import annotations

import pytest

from data import db as dbmod
from data.models import Barcode, Journal, Product, utcnow
from data.stock import PriceHistory, StockAlert, StockMovement
from station import sale, tender, verify
from station.errors import Conflict, InvalidInput, NeedsApproval, PermissionDenied
from station.refund import service
from station.refund.service import ReturnItem
from station.stock import adjustments, alerts, counts, movements, products, receiving
from tests.refund_helpers import approve, sell
from tests.sale_helpers import BREAD, MILK, WINE, ean13, make_products, open_drawer


@pytest.fixture
def shop(ctx, people):
    p = make_products()
    open_drawer(ctx, people["cashier"])
    return p


def _problems(ctx) -> list[str]:
    return [f"{r.name}: {p}" for r in verify.run(ctx, ["stock."]) for p in r.problems + ([r.error] if r.error else [])]


def _receive(ctx, user, *items, supplier="Dairy Ltd", ref="DN-1"):
    rc = receiving.Receiving()
    for text, cost in items:
        rc.scan(ctx, text, cost)
    return receiving.receive(ctx, user, supplier, ref, rc.lines)


def test_sale_and_refund_move_stock(ctx, shop, people):
    c, m = people["cashier"], people["manager"]
    milk = shop["milk"]
    _receive(ctx, m, (f"10*{MILK}", 50), (f"4*{BREAD}", 120))
    assert movements.on_hand(milk.id) == 10000
    r = sell(ctx, c, [f"3*{MILK}", BREAD, MILK])
    assert movements.on_hand(milk.id) == 6000          # merged line of 4
    assert movements.on_hand(shop["bread"].id) == 3000
    sold = list(StockMovement.select().where(StockMovement.kind == "sale").order_by(StockMovement.id))
    assert sorted((x.product_id, x.qty, x.cost) for x in sold) == sorted([(milk.id, -4000, 50),
                                                                         (shop["bread"].id, -1000, 120)])
    assert all(x.ticket_id == r.ticket_id for x in sold)
    line = sale.ticket_view(ctx, r.ticket_id).lines[0]
    service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(line.id, 1000)], "damaged")
    assert movements.on_hand(milk.id) == 7000
    assert _problems(ctx) == []


def test_voided_lines_and_open_tickets_move_nothing(ctx, shop, people):
    c = people["cashier"]
    v = sale.scan(ctx, c, WINE)
    sale.scan(ctx, c, MILK)
    sale.void_line(ctx, c, v.lines[0].id)
    assert movements.on_hand(shop["wine"].id) == 0 and movements.on_hand(shop["milk"].id) == 0
    st = tender.begin_tender(ctx, c)
    tender.complete_sale(ctx, c, st.idem_key, [tender.Payment("cash", st.cash_due)])
    assert movements.on_hand(shop["wine"].id) == 0
    assert movements.on_hand(shop["milk"].id) == -1000     # allowed (stock.negative = allow), listed
    assert [s.name for s in movements.stock_list(ctx, negative=True)] == ["Milk 1l"]
    assert _problems(ctx) == []


def test_receiving_costs_and_slip(ctx, shop, people):
    m = people["manager"]
    milk = shop["milk"]
    d = _receive(ctx, m, (f"10*{MILK}", 50), (MILK, None), (f"2*{MILK}", 62))
    assert [(ln.qty, ln.unit_cost) for ln in d.lines] == [(13000, 62)]
    p = Product.get_by_id(milk.id)
    assert (p.on_hand, p.last_cost, p.cost) == (13000, 62, 62)
    _receive(ctx, m, (f"7*{MILK}", 40))
    p = Product.get_by_id(milk.id)
    # (13 x 62 + 7 x 40) / 20 = 54.3 -> 54
    assert (p.on_hand, p.last_cost, p.cost) == (20000, 40, 54)
    slip = receiving.slip_text(ctx, d)
    assert "Dairy Ltd" in slip and "DN-1" in slip and "13 x 0.62 EUR" in slip and "8.06 EUR" in slip
    csv_text = receiving.slip_csv(ctx, d)
    assert csv_text.splitlines()[1].split(",")[4:] == [MILK, "Milk 1l", "13", "pc", "0.62", "8.06"]
    assert Journal.select().where(Journal.kind == "stock.received").count() == 2
    with pytest.raises(PermissionDenied):
        receiving.receive(ctx, people["cashier"], "X", "", d.lines)
    with pytest.raises(InvalidInput, match="supplier"):
        receiving.receive(ctx, m, " ", "", d.lines)
    assert _problems(ctx) == []


def test_low_stock_alert_raised_once_and_resolved(ctx, shop, people):
    c, m = people["cashier"], people["manager"]
    milk = shop["milk"]
    products.edit_product(ctx, m, milk.id, reorder_point=3000)
    assert [x.on_hand for x in alerts.alerts(ctx)] == [0]     # a reorder point above the stock: low at once
    _receive(ctx, m, (f"6*{MILK}", 50))
    assert alerts.alerts(ctx) == []
    sell(ctx, c, [f"2*{MILK}"])              # 4 left
    assert alerts.alerts(ctx) == []
    sell(ctx, c, [MILK])                     # 3: at the reorder point
    sell(ctx, c, [MILK])                     # 2: still one alert
    a = alerts.alerts(ctx)
    assert [(x.name, x.on_hand_at_raise, x.on_hand) for x in a] == [("Milk 1l", 3000, 2000)]
    _receive(ctx, m, (f"5*{MILK}", 50))      # 7: back above, resolved by itself
    assert alerts.alerts(ctx) == []
    sell(ctx, c, [f"5*{MILK}"])              # 2 again: a new alert
    a = alerts.alerts(ctx)
    assert len(a) == 1
    with pytest.raises(InvalidInput, match="say why"):
        alerts.resolve(ctx, m, a[0].id, "  ")
    with pytest.raises(PermissionDenied):
        alerts.resolve(ctx, c, a[0].id, "ordered")
    alerts.resolve(ctx, m, a[0].id, "reorder placed")
    with pytest.raises(Conflict):
        alerts.resolve(ctx, m, a[0].id, "again")
    sell(ctx, c, [MILK])                     # still low: no new alert after a manager resolved it
    assert alerts.alerts(ctx) == []
    assert StockAlert.select().count() == 3
    assert _problems(ctx) == []


def test_refuse_negative_stock(ctx, shop, people):
    ctx.config.set("stock.negative", "refuse")
    c, m = people["cashier"], people["manager"]
    _receive(ctx, m, (f"2*{WINE}", 500))
    sale.scan(ctx, c, WINE)
    v = sale.scan(ctx, c, WINE)
    with pytest.raises(InvalidInput, match="Red wine: only 0 in stock besides what is on the ticket"):
        sale.scan(ctx, c, WINE)
    with pytest.raises(InvalidInput, match="only 0 in stock"):
        sale.set_quantity(ctx, c, v.lines[0].id, 3000)
    with pytest.raises(InvalidInput, match="Milk 1l: only 0 in stock"):
        sale.scan(ctx, c, MILK)
    assert len(sale.current_ticket(ctx).lines) == 1
    # another till sells one meanwhile: the commit finds the product short and charges nothing
    with dbmod.write():
        movements.insert([(shop["wine"].id, "adjustment", -1000, 0, m.id, "T9", dbmod.param_time(utcnow()),
                           None, None, None, None, None, None, "damaged", "")])
    st = tender.begin_tender(ctx, c)
    with pytest.raises(Conflict, match="Red wine is 1 short"):
        tender.complete_sale(ctx, c, st.idem_key, [tender.Payment("cash", st.cash_due)])
    assert movements.on_hand(shop["wine"].id) == 1000
    assert StockMovement.select().where(StockMovement.kind == "sale").count() == 0
    with pytest.raises(InvalidInput, match="only 1 in stock"):
        adjustments.adjust(ctx, m, shop["wine"].id, -2000, "damaged")


def test_adjustment_needs_approval_above_limit(ctx, shop, people):
    s, m = people["supervisor"], people["manager"]
    ctx.config.set("stock.adjust_alone", 600)
    _receive(ctx, m, (f"10*{WINE}", 500))
    assert adjustments.adjust(ctx, s, shop["wine"].id, -1000, "damaged") == 9000     # 5.00 at cost
    with pytest.raises(NeedsApproval) as e:
        adjustments.adjust(ctx, s, shop["wine"].id, -2000, "theft")                  # 10.00 at cost
    a = approve(ctx, s, m, "3333", e.value)
    assert adjustments.adjust(ctx, s, shop["wine"].id, -2000, "theft", approval=a) == 7000
    with pytest.raises(PermissionDenied):
        adjustments.adjust(ctx, people["cashier"], shop["wine"].id, 1000, "found")
    with pytest.raises(InvalidInput, match="reason"):
        adjustments.adjust(ctx, m, shop["wine"].id, 1000, "because")
    with pytest.raises(InvalidInput, match="whole"):
        adjustments.adjust(ctx, m, shop["wine"].id, 500, "found")
    assert _problems(ctx) == []


def test_price_change_keeps_open_line_price(ctx, shop, people):
    c, m = people["cashier"], people["manager"]
    wine = shop["wine"]
    v = sale.scan(ctx, c, WINE)
    products.edit_product(ctx, m, wine.id, price=999)
    v = sale.scan(ctx, c, WINE)
    assert [(ln.qty, ln.unit_price) for ln in v.lines] == [(1000, 899), (1000, 999)]
    assert v.total == 899 + 999
    h = products.price_history(ctx, wine.id)
    assert [(x.old_price, x.new_price, x.user, x.reason) for x in h] == [(899, 999, "mia", "edit")]
    j = Journal.select().where(Journal.kind == "product.price_changed").get()
    assert '"old_price":899' in j.data.replace(" ", "") and '"new_price":999' in j.data.replace(" ", "")


def test_add_product_cashier_needs_approval(ctx, shop, people):
    c, m = people["cashier"], people["manager"]
    code = ean13("401234567890")
    with pytest.raises(NeedsApproval) as e:
        products.add_product(ctx, c, name="Oat drink", price=229, vat_rate=700, barcode=code)
    assert (e.value.action, e.value.amount, e.value.ref) == ("product.add", 229, code)
    a = approve(ctx, c, m, "3333", e.value)
    p = products.add_product(ctx, c, name="Oat drink", price=229, vat_rate=700, barcode=code, approval=a)
    assert (p.sku, p.barcodes, p.price) == (code, [code], 229)
    v = sale.scan(ctx, c, code)
    assert v.lines[-1].name == "Oat drink" and v.lines[-1].unit_price == 229
    with pytest.raises(Conflict, match="already on Oat drink"):
        products.add_product(ctx, m, name="Other", price=1, vat_rate=700, barcode=code)


def test_bad_input_changes_nothing(ctx, shop, people):
    m = people["manager"]
    wine = shop["wine"]
    before = (Product.select().count(), Barcode.select().count(), PriceHistory.select().count(),
              Journal.select().count(), Product.get_by_id(wine.id).price, Product.get_by_id(wine.id).cost)
    bad_code = ean13("401234567891")[:-1] + str((int(ean13("401234567891")[-1]) + 1) % 10)
    cases = [
        (lambda: products.edit_product(ctx, m, wine.id, cost=-5), "may not be negative"),
        (lambda: products.add_product(ctx, m, name="X", price=100, vat_rate=700, barcode=bad_code), "check digit"),
        (lambda: products.add_barcode(ctx, m, wine.id, bad_code), "check digit"),
        (lambda: products.edit_product(ctx, m, wine.id, price=10 ** 9), "more than the largest amount"),
        (lambda: products.parse_money_text(ctx, "1e9"), "not a price"),
        (lambda: products.parse_money_text(ctx, "-3"), "may not be negative"),
        (lambda: products.add_product(ctx, m, name="", price=100, vat_rate=700), "needs a name"),
        (lambda: products.add_product(ctx, m, name="Y", price=100), "VAT rate"),
        (lambda: products.edit_product(ctx, m, wine.id, vat_rate=20000), "VAT rate"),
    ]
    for fn, msg in cases:
        with pytest.raises(InvalidInput) as e:
            fn()
        assert msg in str(e.value) and "\n" not in str(e.value)
    after = (Product.select().count(), Barcode.select().count(), PriceHistory.select().count(),
             Journal.select().count(), Product.get_by_id(wine.id).price, Product.get_by_id(wine.id).cost)
    assert after == before


def test_barcodes_never_on_two_products(ctx, shop, people):
    m = people["manager"]
    code12 = "036000291452"                 # a UPC-A
    products.add_barcode(ctx, m, shop["wine"].id, code12)
    with pytest.raises(Conflict):
        products.add_barcode(ctx, m, shop["bread"].id, "0" + code12)   # the same code as EAN-13
    with pytest.raises(Conflict):
        products.add_barcode(ctx, m, shop["bread"].id, MILK)
    p = products.remove_barcode(ctx, m, shop["wine"].id, code12)
    assert code12 not in p.barcodes
    assert _problems(ctx) == []


def test_bulk_price_by_category_with_approval(ctx, shop, people):
    m, a_ = people["manager"], people["admin"]
    products.add_category(ctx, m, "Dairy", vat_rate=700)
    for key in ("milk", "bread"):
        products.edit_product(ctx, m, shop[key].id, category="Dairy")
    with pytest.raises(NeedsApproval) as e:
        products.bulk_price(ctx, m, "Dairy", 1000)
    with pytest.raises(InvalidInput):
        products.bulk_price(ctx, m, "Dairy", 0)
    ap = approve(ctx, m, a_, "5555", e.value)
    assert products.bulk_price(ctx, m, "Dairy", 1000, approval=ap) == 2
    # 1.19 + 10 % = 1.309 -> 1.31; 2.49 -> 2.739 -> 2.74
    assert (Product.get_by_id(shop["milk"].id).price, Product.get_by_id(shop["bread"].id).price) == (131, 274)
    assert Product.get_by_id(shop["wine"].id).price == 899
    assert [h.reason for h in products.price_history(ctx, shop["milk"].id)] == ["bulk"]
    assert products.bulk_price(ctx, a_, "Dairy", -1000) == 2            # an admin alone


def test_categories_one_level_and_default_vat(ctx, people):
    m = people["manager"]
    products.add_category(ctx, m, "Food")
    products.add_category(ctx, m, "Dairy", parent="Food", vat_rate=700)
    with pytest.raises(InvalidInput, match="one level"):
        products.add_category(ctx, m, "Cheese", parent="Dairy")
    with pytest.raises(Conflict):
        products.add_category(ctx, m, "Food")
    p = products.add_product(ctx, m, name="Yoghurt", price=99, category="Dairy")
    assert (p.vat_rate, p.category) == (700, "Dairy")
    cats = {c.name: c for c in products.categories(ctx)}
    assert cats["Dairy"].parent == "Food" and cats["Dairy"].products == 1


def test_catalog_import_maps_categories(ctx, people, tmp_path):
    from station import catalog
    f = tmp_path / "c.csv"
    f.write_text("sku,barcode,name,price,vat_rate,category\n"
                 f"A1,{MILK},Milk,1.19,7,Dairy\nB1,{BREAD},Bread,2.49,7,Bakery\nC1,,Salt,0.50,7,\n")
    assert catalog.import_csv(ctx, f, actor=people["manager"]).committed
    got = {p.sku: (p.category, p.category_id) for p in Product.select()}
    cats = {c.name: c.id for c in products.categories(ctx)}
    assert got == {"A1": ("Dairy", cats["Dairy"]), "B1": ("Bakery", cats["Bakery"]), "C1": ("", None)}
    f.write_text("sku,barcode,name,price,vat_rate,category\n"       # again: products updated, one category new
                 f"A1,{MILK},Milk,1.19,7,Bakery\nB1,{BREAD},Bread,2.49,7,\nC1,,Salt,0.50,7,Spices\n")
    assert catalog.import_csv(ctx, f, actor=people["manager"]).committed
    got = {p.sku: (p.category, p.category_id) for p in Product.select()}
    cats = {c.name: c.id for c in products.categories(ctx)}
    assert got == {"A1": ("Bakery", cats["Bakery"]), "B1": ("", None), "C1": ("Spices", cats["Spices"])}


def test_count_with_sales_during_it(ctx, shop, people):
    c, m = people["cashier"], people["manager"]
    _receive(ctx, m, (f"10*{MILK}", 50), (f"5*{BREAD}", 100), (f"3*{WINE}", 400))
    cnt = counts.start(ctx, m, "store")
    assert cnt.items == 5
    with pytest.raises(Conflict, match="already open"):
        counts.start(ctx, m, "store")
    sell(ctx, c, [f"2*{MILK}", BREAD])            # during the count: milk 8, bread 4 expected now
    counts.scan(ctx, c, cnt.id, f"5*{MILK}")
    counts.scan(ctx, c, cnt.id, MILK)
    r = counts.scan(ctx, c, cnt.id, f"2*{MILK}")
    assert (r.name, r.counted) == ("Milk 1l", 8000)
    counts.scan(ctx, c, cnt.id, f"3*{BREAD}")      # one bread missing
    counts.scan(ctx, c, cnt.id, f"4*{WINE}")       # one wine found
    rv = counts.review(ctx, cnt.id)
    diffs = {ln.name: (ln.expected, ln.since, ln.counted, ln.difference) for ln in rv.lines}
    assert diffs == {"Bread": (5000, -1000, 3000, -1000), "Red wine": (3000, 0, 4000, 1000)}
    assert (rv.loss, rv.gain, rv.counted_items) == (100, 400, 3)
    with pytest.raises(PermissionDenied):
        counts.complete(ctx, c, cnt.id)
    done = counts.complete(ctx, m, cnt.id)
    assert done.count.status == "completed"
    assert (movements.on_hand(shop["milk"].id), movements.on_hand(shop["bread"].id),
            movements.on_hand(shop["wine"].id)) == (8000, 3000, 4000)
    with pytest.raises(Conflict):
        counts.scan(ctx, c, cnt.id, MILK)
    assert {ln.name: ln.difference for ln in counts.review(ctx, cnt.id).lines} == {"Bread": -1000,
                                                                                   "Red wine": 1000}
    assert _problems(ctx) == []


def test_count_above_threshold_needs_manager(ctx, shop, people):
    s, m = people["supervisor"], people["manager"]
    ctx.config.set("stock.count_approval_value", 1000)
    _receive(ctx, m, (f"10*{WINE}", 400))
    cnt = counts.start(ctx, s, "list", codes=[WINE])
    counts.scan(ctx, s, cnt.id, f"7*{WINE}")                  # 3 x 4.00 = 12.00 missing
    with pytest.raises(NeedsApproval) as e:
        counts.complete(ctx, s, cnt.id)
    assert (e.value.action, e.value.amount) == ("stock.count_large", 1200)
    a = approve(ctx, s, m, "3333", e.value)
    counts.complete(ctx, s, cnt.id, approval=a)
    assert movements.on_hand(shop["wine"].id) == 7000
    cnt2 = counts.start(ctx, s, "list", codes=[WINE])
    counts.cancel(ctx, s, cnt2.id)
    assert counts.count_view(cnt2.id).status == "cancelled"
    assert _problems(ctx) == []


def test_database_refuses_what_the_code_must_not_do(ctx, shop, people):
    m = people["manager"]
    _receive(ctx, m, (f"2*{MILK}", 50))
    mv = StockMovement.select().first()
    for fn in (lambda: StockMovement.update(qty=5).where(StockMovement.id == mv.id).execute(),
               lambda: StockMovement.delete().where(StockMovement.id == mv.id).execute(),
               lambda: movements.insert([(shop["milk"].id, "sale", 1000, 0, m.id, "T", "2026-01-01", None, None,
                                          None, None, None, None, "", "")]),
               lambda: movements.insert([(shop["milk"].id, "count", 1000, 0, m.id, "T", "2026-01-01", None, None,
                                          None, None, None, 999, "", "")])):
        with pytest.raises(Exception):
            with dbmod.write():
                fn()
    assert movements.on_hand(shop["milk"].id) == 2000
    assert _problems(ctx) == []


def test_verify_finds_a_tampered_cache(ctx, shop, people):
    _receive(ctx, people["manager"], (f"2*{MILK}", 50))
    with dbmod.write():
        Product.update(on_hand=5000).where(Product.id == shop["milk"].id).execute()
    assert any("cached on hand 5000, movements add up to 2000" in p for p in _problems(ctx))
