"""``station verify`` finds refunds that were tampered with behind the service's
back (triggers dropped first), and names them; an untouched store passes."""
from __future__ import annotations

import pytest

from data import db as dbmod
from data import migrations
from data import refund as refund_tables
from data.models import TicketLine
from data.refund import RefundLine
from station import verify
from station.refund import lookup, service
from station.refund.service import ReturnItem
from station.tender import Payment
from tests.refund_helpers import sell
from tests.sale_helpers import MILK, WINE, make_products, open_drawer


@pytest.fixture
def store(ctx, people):
    make_products()
    c = people["cashier"]
    open_drawer(ctx, c)
    r = sell(ctx, c, [f"2*{WINE}", MILK], lambda st: [Payment("card", 1000, reference="C"),
                                                     Payment("cash", st.due - 1000)])
    info = lookup.find_sale(ctx, str(r.receipt_no))
    res = service.refund(ctx, c, service.new_key(), r.ticket_id, [ReturnItem(info.lines[0].line_id, 1000)],
                         "damaged", references={"card": "RF"})
    assert all(x.ok for x in verify.run(ctx, ["refund."]))
    migrations.drop_guards(ctx.db)
    refund_tables.drop_guards(ctx.db)
    return ctx, r, res


def _problems(ctx, name):
    (res,) = [x for x in verify.run(ctx, [name]) if x.name == name]
    assert res.error is None, res.error
    return res.problems


def _sql(sql, *params):
    with dbmod.write():
        dbmod.current().execute_sql(sql.replace("?", "%s") if dbmod.is_postgres() else sql, params)


def test_returned_beyond_sold(store):
    ctx, r, res = store
    wine = TicketLine.get((TicketLine.ticket == r.ticket_id) & (TicketLine.position == 1))
    with dbmod.write():
        RefundLine.create(refund=res.refund_id, position=5, original_line=wine.id, name="x", qty=5000,
                          unit_price=899, amount=0, vat_rate=1900)
    p = _problems(ctx, "refund.lines_within_sold")
    assert any("6000 returned of 2000 sold" in x for x in p), p
    assert any("kept count" in x for x in p), p
    assert _problems(ctx, "refund.tenders_equal_total") == []


def test_refunded_beyond_paid_by_a_method(store):
    ctx, r, res = store
    _sql("UPDATE refund_tender SET amount = amount - 1000 WHERE method = 'card'")
    assert any("refunded against card, which paid 1000" in x for x in _problems(ctx, "refund.within_paid"))
    assert any("tenders add up to" in x for x in _problems(ctx, "refund.tenders_equal_total"))


def test_cash_not_in_the_drawer(store):
    ctx, r, res = store
    _sql("DELETE FROM cash_movement WHERE kind = 'refund'")
    assert any("back in cash but the drawer has 0" in x for x in _problems(ctx, "refund.cash_in_drawer"))


def test_orphan_and_number_gap(store):
    ctx, r, res = store
    _sql("UPDATE ticket SET status = 'voided' WHERE id = ?", r.ticket_id)
    assert any("is voided" in x for x in _problems(ctx, "refund.linked"))
    _sql("UPDATE refund SET refund_no = 3 WHERE id = ?", res.refund_id)
    assert any("refund counter at 1" in x for x in _problems(ctx, "refund.numbers_gapless"))


def test_approval_missing(store):
    ctx, r, res = store
    _sql("UPDATE refund SET needs = 'refund.override' WHERE id = ?", res.refund_id)
    assert any("has no approval" in x for x in _problems(ctx, "refund.approved"))
