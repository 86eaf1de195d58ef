"""Reports over the hand-computed data set of tests/reports_data.py (real SQLite
file and real PostgreSQL): the business day around the 04:00 cut-off and the
daylight-saving change, every report's figures, the CLI with CSV and JSON, the
summary tables kept from the journal, rebuilt when the time zone changes, and a
tampered summary found by ``station verify``."""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json

import pytest

from data import db as dbmod
from station import verify
from station.errors import InvalidInput, PermissionDenied
from station.reporting import periods, service, summary
from station.reporting.periods import Clock, Period
from tests.conftest import add_user
from tests.reports_data import UTC, build, z

D28, D29, D30 = _dt.date(2026, 3, 28), _dt.date(2026, 3, 29), _dt.date(2026, 3, 30)
P = Period(D28, D30, "custom")


@pytest.fixture
def shop(ctx, station_home, db_url, monkeypatch):
    data = build(ctx, station_home, db_url, monkeypatch)
    data["boss"] = add_user(ctx, "mia", "manager", "3333")
    return data


def _clean(ctx):
    bad = [r for r in verify.run(ctx) if not r.ok]
    assert not bad, [(r.name, r.problems[:3], r.error) for r in bad]


# -------------------------------------------------------------- periods ---

def test_business_day_cutoff_and_dst():
    clock = Clock(periods.ZoneInfo("Europe/Berlin"), _dt.time(4, 0))
    naive = lambda *a: z(*a).replace(tzinfo=None)  # noqa: E731
    assert clock.day_and_hour(naive(2026, 3, 29, 1, 59)) == ("2026-03-28", 3)     # 03:59 CEST
    assert clock.day_and_hour(naive(2026, 3, 29, 2, 1)) == ("2026-03-29", 4)      # 04:01 CEST
    assert clock.day_and_hour(naive(2026, 3, 28, 2, 59)) == ("2026-03-27", 3)     # 03:59 CET
    assert clock.day_and_hour(naive(2026, 3, 28, 3, 1)) == ("2026-03-28", 4)      # 04:01 CET
    assert clock.start_of(D28) == naive(2026, 3, 28, 3, 0)                        # 04:00 CET
    assert clock.start_of(D29) == naive(2026, 3, 29, 2, 0)                        # 04:00 CEST
    # the business day 28 Mar is 23 hours long: the clocks jumped in it
    assert clock.start_of(D29) - clock.start_of(D28) == _dt.timedelta(hours=23)
    # a cut-off inside the skipped hour (02:30) starts when the clocks jump
    gap = Clock(periods.ZoneInfo("Europe/Berlin"), _dt.time(2, 30))
    assert gap.start_of(D29) == naive(2026, 3, 29, 1, 0)
    # the autumn change (the night of Sun 25 Oct) makes Saturday's business day 25 hours
    assert clock.start_of(_dt.date(2026, 10, 25)) - clock.start_of(_dt.date(2026, 10, 24)) == \
        _dt.timedelta(hours=25)


def test_named_periods():
    clock = Clock(periods.ZoneInfo("Europe/Berlin"), _dt.time(4, 0))
    now = z(2026, 3, 30, 1, 30).replace(tzinfo=None)      # Mon 03:30 CEST: still Sunday's business day
    got = {n: periods.resolve(clock, n, now=now) for n in periods.NAMES}
    assert (got["today"].first, got["today"].last) == (D29, D29)
    assert (got["yesterday"].first, got["yesterday"].last) == (D28, D28)
    assert (got["week"].first, got["week"].last) == (_dt.date(2026, 3, 23), D29)
    assert (got["last-week"].first, got["last-week"].last) == (_dt.date(2026, 3, 16), _dt.date(2026, 3, 22))
    assert (got["month"].first, got["month"].last) == (_dt.date(2026, 3, 1), D29)
    assert (got["last-month"].first, got["last-month"].last) == (_dt.date(2026, 2, 1), _dt.date(2026, 2, 28))
    p = periods.resolve(clock, None, "2026-03-28", "2026-03-30", now=now)
    assert (p.first, p.last, p.days) == (D28, D30, 3)
    assert periods.resolve(clock, None, "2026-03-28", None, now=now).days == 1
    for bad in (("2026-3-x", None), ("2026-03-30", "2026-03-28")):
        with pytest.raises(InvalidInput):
            periods.resolve(clock, None, *bad, now=now)
    with pytest.raises(InvalidInput):
        periods.resolve(clock, "fortnight", now=now)
    assert periods.months_in(Period(_dt.date(2025, 1, 15), _dt.date(2025, 4, 30), "custom")) == (
        ["2025-02", "2025-03", "2025-04"], [(_dt.date(2025, 1, 15), _dt.date(2025, 1, 31))])


# ---------------------------------------------------------------- sales ---

SALES_28_30 = {"gross": 2866, "discounts": 138, "sales": 2728, "refunds": 899, "net": 1829, "tax": 196,
               "net_ex_tax": 1633, "tickets": 4, "avg_ticket": 682, "items": 10, "items_per_ticket": 2.5,
               "voids_n": 1, "voids": 249, "line_voids_n": 1, "line_voids": 249, "post_voids_n": 0,
               "refunds_n": 1, "rounding": 0}


def test_sales_figures(ctx, shop):
    r = service.sales(ctx, shop["boss"], P)
    got = {k: v for k, _l, v, _kd in r.figures if k in SALES_28_30}
    assert got == SALES_28_30
    assert [(x["day"], x["tickets"], x["sales"], x["refunds"], x["net"], x["tax"]) for x in r.rows] == [
        ("2026-03-28", 2, 1491, 0, 1491, 183), ("2026-03-29", 1, 916, 0, 916, 136),
        ("2026-03-30", 1, 321, 899, -578, -123)]
    assert r.series == [("03-28", 1491), ("03-29", 916), ("03-30", 321)]
    one = service.sales(ctx, shop["boss"], Period(D28, D28, "custom"))
    assert (one.figure("tickets"), one.figure("sales"), one.figure("tax")) == (2, 1491, 183)


def test_sales_breakdowns(ctx, shop):
    boss = shop["boss"]
    hours = {x["hour"]: (x["tickets"], x["sales"]) for x in service.sales(ctx, boss, P, by="hour").rows}
    assert list(hours)[0] == "04"                                  # the business day's order
    assert {h: v for h, v in hours.items() if v[0]} == {"10": (1, 1137), "03": (1, 354), "04": (1, 916),
                                                        "12": (1, 321)}
    wd = {x["weekday"]: (x["days"], x["tickets"], x["sales"]) for x in service.sales(ctx, boss, P, by="weekday").rows}
    assert wd["Sat"] == (1, 2, 1491) and wd["Sun"] == (1, 1, 916) and wd["Mon"] == (1, 1, 321) and wd["Tue"][0] == 0
    term = {x["terminal"]: (x["tickets"], x["sales"], x["refunds"], x["voids"], x["line_voids"])
            for x in service.sales(ctx, boss, P, by="terminal").rows}
    assert term == {"T1": (2, 2053, 899, 0, 1), "T2": (2, 675, 0, 1, 0)}
    cash = {x["cashier"]: (x["tickets"], x["sales"], x["discounts"], x["refunds"])
            for x in service.sales(ctx, boss, P, by="cashier").rows}
    assert cash == {"carla": (2, 2053, 102, 899), "sam": (2, 675, 36, 0)}
    meth = {x["method"]: (x["tickets"], x["amount"], x["refunds"], x["net"])
            for x in service.sales(ctx, boss, P, by="method").rows}
    assert meth == {"cash": (3, 1874, 899, 975), "card": (2, 854, 0, 854)}
    cat = {x["category"]: (x["qty"], x["sales"], x["refunds"], x["net"])
           for x in service.sales(ctx, boss, P, by="category").rows}
    assert cat == {"dairy": (6000, 666, 0, 666), "drinks": (1000, 1708, 899, 809), "bakery": (1000, 249, 0, 249),
                   "fruit": (350, 105, 0, 105)}
    t1 = service.sales(ctx, boss, P, terminal="T2")
    assert (t1.figure("tickets"), t1.figure("sales"), t1.figure("voids_n")) == (2, 675, 1)
    with pytest.raises(InvalidInput):
        service.sales(ctx, boss, P, by="moon")


def test_tax_report(ctx, shop):
    r = service.tax(ctx, shop["boss"], P)
    assert [(x["rate"], x["sales_gross"], x["sales_tax"], x["refunds_gross"], x["refunds_tax"], x["tax"])
            for x in r.rows] == [(700, 1020, 67, 0, 0, 67), (1900, 1708, 273, 899, 144, 129)]
    assert (r.figure("sales_tax"), r.figure("refunds_tax"), r.figure("tax")) == (340, 144, 196)
    by_day = service.tax(ctx, shop["boss"], P, by="day")
    assert [(x["day"], x["rate"], x["sales_tax"]) for x in by_day.rows] == [
        ("2026-03-28", 700, 39), ("2026-03-28", 1900, 144), ("2026-03-29", 700, 7), ("2026-03-29", 1900, 129),
        ("2026-03-30", 700, 21), ("2026-03-30", 1900, 0)]


def test_products_and_profit(ctx, shop):
    boss = shop["boss"]
    top = service.products(ctx, boss, P, order="revenue")
    assert [(x["sku"], x["qty"], x["sales"], x["refunds"], x["net"], x["margin"]) for x in top.rows] == [
        ("W1", 1000, 1708, 899, 809, 180), ("M1", 6000, 666, 0, 666, 142), ("B1", 1000, 249, 0, 249, 133),
        ("12345", 350, 105, 0, 105, 45)]
    assert top.rows[0]["trend"] == [1000, 1000, -1000] and top.rows[1]["trend"] == [2000, 1000, 3000]
    assert [x["sku"] for x in service.products(ctx, boss, P, order="qty").rows] == ["M1", "B1", "W1", "12345"]
    assert [x["sku"] for x in service.products(ctx, boss, P, order="margin", limit=2).rows] == ["W1", "M1"]
    pr = service.profit(ctx, boss, P)
    assert (pr.figure("revenue"), pr.figure("cost"), pr.figure("margin")) == (1633, 1133, 500)
    assert [(x["sku"], x["margin"]) for x in pr.rows] == [("W1", 180), ("M1", 142), ("B1", 133), ("12345", 45)]
    cats = {x["category"]: (x["revenue"], x["cost"], x["margin"])
            for x in service.profit(ctx, boss, P, by="category").rows}
    assert cats == {"drinks": (680, 500, 180), "dairy": (622, 480, 142), "bakery": (233, 100, 133),
                    "fruit": (98, 53, 45)}
    days = [(x["day"], x["revenue"], x["cost"], x["margin"]) for x in service.profit(ctx, boss, P, by="day").rows]
    assert days == [("2026-03-28", 1308, 813, 495), ("2026-03-29", 780, 580, 200), ("2026-03-30", -455, -260, -195)]


def test_cost_kept_from_the_sale(ctx, shop):
    """A later cost change does not rewrite the profit of what was sold."""
    from data.models import Product
    with dbmod.write():
        Product.update(cost=999).execute()
    summary.refresh(ctx, rebuild=True)
    assert service.profit(ctx, shop["boss"], P).figure("margin") == 500


def test_cashiers_and_slow_movers(ctx, shop):
    r = service.cashiers(ctx, shop["boss"], P)
    rows = {x["cashier"]: x for x in r.rows}
    assert (rows["carla"]["tickets"], rows["carla"]["line_voids"], rows["carla"]["refunds"],
            rows["carla"]["discounts"]) == (2, 1, 1, 102)
    assert (rows["sam"]["voids"], rows["sam"]["discounts"]) == (1, 36)
    slow = service.slow(ctx, shop["boss"], days=1, now=z(2026, 3, 30, 18, 0).replace(tzinfo=None))
    assert {x["sku"]: x["last_sold"] for x in slow.rows} == {"B1": "2026-03-28", "W1": "2026-03-29",
                                                            "12345": "2026-03-28", "00777": "never"}
    assert slow.note == service.NO_STOCK + ": on hand is not shown"
    assert service.stock(ctx, shop["boss"]).note.startswith("stock is not tracked in this store yet")


def test_stock_on_hand_value_low_and_shrinkage(ctx, shop):
    from data.models import Product
    from station.stock import adjustments
    boss, p = shop["boss"], shop["products"]
    adjustments.adjust(ctx, boss, p["milk"].id, 12000, "found")
    adjustments.adjust(ctx, boss, p["wine"].id, 2000, "found")
    adjustments.adjust(ctx, boss, p["wine"].id, -1000, "damaged")
    with dbmod.write():
        Product.update(reorder_point=1000).where(Product.id == p["wine"].id).execute()
    r = service.stock(ctx, boss)
    rows = {x["sku"]: x for x in r.rows}
    assert {k: (rows[k]["on_hand"], rows[k]["value"], rows[k]["low"], rows[k]["shrinkage"]) for k in ("M1", "W1")} \
        == {"M1": (12000 - 6000, 480, "", 0), "W1": (2000 - 1000 - 1000, 0, "low", 1000)}
    assert r.figure("shrinkage") == 1000 and r.figure("low") >= 1
    slow = service.slow(ctx, boss, days=1, now=z(2026, 3, 30, 18, 0).replace(tzinfo=None))
    assert {x["sku"]: (x["on_hand"], x["value"]) for x in slow.rows}["W1"] == (0, 0)


def test_dashboard_today_against_last_week(ctx, shop):
    now = z(2026, 3, 30, 14, 30).replace(tzinfo=None)             # Mon 16:30 CEST
    d = service.dashboard(ctx, shop["boss"], now=now)
    assert (d.today, d.last_week, d.hour) == ("2026-03-30", "2026-03-23", 16)
    figs = {k: (a, b) for k, _l, a, b, _kd in d.figures}
    assert figs["sales"] == (321, 0) and figs["tickets"] == (1, 0) and figs["refunds"][0] == 899
    assert dict(d.hourly)["12"] == 321 and d.hourly[0][0] == "04" and d.hourly[-1][0] == "16"
    assert d.alerts == ["4 receipt(s) not printed"]           # no printer in the test store
    from station.stock import adjustments
    from data.models import Product
    with dbmod.write():
        Product.update(reorder_point=5000).where(Product.id == shop["products"]["wine"].id).execute()
    adjustments.adjust(ctx, shop["boss"], shop["products"]["wine"].id, 1000, "found")
    assert "product(s) low on stock" in " ".join(service.dashboard(ctx, shop["boss"], now=now).alerts)


def test_permission(ctx, shop):
    with pytest.raises(PermissionDenied):
        service.sales(ctx, shop["carla"], P)


# ------------------------------------------------------------- summaries ---

def test_summaries_follow_the_journal_and_verify(ctx, shop):
    _clean(ctx)                                  # never filled yet: nothing to compare
    assert summary.refresh(ctx).events > 0
    _clean(ctx)
    before = summary.stored_rows()
    assert before
    summary.refresh(ctx, rebuild=True)
    assert summary.stored_rows() == before
    # a changed time zone moves every business day: the tables are rebuilt
    ctx.config.set("reports.timezone", "UTC")
    ctx.config.set("reports.day_starts", "00:00")
    r = summary.refresh(ctx)
    assert r.rebuilt and r.events > 0
    assert service.sales(ctx, shop["boss"], Period(D29, D29, "custom")).figure("sales") == 354 + 916
    _clean(ctx)


def test_verify_reads_only(ctx, shop):
    """verify compares at the summaries' own watermark, with the settings they were
    built for, and writes nothing (backups are verified read-only)."""
    summary.refresh(ctx)
    mark = summary._state(lock=False)
    from tests.reports_data import z as at
    shop["clock"].at(at(2026, 3, 31, 10, 0))
    from station import sale, tender
    from station.tender import Payment
    from tests.sale_helpers import MILK
    sale.scan(ctx, shop["carla"], MILK)
    st = tender.begin_tender(ctx, shop["carla"])
    tender.complete_sale(ctx, shop["carla"], st.idem_key, [Payment("cash", st.cash_due)])
    ctx.config.set("reports.timezone", "UTC")          # this terminal set up differently
    assert summary.differences(ctx) == [] and summary._state(lock=False) == mark


def test_tampered_summary_is_found(ctx, shop):
    summary.refresh(ctx)
    dbmod.current().execute_sql("UPDATE rpt_day SET total = total + 100 WHERE day = '2026-03-29'")
    dbmod.current().execute_sql("DELETE FROM rpt_product_month WHERE product_id = "
                                f"{shop['products']['bread'].id}")
    bad = {r.name: r.problems for r in verify.run(ctx, only=["report."]) if not r.ok}
    assert list(bad) == ["report.summary_equals_rows"]
    text = "\n".join(bad["report.summary_equals_rows"])
    assert "rpt_day 2026-03-29: total 1016 (rows say 916)" in text
    assert f"rpt_product_month 2026-03/{shop['products']['bread'].id}: " in text
    summary.refresh(ctx, rebuild=True)
    _clean(ctx)


# ------------------------------------------------------------------ CLI ---

def _cli(capsys, monkeypatch, *args):
    from station.cli import main
    from tests.conftest import cli_stdin
    cli_stdin(monkeypatch, "mia", "3333")
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_text_csv_json(ctx, shop, capsys, monkeypatch, tmp_path, station_home, db_url):
    env = {"STATION_HOME": str(station_home), "STATION_DB": db_url, "STATION_REPORTS_TIMEZONE": "Europe/Berlin",
           "STATION_REPORTS_DAY_STARTS": "04:00", "STATION_SECURITY_SCRYPT_N": "1024"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code, out, err = _cli(capsys, monkeypatch, "report", "sales", "--from", "2026-03-28", "--to", "2026-03-30")
    assert code == 0, err
    assert "Net sales" in out and "18.29" in out and "27.28" in out and "2026-03-28 .. 2026-03-30" in out
    code, out, err = _cli(capsys, monkeypatch, "report", "sales", "--from", "2026-03-28", "--to", "2026-03-30",
                          "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert {f["key"]: f["value"] for f in doc["figures"]}["net"] == 1829
    assert [row["sales"] for row in doc["rows"]] == [1491, 916, 321]
    assert doc["period"] == {"from": "2026-03-28", "to": "2026-03-30", "name": "custom"}
    out_file = tmp_path / "by_method.csv"
    code, out, err = _cli(capsys, monkeypatch, "report", "sales", "--from", "2026-03-28", "--to", "2026-03-30",
                          "--by", "method", "--csv", "--out", str(out_file))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    assert {r["method"]: (r["amount"], r["refunds"], r["net"]) for r in rows} == {
        "cash": ("18.74", "8.99", "9.75"), "card": ("8.54", "0.00", "8.54")}
    code, out, err = _cli(capsys, monkeypatch, "report", "products", "--from", "2026-03-28", "--to",
                          "2026-03-30", "--order", "margin", "--csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["sku"], r["margin"], r["qty"]) for r in rows] == [("W1", "1.80", "1.000"), ("M1", "1.42", "6.000"),
                                                                ("B1", "1.33", "1.000"), ("12345", "0.45", "0.350")]
    code, out, err = _cli(capsys, monkeypatch, "report", "tax", "--from", "2026-03-28", "--to", "2026-03-30",
                          "--json")
    assert code == 0, err
    assert [(r["rate"], r["tax"]) for r in json.loads(out)["rows"]] == [(700, 67), (1900, 129)]
    code, out, err = _cli(capsys, monkeypatch, "report", "stock")
    assert code == 0 and "stock is not tracked in this store yet" in out
    code, out, err = _cli(capsys, monkeypatch, "report", "sales", "--by", "moon")
    assert code != 0 and "moon" in err and "Traceback" not in err
