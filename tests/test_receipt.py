"""Receipt bytes (escpos Dummy), the background printer, reprints and the CLI.
Real databases (``ctx`` is parametrized over SQLite and PostgreSQL); printers are
real files, a closed TCP port, a TCP listener that never accepts, a missing
serial device."""
from __future__ import annotations

import socket
import threading

import pytest

from data.models import Journal
from station import printing, receipt, sale, tender
from station.tender import Payment
from tests.sale_helpers import BREAD, MILK, WINE, make_products, open_drawer


@pytest.fixture
def sold(ctx, people):
    """A completed sale: milk + 2 bread (7 %), wine with 10 % off (19 %); card 5.00 + cash 20.00."""
    make_products()
    c = people["cashier"]
    open_drawer(ctx, c)
    sale.scan(ctx, c, MILK)
    sale.scan(ctx, c, WINE)
    v = sale.scan(ctx, c, "2*" + BREAD)
    sale.discount_line(ctx, c, v.lines[1].id, 1000)
    st = tender.begin_tender(ctx, c)
    r = tender.complete_sale(ctx, c, st.idem_key, [Payment("card", 500, reference="4242"), Payment("cash", 2000)])
    return r


def _text(b: bytes) -> str:
    return b.decode("cp858", "replace")


def test_receipt_bytes_two_rates_split_tender_euro(ctx, people, sold):
    ctx.config.set("store.currency_symbol", "€")
    b = receipt.receipt_bytes(ctx, sold.ticket_id)
    assert b.startswith(b"\x1bt\x13")                 # ESC t 19 = CP858 selected once
    assert b.count(b"\x1bt") == 1                      # no per-character code page switching
    assert b"14.26 \xd5" in b                          # TOTAL 14.26 EUR sign as CP858 0xD5
    assert "€".encode("utf-8") not in b
    t = _text(b)
    for needle in ["Station Demo Store", "1 Market Street", "Receipt T1/1", "Milk 1l", "1 x 1.19",
                   "2 x 2.49", "discount 10.00%", "-0.90", "Subtotal", "15.16",
                   "B 7.00% net 5.77", "0.40", "A 19.00% net 6.80", "1.29",
                   "Card 4242", "5.00 €", "Cash", "20.00 €", "Change", "10.74 €", "Thank you"]:
        assert needle in t, needle
    assert "COPY" not in t
    assert b"\x1dkI\x0b{BT1-000001" in b              # CODE128 barcode of the receipt number
    assert b.endswith(b"\x1dV\x00")                   # cut
    copy = receipt.receipt_bytes(ctx, sold.ticket_id, copy=True)
    assert _text(copy).count("*** COPY ***") == 2


def test_vat_letters_are_per_rate_store_wide(ctx, people, sold):
    """19 % is A on every receipt, whether or not the receipt has a 7 % line;
    a rate without a letter in store.tax_letters prints as its percentage."""
    c = people["cashier"]
    sale.scan(ctx, c, WINE)                          # 19 % only
    st = tender.begin_tender(ctx, c)
    only_19 = tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 2000)])
    for r in (sold, only_19):
        assert "A 19.00% net" in _text(receipt.receipt_bytes(ctx, r.ticket_id))
    assert "B 7.00% net" in _text(receipt.receipt_bytes(ctx, sold.ticket_id))
    ctx.config.set("store.tax_letters", ["A=19"])
    assert "7.00% 7.00% net" in _text(receipt.receipt_bytes(ctx, sold.ticket_id))


def test_receipt_ticket_discount_and_rounding(ctx, people):
    make_products()
    c = people["cashier"]
    open_drawer(ctx, c)
    ctx.config.set("cash.rounding_step", 5)
    sale.scan(ctx, c, MILK)
    sale.scan(ctx, c, WINE)
    sale.discount_ticket(ctx, c, 500)              # 5 %: 0.06 + 0.45 -> total 9.67
    st = tender.begin_tender(ctx, c)
    assert (st.due, st.cash_due) == (967, 965)
    r = tender.complete_sale(ctx, c, st.idem_key, [Payment("cash", 1000)])
    t = _text(receipt.receipt_bytes(ctx, r.ticket_id))
    assert "Ticket discount 5.00%" in t and "-0.51" in t
    assert "Cash rounding" in t and "-0.02" in t and "Change" in t and "0.35" in t


def test_receipt_needs_completed_sale(ctx, people, sold):
    from station.errors import NotFound
    with pytest.raises(NotFound):
        receipt.receipt_bytes(ctx, receipt_no=99)
    sale.scan(ctx, people["cashier"], MILK)
    with pytest.raises(NotFound):
        receipt.receipt_bytes(ctx, sale.current_ticket(ctx).id)


def _printer(ctx):
    got: list[printing.PrintResult] = []
    return printing.Printer(ctx, on_result=got.append), got


def test_file_printer_prints_and_kicks_on_cash(ctx, people, sold, tmp_path):
    out = tmp_path / "spool.bin"
    ctx.config.set("printer.kind", "file")
    ctx.config.set("printer.path", str(out))
    p, got = _printer(ctx)
    p.submit_receipt(ctx, sold.ticket_id, kick=True, user=people["cashier"])
    assert p.wait_idle(10)
    assert [r.ok for r in got] == [True] and got[0].kicked is True
    data = out.read_bytes()
    assert data.startswith(b"\x1bp\x00")              # the drawer kick pulse went first
    assert b"Receipt T1/1" in data and b"\x1dV\x00" in data
    kinds = [j.kind for j in Journal.select().order_by(Journal.seq)]
    assert "receipt.printed" in kinds and "drawer.kick" in kinds
    p.stop()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_no_printer_configured_is_not_a_failure(ctx, people, sold):
    p, got = _printer(ctx)
    p.submit_receipt(ctx, sold.ticket_id, kick=True, user=people["cashier"])
    assert p.wait_idle(10)
    assert got[0].ok and got[0].skipped and "printer.kind = none" in got[0].message
    assert Journal.select().where(Journal.kind.startswith("receipt.")).count() == 0
    p.stop()


@pytest.mark.parametrize("kind", ["missing-folder", "closed-port", "serial-missing", "usb-missing"])
def test_printer_absent_sale_kept_warning_and_reprint(ctx, people, sold, tmp_path, kind):
    c = people["cashier"]
    if kind == "missing-folder":
        ctx.config.set("printer.kind", "file")
        ctx.config.set("printer.path", str(tmp_path / "no" / "such" / "folder" / "spool.bin"))
    elif kind == "closed-port":
        ctx.config.set("printer.kind", "network")
        ctx.config.set("printer.host", "127.0.0.1")
        ctx.config.set("printer.port", _closed_port())
    elif kind == "serial-missing":
        ctx.config.set("printer.kind", "serial")
        ctx.config.set("printer.device", str(tmp_path / "ttyUSB9"))
    elif kind == "usb-missing":
        ctx.config.set("printer.kind", "usb")
        ctx.config.set("printer.usb_vendor", 0x04B8)
        ctx.config.set("printer.usb_product", 0x0E15)
    p, got = _printer(ctx)
    p.submit_receipt(ctx, sold.ticket_id, kick=True, user=c)
    assert p.wait_idle(10)
    assert len(got) == 1 and not got[0].ok
    assert "not printed" in got[0].message and "reprint" in got[0].message
    # the sale is kept
    assert tender.last_sale(ctx).receipt_no == 1
    assert Journal.select().where(Journal.kind == "receipt.print_failed").count() == 1
    # the printer comes back: reprint-last prints a COPY
    out = tmp_path / "spool-ok.bin"
    ctx.config.set("printer.kind", "file")
    ctx.config.set("printer.path", str(out))
    assert p.reprint_last(ctx, c) == sold.ticket_id
    assert p.wait_idle(10)
    assert got[-1].ok and got[-1].copy
    assert b"*** COPY ***" in out.read_bytes()
    assert Journal.select().where(Journal.kind == "receipt.reprinted").count() == 1
    p.stop()


def test_printer_timing_out_does_not_block(ctx, people, sold, monkeypatch):
    """A network printer that never accepts: connect times out after
    printer.timeout; meanwhile the caller is never blocked (the print thread is
    held at a gate until the next sale has gone on)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(4):                                # fill the accept queue: further SYNs are dropped
        f = socket.socket()
        f.setblocking(False)
        try:
            f.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(f)
    ctx.config.set("printer.kind", "network")
    ctx.config.set("printer.host", "127.0.0.1")
    ctx.config.set("printer.port", port)
    ctx.config.set("printer.timeout", 1)
    ctx.config.set("drawer.kick", "none")
    gate, at_gate = threading.Event(), threading.Event()
    real_send = printing.send_bytes

    def gated_send(*args, **kwargs):
        at_gate.set()
        assert gate.wait(30), "the test never opened the gate"
        return real_send(*args, **kwargs)
    monkeypatch.setattr(printing, "send_bytes", gated_send)
    p, got = _printer(ctx)
    p.submit_receipt(ctx, sold.ticket_id, kick=True, user=people["cashier"])
    assert at_gate.wait(10)                            # the printer is busy with it ...
    sale.scan(ctx, people["cashier"], MILK)           # ... and the next sale goes on meanwhile
    assert got == []
    gate.set()
    assert p.wait_idle(10)
    assert len(got) == 1 and not got[0].ok
    assert "did not answer within 1 s" in got[0].message
    for f in fillers:
        f.close()
    srv.close()
    p.stop()


def test_reprint_unknown_receipt_reports(ctx, people, sold):
    p, got = _printer(ctx)
    p.reprint(ctx, people["cashier"], 42)
    assert len(got) == 1 and not got[0].ok and "no receipt 42" in got[0].message
    p.stop()


def test_cli_reprint_to_file(ctx, people, sold, tmp_path, monkeypatch, capsys):
    from station import cli
    from tests.conftest import cli_stdin
    monkeypatch.setenv("STATION_HOME", str(ctx.config.data_dir))
    cli_stdin(monkeypatch, "carla", "1111", times=5)
    out = tmp_path / "copy.bin"
    rc = cli.main(["--db", ctx.config.db_url, "receipt", "reprint", "1", "--out", str(out)])
    assert rc == 0
    assert b"*** COPY ***" in out.read_bytes() and b"Receipt T1/1" in out.read_bytes()
    rc = cli.main(["--db", ctx.config.db_url, "receipt", "reprint", "7"])
    err = capsys.readouterr().err
    assert rc == 2 and "no receipt 7" in err and len(err.strip().splitlines()) == 1
    rc = cli.main(["--db", ctx.config.db_url, "receipt", "reprint", "1", "--terminal", "T9", "--out", str(out)])
    assert rc == 2
    # printer none: one clear line
    rc = cli.main(["--db", ctx.config.db_url, "receipt", "reprint", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "no printer is configured" in err
    rc = cli.main(["--db", ctx.config.db_url, "receipt", "show", "1"])
    assert rc == 0 and "TOTAL" in capsys.readouterr().out
