"""Tender: amounts as typed, payment rules, cash rounding, exactly-once commit.
Real SQLite files and a real PostgreSQL (``ctx`` is parametrized)."""
from __future__ import annotations

import pytest

from data.models import CashMovement, Journal, ReceiptCounter, Tender, Ticket
from station import drawer, journal, sale, tender
from station.errors import Conflict, InvalidInput, NotFound, StationError
from station.tender import Payment
from tests.sale_helpers import BREAD, MILK, WINE, make_products, open_drawer


@pytest.fixture
def shop(ctx, people):
    make_products()
    open_drawer(ctx, people["cashier"])
    return people["cashier"]


def _snapshot():
    return (Ticket.select().where(Ticket.status == "completed").count(), Tender.select().count(),
            CashMovement.select().count(), [r.last for r in ReceiptCounter.select()],
            Journal.select().count())


@pytest.mark.parametrize("text,msg", [
    ("", "enter an amount"),
    ("   ", "enter an amount"),
    ("-3", "negative"),
    ("1e9", "not an amount"),
    ("abc", "not an amount"),
    ("12.505", "more than 2 decimals"),
    ("0", "more than zero"),
    ("10000.01", "maximum"),
    ("99999999999", "maximum"),
    ("1,000.00", "not an amount"),
])
def test_bad_amounts(sqlite_ctx, text, msg):
    with pytest.raises(InvalidInput) as e:
        tender.parse_amount_input(sqlite_ctx, text)
    assert msg in str(e.value)


def test_amounts_per_separator(sqlite_ctx):
    assert tender.parse_amount_input(sqlite_ctx, "12.50") == 1250
    assert tender.parse_amount_input(sqlite_ctx, "12,50") == 1250
    assert tender.parse_amount_input(sqlite_ctx, " 7 ") == 700
    sqlite_ctx.config.set("store.decimal_separator", ",")
    assert tender.parse_amount_input(sqlite_ctx, "12,5") == 1250
    with pytest.raises(InvalidInput) as e:
        tender.parse_amount_input(sqlite_ctx, "12.50")
    assert "','" in str(e.value)
    with pytest.raises(InvalidInput):
        tender.parse_amount_input(sqlite_ctx, None)


def test_cash_sale_with_change(ctx, shop):
    c = shop
    sale.scan(ctx, c, MILK)
    sale.scan(ctx, c, WINE)                      # 10.18
    st = tender.begin_tender(ctx, c)
    assert (st.due, st.cash_due) == (1018, 1018)
    assert tender.begin_tender(ctx, c).idem_key == st.idem_key   # re-entered screen keeps the key
    r = tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 2000)])
    assert (r.receipt_no, r.total, r.change, r.paid_cash, r.duplicate) == (1, 1018, 982, 1018, False)
    assert sale.current_ticket(ctx, c) is None
    t = Ticket.get_by_id(st.ticket_id)
    assert t.status == "completed" and t.receipt_no == 1 and t.session_id is not None
    s = drawer.current_session(ctx)
    assert s.expected_cash == 10000 + 1018 == drawer.expected_cash(s.id)
    kinds = sorted((m.kind, m.amount) for m in CashMovement.select().where(CashMovement.ticket_id == t.id))
    assert kinds == [("change", -982), ("sale", 2000)]
    j = Journal.select().where(Journal.kind == "sale.completed").get()
    assert j.amount == 1018 and j.ref == "1"
    # the next sale gets the next number and a new key
    sale.scan(ctx, c, BREAD)
    st2 = tender.begin_tender(ctx, c)
    assert st2.idem_key != st.idem_key
    assert tender.complete_sale(ctx, c, st2.idem_key, [Payment("card", 249, reference="4242")]).receipt_no == 2


def test_double_complete_is_one_sale(ctx, shop):
    c = shop
    sale.scan(ctx, c, WINE)
    st = tender.begin_tender(ctx, c)
    r1 = tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 1000)])
    before = _snapshot()
    r2 = tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 1000)])
    r3 = tender.complete_sale(ctx, c, st.idem_key, [Payment("card", 899)])   # whatever is sent again
    r4 = tender.complete_sale(ctx, c, st.idem_key, [Payment("bitcoin", -1)])
    assert r2.duplicate and r3.duplicate and r4.duplicate and not r1.duplicate
    for r in (r2, r3, r4):
        assert (r.ticket_id, r.receipt_no, r.total, r.change, r.paid_cash) == \
               (r1.ticket_id, r1.receipt_no, r1.total, r1.change, r1.paid_cash)
    assert _snapshot() == before
    assert Tender.select().count() == 1


def test_injected_error_then_retry_is_one_sale(ctx, shop, monkeypatch):
    """The journal append (the last step before COMMIT) fails once: the whole sale rolls
    back (no tender, no cash, no receipt number used); the retry records it once."""
    import peewee
    c = shop
    sale.scan(ctx, c, WINE)
    st = tender.begin_tender(ctx, c)
    real = journal.append
    calls = {"n": 0}

    def failing(kind, **kw):
        if kind == "sale.completed" and calls["n"] == 0:
            calls["n"] += 1
            real(kind, **kw)          # written inside the transaction, then the failure
            raise peewee.IntegrityError("injected failure before commit")
        return real(kind, **kw)
    monkeypatch.setattr(journal, "append", failing)
    before = _snapshot()
    with pytest.raises(StationError):
        tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 1000)])
    assert _snapshot() == before
    assert sale.current_ticket(ctx, c).id == st.ticket_id      # still open, nothing lost
    r = tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 1000)])
    assert r.receipt_no == 1 and not r.duplicate and r.change == 101
    assert tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 1000)]).duplicate
    assert Ticket.select().where(Ticket.status == "completed").count() == 1
    assert CashMovement.select().where(CashMovement.ticket_id == st.ticket_id).count() == 2
    assert Journal.select().where(Journal.kind == "sale.completed").count() == 1


def test_transient_error_is_retried_inside(ctx, shop, monkeypatch):
    """A dropped connection / busy file during the commit is retried as a whole."""
    import peewee
    c = shop
    sale.scan(ctx, c, MILK)
    st = tender.begin_tender(ctx, c)
    real = drawer.lock_open_session
    calls = {"n": 0}

    def flaky(*a, **kw):
        if calls["n"] == 0:
            calls["n"] += 1
            raise peewee.OperationalError("injected: database is locked")
        return real(*a, **kw)
    monkeypatch.setattr(drawer, "lock_open_session", flaky)
    r = tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 119)])
    assert calls["n"] == 1 and r.receipt_no == 1
    assert Tender.select().count() == 1


def test_cash_rounding_and_split(ctx, shop):
    c = shop
    ctx.config.set("cash.rounding_step", 5)
    sale.scan(ctx, c, MILK)
    sale.scan(ctx, c, WINE)                      # 10.18
    st = tender.begin_tender(ctx, c)
    assert (st.due, st.cash_due) == (1018, 1020)
    # card 5.00, the cash rest 5.18 -> 5.20 (only the cash part is rounded)
    with pytest.raises(InvalidInput) as e:
        tender.complete_sale(ctx, c, st.idem_key, [Payment("card", 500), Payment("cash", 515)])
    assert "still due in cash" in str(e.value)
    r = tender.complete_sale(ctx, c, st.idem_key, [Payment("card", 500, reference="1234"),
                                                    Payment("cash", 600)])
    assert (r.paid_cash, r.change, r.rounding) == (520, 80, 2)
    t = Ticket.get_by_id(r.ticket_id)
    assert sum(x.amount for x in t.tenders) == t.total + t.rounding == 1020
    assert drawer.current_session(ctx).expected_cash == 10000 + 520
    # rounding down: 1.19 -> 1.20; 2.49*... use bread 2.49 -> 2.50, milk+bread 3.68 -> 3.70
    sale.scan(ctx, c, MILK)
    sale.scan(ctx, c, MILK)                      # 2.38 -> 2.40
    st = tender.begin_tender(ctx, c)
    r = tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 240)])
    assert (r.paid_cash, r.change, r.rounding) == (240, 0, 2)


def test_payment_rules(ctx, shop):
    c = shop
    sale.scan(ctx, c, WINE)                      # 8.99
    st = tender.begin_tender(ctx, c)
    before = _snapshot()
    bad = [
        ([Payment("card", 900)], "may not exceed"),
        ([Payment("card", 500)], "still due"),
        ([Payment("cash", 800)], "still due in cash"),
        ([Payment("card", 899), Payment("cash", 100)], "no cash is needed"),
        ([Payment("bitcoin", 899)], "not a tender method"),
        ([Payment("cash", -5)], "more than zero"),
        ([Payment("cash", 0)], "more than zero"),
        ([Payment("cash", 10_000_01)], "maximum"),
        ([Payment("card", 899, tendered=1000)], "no change from card"),
        ([], "still due"),
    ]
    for payments, msg in bad:
        with pytest.raises(InvalidInput) as e:
            tender.complete_sale(ctx, c, st.idem_key, payments)
        assert msg in str(e.value), (payments, str(e.value))
    with pytest.raises(NotFound):
        tender.complete_sale(ctx, c, "nope", [Payment("cash", 899)])
    assert _snapshot() == before
    r = tender.complete_sale(ctx, c, st.idem_key, [Payment("voucher", 400), Payment("card", 499)])
    assert (r.change, r.paid_cash) == (0, 0)


def test_no_open_drawer_refuses(ctx, people):
    make_products()
    c = people["cashier"]
    sale.scan(ctx, c, MILK)
    st = tender.begin_tender(ctx, c)
    with pytest.raises(Conflict) as e:
        tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 200)])
    assert "open the drawer first" in str(e.value)
    assert Tender.select().count() == 0 and ReceiptCounter.select().count() == 0
    open_drawer(ctx, c)
    assert tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 200)]).receipt_no == 1


def people_sup(ctx):
    from data.models import User
    return User.get(User.name == "sam")


def test_begin_tender_needs_items_and_parked_ticket_cannot_complete(ctx, shop):
    c = shop
    with pytest.raises(NotFound):
        tender.begin_tender(ctx, c)
    v = sale.scan(ctx, c, MILK)
    sale.void_line(ctx, c, v.lines[0].id)
    with pytest.raises(InvalidInput):
        tender.begin_tender(ctx, c)
    sale.scan(ctx, c, WINE)
    st = tender.begin_tender(ctx, c)
    sale.void_ticket(ctx, people_sup(ctx))  # a supervisor voids it alone
    with pytest.raises(Conflict):           # a voided ticket cannot be charged
        tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 899)])
    sale.scan(ctx, c, WINE)
    st = tender.begin_tender(ctx, c)
    sale.park(ctx, c)
    with pytest.raises(NotFound):           # parking abandoned that tender (and its key)
        tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 899)])
    sale.resume(ctx, c, st.ticket_id)
    st2 = tender.begin_tender(ctx, c)
    assert st2.idem_key != st.idem_key and tender.begin_tender(ctx, c).idem_key == st2.idem_key
    assert tender.complete_sale(ctx, c, st2.idem_key, [Payment("cash", 899)]).receipt_no == 1
