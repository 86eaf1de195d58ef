"""``station verify`` checks of the journal: the keyed chain.

Each row's hash is an HMAC with the store's journal key (plain SHA-256 for rows
from before the store was keyed) over its own canonical content plus the
previous row's hash (see :mod:`station.journal`). Walking the rows in ``seq``
order and recomputing every hash finds, and names, the FIRST broken link:

* edited content   - a row's stored hash does not match its content;
* rewritten row    - content and hash both replaced: the NEXT row's link breaks;
* deleted row(s)   - a gap in ``seq``, or a row linking to a row further back;
* reordered rows   - a row linking to a row that now comes after it;
* head mismatch    - the chain's tail is not where the head row says
                     (rows deleted at the end, or rows added behind its back);
* recomputed chain - rows rehashed by someone without the key: the first
                     keyed row no longer matches (reported as edited content).

Cutting the tail AND moving the head back leaves a shorter chain that holds:
only an anchor kept outside the database (``verify --anchor``) catches that.
"""
from __future__ import annotations

import json

from data.models import Journal, JournalHead, ZReport
from station import journal
from station.checks import check

GENESIS = "0" * 64
BATCH = 5000


def _describe(row) -> str:
    seq, rid, ts, terminal, user, kind = row[0], row[1], row[2], row[3], row[4], row[5]
    return f"seq {seq} (id {rid}, {kind} by {user or '-'} at {terminal}, {ts})"


def _rows():
    """All rows in seq order, read in keyset-paged batches (flat memory)."""
    last = None
    cols = (Journal.seq, Journal.id, Journal.ts, Journal.terminal, Journal.user_name, Journal.kind,
            Journal.amount, Journal.ref, Journal.data, Journal.prev_hash, Journal.hash)
    while True:
        q = Journal.select(*cols).order_by(Journal.seq).limit(BATCH)
        if last is not None:
            q = q.where(Journal.seq > last)
        batch = list(q.tuples())
        if not batch:
            return
        yield from batch
        last = batch[-1][0]


def _recompute(row, start: int | None, as_seq: int | None = None) -> str:
    """The row's hash as :func:`station.journal.row_hash` makes it (keyed from ``start`` on)."""
    seq, _id, ts, terminal, user, kind, amount, ref, data, prev, _h = row
    s = seq if as_seq is None else as_seq
    return journal.row_hash(s, ts, terminal, user, kind, amount, ref, data, prev, journal.key_for(s, start))


def _written_as(row, start, span: int = 1000):
    """The seq this row's content was hashed with (when it was renumbered), if near."""
    seq, h = row[0], row[10]
    for d in range(1, span + 1):
        for s in (seq + d, seq - d):
            if s > 0 and _recompute(row, start, s) == h:
                return s
    return None


def _link_problem(row, prev_row, start) -> str:
    """``row`` does not link to ``prev_row`` (its predecessor in seq order):
    say what most likely happened, from where its link does point."""
    seq, prev_hash, own_ok = row[0], row[9], _recompute(row, start) == row[10]
    target = Journal.select(Journal.seq, Journal.id).where(Journal.hash == prev_hash).tuples().first()
    here = _describe(row)
    before = f"seq {prev_row[0]} (id {prev_row[1]})" if prev_row else "the start of the chain"
    if prev_hash == GENESIS and prev_row is not None:
        return (f"rows reordered or deleted: {here} was written as the FIRST row of the journal "
                f"but comes after {before}")
    if not own_ok:
        orig = _written_as(row, start)
        if orig is not None and orig != seq:
            if target is None:
                return (f"row(s) deleted and the rest renumbered: {here} was written as seq {orig}; "
                        f"the row it was written after no longer exists")
            if target[0] >= seq:
                return (f"rows reordered: {here} was written as seq {orig}, right after the row now "
                        f"at seq {target[0]} (id {target[1]})")
            return (f"row(s) deleted and the rest renumbered: {here} was written as seq {orig}, right "
                    f"after seq {target[0]} (id {target[1]}), but comes after {before}")
    if target is not None:
        tseq, tid = target
        if tseq >= seq:
            return (f"rows reordered: {here} was written right after the row now at seq {tseq} "
                    f"(id {tid}), which comes after it")
        if prev_row is None or tseq < prev_row[0]:
            return (f"row(s) deleted: {here} was written right after seq {tseq} (id {tid}), "
                    f"but comes after {before}: the row(s) between were removed and renumbered")
        return f"broken link at {here}: it links to seq {tseq} (id {tid}) instead of {before}"
    if prev_row is not None and prev_row[0] == seq - 1 and _recompute(prev_row, start) == prev_row[10]:
        # the previous row hashes fine by itself, but is not the row this one was written after
        if own_ok:
            return (f"row deleted or replaced before {here}: it links to a hash no row has; "
                    f"the row it was written after (seq {seq - 1}) is gone or was rewritten "
                    f"(now {_describe(prev_row)})")
    if prev_row is None:
        return f"{here} links to a row that does not exist: the first row(s) were deleted"
    return (f"broken link at {here}: it was written after a row whose hash no longer exists "
            f"({before} was rewritten, or a row was deleted)")


@check("journal.chain")
def check_chain(ctx) -> list[str]:
    """journal rows form one unbroken keyed (HMAC) chain ending at the head"""
    start, problem = journal.keyed_from()
    if problem:
        return [problem]
    prev_row = None
    expected_prev = GENESIS
    for row in _rows():
        seq, prev_hash, stored = row[0], row[9], row[10]
        want_seq = 1 if prev_row is None else prev_row[0] + 1
        if seq != want_seq:
            missing = f"seq {want_seq}" if seq == want_seq + 1 else f"seq {want_seq} to {seq - 1}"
            after = f"seq {prev_row[0]} (id {prev_row[1]})" if prev_row else "the start"
            if prev_hash == expected_prev and _recompute(row, start) == stored:
                return [f"rows out of sequence at {_describe(row)}: numbering jumps from {after} "
                        f"but its link is intact ({missing} renumbered)"]
            return [f"row(s) deleted: {missing} missing (after {after} comes {_describe(row)})"]
        if prev_hash != expected_prev:
            return [_link_problem(row, prev_row, start)]
        if _recompute(row, start) != stored:
            return [f"content edited at {_describe(row)}: its stored hash does not match its content "
                    f"(amount={row[6]!r}, ref={row[7]!r}, data={row[8]})"]
        prev_row, expected_prev = row, stored
    head = JournalHead.get_or_none(JournalHead.id == 1)
    last_seq = prev_row[0] if prev_row else 0
    if head is None:
        return ["the journal head row is missing"]
    if head.seq != last_seq:
        if head.seq > last_seq:
            what = (f"seq {last_seq + 1}" if head.seq == last_seq + 1 else f"seq {last_seq + 1} to {head.seq}")
            return [f"head mismatch: the head says the last row is seq {head.seq} but the journal ends at "
                    f"seq {last_seq}: row(s) {what} deleted at the end"]
        return [f"head mismatch: the journal goes on to seq {last_seq} but the head says {head.seq}: "
                f"rows were added without going through the chain"]
    if head.hash != expected_prev:
        return [f"head mismatch: the head's hash does not match the last row, seq {last_seq}: "
                f"that row was replaced"]
    return []


@check("journal.z_anchors")
def check_z_anchors(ctx) -> list[str]:
    """every Z report's journal anchor (seq and head digest it printed) is still in the chain"""
    anchors = []
    for drawer, z, data in ZReport.select(ZReport.drawer, ZReport.z_number, ZReport.data).tuples():
        try:
            a = json.loads(data).get("journal")
        except ValueError:
            continue   # drawer.z_gapless names a Z whose data is not JSON
        if a:
            anchors.append((int(a["seq"]), str(a["head"]), f"Z {drawer}/{z}"))
    return journal.check_anchors(anchors)
