"""The reports' hand-computed data set (tests/test_reports*.py).

Europe/Berlin, business day from 04:00, prices tax-inclusive, rates 7 % and 19 %.
Costs: milk 0.80, bread 1.00, wine 5.00, apples 1.50/kg. Two terminals (T1 carla,
a cashier; T2 sam, a supervisor). Clocks go forward on Sunday 29 Mar 2026 at
02:00 CET (UTC+1) -> 03:00 CEST (UTC+2).

S1 Sat 28 Mar 10:00 CET (09:00Z) T1 carla: 2 milk 2.38 + wine 8.99 = 11.37 (a
   bread line voided first: 2.49), cash 20.00 -> change 8.63.
   tax 7 %: 0.16, 19 %: 1.44; cost 1.60 + 5.00.
S2 Sun 29 Mar 03:59 CEST (01:59Z) T2 sam: bread 2.49 + apples 0.350 kg 1.05
   = 3.54 by card -- business day SATURDAY 28 (before the 04:00 cut-off), hour 03.
   tax 7 %: 0.23 (0.16 + 0.07 on the lines); cost 1.00 + 0.53.
S3 Sun 29 Mar 04:01 CEST (02:01Z) T1 carla: wine + milk, 10 % ticket discount:
   wine 8.99 - 0.90 = 8.09 (tax 1.29), milk 1.19 - 0.12 = 1.07 (tax 0.07): 9.16;
   card 5.00 + cash 4.16 (5.00 handed over). Business day 29, hour 04.
S4 Mon 30 Mar 12:00 CEST (10:00Z) T2 sam: 3 milk 3.57 - 10 % line discount 0.36
   = 3.21 cash (tax 0.21); cost 2.40.
R1 Mon 30 Mar 15:00 CEST (13:00Z) T1 carla: returns S1's wine: 8.99 back in cash
   (tax 1.44, cost 5.00).
V1 Mon 30 Mar 16:00 CEST T2 sam: a ticket with bread voided (2.49).

Period 28..30: gross 28.66, discounts 1.38, sales 27.28, refunds 8.99, net 18.29,
tax 1.96 net of refunds, net ex tax 16.33, 4 tickets, average 6.82, 10 items,
cost 11.33 net of the return, margin 5.00.
"""
from __future__ import annotations

import datetime as _dt
import sys

from data import db as dbmod
from data.models import Product
from station import journal, sale, tender
from station.context import Context
from station.refund import service as refunds
from station.refund.service import ReturnItem
from station.tender import Payment
from tests.conftest import add_user, make_config
from tests.sale_helpers import APPLES_SKU, BREAD, MILK, WINE, ean13, make_products, open_drawer

UTC = _dt.timezone.utc
APPLES_350G = ean13("23" + APPLES_SKU + "00350")     # a scale label: 350 g of apples


class Clock:
    """Every service's clock (``utcnow`` and the journal's time) set by the test."""

    def __init__(self, monkeypatch):
        import data.models as models
        self.now = models.utcnow()
        real = models.utcnow
        for mod in list(sys.modules.values()):
            if getattr(mod, "__name__", "").startswith(("station", "data")) and getattr(mod, "utcnow", None) is real:
                monkeypatch.setattr(mod, "utcnow", lambda: self.now)
        monkeypatch.setattr(journal, "now_iso", lambda: self.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))

    def at(self, when: _dt.datetime) -> None:
        self.now = when.astimezone(UTC).replace(tzinfo=None)


def z(y, mo, d, h, mi) -> _dt.datetime:
    return _dt.datetime(y, mo, d, h, mi, tzinfo=UTC)


def store_settings(ctx) -> None:
    ctx.config.set("reports.timezone", "Europe/Berlin")
    ctx.config.set("reports.day_starts", "04:00")


def second_terminal(ctx, home, url) -> Context:
    cfg = make_config(home, url, **{"terminal.id": "T2", "reports.timezone": "Europe/Berlin",
                                    "reports.day_starts": "04:00"})
    return Context(config=cfg, db=ctx.db, keys=ctx.keys)


def build(ctx, home, url, monkeypatch) -> dict:
    """The data set above; returns the people, products and terminals."""
    store_settings(ctx)
    carla = add_user(ctx, "carla", "cashier", "1111")
    sam = add_user(ctx, "sam", "supervisor", "2222")
    t2 = second_terminal(ctx, home, url)
    p = make_products()
    with dbmod.write():
        for key, cost, cat in (("milk", 80, "dairy"), ("bread", 100, "bakery"), ("wine", 500, "drinks"),
                               ("apples", 150, "fruit")):
            Product.update(cost=cost, category=cat).where(Product.id == p[key].id).execute()
    clock = Clock(monkeypatch)
    clock.at(z(2026, 3, 28, 8, 0))
    open_drawer(ctx, carla)
    open_drawer(t2, sam)
    # S1 with a voided bread line first
    clock.at(z(2026, 3, 28, 9, 0))
    v = sale.scan(ctx, carla, BREAD)
    sale.void_line(ctx, carla, v.lines[-1].id)
    for code in (MILK, MILK, WINE):
        sale.scan(ctx, carla, code)
    st = tender.begin_tender(ctx, carla)
    s1 = tender.complete_sale(ctx, carla, st.idem_key, [Payment("cash", st.cash_due, tendered=2000)])
    # S2 at 03:59 local on the DST day: still Saturday's business day
    clock.at(z(2026, 3, 29, 1, 59))
    sale.scan(t2, sam, BREAD)
    sale.scan(t2, sam, APPLES_350G)
    st = tender.begin_tender(t2, sam)
    s2 = tender.complete_sale(t2, sam, st.idem_key, [Payment("card", st.due)])
    # S3 at 04:01 local: Sunday's business day, 10 % off, card + cash
    clock.at(z(2026, 3, 29, 2, 1))
    sale.scan(ctx, carla, WINE)
    sale.scan(ctx, carla, MILK)
    sale.discount_ticket(ctx, carla, 1000)
    st = tender.begin_tender(ctx, carla)
    s3 = tender.complete_sale(ctx, carla, st.idem_key, [Payment("card", 500), Payment("cash", st.due - 500,
                                                                                     tendered=500)])
    # S4 Monday noon at T2: 3 milk, 10 % off the line
    clock.at(z(2026, 3, 30, 10, 0))
    for _ in range(3):
        view = sale.scan(t2, sam, MILK)
    sale.discount_line(t2, sam, view.lines[-1].id, 1000)
    st = tender.begin_tender(t2, sam)
    s4 = tender.complete_sale(t2, sam, st.idem_key, [Payment("cash", st.cash_due)])
    # R1: S1's wine comes back at T1
    clock.at(z(2026, 3, 30, 13, 0))
    info = refunds.lookup.find_sale(ctx, str(s1.receipt_no))
    wine_line = next(ln for ln in info.lines if ln.name == "Red wine")
    r1 = refunds.refund(ctx, carla, refunds.new_key(), s1.ticket_id, [ReturnItem(wine_line.line_id, 1000)],
                        "damaged")
    # V1: a ticket voided at T2
    clock.at(z(2026, 3, 30, 14, 0))
    sale.scan(t2, sam, BREAD)
    sale.void_ticket(t2, sam)
    return {"clock": clock, "carla": carla, "sam": sam, "t2": t2, "products": p, "sales": (s1, s2, s3, s4), "refund": r1}
