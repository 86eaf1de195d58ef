"""``station product ...`` and ``station stock ...`` on a real SQLite store: output,
--csv/--json, sign-in and approval from standard input, one-line errors."""
from __future__ import annotations

import csv
import io
import json

import pytest

from data.models import Product
from station.cli import main
from station.stock import movements
from tests.conftest import add_user, cli_stdin
from tests.sale_helpers import BREAD, MILK, WINE, ean13, make_products


@pytest.fixture
def store(sqlite_ctx, station_home, sqlite_url, monkeypatch):
    monkeypatch.setenv("STATION_HOME", str(station_home))
    monkeypatch.setenv("STATION_DB", sqlite_url)
    monkeypatch.setenv("STATION_SECURITY_TOTP_ROLES", "")
    monkeypatch.delenv("STATION_CONFIG", raising=False)
    ctx = sqlite_ctx
    add_user(ctx, "carla", "cashier", "1111")
    add_user(ctx, "mia", "manager", "3333")
    add_user(ctx, "ada", "admin", "5555")
    return ctx, make_products()


def run(monkeypatch, capsys, argv, *lines):
    cli_stdin(monkeypatch, *lines)
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_product_add_show_edit_history(store, monkeypatch, capsys):
    ctx, shop = store
    code = ean13("401234567890")
    rc, out, err = run(monkeypatch, capsys, ["product", "add", "--name", "Oat drink", "--price", "2.29", "--vat", "7",
                                             "--barcode", code, "--cost", "1.10"], "mia", "3333")
    assert rc == 0, err
    assert f"added Oat drink (sku {code}" in out
    rc, out, err = run(monkeypatch, capsys, ["product", "show", code, "--json"], "mia", "3333")
    d = json.loads(out)
    assert (d["price"], d["vat_rate"], d["cost"], d["barcodes"]) == (229, 700, 110, [code])
    rc, out, err = run(monkeypatch, capsys, ["product", "edit", code, "--price", "2.49", "--reorder", "5"],
                       "mia", "3333")
    assert rc == 0, err
    assert "2.49" in out and "reorder point 5" in out
    rc, out, err = run(monkeypatch, capsys, ["product", "price-history", code, "--csv"], "mia", "3333")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["when", "old", "new", "by", "reason"]
    assert [r[1:] for r in rows[1:]] == [["2.29", "2.49", "mia", "edit"], ["", "2.29", "mia", "added"]]


def test_cashier_add_needs_an_approver(store, monkeypatch, capsys):
    code = ean13("401234567777")
    rc, out, err = run(monkeypatch, capsys, ["product", "add", "--name", "Gum", "--price", "0.99", "--vat", "19",
                                             "--barcode", code], "carla", "1111", "mia", "3333")
    assert rc == 0, err
    assert "needs a manager's approval" in err and "added Gum" in out
    rc, out, err = run(monkeypatch, capsys, ["product", "add", "--name", "Gum2", "--price", "0.99", "--vat", "19"],
                       "carla", "1111", "carla", "1111")
    assert rc == 2 and "approver must be" in err.splitlines()[-1]


@pytest.mark.parametrize("argv,msg", [
    (["product", "edit", WINE, "--cost", "-5"], "may not be negative"),
    (["product", "edit", WINE, "--price", "1e9"], "is not a price"),
    (["product", "edit", WINE, "--price", "99999999"], "more than the maximum"),
    (["product", "edit", WINE, "--add-barcode", "4006381333932"], "check digit"),
    (["product", "show", "nothing"], "no product has the barcode or sku nothing"),
])
def test_bad_input_one_line_nothing_changed(store, monkeypatch, capsys, argv, msg):
    ctx, shop = store
    before = [(p.price, p.cost) for p in Product.select().order_by(Product.id)]
    rc, out, err = run(monkeypatch, capsys, argv, "mia", "3333")
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and msg in err and err.startswith("station: ")
    assert [(p.price, p.cost) for p in Product.select().order_by(Product.id)] == before


def test_receive_adjust_show_movements(store, monkeypatch, capsys, tmp_path):
    ctx, shop = store
    slip = tmp_path / "slip.csv"
    rc, out, err = run(monkeypatch, capsys, ["stock", "receive", "--supplier", "Dairy Ltd", "--ref", "DN-7",
                                             "--slip-csv", str(slip)],
                       "mia", "3333", f"12*{MILK} 0.62", BREAD + " 1.00", f"2*{BREAD}", "")
    assert rc == 0, err
    assert "RECEIVING SLIP" in out and "DN-7" in out and "10.44" in out
    assert slip.read_text().splitlines()[2].endswith("Milk 1l,12,pc,0.62,7.44")
    assert movements.on_hand(shop["milk"].id) == 12000
    rc, out, err = run(monkeypatch, capsys, ["stock", "adjust", MILK, "-2", "--reason", "damaged"], "mia", "3333")
    assert rc == 0 and "now 10 on hand" in out
    rc, out, err = run(monkeypatch, capsys, ["stock", "show", "--json"], "mia", "3333")
    got = {r["name"]: r["on_hand"] for r in json.loads(out)}
    assert got["Milk 1l"] == 10000 and got["Bread"] == 3000
    rc, out, err = run(monkeypatch, capsys, ["stock", "show"], "mia", "3333")
    assert "stock at cost: 9.20 (2 products in stock)" in out     # 10 x 0.62 + 3 x 1.00
    rc, out, err = run(monkeypatch, capsys, ["stock", "movements", MILK, "--csv"], "mia", "3333")
    rows = list(csv.reader(io.StringIO(out)))
    assert [r[1:3] for r in rows[1:]] == [["adjustment", "-2"], ["receipt", "12"]]
    rc, out, err = run(monkeypatch, capsys, ["stock", "adjust", MILK, "-2", "--reason", "damaged"], "carla", "1111")
    assert rc == 2 and "may not stock adjust" in err


def test_alerts_and_count(store, monkeypatch, capsys):
    ctx, shop = store
    run(monkeypatch, capsys, ["stock", "receive", "--supplier", "S"], "mia", "3333", f"5*{WINE} 4.00", "")
    run(monkeypatch, capsys, ["product", "edit", WINE, "--reorder", "6"], "mia", "3333")
    rc, out, err = run(monkeypatch, capsys, ["stock", "alerts", "--json"], "mia", "3333")
    alerts = json.loads(out)
    assert [(a["name"], a["on_hand"], a["reorder_point"]) for a in alerts] == [("Red wine", 5000, 6000)]
    rc, out, err = run(monkeypatch, capsys, ["stock", "alerts", "resolve", str(alerts[0]["id"]), "--note",
                                             "ordered 12"], "mia", "3333")
    assert rc == 0 and "resolved" in out
    rc, out, err = run(monkeypatch, capsys, ["stock", "count", "start", "--list", WINE, MILK], "mia", "3333")
    assert rc == 0 and "count 1 started: 2 items (list)" in out
    rc, out, err = run(monkeypatch, capsys, ["stock", "count", "scan", "1"], "carla", "1111",
                       f"3*{WINE}", WINE, "4000000000000", "")
    assert rc == 0 and "2 scan(s) recorded" in out and "4000000000000: unknown barcode" in err
    rc, out, err = run(monkeypatch, capsys, ["stock", "count", "review", "1"], "mia", "3333")
    assert "Red wine" in out and "-1" in out and "missing 4.00" in out
    rc, out, err = run(monkeypatch, capsys, ["stock", "count", "complete", "1"], "mia", "3333")
    assert rc == 0 and "1 correction(s)" in out
    assert movements.on_hand(shop["wine"].id) == 4000
    rc, out, err = run(monkeypatch, capsys, ["stock", "count", "list", "--csv"], "mia", "3333")
    assert list(csv.reader(io.StringIO(out)))[1][3] == "completed"


def test_categories_and_bulk_price(store, monkeypatch, capsys):
    ctx, shop = store
    run(monkeypatch, capsys, ["product", "category-add", "Drinks", "--vat", "19"], "mia", "3333")
    run(monkeypatch, capsys, ["product", "edit", WINE, "--category", "Drinks"], "mia", "3333")
    rc, out, err = run(monkeypatch, capsys, ["product", "categories", "--json"], "mia", "3333")
    assert [(c["name"], c["vat_rate"], c["products"]) for c in json.loads(out)] == [("Drinks", 1900, 1)]
    rc, out, err = run(monkeypatch, capsys, ["product", "bulk-price", "Drinks", "10"], "mia", "3333", "ada", "5555")
    assert rc == 0, err
    assert "1 price(s) in Drinks changed by +10 %" in out
    assert Product.get_by_id(shop["wine"].id).price == 989
