"""The journal: one insert-only, chained line of every sensitive event.

Each row's ``hash`` is an HMAC-SHA256, keyed with the store's journal key
(derived from the key file, never in the database), over the row's canonical
content and the previous row's hash: someone who can write the database but
has no key file (a database superuser) cannot recompute the chain after an
edit. :func:`row_hash` is the one place a row is hashed; ``station verify``
recomputes with it.

Rows written before a store's journal was keyed (stores older than the keyed
chain) were plain SHA-256; the ``journal_keyed`` row of ``schema_meta`` says
from which seq on rows are keyed, signed with the key so it cannot be moved.
The first keyed row links to the last SHA-256 row, so editing old rows still
breaks the keyed chain.

``append`` must run inside the caller's write transaction (so the event commits
or rolls back with what it records), a durable one (``dbmod.write``). It locks
the single journal_head row (an UPDATE: its row lock on PostgreSQL; SQLite's
IMMEDIATE transaction already holds the write lock), so appends from many
terminals form one chain: no fork, no gap.

Anchors: :func:`anchor_text` writes the head (seq and hash) for the back
office to keep outside the database; Z reports store and print the head's seq
and a short digest. :func:`check_anchors` proves the chain still holds every
anchor (truncation, rewrite and deleting the newest rows are caught).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from data import db as dbmod
from data.models import Journal, JournalHead, SchemaMeta
from station.errors import ConfigError

#: schema_meta row: from which seq on rows are keyed ("pending" until a keyed till signs it)
KEYED_META = "journal_keyed"
PENDING = "pending"
#: hex digits of the head a Z report prints (64 bits: nobody without the key can forge a MAC anyway)
SHORT = 16

_state: dict = {"key": None}

#: where this process's events come from (``station.ops.session.origin``: the SSH
#: client, None at the till). ``append`` records it as ``data["origin"]``.
ORIGIN: str | None = None


def set_origin(origin: str | None) -> None:
    global ORIGIN
    ORIGIN = origin


def canonical(fields: dict) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def row_hash(seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash, key: bytes | None) -> str:
    """The hash of one journal row: HMAC-SHA256 with ``key``; plain SHA-256 for
    rows written before the store's journal was keyed (``key`` None)."""
    body = canonical({"seq": seq, "ts": ts, "terminal": terminal, "user": user_name, "kind": kind,
                      "amount": amount, "ref": ref, "data": data, "prev": prev_hash}).encode("utf-8")
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ------------------------------------------------------------------ key ---

def _marker_mac(key: bytes, start: int) -> str:
    return hmac.new(key, f"journal keyed from seq {start}".encode(), hashlib.sha256).hexdigest()


def use_keys(keys) -> None:
    """Give this process the journal key (``station.context`` does, once the key
    file is checked against the store)."""
    _state["key"] = keys.mac_key


def sign_keyed_marker(keys, *, terminal: str = "") -> None:
    """Inside the write transaction that records the store's key (``station.keys``):
    rows from the next seq on are keyed; a store that already has rows (written
    before the keyed chain) says so in the journal itself."""
    row = dbmod.locked(SchemaMeta.select().where(SchemaMeta.key == KEYED_META)).first()
    if row is None or row.value != PENDING:
        return
    use_keys(keys)
    head = dbmod.locked(JournalHead.select().where(JournalHead.id == 1)).get()
    SchemaMeta.update(value=canonical({"from": head.seq + 1, "mac": _marker_mac(keys.mac_key, head.seq + 1)})
                      ).where(SchemaMeta.key == KEYED_META).execute()
    if head.seq:
        append("journal.keyed", terminal=terminal or "-", data={"from": head.seq + 1, "sha256_rows": head.seq})


def _key() -> bytes:
    k = _state["key"]
    if k is None:
        raise ConfigError("the journal has no key: open the store with station.context.open_station")
    return k


def keyed_from() -> tuple[int | None, str | None]:
    """(first keyed seq, problem): the marker checked with this till's key.
    (None, problem) when the marker is missing or forged."""
    row = SchemaMeta.get_or_none(SchemaMeta.key == KEYED_META)
    if row is None:
        return None, "the journal's keyed-from marker is missing from schema_meta (deleted?)"
    if row.value == PENDING:
        return None, ("the journal's keyed-from marker says 'not keyed yet' although the store's key is "
                      "recorded: the marker was reset (the journal before it may have been rewritten)")
    try:
        m = json.loads(row.value)
        start, mac = int(m["from"]), str(m["mac"])
    except (ValueError, KeyError, TypeError):
        return None, f"the journal's keyed-from marker is damaged: {row.value[:80]!r}"
    if not hmac.compare_digest(mac, _marker_mac(_key(), start)):
        return None, (f"the journal's keyed-from marker (seq {start}) is not signed with this store's key: "
                      f"it was moved or forged")
    return start, None


def key_for(seq: int, start: int | None) -> bytes | None:
    """The key row ``seq`` was hashed with (None: a plain SHA-256 row from before ``start``)."""
    return None if start is not None and seq < start else _key()


# --------------------------------------------------------------- append ---

@dataclass(frozen=True)
class Entry:
    """An appended journal row: its place in the chain and its hash."""
    seq: int
    hash: str


_TAKE_HEAD = "UPDATE journal_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash"
_INSERT = ("INSERT INTO journal (seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash, hash) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_MOVE_HEAD = "UPDATE journal_head SET hash = ? WHERE id = 1"


def append(kind: str, *, terminal: str, user=None, amount: int | None = None,
           ref: str | None = None, data: dict | None = None) -> Entry:
    """Append one event to the chain, inside the caller's (durable) transaction.

    Three statements: the head row is advanced and read in one (its row lock on
    PostgreSQL; SQLite's write lock is already held), the row is hashed
    (:func:`row_hash`), then the row and the head's new hash are written (on
    PostgreSQL they travel with the COMMIT)."""
    db = dbmod.current()
    if not db.in_transaction():
        with dbmod.write():
            return append(kind, terminal=terminal, user=user, amount=amount, ref=ref, data=data)
    dbmod.require_durable()
    key = _key()
    seq, prev = db.execute_sql(_TAKE_HEAD).fetchone()
    ts = now_iso()
    user_name = getattr(user, "name", user)
    if ORIGIN is not None:
        data = {**(data or {}), "origin": ORIGIN}
    data_text = canonical(data or {})
    ref = None if ref is None else str(ref)
    h = row_hash(seq, ts, terminal, user_name, kind, amount, ref, data_text, prev, key)
    dbmod.defer(dbmod.q(_INSERT), (seq, ts, terminal, user_name, kind, amount, ref, data_text, prev, h))
    dbmod.defer(dbmod.q(_MOVE_HEAD), (h,))
    return Entry(seq, h)


# -------------------------------------------------------------- anchors ---

def head(*, lock: bool = False) -> tuple[int, str]:
    """(seq, hash) of the chain's head. ``lock``: inside a write transaction,
    hold the head (nothing can be appended by others until commit)."""
    q = JournalHead.select(JournalHead.seq, JournalHead.hash).where(JournalHead.id == 1)
    h = (dbmod.locked(q) if lock else q).get()
    return h.seq, h.hash


def anchor_text(store: str = "") -> str:
    """One line for the back office to keep outside the database (``station journal anchor``)."""
    seq, h = head()
    where = f" store={json.dumps(store)}" if store else ""
    return f"station journal anchor: seq={seq} head={h} at={now_iso()}{where}"


_ANCHOR = re.compile(r"seq[ =:]+([0-9]+)[^0-9]{1,20}?(?:head|digest)[ =:]+([0-9a-fA-F]{8,64})\b")


def parse_anchors(text: str) -> list[tuple[int, str]]:
    """Every ``seq N ... head HEX`` in ``text``: lines of ``station journal anchor``,
    or typed from a printed Z report ("Journal seq 1234 head 5f2c...")."""
    return [(int(m.group(1)), m.group(2).lower()) for m in _ANCHOR.finditer(text)]


def check_anchors(anchors) -> list[str]:
    """Problems with the chain against anchors kept elsewhere, ``(seq, digest)`` or
    ``(seq, digest, label)``: each anchor's row must still exist with that hash
    (a prefix for short digests), and the head may not be behind any anchor."""
    problems = []
    head_seq, _h = head()
    for seq, digest, *label in anchors:
        name = f"{label[0]}: anchor seq {seq}" if label else f"anchor seq {seq}"
        if seq == 0:
            continue
        row = Journal.select(Journal.hash).where(Journal.seq == seq).first()
        if seq > head_seq and row is None:
            problems.append(f"{name}: the journal ends at seq {head_seq}: rows after it were "
                            f"removed (the tail was cut and the head moved back)")
        elif row is None:
            problems.append(f"{name}: that row is missing from the journal")
        elif not row.hash.startswith(digest):
            problems.append(f"{name}: the row there has hash {row.hash[:SHORT]}..., the anchor "
                            f"says {digest[:SHORT]}...: the journal was rewritten up to or beyond this point")
    return problems
