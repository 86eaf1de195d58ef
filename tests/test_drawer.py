"""Drawer sessions, service level, on SQLite and PostgreSQL (real databases)."""
from __future__ import annotations

import json

import pytest

from data import migrations
from data.models import (
    Approval, CashMovement, DenominationCount, DrawerSession, Journal, ZCounter, ZReport,
)
from station import authority, drawer, reports, verify
from station.errors import Conflict, InvalidInput, NeedsApproval, NotFound, PermissionDenied


def journal_kinds():
    return [j.kind for j in Journal.select().order_by(Journal.seq)]


def counts_snapshot():
    return (DrawerSession.select().count(), CashMovement.select().count(), DenominationCount.select().count(),
            Journal.select().count(), ZReport.select().count())


@pytest.fixture
def no_totp(ctx):
    ctx.config.set("security.totp_roles", [])
    return ctx


def approve(ctx, requester, approver_name, pin, action, amount=None, ref=None, reason=""):
    return authority.approve(ctx, requester, approver_name, pin, None, action, amount=amount, ref=ref,
                             reason=reason)


FLOAT = {5000: 2, 1000: 3, 100: 5}   # 100 + 30 + 5 = 135.00


def test_open_records_counted_float_as_rows(ctx, people):
    carla = people["cashier"]
    v = drawer.open_session(ctx, carla, FLOAT)
    assert v.float_amount == 13500 and v.expected_cash == 13500 and v.status == "open"
    rows = {(c.denomination, c.quantity) for c in DenominationCount.select().where(
        (DenominationCount.session == v.id) & (DenominationCount.stage == "float"))}
    assert (5000, 2) in rows and (1000, 3) in rows and (100, 5) in rows and (200, 0) in rows
    assert drawer.expected_cash(v.id) == 13500
    assert drawer.current_session(ctx).id == v.id
    assert "drawer.open" in journal_kinds()


def test_one_open_session_per_drawer_and_per_cashier(ctx, people):
    carla, sam = people["cashier"], people["supervisor"]
    drawer.open_session(ctx, carla, FLOAT)
    with pytest.raises(Conflict, match="already open for carla"):
        drawer.open_session(ctx, sam, FLOAT)
    with pytest.raises(Conflict, match="already have drawer T1 open"):
        drawer.open_session(ctx, carla, FLOAT)
    # carla on another terminal: still refused (one open session per cashier)
    ctx.config.set("terminal.id", "T2")
    with pytest.raises(Conflict, match="already have drawer T1 open"):
        drawer.open_session(ctx, carla, FLOAT)
    assert DrawerSession.select().count() == 1


def test_database_refuses_second_open_session(ctx, people):
    """The partial unique index holds even when the service check is bypassed."""
    import peewee
    carla, sam = people["cashier"], people["supervisor"]
    drawer.open_session(ctx, carla, FLOAT)
    with pytest.raises(peewee.IntegrityError):
        with ctx.db.atomic():
            DrawerSession.create(drawer="T1", terminal="T1", cashier=sam.id, float_amount=0)


BAD_COUNTS = [
    ({5000: -1}, "negative"),
    ({5000: "-1"}, "negative"),
    ({5000: "abc"}, "whole number"),
    ({5000: "1.5"}, "whole number"),
    ({5000: 1.5}, "whole number"),
    ({5000: 10_001}, "more than 10000"),
    ({5000: "99999999999"}, "more than 10000"),
    ({333: 1}, "not one of this store's notes and coins"),
    ({"5O00": 1}, "not a denomination"),
    ({5000: True}, "whole number"),
    ("5000=1", "quantity per denomination"),
]


def test_bad_counts_are_refused_and_nothing_recorded(ctx, people):
    before = counts_snapshot()
    for counts, message in BAD_COUNTS:
        with pytest.raises(InvalidInput, match=message):
            drawer.open_session(ctx, people["cashier"], counts)
        assert counts_snapshot() == before, counts
    s = drawer.open_session(ctx, people["cashier"], FLOAT)
    before = counts_snapshot()
    for counts, message in BAD_COUNTS:
        with pytest.raises(InvalidInput, match=message):
            drawer.close_session(ctx, people["cashier"], counts)
        assert counts_snapshot() == before, counts
    assert DrawerSession.get_by_id(s.id).status == "open"


def test_movements_and_expected_cash(ctx, people):
    carla = people["cashier"]
    s = drawer.open_session(ctx, carla, FLOAT)
    m = drawer.paid_in(ctx, carla, "12.50", "float top-up", "from the office")
    assert (m.kind, m.amount, m.expected_cash) == ("paid_in", 1250, 14750)
    assert drawer.paid_out(ctx, carla, "2,50", "supplier").amount == -250
    assert drawer.drop(ctx, carla, 5000, "safe drop").amount == -5000
    with ctx.db.atomic():
        p = drawer.post_cash(ctx, carla, "sale", 2000, ticket_id=77)
        drawer.post_cash(ctx, carla, "change", -130, ticket_id=77)
    assert p.session_id == s.id
    drawer.post_cash(ctx, carla, "refund", -300, ticket_id=78)
    expected = 13500 + 1250 - 250 - 5000 + 2000 - 130 - 300
    assert drawer.expected_cash(s.id) == expected
    assert DrawerSession.get_by_id(s.id).expected_cash == expected
    row = CashMovement.get(CashMovement.kind == "paid_in")
    assert (row.user_id, row.reason, row.note) == (carla.id, "float top-up", "from the office")
    kinds = journal_kinds()
    assert {"drawer.paid_in", "drawer.paid_out", "drawer.drop"} <= set(kinds)
    drop_event = Journal.get(Journal.kind == "drawer.drop")
    assert json.loads(drop_event.data)["to"] == "safe" and drop_event.amount == -5000
    assert all(r.ok for r in verify.run(ctx, ["drawer"]))


BAD_AMOUNTS = [
    ("-5", "negative"), ("abc", "not an amount"), ("1.234", "more than 2 decimals"),
    ("1,000.00", "not an amount"), ("0", "more than zero"), ("99999999", "maximum"), ("", "enter an amount"),
    (-500, "more than zero"), (1.5, "enter an amount"),
]


def test_bad_amounts_are_refused_and_nothing_recorded(ctx, people):
    drawer.open_session(ctx, people["cashier"], FLOAT)
    before = counts_snapshot()
    for fn in (drawer.paid_in, drawer.paid_out, drawer.drop):
        for amount, message in BAD_AMOUNTS:
            with pytest.raises(InvalidInput, match=message):
                fn(ctx, people["cashier"], amount, "other")
            assert counts_snapshot() == before, (fn, amount)


def test_wrong_separator_is_refused(ctx, people):
    ctx.config.set("store.decimal_separator", ",")
    drawer.open_session(ctx, people["cashier"], FLOAT)
    before = counts_snapshot()
    with pytest.raises(InvalidInput, match="use ',' as the decimal separator"):
        drawer.paid_in(ctx, people["cashier"], "12.50", "other")
    assert counts_snapshot() == before
    assert drawer.paid_in(ctx, people["cashier"], "12,50", "other").amount == 1250


def test_paid_out_larger_than_expected_cash_is_refused(ctx, people):
    carla = people["cashier"]
    s = drawer.open_session(ctx, carla, {1000: 2})
    before = counts_snapshot()
    with pytest.raises(InvalidInput, match="more than the expected cash"):
        drawer.paid_out(ctx, carla, "20.01", "supplier")
    with pytest.raises(InvalidInput, match="more than the expected cash"):
        drawer.drop(ctx, carla, "20.01", "safe drop")
    assert counts_snapshot() == before
    assert drawer.expected_cash(s.id) == 2000


def test_reason_must_be_configured(ctx, people):
    drawer.open_session(ctx, people["cashier"], FLOAT)
    before = counts_snapshot()
    with pytest.raises(InvalidInput, match="choose a reason"):
        drawer.paid_in(ctx, people["cashier"], 100, "")
    with pytest.raises(InvalidInput, match="unknown reason"):
        drawer.paid_in(ctx, people["cashier"], 100, "lunch")
    assert counts_snapshot() == before


def test_paid_out_above_limit_needs_approval(no_totp, people):
    ctx, carla = no_totp, people["cashier"]
    s = drawer.open_session(ctx, carla, {50000: 1})
    with pytest.raises(NeedsApproval) as e:
        drawer.paid_out(ctx, carla, 6000, "supplier")
    assert e.value.action == "drawer.paid_out" and e.value.amount == 6000 and e.value.ref == str(s.id)
    a = approve(ctx, carla, "sam", "2222", "drawer.paid_out", amount=6000, ref=s.id)
    m = drawer.paid_out(ctx, carla, 6000, "supplier", approval=a)
    assert m.amount == -6000
    assert CashMovement.get_by_id(m.id).approval_id == a.id
    with pytest.raises(PermissionDenied, match="already used"):
        drawer.paid_out(ctx, carla, 6000, "supplier", approval=a)


def test_no_sale_needs_approval(no_totp, people):
    ctx, carla = no_totp, people["cashier"]
    s = drawer.open_session(ctx, carla, FLOAT)
    before = counts_snapshot()
    with pytest.raises(NeedsApproval):
        drawer.no_sale(ctx, carla, "change")
    assert counts_snapshot() == before
    a = approve(ctx, carla, "mia", "3333", "drawer.no_sale", ref=s.id)
    m = drawer.no_sale(ctx, carla, "change", approval=a)
    assert m.amount == 0 and m.expected_cash == 13500
    assert "drawer.no_sale" in journal_kinds()


def test_post_cash_refuses_without_open_session(ctx, people):
    with pytest.raises(Conflict, match="no drawer session is open"):
        with ctx.db.atomic():
            drawer.post_cash(ctx, people["cashier"], "sale", 1000, ticket_id=1)
    assert CashMovement.select().count() == 0
    drawer.open_session(ctx, people["cashier"], FLOAT)
    with pytest.raises(InvalidInput, match="must be negative"):
        drawer.post_cash(ctx, people["cashier"], "change", 100)
    with pytest.raises(InvalidInput):
        drawer.post_cash(ctx, people["cashier"], "paid_out", -100)
    before = counts_snapshot()
    with pytest.raises(InvalidInput, match="more than the expected cash"):
        drawer.post_cash(ctx, people["cashier"], "refund", -13501)
    assert counts_snapshot() == before


def test_post_cash_rolls_back_with_the_callers_transaction(ctx, people):
    carla = people["cashier"]
    s = drawer.open_session(ctx, carla, FLOAT)
    with pytest.raises(RuntimeError):
        with ctx.db.atomic():
            drawer.post_cash(ctx, carla, "sale", 1000, ticket_id=5)
            raise RuntimeError("the sale failed after posting")
    assert drawer.expected_cash(s.id) == 13500
    assert DrawerSession.get_by_id(s.id).expected_cash == 13500


def test_close_within_threshold(ctx, people):
    carla = people["cashier"]
    s = drawer.open_session(ctx, carla, FLOAT)
    drawer.paid_in(ctx, carla, 100, "other")
    # counted 137.00 vs expected 136.00 -> +1.00, within the 2.00 limit
    z = drawer.close_session(ctx, carla, {5000: 2, 1000: 3, 100: 7})
    assert (z.z_number, z.counted, z.expected, z.variance) == (1, 13700, 13600, 100)
    row = DrawerSession.get_by_id(s.id)
    assert row.status == "closed" and row.z_number == 1 and row.close_hash
    close_rows = {(c.denomination, c.quantity) for c in DenominationCount.select().where(
        (DenominationCount.session == s.id) & (DenominationCount.stage == "close")) if c.quantity}
    assert close_rows == {(5000, 2), (1000, 3), (100, 7)}
    stored = json.loads(ZReport.get(ZReport.session == s.id).data)
    assert stored["variance"] == 100 and stored["z_number"] == 1 and stored["counted"] == 13700
    assert drawer.current_session(ctx) is None
    # a posting after the close is refused
    with pytest.raises(Conflict):
        drawer.post_cash(ctx, carla, "sale", 100)
    with pytest.raises(Conflict):
        drawer.paid_in(ctx, carla, 100, "other")
    assert all(r.ok for r in verify.run(ctx, ["drawer"]))


def test_close_beyond_threshold_without_approval_fails_at_the_service(no_totp, people):
    ctx, carla = no_totp, people["cashier"]
    s = drawer.open_session(ctx, carla, FLOAT)
    before = counts_snapshot()
    short = {5000: 2, 1000: 3}   # 130.00 counted vs 135.00 expected: -5.00
    with pytest.raises(NeedsApproval, match="beyond") as e:
        drawer.close_session(ctx, carla, short)
    assert e.value.amount == -500 and e.value.action == "drawer.close"
    assert counts_snapshot() == before
    assert DrawerSession.get_by_id(s.id).status == "open"
    # a supervisor may not approve a close (managers only)
    with pytest.raises(PermissionDenied):
        approve(ctx, carla, "sam", "2222", "drawer.close", amount=-500, ref=s.id, reason="miscount")
    # an approval for another amount does not fit
    other = approve(ctx, carla, "mia", "3333", "drawer.close", amount=-400, ref=s.id, reason="x")
    with pytest.raises(PermissionDenied, match="different amount"):
        drawer.close_session(ctx, carla, short, approval=other)
    # with the manager's approval but no reason anywhere: refused
    a = approve(ctx, carla, "mia", "3333", "drawer.close", amount=-500, ref=s.id)
    with pytest.raises(InvalidInput, match="reason"):
        drawer.close_session(ctx, carla, short, approval=a)
    assert Approval.get_by_id(a.id).used_at is None   # rolled back: still usable
    z = drawer.close_session(ctx, carla, short, reason="coin roll missing", approval=a)
    assert z.variance == -500
    row = DrawerSession.get_by_id(s.id)
    assert row.close_approval_id == a.id and row.close_reason == "coin roll missing"
    assert json.loads(ZReport.get(ZReport.session == s.id).data)["approved_by"] == "mia"


def test_manager_closes_alone_beyond_threshold(ctx, people):
    mia = people["manager"]
    drawer.open_session(ctx, mia, FLOAT)
    z = drawer.close_session(ctx, mia, {5000: 1})
    assert z.variance == -8500


def test_other_cashier_may_not_close(ctx, people):
    carla = people["cashier"]
    drawer.open_session(ctx, carla, FLOAT)
    from tests.conftest import add_user
    bob = add_user(ctx, "bob", "cashier", "7777")
    with pytest.raises(PermissionDenied, match="belongs to carla"):
        drawer.close_session(ctx, bob, FLOAT)
    assert drawer.close_session(ctx, people["supervisor"], FLOAT).variance == 0


def test_z_numbers_are_gapless_per_drawer(ctx, people):
    carla, sam = people["cashier"], people["supervisor"]
    for i in range(3):
        drawer.open_session(ctx, carla, FLOAT)
        assert drawer.close_session(ctx, carla, FLOAT).z_number == i + 1
    ctx.config.set("terminal.id", "T2")
    drawer.open_session(ctx, sam, FLOAT)
    assert drawer.close_session(ctx, sam, FLOAT).z_number == 1
    assert ZCounter.get_by_id("T1").last == 3 and ZCounter.get_by_id("T2").last == 1
    assert drawer.z_report(ctx, drawer="T1")["z_number"] == 3
    assert drawer.z_report(ctx, drawer="T1", z_number=2)["z_number"] == 2
    with pytest.raises(NotFound):
        drawer.z_report(ctx, drawer="T1", z_number=9)
    assert all(r.ok for r in verify.run(ctx, ["drawer"]))


def test_closed_session_is_frozen_by_the_database(ctx, people):
    import peewee
    carla = people["cashier"]
    s = drawer.open_session(ctx, carla, FLOAT)
    drawer.close_session(ctx, carla, FLOAT)
    with pytest.raises(peewee.DatabaseError):
        with ctx.db.atomic():
            DrawerSession.update(counted=1).where(DrawerSession.id == s.id).execute()
    with pytest.raises(peewee.DatabaseError):
        with ctx.db.atomic():
            CashMovement.update(amount=1).where(CashMovement.session == s.id).execute()


def test_verify_detects_tampering(ctx, people):
    carla = people["cashier"]
    s = drawer.open_session(ctx, carla, FLOAT)
    drawer.paid_in(ctx, carla, 500, "other")
    drawer.close_session(ctx, carla, {5000: 2, 1000: 4})
    s2 = drawer.open_session(ctx, carla, FLOAT)
    assert all(r.ok for r in verify.run(ctx, ["drawer"]))
    migrations.drop_guards(ctx.db)
    with ctx.db.atomic():
        CashMovement.update(amount=600).where((CashMovement.session == s.id) &
                                              (CashMovement.kind == "paid_in")).execute()
        DrawerSession.update(expected_cash=1).where(DrawerSession.id == s2.id).execute()
        ZReport.update(z_number=5).where(ZReport.session == s.id).execute()
    bad = {r.name: r.problems for r in verify.run(ctx, ["drawer"]) if not r.ok}
    assert set(bad) == {"drawer.expected_cash", "drawer.closed_unchanged", "drawer.z_gapless",
                        "drawer.running_totals"}
    assert any("cached expected cash 1" in p for p in bad["drawer.expected_cash"])


def test_x_report_counts_tenders_not_change(ctx, people):
    """Sales per tender method are the amounts applied (Tender.amount), so change
    is never counted as takings; the X report reads the session's running totals."""
    from station import sale, tender
    from tests.sale_helpers import BREAD, MILK, make_products
    carla = people["cashier"]
    make_products()
    drawer.open_session(ctx, carla, FLOAT)
    sale.scan(ctx, carla, MILK)
    sale.scan(ctx, carla, BREAD)                          # 1.19 + 2.49 = 3.68
    st = tender.begin_tender(ctx, carla)
    r1 = tender.complete_sale(ctx, carla, st.idem_key, [tender.Payment("cash", 368, 500)])
    sale.scan(ctx, carla, BREAD)
    st = tender.begin_tender(ctx, carla)
    r2 = tender.complete_sale(ctx, carla, st.idem_key, [tender.Payment("card", 249)])
    x = drawer.x_report(ctx, carla)
    assert x["sales"] == {"count": 2, "total": 617, "first_receipt": r1.receipt_no, "last_receipt": r2.receipt_no}
    assert {t["method"]: t["amount"] for t in x["tenders"]} == {"cash": 368, "card": 249}
    assert x["expected"] == 13500 + 368
    text = "\n".join(reports.lines(x))
    assert "X REPORT" in text and "cash (1)" in text and "Change given (1)" in text
    with pytest.raises(PermissionDenied):
        drawer.x_report(ctx, _other_cashier(ctx))
    z = drawer.close_session(ctx, carla, {5000: 2, 1000: 3, 100: 8, 50: 1, 10: 1, 5: 1, 2: 1, 1: 1})
    assert (z.data["sales"]["first_receipt"], z.data["sales"]["last_receipt"]) == (1, 2)
    assert z.data["tenders"] == x["tenders"] and z.variance == 0
    assert all(r.ok for r in verify.run(ctx, ["drawer"]))


def _other_cashier(ctx):
    from tests.conftest import add_user
    return add_user(ctx, "otto", "cashier", "8888")


def test_z_report_escpos_bytes_and_reprint(ctx, people):
    carla = people["cashier"]
    drawer.open_session(ctx, carla, FLOAT)
    drawer.paid_in(ctx, carla, 250, "other")
    z = drawer.close_session(ctx, carla, {5000: 2, 1000: 3, 100: 7, 50: 1})
    data = drawer.z_report(ctx)
    assert data == z.data
    out = reports.report_bytes(ctx, data)
    assert out.startswith(b"\x1bt\x13")                  # code page CP858
    assert b"\x1b!0\x1bE\x01\x1ba\x01Z REPORT No 1\n" in out   # double size, bold, centred
    assert b"Counted cash" in out and b"137.50" in out
    assert b"  7 x 1.00" in out and b"  1 x 0.50" in out
    assert b"Variance" in out and b"COPY" not in out
    assert out.endswith(b"\x1dV\x00")                       # cut
    copy = reports.report_bytes(ctx, data, copy=True)
    assert b"*** COPY ***" in copy
    # reprint comes from the stored row: equal bytes even after more sessions
    drawer.open_session(ctx, carla, FLOAT)
    assert reports.report_bytes(ctx, drawer.z_report(ctx, z_number=1)) == out


def test_failed_kick_is_journalled_and_shown_movement_kept(ctx, people, tmp_path):
    carla = people["cashier"]
    ctx.config.set("drawer.kick", "serial")
    ctx.config.set("drawer.device", str(tmp_path / "no-such-port"))
    v = drawer.open_session(ctx, carla, FLOAT)
    assert v.kick is not None and not v.kick.ok
    assert "no-such-port" in v.kick.message and "did not open" in v.kick.message
    m = drawer.paid_in(ctx, carla, 100, "other")
    assert not m.kick.ok
    assert CashMovement.get_by_id(m.id).amount == 100
    failed = [j for j in Journal.select().where(Journal.kind == "drawer.kick_failed")]
    assert len(failed) == 2 and "no-such-port" in json.loads(failed[0].data)["message"]


def test_real_sales_in_x_and_z_reports(ctx, people):
    """Through the sale service (tender): a cash sale with change and
    a card sale. The X report counts takings per tender method (no change), the
    drawer expects float + cash due, and the Z report names the receipt range."""
    from station import sale, tender
    from tests.sale_helpers import MILK, WINE, make_products
    carla = people["cashier"]
    make_products()
    s = drawer.open_session(ctx, carla, FLOAT)
    sale.scan(ctx, carla, MILK)
    sale.scan(ctx, carla, WINE)                          # 1.19 + 8.99 = 10.18
    st = tender.begin_tender(ctx, carla)
    r1 = tender.complete_sale(ctx, carla, st.idem_key, [tender.Payment("cash", st.due, 2000, "")])
    assert r1.change == 2000 - st.due
    sale.scan(ctx, carla, MILK)
    st2 = tender.begin_tender(ctx, carla)
    r2 = tender.complete_sale(ctx, carla, st2.idem_key, [tender.Payment("card", st2.due, None, "ref")])
    x = drawer.x_report(ctx, carla)
    by = {t["method"]: t for t in x["tenders"]}
    assert by["cash"]["amount"] == r1.paid_cash and by["card"]["amount"] == r2.total
    assert x["sales"]["count"] == 2 and x["sales"]["total"] == r1.total + r2.total
    assert x["expected"] == 13500 + r1.paid_cash == drawer.expected_cash(s.id)
    mv = {m["kind"]: m["amount"] for m in x["movements"]}
    assert mv["sale"] == 2000 and mv["change"] == -r1.change
    counted = 13500 + r1.paid_cash
    z = drawer.close_session(ctx, carla, {1000: counted // 1000, 1: counted % 1000})
    assert z.variance == 0
    assert (z.data["sales"]["first_receipt"], z.data["sales"]["last_receipt"]) == (r1.receipt_no, r2.receipt_no)
    # no sale after the close: the drawer is closed
    sale.scan(ctx, carla, MILK)
    st3 = tender.begin_tender(ctx, carla)
    with pytest.raises(Conflict):
        tender.complete_sale(ctx, carla, st3.idem_key, [tender.Payment("cash", st3.due, st3.due, "")])
    assert drawer.expected_cash(s.id) == counted
    assert all(r.ok for r in verify.run(ctx, ["drawer"]))


def test_verify_catches_a_movement_slipped_into_a_closed_session(ctx, people):
    carla = people["cashier"]
    s = drawer.open_session(ctx, carla, FLOAT)
    drawer.close_session(ctx, carla, FLOAT)
    import peewee
    from data import migrations
    with pytest.raises(peewee.DatabaseError, match="closed"):   # the database refuses it ...
        with ctx.db.atomic():
            CashMovement.create(session=s.id, kind="sale", amount=500, user=carla.id)
    migrations.drop_guards(ctx.db)                              # ... and without the guard, verify sees it
    with ctx.db.atomic():
        CashMovement.create(session=s.id, kind="sale", amount=500, user=carla.id)
    bad = {r.name: r.problems for r in verify.run(ctx, ["drawer"]) if not r.ok}
    assert "drawer.closed_unchanged" in bad and "drawer.expected_cash" in bad


def test_overview_lists_every_drawer_once(ctx, people):
    carla, sam = people["cashier"], people["supervisor"]
    drawer.open_session(ctx, carla, FLOAT)
    drawer.close_session(ctx, carla, FLOAT)
    drawer.open_session(ctx, carla, {5000: 1})
    ctx.config.set("terminal.id", "T2")
    drawer.open_session(ctx, sam, {1000: 1})
    drawer.close_session(ctx, sam, {1000: 1, 1: 3})
    rows = {r.drawer: r for r in drawer.overview(ctx)}
    assert set(rows) == {"T1", "T2"}
    assert (rows["T1"].status, rows["T1"].cashier, rows["T1"].expected_cash) == ("open", "carla", 5000)
    assert (rows["T2"].status, rows["T2"].counted, rows["T2"].variance, rows["T2"].z_number) == ("closed", 1003, 3, 1)
    assert [s.id for s in drawer.list_sessions(ctx, drawer="T1")] == sorted(
        [s.id for s in drawer.list_sessions(ctx, drawer="T1")], reverse=True)
    assert len(drawer.list_sessions(ctx, drawer="T1")) == 2


def test_drops_are_listed_for_the_treasury(ctx, people):
    carla, sam = people["cashier"], people["supervisor"]
    drawer.open_session(ctx, carla, {5000: 4})
    d1 = drawer.drop(ctx, carla, "50.00", "safe drop", "first bag")
    ctx.config.set("terminal.id", "T2")
    drawer.open_session(ctx, sam, {5000: 2})
    d2 = drawer.drop(ctx, sam, 2500, "safe drop")
    drops = drawer.list_drops(ctx)
    assert [(d.movement_id, d.drawer, d.amount, d.user) for d in drops] == [
        (d1.id, "T1", 5000, "carla"), (d2.id, "T2", 2500, "sam")]
    assert drops[0].note == "first bag"
    assert [d.movement_id for d in drawer.list_drops(ctx, after_id=d1.id)] == [d2.id]
    assert [d.movement_id for d in drawer.list_drops(ctx, drawer="T1")] == [d1.id]
