"""The tamper suite, SQLite and PostgreSQL: what someone who can write the
database (a superuser, the insert-only triggers dropped) does to the books, and
what ``station verify`` says. Each case is caught -- with an anchor kept
outside the database where only an anchor can catch it (cutting the tail and
moving the head back leaves a shorter chain that holds by itself)."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from data import db as dbmod
from data import migrations
from data.models import Journal, JournalHead, SchemaMeta, ZReport
from station import drawer, journal, sale, tender, verify
from station.tender import Payment
from tests.sale_helpers import BREAD, MILK, make_products, open_drawer


def sell(ctx, user, *codes, cash=5000):
    for c in codes:
        sale.scan(ctx, user, c)
    t = tender.begin_tender(ctx, user)
    return tender.complete_sale(ctx, user, t.idem_key, [Payment("cash", cash)])


@pytest.fixture
def books(ctx, people):
    """A day of trading: two sales, a Z (its anchor printed), two more sales."""
    carla = people["cashier"]
    make_products()
    open_drawer(ctx, carla)
    sell(ctx, carla, MILK, BREAD)
    sell(ctx, carla, MILK)
    z = drawer.close_session(ctx, carla, {5000: 2, 200: 1, 100: 1, 50: 1, 10: 1, 5: 1, 2: 1, 1: 1})
    open_drawer(ctx, carla)
    sell(ctx, carla, BREAD)
    sell(ctx, carla, MILK, MILK)
    return ctx, carla, z


def failing(ctx, anchors=None) -> dict[str, list[str]]:
    out = {r.name: r.problems or [r.error] for r in verify.run(ctx) if not r.ok}
    if anchors is not None:
        r = verify.anchors_result(anchors, ["anchor file"])
        if not r.ok:
            out[r.name] = r.problems
    return out


def rows():
    return list(Journal.select().order_by(Journal.seq))


def outsider_hash(r, prev: str, key: bytes | None) -> str:
    """A row's hash as an outsider computes it from the documented canonical form."""
    body = journal.canonical({"seq": r.seq, "ts": r.ts, "terminal": r.terminal, "user": r.user_name,
                              "kind": r.kind, "amount": r.amount, "ref": r.ref, "data": r.data,
                              "prev": prev}).encode()
    return hashlib.sha256(body).hexdigest() if key is None else hmac.new(key, body, hashlib.sha256).hexdigest()


def sha_rehash_from(seq: int, key: bytes | None = None) -> None:
    """Recompute every hash from ``seq`` to the head as someone without the store's
    key would (plain SHA-256, or a key of their own), and move the head."""
    prev = Journal.get(Journal.seq == seq - 1).hash if seq > 1 else migrations.GENESIS_HASH
    with dbmod.write():
        for r in Journal.select().where(Journal.seq >= seq).order_by(Journal.seq):
            h = outsider_hash(r, prev, key)
            Journal.update(prev_hash=prev, hash="t" + h[1:]).where(Journal.id == r.id).execute()
            Journal.update(hash=h).where(Journal.id == r.id).execute()
            prev = h
        JournalHead.update(hash=prev).where(JournalHead.id == 1).execute()


def test_the_books_hold_as_written(books):
    ctx, _c, z = books
    assert failing(ctx) == {}
    assert z.data["journal"]["seq"] > 0 and len(z.data["journal"]["head"]) == journal.SHORT


def test_edit_an_amount_is_caught(books):
    ctx = books[0]
    e = Journal.select().where(Journal.kind == "sale.completed").order_by(Journal.seq.desc()).first()
    migrations.drop_guards()
    Journal.update(amount=1).where(Journal.id == e.id).execute()
    assert "content edited" in failing(ctx)["journal.chain"][0]


def test_edit_and_recompute_the_chain_without_the_key_is_caught(books):
    """Case 2 of the issue: edit an amount and recompute the chain from there.
    With plain SHA-256 (before: verify passed) and with a key of one's own."""
    ctx = books[0]
    e = Journal.select().where(Journal.kind == "sale.completed").order_by(Journal.seq).first()
    migrations.drop_guards()
    Journal.update(amount=1).where(Journal.id == e.id).execute()
    sha_rehash_from(e.seq)
    assert "content edited" in failing(ctx)["journal.chain"][0]
    sha_rehash_from(e.seq, key=b"not the store's key")
    assert "content edited" in failing(ctx)["journal.chain"][0]


def test_delete_swap_and_rewrite_are_caught(books):
    ctx = books[0]
    migrations.drop_guards()
    r = rows()
    Journal.delete().where(Journal.seq == r[3].seq).execute()
    assert failing(ctx)["journal.chain"][0].startswith("row(s) deleted")


def test_cut_the_tail_and_move_the_head_needs_an_anchor(books):
    """Case 2: truncate the tail and move journal_head. The shorter chain holds by
    itself; the anchor the back office kept (and the Z's printed anchor) catch it."""
    ctx, _c, z = books
    kept = journal.parse_anchors(journal.anchor_text("shop"))
    migrations.drop_guards()
    cut = z.data["journal"]["seq"] - 1         # cut the Z's own close entry and all after it
    last = Journal.get(Journal.seq == cut)
    with dbmod.write():
        Journal.delete().where(Journal.seq > cut).execute()
        JournalHead.update(seq=cut, hash=last.hash).where(JournalHead.id == 1).execute()
    f = failing(ctx)
    assert "journal.chain" not in f                       # honest: the chain alone cannot see it
    assert "removed" in f["journal.z_anchors"][0]         # the Z's anchor (in the database) does
    ZReport.delete().execute()                            # ... until that goes too
    f = failing(ctx, kept)
    assert "journal.z_anchors" not in f
    assert "the tail was cut" in f["journal.anchors"][0]  # the anchor kept outside does not
    # typed from the printed Z (paper), too
    paper = journal.parse_anchors(f"Journal   seq {z.data['journal']['seq']} head {z.data['journal']['head']}")
    assert "removed" in failing(ctx, paper)["journal.anchors"][0]


def test_an_anchor_catches_a_rewrite_with_a_stolen_key(books):
    """Someone WITH a till's key file can recompute the MACs: only an anchor taken
    before the rewrite (kept outside) shows it."""
    ctx = books[0]
    kept = journal.parse_anchors(journal.anchor_text())
    e = Journal.select().where(Journal.kind == "sale.completed").order_by(Journal.seq).first()
    migrations.drop_guards()
    Journal.update(amount=1).where(Journal.id == e.id).execute()
    start, _p = journal.keyed_from()
    sha_rehash_from(e.seq, key=journal.key_for(e.seq, start))
    f = failing(ctx, kept)
    assert "journal.chain" not in f and "journal.anchors" in f


def test_moving_the_keyed_marker_is_caught(books):
    ctx = books[0]
    head_seq = JournalHead.get_by_id(1).seq
    forged = json.dumps({"from": head_seq + 1, "mac": hashlib.sha256(b"x").hexdigest()})
    SchemaMeta.update(value=forged).where(SchemaMeta.key == journal.KEYED_META).execute()
    assert "not signed with this store's key" in failing(ctx)["journal.chain"][0]
    SchemaMeta.delete().where(SchemaMeta.key == journal.KEYED_META).execute()
    assert "missing" in failing(ctx)["journal.chain"][0]


@pytest.mark.blank_database
def test_an_older_sha256_chain_still_verifies_after_the_upgrade(db_url, tmp_path):
    """A store written before the keyed chain (plain SHA-256 rows, no marker)
    upgrades: its rows still verify, new rows are keyed, and editing an old row
    breaks the first keyed row's link."""
    from station.context import open_station
    from tests.conftest import make_config
    ctx = open_station(make_config(tmp_path / "h", db_url), upgrade=True)
    # make it look like the old store: the rows as the old code wrote them, no marker
    keyed_step = next(v for v, _t, fn in migrations.MIGRATIONS if fn is migrations.m_journal_keyed)
    SchemaMeta.update(value=keyed_step - 1).where(SchemaMeta.key == "schema_version").execute()
    SchemaMeta.delete().where(SchemaMeta.key.in_((journal.KEYED_META, "key_check"))).execute()
    prev = migrations.GENESIS_HASH
    with dbmod.write():
        for seq in range(1, 6):
            data = journal.canonical({"i": seq})
            h = journal.row_hash(seq, "2024-01-01T00:00:00.000000Z", "T1", "carla", "old.event", seq, None, data,
                                 prev, None)
            Journal.create(seq=seq, ts="2024-01-01T00:00:00.000000Z", terminal="T1", user_name="carla",
                           kind="old.event", amount=seq, ref=None, data=data, prev_hash=prev, hash=h)
            prev = h
        JournalHead.update(seq=5, hash=prev).where(JournalHead.id == 1).execute()
    assert migrations.upgrade(ctx.db)          # the step that marks the switch
    ctx2 = open_station(make_config(tmp_path / "h", db_url))   # the first keyed start signs it
    start, problem = journal.keyed_from()
    assert (start, problem) == (6, None)
    assert Journal.get(Journal.seq == 6).kind == "journal.keyed"
    journal.append("sale.test", terminal="T1", user="carla", amount=1)
    assert failing(ctx2) == {}
    migrations.drop_guards()
    Journal.update(amount=99).where(Journal.seq == 2).execute()
    sha_rehash_from(2)          # consistent SHA-256 up to seq 5 ... and beyond, without the key
    assert "content edited" in failing(ctx2)["journal.chain"][0]


# ------------------------------------------------------------ sealed sales ---

def first_sale():
    from data.models import Ticket
    return Ticket.select().where(Ticket.status == "completed").order_by(Ticket.id).first()


def test_a_completed_line_cannot_be_edited_by_the_apps_database_user(books):
    """Case 1 of the issue: 'update ticket_line set qty=5000, line_total=unit_price*5
    where ticket_id=1 and position=1' needed no trigger dropped, and verify passed."""
    import peewee
    ctx = books[0]
    t = first_sale()
    for sql in (f"UPDATE ticket_line SET qty = 5000, line_total = unit_price * 5 WHERE ticket_id = {t.id} "
                f"AND position = 1",
                f"DELETE FROM ticket_line WHERE ticket_id = {t.id} AND position = 1",
                f"INSERT INTO ticket_line (ticket_id, position, code, name, qty, unit_price, price_override, "
                f"discount, discount_bp, vat_rate, line_total, voided) VALUES ({t.id}, 99, 'x', 'x', 1000, 1, "
                f"{'false' if dbmod.is_postgres() else 0}, 0, 0, 0, 1, {'false' if dbmod.is_postgres() else 0})",
                f"INSERT INTO tender (ticket_id, method, amount, tendered, change, reference, created_at) "
                f"VALUES ({t.id}, 'cash', 1, 1, 0, '', '2024-01-01')"):
        with pytest.raises(peewee.DatabaseError, match="a completed sale is final"):
            with dbmod.write():
                ctx.db.execute_sql(sql)
    assert failing(ctx) == {}


def test_an_edited_or_deleted_line_is_caught_with_the_triggers_dropped(books):
    ctx = books[0]
    t = first_sale()
    migrations.drop_guards()
    ctx.db.execute_sql(f"UPDATE ticket_line SET qty = 5000, line_total = unit_price * 5 "
                       f"WHERE ticket_id = {t.id} AND position = 1")
    f = failing(ctx)
    assert "changed after it was completed" in " ".join(f["sale.sealed"])
    assert "its lines add up to" in " ".join(f["sale.lines_sum_to_totals"])
    assert "journal.chain" not in f


def test_a_deleted_line_is_caught(books):
    ctx = books[0]
    t = first_sale()
    migrations.drop_guards()
    ctx.db.execute_sql(f"DELETE FROM ticket_line WHERE ticket_id = {t.id} AND position = 2")
    f = failing(ctx)
    assert "sale.lines_sum_to_totals" in f


def test_deleting_the_newest_sale_everywhere_needs_an_anchor(books):
    """Case 2: delete the last sale everywhere -- ticket, lines, tenders, cash,
    stock movements and stock on hand, receipt counter, the session's cached
    cash, the journal tail and head. Every check in the database holds; the
    anchor the back office kept does not."""
    from data import models
    from data.models import CashMovement, DrawerSession, Product, ReceiptCounter, Tender, Ticket, TicketLine
    from data.stock import StockMovement
    ctx = books[0]
    kept = journal.parse_anchors(journal.anchor_text())
    t = Ticket.select().where(Ticket.status == "completed").order_by(Ticket.id.desc()).first()
    entry = Journal.select().where(Journal.kind == "sale.completed").order_by(Journal.seq.desc()).first()
    migrations.drop_guards()
    with dbmod.write():
        cash = sum(m.amount for m in CashMovement.select().where(CashMovement.ticket_id == t.id))
        CashMovement.delete().where(CashMovement.ticket_id == t.id).execute()
        DrawerSession.update(expected_cash=DrawerSession.expected_cash - cash).where(
            DrawerSession.id == t.session_id).execute()
        Tender.delete().where(Tender.ticket == t.id).execute()
        models.PrintJob.delete().where(models.PrintJob.ticket == t.id).execute()
        for m in StockMovement.select().where(StockMovement.ticket == t.id):
            Product.update(on_hand=Product.on_hand - m.qty).where(Product.id == m.product_id).execute()
        StockMovement.delete().where(StockMovement.ticket == t.id).execute()
        TicketLine.delete().where(TicketLine.ticket == t.id).execute()
        Ticket.delete().where(Ticket.id == t.id).execute()
        ReceiptCounter.update(last=ReceiptCounter.last - 1).where(ReceiptCounter.terminal == t.terminal).execute()
        prev = Journal.get(Journal.seq == entry.seq - 1)
        Journal.delete().where(Journal.seq >= entry.seq).execute()
        JournalHead.update(seq=prev.seq, hash=prev.hash).where(JournalHead.id == 1).execute()
        # the session's running totals and digest, recomputed as the code does
        totals, digest = drawer.recompute_running(t.session_id)
        DrawerSession.update(totals=journal.canonical(totals), digest=digest).where(
            DrawerSession.id == t.session_id).execute()
    f = failing(ctx)
    assert f == {}, f                                    # honest: nothing inside the database shows it
    f = failing(ctx, kept)
    assert list(f) == ["journal.anchors"] and "the tail was cut" in f["journal.anchors"][0]


def test_a_sale_missing_from_the_journal_or_a_journal_entry_without_its_sale(books):
    from data.models import Ticket
    ctx = books[0]
    t = first_sale()
    entry = Journal.select().where(Journal.kind == "sale.completed").order_by(Journal.seq).first()
    migrations.drop_guards()
    Journal.update(kind="sale.noted").where(Journal.id == entry.id).execute()
    f = failing(ctx)
    assert "0 sale.completed journal entries" in " ".join(f["sale.sealed"])
    Journal.update(kind="sale.completed").where(Journal.id == entry.id).execute()
    Ticket.update(status="voided").where(Ticket.id == t.id).execute()
    assert "not a completed sale" in " ".join(failing(ctx)["sale.sealed"])


def test_a_closed_drawer_missing_from_the_journal_is_caught(books):
    ctx = books[0]
    e = Journal.select().where(Journal.kind == "drawer.close").first()
    migrations.drop_guards()
    Journal.update(kind="drawer.closing").where(Journal.id == e.id).execute()
    assert "0 drawer.close journal entries" in " ".join(failing(ctx)["drawer.journalled"])


def test_resetting_the_keyed_marker_is_caught_and_not_signed_again(books):
    """A superuser sets the marker back to 'pending' (to make the store look as if it
    was never keyed, then rewrite it in plain SHA-256): no till signs it again while
    the store's key is recorded, and verify says so."""
    from station.context import open_station
    from tests.conftest import make_config
    ctx = books[0]
    SchemaMeta.update(value=journal.PENDING).where(SchemaMeta.key == journal.KEYED_META).execute()
    ctx2 = open_station(make_config(ctx.config.data_dir, ctx.config.db_url))     # a till starts
    assert SchemaMeta.get(SchemaMeta.key == journal.KEYED_META).value == journal.PENDING
    assert "was reset" in failing(ctx2)["journal.chain"][0]
