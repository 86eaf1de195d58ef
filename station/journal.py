"""The journal: one insert-only, SHA-256 hash-chained line of every sensitive event.

``append`` must run inside the caller's write transaction (so the event commits
or rolls back with what it records). It locks the single JournalHead row
(FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transaction already holds the
write lock), so appends from many terminals form one chain: no fork, no gap.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json

from data import db as dbmod
from data.models import Journal, JournalHead


def canonical(fields: dict) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def row_hash(seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash) -> str:
    body = canonical({"seq": seq, "ts": ts, "terminal": terminal, "user": user_name, "kind": kind,
                      "amount": amount, "ref": ref, "data": data, "prev": prev_hash})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def append(kind: str, *, terminal: str, user=None, amount: int | None = None,
           ref: str | None = None, data: dict | None = None) -> Journal:
    db = dbmod.current()
    if not db.in_transaction():
        with dbmod.write():
            return append(kind, terminal=terminal, user=user, amount=amount, ref=ref, data=data)
    head = dbmod.locked(JournalHead.select().where(JournalHead.id == 1)).get()
    seq = head.seq + 1
    ts = now_iso()
    user_name = getattr(user, "name", user)
    data_text = canonical(data or {})
    ref = None if ref is None else str(ref)
    h = row_hash(seq, ts, terminal, user_name, kind, amount, ref, data_text, head.hash)
    row = Journal.create(seq=seq, ts=ts, terminal=terminal, user_name=user_name, kind=kind,
                         amount=amount, ref=ref, data=data_text, prev_hash=head.hash, hash=h)
    JournalHead.update(seq=seq, hash=h).where(JournalHead.id == 1).execute()
    return row
