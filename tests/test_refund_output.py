"""What a refund puts out: the refund receipt (ESC/POS bytes), its printing with
the drawer kick on a cash refund, the reprint marked COPY, the X and Z reports'
refunds by method and by reason and net takings, and the CLI (``station refund
show``, ``station sale show``, ``--json``). Real SQLite file and PostgreSQL."""
from __future__ import annotations

import json

import pytest

from data.models import Journal
from station import drawer, printing, reports
from station.cli import main
from station.refund import lookup, receipt, service
from station.refund.service import ReturnItem
from station.tender import Payment
from tests.refund_helpers import sell
from tests.sale_helpers import BREAD, MILK, WINE, make_products, open_drawer


@pytest.fixture
def refunded(ctx, people):
    """Sale T1/1: 2 wine, bread, 3 milk with 10 % off, card 10.00 + cash 11.63;
    refund T1/1: 1 wine + 1 milk, "changed mind": card 4.23 (ref RF-1), cash 4.93."""
    make_products()
    c = people["cashier"]
    open_drawer(ctx, c)
    r = sell(ctx, c, [f"2*{WINE}", BREAD, f"3*{MILK}"],
             lambda st: [Payment("card", 1000, reference="A1"), Payment("cash", st.due - 1000)],
             discount_bp=1000)
    ln = {x.name: x for x in lookup.find_sale(ctx, "1").lines}
    res = service.refund(ctx, c, service.new_key(), r.ticket_id,
                         [ReturnItem(ln["Red wine"].line_id, 1000), ReturnItem(ln["Milk 1l"].line_id, 1000)],
                         "changed mind", references={"card": "RF-1"})
    return r, res


def _text(b: bytes) -> str:
    return b.decode("cp858", "replace")


def test_refund_receipt(ctx, refunded):
    r, res = refunded
    b = receipt.refund_receipt_bytes(ctx, res.refund_id)
    assert b.startswith(b"\x1bt\x13") and b.count(b"\x1bt") == 1
    t = _text(b)
    for needle in ["REFUND", "Refund T1/1", "of receipt T1/1 of", "Cashier carla", "Reason: changed mind",
                   "Red wine", "1 x 8.99", "-8.09 B", "Milk 1l", "1 x 1.19", "-1.07 A", "-9.16 EUR",
                   "A 7.00% net -1.00", "-0.07", "B 19.00% net -6.80", "-1.29",
                   "Card RF-1", "-4.23 EUR", "Cash", "-4.93 EUR", "Customer signature:", "_" * 32]:
        assert needle in t, needle
    assert "COPY" not in t
    assert b"\x1dkI\x0d{BR/T1-000001" in b              # the refund's own code, CODE128
    assert b.endswith(b"\x1dV\x00")
    ctx.config.set("refund.signature_line", False)
    assert "signature" not in _text(receipt.refund_receipt_bytes(ctx, res.refund_id))
    copy = receipt.reprint_bytes(ctx, None, 1)
    assert _text(copy).count("*** COPY ***") == 2
    assert Journal.select().where(Journal.kind == "refund.reprinted").count() == 1
    # the refund's code finds its sale on the returns screen
    assert lookup.find_sale(ctx, "R/T1-000001").ticket_id == r.ticket_id


def test_printed_with_the_drawer_kick_first(ctx, refunded, tmp_path, people):
    _r, res = refunded
    out = tmp_path / "spool.bin"
    ctx.config.set("printer.kind", "file")
    ctx.config.set("printer.path", str(out))
    p = printing.Printer(ctx)
    receipt.submit(p, ctx, res.refund_id, cash=res.cash > 0, user=people["cashier"])
    assert p.wait_idle(20)
    p.stop()
    data = out.read_bytes()
    kick = data.index(b"\x1bp")
    assert kick < data.index(b"REFUND")
    assert p.results[-1].ok and p.results[-1].kicked
    kinds = [j.kind for j in Journal.select().order_by(Journal.seq)]
    assert kinds[-2:] == ["drawer.kick", "refund.printed"]


def test_post_void_and_exchange_receipts(ctx, people):
    make_products()
    c, m = people["cashier"], people["manager"]
    open_drawer(ctx, c)
    r = sell(ctx, c, [MILK])
    from station import sale, tender
    sale.scan(ctx, c, BREAD)
    st = tender.begin_tender(ctx, c)
    x = service.exchange(ctx, c, st.idem_key, r.ticket_id, [ReturnItem(lookup.find_sale(ctx, "1").lines[0].line_id,
                                                                       1000)], "wrong item", [Payment("cash", 200)])
    t = _text(receipt.refund_receipt_bytes(ctx, x.refund.refund_id))
    assert "EXCHANGE" in t and "credit to receipt T1/2" in t and "Credit to new sale" in t
    last = sell(ctx, c, [WINE])
    res = service.post_void(ctx, m, service.new_key(), last.ticket_id)
    t = _text(receipt.refund_receipt_bytes(ctx, res.refund_id))
    assert "POST-VOID" in t and "Reason: post-void" in t


def test_x_and_z_reports_show_refunds_and_net_takings(ctx, refunded, people):
    c = people["cashier"]
    r2 = sell(ctx, c, [MILK])
    ln = lookup.find_sale(ctx, str(r2.receipt_no)).lines[0]
    service.refund(ctx, c, service.new_key(), r2.ticket_id, [ReturnItem(ln.line_id, 1000)], "damaged")
    x = drawer.x_report(ctx, c)
    assert x["refunds"]["count"] == 2 and x["refunds"]["total"] == 916 + 119
    assert x["refunds"]["by_method"] == [{"method": "card", "count": 1, "amount": 423},
                                         {"method": "cash", "count": 2, "amount": 493 + 119}]
    assert x["refunds"]["by_reason"] == [{"reason": "changed mind", "count": 1, "amount": 916},
                                         {"reason": "damaged", "count": 1, "amount": 119}]
    assert x["net"] == {"by_method": [{"method": "card", "amount": 1000 - 423},
                                      {"method": "cash", "amount": 1163 + 119 - 493 - 119}],
                        "total": 2163 + 119 - 916 - 119}
    text = "\n".join(reports.lines(x, 42))
    for needle in ["Refunds (2)", "-10.35", "card (1)", "-4.23", "cash (2)", "-6.12", "changed mind (1)",
                   "damaged (1)", "-1.19", "Net takings", "12.47"]:
        assert needle in text, needle
    s = drawer.current_session(ctx)
    assert s.expected_cash == 10000 + 1163 + 119 - 493 - 119
    counts, left = {}, s.expected_cash
    for d in ctx.config.cash.denominations:
        counts[d], left = divmod(left, d)
    z = drawer.close_session(ctx, c, counts)
    assert z.data["refunds"] == x["refunds"] and z.data["net"] == x["net"] and z.variance == 0


# ---------------------------------------------------------------- CLI ---

def _cli(capsys, monkeypatch, station_home, db_url, *args):
    monkeypatch.setenv("STATION_HOME", str(station_home))
    monkeypatch.setenv("STATION_SECURITY_SCRYPT_N", str(2 ** 10))
    for k in ("STATION_DB", "STATION_CONFIG", "STATION_TERMINAL_ID"):
        monkeypatch.delenv(k, raising=False)
    try:
        code = main(["--db", db_url, *args])
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_refund_and_sale_show(ctx, refunded, capsys, monkeypatch, station_home, db_url, people):
    r, res = refunded
    code, out, err = _cli(capsys, monkeypatch, station_home, db_url, "refund", "show", "1")
    assert code == 0 and "REFUND" in out and "Refund T1/1" in out and "-9.16" in out, err
    code, out, _ = _cli(capsys, monkeypatch, station_home, db_url, "refund", "show", "1", "--json")
    d = json.loads(out)
    assert (d["refund_no"], d["code"], d["total"], d["paid_out"], d["original"]["receipt_no"]) == (
        1, "R/T1-000001", 916, 916, 1)
    assert [(t["method"], t["amount"]) for t in d["tenders"]] == [("card", -423), ("cash", -493)]
    code, out, _ = _cli(capsys, monkeypatch, station_home, db_url, "sale", "show", "T1-000001")
    assert code == 0
    assert "Sale T1/1" in out and "Refund T1/1: return, processed, changed mind, 9.16 back" in out
    code, out, _ = _cli(capsys, monkeypatch, station_home, db_url, "sale", "show", "1", "--json")
    d = json.loads(out)
    wine = next(x for x in d["lines"] if x["name"] == "Red wine")
    assert (wine["sold"], wine["returned"], wine["returnable"], wine["paid"], wine["refund_now"]) == (
        2000, 1000, 1000, 1618, 809)
    assert d["refunded_by_method"] == {"card": 423, "cash": 493} and len(d["refunds"]) == 1
    code, out, err = _cli(capsys, monkeypatch, station_home, db_url, "refund", "show", "9")
    assert code == 2 and err.strip() == "station: there is no refund 9 of terminal T1"
    code, out, err = _cli(capsys, monkeypatch, station_home, db_url, "sale", "show", "77")
    assert code == 2 and err.strip() == "station: there is no sale 77 on terminal T1"
    code, out, _ = _cli(capsys, monkeypatch, station_home, db_url, "refund", "requests")
    assert code == 0 and "no refund is waiting" in out
    ctx.config.set("limits.refund_alone", 10)
    line = lookup.find_sale(ctx, "1").lines[1]
    service.request_refund(ctx, people["cashier"], service.new_key(), r.ticket_id,
                           [ReturnItem(line.line_id, 1000)], "damaged")
    code, out, _ = _cli(capsys, monkeypatch, station_home, db_url, "refund", "requests", "--json")
    (q,) = json.loads(out)
    assert (q["status"], q["cashier"], q["original"], q["needs"]) == ("requested", "carla", "T1/1",
                                                                       "refund.process")
    code, out, _ = _cli(capsys, monkeypatch, station_home, db_url, "refund", "reprint", "1", "--out", "-")
    assert code == 0

