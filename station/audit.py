"""Reading the journal: ``station audit`` and the manager's journal browser.

Only people with ``journal.view`` may read it (the CLI's operator, ``actor=None``,
is the machine's owner). Filters: user, kind (exact, or a prefix ending in ``*``),
terminal, and a date range (UTC; a bare date means the whole day).
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
from dataclasses import asdict, dataclass

from data.models import Journal, User
from station import auth, money, permissions
from station.errors import InvalidInput, PermissionDenied


@dataclass(frozen=True)
class Event:
    seq: int
    ts: str
    terminal: str
    user: str | None
    kind: str
    amount: int | None
    ref: str | None
    data: dict


@dataclass(frozen=True)
class Filters:
    user: str | None = None
    kind: str | None = None
    terminal: str | None = None
    since: str | None = None   # ISO ts, inclusive
    until: str | None = None   # ISO ts, exclusive


def _ts(d: _dt.datetime) -> str:
    if d.tzinfo is not None:
        d = d.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_when(text: str | None, *, end: bool = False) -> str | None:
    """'2026-11-22' (a whole day: from its start, or up to its end when ``end``),
    '2026-11-22T10:30' or '2026-11-22 10:30:00' (UTC unless an offset is given)."""
    if text is None or not str(text).strip():
        return None
    t = str(text).strip()
    try:
        if len(t) == 10:
            d = _dt.datetime.combine(_dt.date.fromisoformat(t), _dt.time())
            if end:
                d += _dt.timedelta(days=1)
            return _ts(d)
        d = _dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{t!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    return _ts(d)


def make_filters(user=None, kind=None, terminal=None, since=None, until=None) -> Filters:
    f = Filters(user=(user or None) and user.strip(), kind=(kind or None) and kind.strip(),
                terminal=(terminal or None) and terminal.strip(),
                since=parse_when(since), until=parse_when(until, end=True))
    if f.since and f.until and f.since >= f.until:
        raise InvalidInput("the start date is after the end date")
    return f


def _query(f: Filters):
    q = Journal.select()
    if f.user:
        q = q.where(Journal.user_name == f.user)
    if f.kind:
        if f.kind.endswith("*"):
            q = q.where(Journal.kind.startswith(f.kind[:-1]))
        else:
            q = q.where(Journal.kind == f.kind)
    if f.terminal:
        q = q.where(Journal.terminal == f.terminal)
    if f.since:
        q = q.where(Journal.ts >= f.since)
    if f.until:
        q = q.where(Journal.ts < f.until)
    return q


def _event(j) -> Event:
    try:
        data = json.loads(j.data) if j.data else {}
    except ValueError:
        data = {"_raw": j.data}
    return Event(seq=j.seq, ts=j.ts, terminal=j.terminal, user=j.user_name, kind=j.kind,
                 amount=j.amount, ref=j.ref, data=data)


def events(ctx, actor, filters: Filters | None = None, *, limit: int | None = None,
           before_seq: int | None = None, newest_first: bool = False) -> list[Event]:
    """Events matching ``filters`` in seq order (or newest first). Paging:
    ``limit`` with ``before_seq`` (keyset on seq, fast at any depth)."""
    auth.require_role_action(actor, "journal.view")
    q = _query(filters or Filters())
    if before_seq is not None:
        q = q.where(Journal.seq < before_seq)
    q = q.order_by(Journal.seq.desc() if newest_first else Journal.seq)
    if limit is not None:
        q = q.limit(limit)
    return [_event(j) for j in q]


def count(ctx, actor, filters: Filters | None = None) -> int:
    auth.require_role_action(actor, "journal.view")
    return _query(filters or Filters()).count()


def kinds(ctx, actor) -> list[str]:
    auth.require_role_action(actor, "journal.view")
    return [k for (k,) in Journal.select(Journal.kind).distinct().order_by(Journal.kind).tuples()]


# ----------------------------------------------------------------- output ---

def fmt_amount(ctx, amount: int | None) -> str:
    if amount is None:
        return ""
    s = ctx.config.store
    sep = s.decimal_separator if s.decimal_separator in (".", ",") else "."
    return money.format_amount(amount, minor_units=s.minor_units, decimal_sep=sep)


def data_text(data: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(data.items()))


COLUMNS = ("seq", "time (UTC)", "terminal", "user", "kind", "amount", "ref", "details")


def as_rows(ctx, evs: list[Event]) -> list[tuple[str, ...]]:
    return [(str(e.seq), e.ts[:19].replace("T", " "), e.terminal, e.user or "", e.kind,
             fmt_amount(ctx, e.amount), e.ref or "", data_text(e.data)) for e in evs]


def to_table(ctx, evs: list[Event]) -> str:
    rows = as_rows(ctx, evs)
    widths = [len(c) for c in COLUMNS]
    for r in rows:
        for i, v in enumerate(r[:-1]):
            widths[i] = max(widths[i], len(v))
    def line(r):
        return "  ".join(v.ljust(widths[i]) if i < len(r) - 1 else v for i, v in enumerate(r)).rstrip()
    out = [line(COLUMNS), line(tuple("-" * w for w in widths[:-1]) + ("-" * 7,))]
    out += [line(r) for r in rows]
    out.append(f"{len(rows)} event(s)")
    return "\n".join(out)


def to_csv(evs: list[Event]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["seq", "ts", "terminal", "user", "kind", "amount", "ref", "data"])
    for e in evs:
        w.writerow([e.seq, e.ts, e.terminal, e.user or "", e.kind, "" if e.amount is None else e.amount,
                    e.ref or "", json.dumps(e.data, sort_keys=True, ensure_ascii=False)])
    return buf.getvalue()


def to_json(evs: list[Event]) -> str:
    return json.dumps([asdict(e) for e in evs], indent=2, ensure_ascii=False)


# ------------------------------------------------------------------ users ---

@dataclass(frozen=True)
class UserRow:
    name: str
    full_name: str
    role: str
    active: bool
    locked_until: _dt.datetime | None
    failed_attempts: int
    totp: bool

    @property
    def status(self) -> str:
        if not self.active:
            return "disabled"
        if self.locked_until is not None and self.locked_until > _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None):
            return f"locked until {self.locked_until:%H:%M} UTC"
        return "active"


def users(ctx, actor) -> list[UserRow]:
    """The people, for the manager's users view (who may unlock or manage them)."""
    if actor is not None and not any(permissions.decide(actor.role, a) == permissions.ALLOW
                                     for a in ("user.unlock", "user.manage")):
        raise PermissionDenied(f"{actor.name} ({actor.role}) may not see the users")
    return [UserRow(name=u.name, full_name=u.full_name, role=u.role, active=u.active,
                    locked_until=u.locked_until, failed_attempts=u.failed_attempts,
                    totp=u.totp_secret is not None)
            for u in User.select().order_by(User.name)]
