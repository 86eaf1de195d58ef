"""``station verify``: the journal chain check catches tampering and names the
row — with the insert-only triggers dropped, edit one row's amount, delete one
row, swap two rows, rewrite a row with a fresh hash, delete the last row.
Each on SQLite and PostgreSQL, through the real CLI entry point."""
from __future__ import annotations

import json

import pytest

from data import db as dbmod
from data import migrations
from data.models import Journal, JournalHead
from station import cli, journal, verify
from station.checks_journal import check_chain


@pytest.fixture
def chain(ctx, monkeypatch, station_home):
    """Ten events with amounts, and the CLI pointed at the same store."""
    for i in range(1, 11):
        journal.append("sale.test", terminal="T1", user="carla", amount=100 * i, ref=f"ticket {i}",
                       data={"i": i})
    monkeypatch.setenv("STATION_HOME", str(station_home))
    monkeypatch.delenv("STATION_DB", raising=False)
    # these tests are about the chain: reading needs no sign-in here (which would append to it)
    monkeypatch.setenv("STATION_SECURITY_CLI_LOGIN_READS", "0")
    return ctx


def run_verify(ctx, capsys, *extra):
    url = ctx.config.db_url
    rc = cli.main(["--db", url, "verify", "--only", "journal", *extra])
    out = capsys.readouterr()
    # the CLI re-bound the models to its own connection: fine, same store
    return rc, out.out, out.err


def row_id(seq):
    return Journal.get(Journal.seq == seq).id


def test_intact_chain_holds(chain, capsys):
    assert check_chain(chain) == []
    rc, out, _ = run_verify(chain, capsys)
    assert rc == 0, out
    assert "OK   journal.chain" in out and "OK   journal.z_anchors" in out and "2 of 2 checks hold" in out
    rc, out, _ = run_verify(chain, capsys, "--json")
    assert rc == 0 and json.loads(out)["ok"] is True


def test_triggers_refuse_update_and_delete(chain):
    import peewee
    for op in (lambda: Journal.update(amount=1).where(Journal.seq == 3).execute(),
               lambda: Journal.delete().where(Journal.seq == 3).execute()):
        with pytest.raises(peewee.DatabaseError):
            with dbmod.write():
                op()
    assert check_chain(chain) == []


def test_edited_amount_is_named(chain, capsys):
    rid = row_id(4)
    migrations.drop_guards()
    Journal.update(amount=1).where(Journal.seq == 4).execute()
    problems = check_chain(chain)
    assert len(problems) == 1
    assert problems[0].startswith("content edited at seq 4 ") and f"id {rid}" in problems[0]
    assert "amount=1" in problems[0]
    rc, out, _ = run_verify(chain, capsys)
    assert rc == 1
    assert "FAIL journal.chain" in out and "content edited at seq 4 " in out
    rc, out, _ = run_verify(chain, capsys, "--json")
    data = json.loads(out)
    assert rc == 1 and data["ok"] is False and "seq 4 " in data["checks"][0]["problems"][0]


def test_deleted_row_is_named(chain, capsys):
    migrations.drop_guards()
    Journal.delete().where(Journal.seq == 6).execute()
    problems = check_chain(chain)
    assert len(problems) == 1
    assert "row(s) deleted: seq 6 missing" in problems[0] and "after seq 5 " in problems[0]
    rc, out, _ = run_verify(chain, capsys)
    assert rc == 1 and "seq 6 missing" in out


def test_deleted_and_renumbered_is_named(chain):
    """Delete seq 6 and renumber the rest down so there is no gap: the link of the
    row now at seq 6 still points to the deleted row's predecessor chain."""
    migrations.drop_guards()
    Journal.delete().where(Journal.seq == 6).execute()
    for s in range(7, 11):
        Journal.update(seq=s - 1).where(Journal.seq == s).execute()
    JournalHead.update(seq=9).where(JournalHead.id == 1).execute()
    problems = check_chain(chain)
    assert len(problems) == 1
    assert problems[0].startswith("row(s) deleted and the rest renumbered: seq 6 ") and "written as seq 7" in problems[0], problems[0]


def test_swapped_rows_are_named(chain, capsys):
    a, b = row_id(3), row_id(7)
    migrations.drop_guards()
    with dbmod.write():
        Journal.update(seq=-1).where(Journal.id == a).execute()
        Journal.update(seq=3).where(Journal.id == b).execute()
        Journal.update(seq=7).where(Journal.id == a).execute()
    problems = check_chain(chain)
    assert len(problems) == 1
    assert problems[0].startswith(f"rows reordered: seq 3 (id {b}") and "written as seq 7" in problems[0], problems[0]
    rc, out, _ = run_verify(chain, capsys)
    assert rc == 1 and "rows reordered: seq 3 " in out


def test_swapped_contents_are_named(chain):
    """Swap everything but the primary key and seq between rows 2 and 5."""
    r2, r5 = Journal.get(Journal.seq == 2), Journal.get(Journal.seq == 5)
    migrations.drop_guards()
    cols = ("ts", "terminal", "user_name", "kind", "amount", "ref", "data", "prev_hash", "hash")
    with dbmod.write():
        Journal.update(hash="x" * 64).where(Journal.id == r2.id).execute()  # free the UNIQUE hash
        Journal.update({getattr(Journal, c): getattr(r2, c) for c in cols}).where(Journal.id == r5.id).execute()
        Journal.update({getattr(Journal, c): getattr(r5, c) for c in cols}).where(Journal.id == r2.id).execute()
    problems = check_chain(chain)
    assert len(problems) == 1 and problems[0].startswith(f"rows reordered: seq 2 (id {r2.id}"), problems


def test_rewritten_row_with_fresh_hash_is_caught(chain):
    """Edit amount AND recompute that row's hash: the next row's link breaks."""
    r = Journal.get(Journal.seq == 5)
    new_hash = journal.row_hash(5, r.ts, r.terminal, r.user_name, r.kind, 1, r.ref, r.data, r.prev_hash,
                                chain.keys.mac_key)
    migrations.drop_guards()
    Journal.update(amount=1, hash=new_hash).where(Journal.seq == 5).execute()
    problems = check_chain(chain)
    assert len(problems) == 1 and "seq 6 " in problems[0] and "seq 5" in problems[0], problems


def test_deleted_last_row_is_a_head_mismatch(chain, capsys):
    migrations.drop_guards()
    Journal.delete().where(Journal.seq == 10).execute()
    problems = check_chain(chain)
    assert len(problems) == 1 and problems[0].startswith("head mismatch") and "seq 10 deleted" in problems[0]


def test_first_broken_link_only(chain):
    migrations.drop_guards()
    Journal.update(amount=7).where(Journal.seq == 8).execute()
    Journal.update(amount=7).where(Journal.seq == 2).execute()
    problems = check_chain(chain)
    assert len(problems) == 1 and "seq 2 " in problems[0]


def test_empty_journal_holds(ctx):
    assert check_chain(ctx) == []


def test_report_shape(chain):
    results = verify.run(chain, only=["journal"])
    assert [r.name for r in results] == ["journal.chain", "journal.z_anchors"] and all(r.ok for r in results)
    text = verify.report_text(results)
    assert "journal.chain" in text


def test_verify_only_unknown_prefix_is_one_line(chain, capsys):
    rc = cli.main(["--db", chain.config.db_url, "verify", "--only", "nosuch"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "no check starts with nosuch" in err
