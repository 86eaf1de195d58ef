"""Drawer accountability (case 7 of issue 15): a drawer session belongs to its
cashier; another user at the same terminal is refused (they open their own once
the drawer is closed) unless the store shares drawers explicitly, and then every
movement records who made it; X and Z reports say who did what."""
from __future__ import annotations

import pytest

from data.models import CashMovement, Ticket
from station import drawer, reports, sale, tender, verify
from station.errors import PermissionDenied
from station.tender import Payment
from tests.sale_helpers import BREAD, MILK, make_products, open_drawer


@pytest.fixture
def till(ctx, people):
    make_products()
    open_drawer(ctx, people["cashier"])          # carla's drawer on T1
    return ctx, people["cashier"], people["supervisor"]


def sell(ctx, user, code, pay="cash"):
    sale.scan(ctx, user, code)
    st = tender.begin_tender(ctx, user)
    amount = st.cash_due if pay == "cash" else st.due
    return tender.complete_sale(ctx, user, st.idem_key, [Payment(pay, amount)])


def test_another_user_cannot_sell_or_move_cash_in_someone_elses_drawer(till):
    """Before: sam's sales, paid-ins and paid-outs went into carla's session."""
    ctx, carla, sam = till
    before = CashMovement.select().count()
    for what in (lambda: sell(ctx, sam, MILK), lambda: sell(ctx, sam, BREAD, "card"),
                 lambda: drawer.paid_in(ctx, sam, "5.00", "other"),
                 lambda: drawer.paid_out(ctx, sam, "5.00", "supplier"),
                 lambda: drawer.drop(ctx, sam, "5.00")):
        with pytest.raises(PermissionDenied, match="drawer T1 is open for carla"):
            what()
        v = sale.current_ticket(ctx)
        if v is not None:
            sale.void_ticket(ctx, sam)
    assert CashMovement.select().count() == before
    assert Ticket.select().where(Ticket.status == "completed").count() == 0
    sell(ctx, carla, MILK)                       # the owner sells as ever
    assert all(r.ok for r in verify.run(ctx))


def test_a_shared_drawer_records_who_did_what_and_the_reports_say_so(till):
    ctx, carla, sam = till
    ctx.config.set("drawer.shared", True)
    sell(ctx, carla, MILK)
    sell(ctx, sam, BREAD)
    sell(ctx, sam, MILK, "card")
    drawer.paid_out(ctx, sam, "2.00", "supplier")
    drawer.paid_in(ctx, carla, "1.00", "other")
    by_user = {m.user_id: [] for m in CashMovement.select()}
    for m in CashMovement.select():
        by_user[m.user_id].append(m.kind)
    assert "paid_out" in by_user[sam.id] and "paid_in" in by_user[carla.id]
    x = drawer.x_report(ctx, carla)
    who = {u["user"]: u for u in x["by_user"]}
    assert who["sam"]["sales"] == {"count": 2, "total": 249 + 119}
    assert who["carla"]["sales"] == {"count": 1, "total": 119}
    assert {m["kind"]: m["amount"] for m in who["sam"]["movements"]}["paid_out"] == -200
    text = "\n".join(reports.lines(x))
    assert "Who did what" in text and "sam: sales (2)" in text and "carla: sales (1)" in text
    z = drawer.close_session(ctx, carla, {5000: 2, 100: 3, 50: 1, 10: 1, 5: 1, 2: 2}, reason="count")
    assert {u["user"] for u in z.data["by_user"]} == {"carla", "sam"}
    assert "Who did what" in "\n".join(reports.lines(z.data))
    results = verify.run(ctx)
    assert all(r.ok for r in results), verify.report_text(results)
