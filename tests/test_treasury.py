"""The treasury's rules on a real SQLite file and a real PostgreSQL: payments
executed once with TOTP by someone else than the requester, the custody chain of
drawer cash, variances decided by a second person, automatic replenishment, bad
input refused with one message and nothing changed, the database's own guards,
and verify catching what was changed behind the service's back."""
from __future__ import annotations

import datetime as _dt
import json

import peewee
import pytest

from data import db as dbmod
from data.models import Journal, User
from data.treasury import (
    CashBag, Fund, LedgerEntry, PaymentExecution, Reconciliation, Replenishment, Requisition, Variance,
)
from station import drawer, verify
from station.errors import AuthFailed, Conflict, InvalidInput, NotFound, PermissionDenied
from station.treasury import bags, funds, payments, queries, reconcile, replenish, variances
from station.treasury.ledger import InsufficientFunds
from tests.treasury_helpers import code, enrol, fund_up, paid, user


@pytest.fixture
def store(ctx, people):
    enrol(ctx)
    fund_up(ctx, "petty", 50_000)
    fund_up(ctx, "safe", 200_000)
    return ctx


def balance(name: str) -> int:
    return Fund.get(Fund.name == name).balance


def ledger_sum(name: str) -> int:
    f = Fund.get(Fund.name == name)
    return sum(e.amount for e in LedgerEntry.select().where(LedgerEntry.fund == f.id))


def treasury_problems(ctx) -> list[str]:
    return [f"{r.name}: {p}" for r in verify.run(ctx, only=["treasury"]) for p in r.problems + ([r.error] if r.error else [])]


def counts_of_everything() -> tuple:
    return (Requisition.select().count(), LedgerEntry.select().count(), PaymentExecution.select().count(),
            Journal.select().count(), tuple(f.balance for f in Fund.select().order_by(Fund.id)))


# ------------------------------------------------------------- payments ---

def test_request_approve_execute_pays_once_and_journals(store):
    ctx = store
    rid = payments.request(ctx, user("mia"), "petty", "12.50", "Acme Cleaning", "mops")
    payments.approve(ctx, user("theo"), rid)
    c, t = code("theo")
    key = payments.new_key()
    x = payments.execute(ctx, user("theo"), rid, c, key=key, reference="slip 7", now=t)
    assert (x.amount, x.fund, x.balance, x.already) == (1250, "petty", 50_000 - 1250, False)
    assert balance("petty") == ledger_sum("petty") == 48_750
    assert Requisition.get_by_id(rid).status == "paid"
    ex = PaymentExecution.get(PaymentExecution.requisition == rid)
    assert (ex.executor_id, ex.requester_id, ex.origin, ex.reference) == (user("theo").id, user("mia").id,
                                                                          "console", "slip 7")
    e = LedgerEntry.get_by_id(ex.entry_id)
    j = Journal.get(Journal.seq == e.journal_seq)
    assert j.kind == "treasury.entry" and json.loads(j.data)["hash"] == e.hash and j.amount == -1250
    # the same key again (a retry after a crash): the same execution, nothing paid twice
    again = payments.execute(ctx, user("theo"), rid, "000000", key=key)
    assert again.already and again.execution_id == x.execution_id
    # another key (a second treasurer): refused, paid once
    c, t = code("ada")
    with pytest.raises(Conflict, match="already paid by theo"):
        payments.execute(ctx, user("ada"), rid, c, key=payments.new_key(), now=t)
    assert PaymentExecution.select().count() == 1 and balance("petty") == 48_750
    assert treasury_problems(ctx) == []


def test_requester_may_not_execute_nor_approve_even_bypassing_the_screen(store):
    ctx = store
    rid = payments.request(ctx, user("theo"), "petty", 1000, "Acme")
    with pytest.raises(PermissionDenied, match="someone else"):
        payments.approve(ctx, user("theo"), rid)
    payments.approve(ctx, user("mia"), rid)
    c, t = code("theo")
    with pytest.raises(PermissionDenied, match="may not be its requester"):
        payments.execute(ctx, user("theo"), rid, c, key=payments.new_key(), now=t)
    assert Requisition.get_by_id(rid).status == "approved" and balance("petty") == 50_000
    # the database refuses it too, whatever the code does
    e = LedgerEntry.select().first()
    with pytest.raises(peewee.DatabaseError, match="CHECK|may not be its requester"):
        with dbmod.write():
            PaymentExecution.create(requisition=rid, idem_key="k" * 16, executor=user("theo").id,
                                    requester=user("theo").id, amount=1000, entry=e.id, terminal="T1",
                                    totp_step=1)
    with pytest.raises(peewee.DatabaseError, match="CHECK|may not be its requester"):   # lying about the requester: the trigger
        with dbmod.write():
            PaymentExecution.create(requisition=rid, idem_key="k" * 16, executor=user("theo").id,
                                    requester=user("ada").id, amount=1000, entry=e.id, terminal="T1",
                                    totp_step=1)


def test_cashier_may_not_request_and_supervisor_may_not_execute(store):
    ctx = store
    with pytest.raises(PermissionDenied):
        payments.request(ctx, user("carla"), "petty", 1000, "Acme")
    payments.request(ctx, user("sam"), "petty", 1000, "Acme")     # a supervisor may ask
    rid = payments.request(ctx, user("mia"), "petty", 1000, "Acme")
    payments.approve(ctx, user("theo"), rid)
    totp_sam = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ"
    from station import totp_enrol
    totp_enrol.enrol_known_secret(ctx, "sam", totp_sam)
    import pyotp
    with pytest.raises(PermissionDenied, match="may not execute"):
        payments.execute(ctx, user("sam"), rid, pyotp.TOTP(totp_sam).at(1_950_000_000), key=payments.new_key(),
                         now=1_950_000_000)


def test_totp_replayed_wrong_or_approval_too_old_refused(store):
    ctx = store
    r1 = payments.request(ctx, user("mia"), "petty", 1000, "A")
    r2 = payments.request(ctx, user("mia"), "petty", 1000, "B")
    for r in (r1, r2):
        payments.approve(ctx, user("ada"), r)
    c, t = code("theo")
    payments.execute(ctx, user("theo"), r1, c, key=payments.new_key(), now=t)
    with pytest.raises(AuthFailed, match="already used"):
        payments.execute(ctx, user("theo"), r2, c, key=payments.new_key(), now=t)
    with pytest.raises(AuthFailed, match="wrong TOTP"):
        payments.execute(ctx, user("theo"), r2, "123456" if c != "123456" else "654321", key=payments.new_key(),
                         now=t + 300)
    assert Requisition.get_by_id(r2).status == "approved" and balance("petty") == 49_000
    kinds = [j.kind for j in Journal.select().order_by(Journal.seq.desc()).limit(2)]
    assert kinds == ["totp.failed", "totp.replayed"]
    # approved six minutes ago: the window (5) has passed
    Requisition.update(approved_at=Requisition.get_by_id(r2).approved_at - _dt.timedelta(minutes=6)).where(
        Requisition.id == r2).execute()
    c, t = code("theo")
    with pytest.raises(Conflict, match="approved again"):
        payments.execute(ctx, user("theo"), r2, c, key=payments.new_key(), now=t)
    r = Requisition.get_by_id(r2)
    assert (r.status, r.retry_count, balance("petty")) == ("approved", 1, 49_000)
    payments.approve(ctx, user("ada"), r2)       # approved again: a new window
    c, t = code("theo")
    payments.execute(ctx, user("theo"), r2, c, key=payments.new_key(), now=t)
    assert balance("petty") == 48_000


def test_insufficient_funds_refused_with_balance_then_failed_after_max_retries(store):
    ctx = store
    rid = payments.request(ctx, user("mia"), "petty", 60_000, "Big supplier")
    payments.approve(ctx, user("ada"), rid)
    for attempt in (1, 2, 3):
        c, t = code("theo")
        with pytest.raises(InsufficientFunds, match="petty holds 500.00: it cannot pay 600.00") as e:
            payments.execute(ctx, user("theo"), rid, c, key=payments.new_key(), now=t)
        assert e.value.balance == 50_000
        r = Requisition.get_by_id(rid)
        assert r.retry_count == attempt and "petty holds" in r.last_error
    assert Requisition.get_by_id(rid).status == "failed"
    assert balance("petty") == 50_000 and PaymentExecution.select().count() == 0
    c, t = code("theo")
    with pytest.raises(Conflict, match="failed"):
        payments.execute(ctx, user("theo"), rid, c, key=payments.new_key(), now=t)
    # the database's CHECK holds even if the service were bypassed
    with pytest.raises(peewee.IntegrityError):
        with dbmod.write():
            Fund.update(balance=-1).where(Fund.name == "petty").execute()


def test_reject_and_states(store):
    ctx = store
    rid = payments.request(ctx, user("mia"), "petty", 1000, "X", method="bank_transfer", destination="DE89 3704")
    payments.reject(ctx, user("theo"), rid, "not ours")
    with pytest.raises(Conflict, match="rejected"):
        payments.approve(ctx, user("theo"), rid)
    with pytest.raises(InvalidInput, match="destination"):
        payments.request(ctx, user("mia"), "petty", 1000, "X", method="mobile_money")


@pytest.mark.parametrize("amount, message", [
    ("12,50", "use '.' as the decimal separator"), ("-3", "negative"), ("1e9", "is not an amount"),
    ("", "enter an amount"), (0, "more than zero"), ("99999999", "more than the maximum"),
])
def test_bad_amounts_one_message_nothing_changed(ctx, people, station_home, db_url, amount, message):
    from station.context import open_station
    from tests.conftest import make_config
    c2 = open_station(make_config(station_home, db_url, **{"store.decimal_separator": "."}))
    before = counts_of_everything()
    with pytest.raises(InvalidInput, match=message):
        payments.request(c2, user("mia"), "petty", amount, "Acme")
    assert counts_of_everything() == before


@pytest.mark.parametrize("kwargs, error, message", [
    ({"payee": ""}, InvalidInput, "enter the payee"),
    ({"payee": "   "}, InvalidInput, "enter the payee"),
    ({"fund": "piggy bank"}, NotFound, "unknown fund 'piggy bank': the funds are safe, petty"),
    ({"method": "bitcoin"}, InvalidInput, "unknown method"),
    ({"payee": "x" * 121}, InvalidInput, "longer than 120"),
])
def test_bad_requests_one_message_nothing_changed(store, kwargs, error, message):
    args = {"fund": "petty", "amount": "10.00", "payee": "Acme", **kwargs}
    before = counts_of_everything()
    with pytest.raises(error, match=message):
        payments.request(store, user("mia"), args.pop("fund"), args.pop("amount"), args.pop("payee"), **args)
    assert counts_of_everything() == before


# ------------------------------------------------------- custody chain ---

def test_drop_bag_short_count_variance_approved_safe_and_journal_agree(store):
    ctx = store
    carla = user("carla")
    drawer.open_session(ctx, carla, {5000: 10}, kick=False)
    m = drawer.drop(ctx, carla, 20_000, "safe drop")
    bag = CashBag.get(CashBag.movement_id == m.id)
    assert m.bag == bag.number          # shown to the cashier, to write on the bag
    assert (bag.number, bag.status, bag.declared) == (f"D{m.id}", "in_transit", 20_000)
    assert balance("transit") == 20_000
    assert [b.number for b in queries.bags(status=("in_transit",))] == [bag.number]
    got = bags.receive(ctx, user("theo"), bag.number.lower(), {10000: 1, 5000: 1, 2000: 2})   # 19 000: short 10.00
    assert (got.declared, got.counted) == (20_000, 19_000) and got.variance_id
    assert balance("transit") == 0 and balance("safe") == 220_000
    with pytest.raises(Conflict, match="already received by theo"):
        bags.receive(ctx, user("ada"), bag.number, {10000: 2})
    with pytest.raises(PermissionDenied, match="someone else"):
        variances.decide(ctx, user("theo"), got.variance_id, True)
    entry_id = variances.decide(ctx, user("mia"), got.variance_id, True)
    assert balance("safe") == ledger_sum("safe") == 219_000
    e = LedgerEntry.get_by_id(entry_id)
    assert (e.kind, e.amount, e.ref_type, e.ref_id) == ("adjustment", -1000, "variance", got.variance_id)
    j = Journal.get(Journal.seq == e.journal_seq)
    assert json.loads(j.data)["balance"] == 219_000 and json.loads(j.data)["hash"] == e.hash
    # the whole journal's word on the safe equals its balance
    safe_moves = [j.amount for j in Journal.select().where(Journal.kind == "treasury.entry")
                  if json.loads(j.data)["fund"] == "safe"]
    assert sum(safe_moves) == balance("safe")
    with pytest.raises(peewee.IntegrityError):   # the database: the recorder never decides
        with dbmod.write():
            Variance.create(fund=e.fund_id, source="count", original=0, adjusted=1, variance=1, status="rejected",
                            recorded_by=user("theo").id, decided_by=user("theo").id, terminal="T1")
    assert treasury_problems(ctx) == []
    assert all(r.ok for r in verify.run(ctx))


def test_close_bags_the_cash_less_the_float_and_float_fund_issues_and_takes_back(ctx, people, station_home, db_url):
    from station.context import open_station
    from tests.conftest import make_config
    c2 = open_station(make_config(station_home, db_url, **{"treasury.float_fund": "change"}))
    fund_up(c2, "change", 30_000)
    carla = user("carla")
    drawer.open_session(c2, carla, {5000: 2}, kick=False)          # float 100.00 from the change fund
    assert balance("change") == 20_000
    drawer.paid_in(c2, carla, 5000, "float top-up")
    z = drawer.close_session(c2, carla, {5000: 3})                 # counted 150.00
    assert z.counted == 15_000
    bag = CashBag.get(CashBag.number == f"Z{z.session_id}")
    assert (bag.kind, bag.declared, bag.session_id) == ("close", 5000, z.session_id)
    assert balance("change") == 30_000 and balance("transit") == 5000
    close = Journal.get(Journal.kind == "drawer.close")
    assert json.loads(close.data)["cash_out"] == {"float_kept": 10_000, "float_to": "change", "bag": bag.number,
                                                  "bagged": 5000}
    with pytest.raises(InsufficientFunds, match="change holds 300.00"):
        drawer.open_session(c2, carla, {50000: 1}, kick=False)
    assert drawer.current_session(c2) is None
    assert treasury_problems(c2) == []


def test_deposit_safe_transit_bank_with_slip_variance_and_reconcile(store):
    ctx = store
    number = bags.prepare_deposit(ctx, user("theo"), "1000.00")
    assert balance("safe") == 100_000 and balance("transit") == 100_000
    got = bags.bank_deposit(ctx, user("theo"), number, "SLIP-42", "999.50")
    assert balance("transit") == 0 and balance("bank") == 100_000 and got.variance_id
    variances.decide(ctx, user("mia"), got.variance_id, True)
    assert balance("bank") == 99_950
    credit = CashBag.get(CashBag.number == number).in_entry_id
    assert reconcile.entry(ctx, user("mia"), credit, "STMT-1") is None
    with pytest.raises(Conflict, match="already reconciled"):
        reconcile.entry(ctx, user("mia"), credit, "STMT-1")
    # a payment reconciled: settled for more than booked -> a variance of the fund
    rid = paid(ctx, "mia", "theo", "ada", "petty", 2000)
    vid = reconcile.requisition(ctx, user("ada"), rid, "STMT-2", "20.10")
    assert Requisition.get_by_id(rid).status == "reconciled"
    assert Reconciliation.get(Reconciliation.requisition == rid).settled == 2010
    variances.decide(ctx, user("theo"), vid, True)
    assert balance("petty") == 50_000 - 2010
    assert treasury_problems(ctx) == []


# -------------------------------------------------- counts, replenishing ---

def test_fund_count_variance_pending_until_a_second_person_approves(store):
    ctx = store
    r = variances.count_fund(ctx, user("theo"), "petty", {20000: 2, 5000: 1, 2000: 2})   # 490.00 of 500.00
    assert (r.expected, r.counted) == (50_000, 49_000) and balance("petty") == 50_000
    variances.decide(ctx, user("ada"), r.variance_id, False, "recount tomorrow")
    assert balance("petty") == 50_000 and Variance.get_by_id(r.variance_id).status == "rejected"
    with pytest.raises(Conflict, match="already rejected"):
        variances.decide(ctx, user("mia"), r.variance_id, True)
    assert variances.count_fund(ctx, user("theo"), "petty", {50000: 1}).variance_id is None
    with pytest.raises(InvalidInput, match="not one of this store's notes"):
        variances.count_fund(ctx, user("theo"), "petty", {333: 1})


def test_debit_below_reorder_level_asks_once_then_funded_by_transfer(store):
    ctx = store
    funds.set_levels(ctx, user("ada"), "petty", reorder="300.00", target="500.00", auto_replenish=True,
                     replenish_from="safe")
    paid(ctx, "mia", "theo", "ada", "petty", 25_000)        # 250.00 left: below 300.00
    paid(ctx, "mia", "theo", "ada", "petty", 5_000)         # 200.00: still one request
    pend = list(Replenishment.select().where(Replenishment.status == "pending"))
    assert len(pend) == 1 and (pend[0].amount, pend[0].balance_snapshot, pend[0].automatic) == (25_000, 25_000, True)
    with pytest.raises(peewee.IntegrityError):       # the partial unique index
        with dbmod.write():
            Replenishment.create(fund=pend[0].fund_id, source=pend[0].source_id, automatic=True,
                                 balance_snapshot=0, amount=1, status="pending")
    replenish.decide(ctx, user("mia"), pend[0].id, True)
    replenish.fund(ctx, user("theo"), pend[0].id)
    assert balance("petty") == 45_000 and balance("safe") == 175_000
    assert Replenishment.get_by_id(pend[0].id).status == "funded"
    paid(ctx, "mia", "theo", "ada", "petty", 20_000)        # below again: a new request
    assert Replenishment.select().where(Replenishment.status == "pending").count() == 1
    rid = replenish.request(ctx, user("theo"), "change", "safe", "50.00")
    with pytest.raises(PermissionDenied, match="someone else"):
        replenish.decide(ctx, user("theo"), rid, True)
    assert treasury_problems(ctx) == []


def test_transfer_and_ledger_page_filters(store):
    ctx = store
    for i in range(7):
        replenish.transfer(ctx, user("theo"), "safe", "change", 100 + i, f"coins {i}")
    page = queries.ledger("change", limit=3)
    assert [e.amount for e in page] == [106, 105, 104] and page[0].counter == "safe" and page[0].user == "theo"
    nxt = queries.ledger("change", limit=3, before=page[-1].seq)
    assert [e.amount for e in nxt] == [103, 102, 101]
    assert [e.amount for e in queries.ledger("safe", kind="credit")] == [200_000]
    assert len(queries.ledger("safe", ref_type="transfer")) == 7
    assert queries.ledger("safe", since=_dt.datetime(2999, 1, 1)) == []
    spark = queries.sparkline(Fund.get(Fund.name == "change").id, 30)
    assert len(spark) == 30 and spark[-1] == balance("change") == 721
    fv = {f.name: f for f in queries.funds(spark_days=30)}
    assert fv["change"].balance == 721 and fv["safe"].spark[-1] == balance("safe")
    with pytest.raises(InvalidInput, match="another fund"):
        replenish.transfer(ctx, user("theo"), "safe", "safe", 100)


# ------------------------------------------------------- the database ---

def test_ledger_insert_only_and_verify_catches_tampering(store):
    ctx = store
    paid(ctx, "mia", "theo", "ada", "petty", 1000)
    e = LedgerEntry.select().order_by(LedgerEntry.id.desc()).first()
    with pytest.raises(peewee.DatabaseError, match="insert-only"):
        with dbmod.write():
            LedgerEntry.update(amount=-1).where(LedgerEntry.id == e.id).execute()
    with pytest.raises(peewee.DatabaseError, match="insert-only"):
        with dbmod.write():
            LedgerEntry.delete().where(LedgerEntry.id == e.id).execute()
    with pytest.raises(peewee.DatabaseError, match="insert-only"):
        with dbmod.write():
            PaymentExecution.delete().execute()
    assert treasury_problems(ctx) == []
    from data import treasury as tables
    tables.drop_guards(ctx.db)
    with dbmod.write():
        LedgerEntry.update(amount=-100).where(LedgerEntry.id == e.id).execute()
        Fund.update(balance=Fund.balance + 5).where(Fund.name == "safe").execute()
    found = "\n".join(treasury_problems(ctx))
    assert "content does not match its hash" in found
    assert "safe: cached balance 200005, its ledger adds up to 200000" in found
    assert "does not pay 1000" in found
