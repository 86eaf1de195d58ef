"""Business days and report periods in the store's time zone.

A moment belongs to the business day of its local wall-clock time minus the
day's cut-off (``reports.day_starts``): with 04:00, a sale at 03:59 counts to the
day before, one at 04:01 to the same day. The local time comes from the IANA
zone (``reports.timezone``), so a daylight-saving change day simply has 23 or
25 hours. Weeks start on Monday.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from station.errors import InvalidInput

UTC = _dt.timezone.utc

#: period name -> what it is (``station report sales today``)
NAMES = {
    "today": "today",
    "yesterday": "yesterday",
    "week": "this week (Monday to today)",
    "last-week": "last week (Monday to Sunday)",
    "month": "this month (the 1st to today)",
    "last-month": "last month",
}
ALIASES = {"this-week": "week", "this-month": "month", "lastweek": "last-week", "lastmonth": "last-month"}


@dataclass(frozen=True)
class Clock:
    """The store's calendar: its zone and the business day's cut-off."""
    zone: ZoneInfo
    cutoff: _dt.time

    @classmethod
    def of(cls, ctx) -> "Clock":
        r = ctx.config.values["reports"]
        return cls.named(r["timezone"], r["day_starts"])

    @classmethod
    def named(cls, timezone: str, day_starts: str) -> "Clock":
        h, m = (int(x) for x in day_starts.split(":"))
        return cls(ZoneInfo(timezone), _dt.time(h, m))

    @property
    def shift(self) -> _dt.timedelta:
        return _dt.timedelta(hours=self.cutoff.hour, minutes=self.cutoff.minute)

    def local(self, utc_naive: _dt.datetime) -> _dt.datetime:
        return utc_naive.replace(tzinfo=UTC).astimezone(self.zone)

    def day_of(self, utc_naive: _dt.datetime) -> _dt.date:
        """The business day of a moment (naive UTC, as the store keeps times)."""
        return (self.local(utc_naive).replace(tzinfo=None) - self.shift).date()

    def day_and_hour(self, utc_naive: _dt.datetime) -> tuple[str, int]:
        loc = self.local(utc_naive).replace(tzinfo=None)
        return (loc - self.shift).date().isoformat(), loc.hour

    def start_of(self, day: _dt.date) -> _dt.datetime:
        """The first moment of a business day, naive UTC: its cut-off's wall time
        (a cut-off the clocks skip in spring: the moment they jump)."""
        wall = _dt.datetime.combine(day, self.cutoff)
        a, b = sorted(wall.replace(tzinfo=self.zone, fold=f).astimezone(UTC).replace(tzinfo=None) for f in (0, 1))
        if self.day_of(a) == day:
            return a
        while self.day_of(a) != day and a < b:   # inside a gap: the first minute of the day
            a += _dt.timedelta(minutes=1)
        return a

    def today(self, now: _dt.datetime | None = None) -> _dt.date:
        now = now or _dt.datetime.now(UTC).replace(tzinfo=None)
        return self.day_of(now)


@dataclass(frozen=True)
class Period:
    first: _dt.date
    last: _dt.date           # inclusive
    name: str

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def each_day(self) -> list[_dt.date]:
        return [self.first + _dt.timedelta(days=i) for i in range(self.days)]

    def label(self) -> str:
        if self.first == self.last:
            return f"{self.name} {self.first.isoformat()}" if self.name != "custom" else self.first.isoformat()
        span = f"{self.first.isoformat()} .. {self.last.isoformat()}"
        return span if self.name == "custom" else f"{self.name} {span}"


def _month_start(d: _dt.date) -> _dt.date:
    return d.replace(day=1)


def named(name: str, today: _dt.date) -> Period:
    key = ALIASES.get(name, name)
    if key == "today":
        return Period(today, today, "today")
    if key == "yesterday":
        y = today - _dt.timedelta(days=1)
        return Period(y, y, "yesterday")
    if key == "week":
        return Period(today - _dt.timedelta(days=today.weekday()), today, "this week")
    if key == "last-week":
        monday = today - _dt.timedelta(days=today.weekday() + 7)
        return Period(monday, monday + _dt.timedelta(days=6), "last week")
    if key == "month":
        return Period(_month_start(today), today, "this month")
    if key == "last-month":
        last = _month_start(today) - _dt.timedelta(days=1)
        return Period(_month_start(last), last, "last month")
    raise InvalidInput(f"unknown period {name!r}: use {', '.join(NAMES)} or --from/--to")


def parse_day(text: str, what: str) -> _dt.date:
    try:
        return _dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise InvalidInput(f"{what} must be a date YYYY-MM-DD, not {text!r}") from None


MAX_DAYS = 3660


def resolve(clock: Clock, name: str | None = None, first=None, last=None, *,
            now: _dt.datetime | None = None) -> Period:
    """The period asked for: a name (default today) or a custom range (``first``
    and/or ``last``, dates or YYYY-MM-DD; one alone is a single day)."""
    today = clock.today(now)
    if first is None and last is None:
        return named(name or "today", today)
    if name not in (None, "custom"):
        raise InvalidInput("give either a period name or --from/--to, not both")
    f = first if isinstance(first, _dt.date) else parse_day(first, "--from") if first is not None else None
    t = last if isinstance(last, _dt.date) else parse_day(last, "--to") if last is not None else None
    f, t = f or t, t or f
    if t < f:
        raise InvalidInput(f"the period ends ({t}) before it starts ({f})")
    if (t - f).days >= MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days")
    return Period(f, t, "custom")


def months_in(p: Period) -> tuple[list[str], list[tuple[_dt.date, _dt.date]]]:
    """Split a period into whole months (``YYYY-MM``) and the partial edges (day
    ranges), so a year's product figures read the monthly table."""
    whole, edges = [], []
    d = p.first
    while d <= p.last:
        nxt = (d.replace(day=28) + _dt.timedelta(days=4)).replace(day=1)
        end = min(nxt - _dt.timedelta(days=1), p.last)
        if d.day == 1 and end == nxt - _dt.timedelta(days=1):
            whole.append(d.strftime("%Y-%m"))
        else:
            edges.append((d, end))
        d = end + _dt.timedelta(days=1)
    return whole, edges
