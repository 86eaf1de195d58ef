"""The manager's dashboard: the first screen after login for roles with
``dashboard.view`` (at the till or over SSH). What needs a manager now:

* approval requests waiting for them (asked at another terminal): Enter grants
  (their PIN, then their authenticator code), ``r`` refuses;
* the open drawers (who, since when, expected cash);
* payments "paid twice, refund due" (mobile money or card payments no sale uses);
* treasury items waiting and funds below their reorder level.

F7 shows station.log (roles with ``log.view``).

It is the home screen too (same F-keys to the areas, lock, logout, quit).
More panels: subclass :class:`Panel` (``load`` runs in a worker thread and
returns plain data, ``show`` renders it) and append it to ``PANELS``; every
panel is refreshed together every ``REFRESH_S`` seconds and on F6.
"""
from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, Label, Sparkline, Static

from screens.approval import action_words, amount_words
from screens.base import StationModal
from screens.format import money_text
from screens.home import HomeScreen
from screens.manager import Confirm
from screens.widgets import KeyFooter
from station import authority, permissions
from station import drawer as drawers
from station.context import release_thread_connection
from station.errors import AuthFailed, StationError
from station.payments import service as payments
from station.reporting import service as reports
from station.treasury import queries as treasury

REFRESH_S = 2.0


def key_lines(keys: list[str], width: int) -> str:
    """``keys`` (markup, each a key and its name) two spaces apart, a new line
    before one that would not fit: a key is never split from its name."""
    lines: list[list[str]] = [[]]
    used = 0
    for k in keys:
        n = len(Text.from_markup(k).plain)
        if lines[-1] and used + 2 + n > width:
            lines.append([])
            used = 0
        used += n + (2 if lines[-1] else 0)
        lines[-1].append(k)
    return "\n".join("  ".join(line) for line in lines)


class Panel(Vertical):
    """One block of the dashboard."""

    DEFAULT_CSS = """
    Panel { height: auto; }
    Panel > .panel-title { text-style: bold; color: $accent; height: 1; }
    """
    TITLE = ""

    def compose(self) -> ComposeResult:
        yield Label(self.TITLE, classes="panel-title")

    def load(self, ctx, user):
        """Worker thread: read what to show (plain data)."""
        raise NotImplementedError

    def show(self, data) -> None:
        """UI thread: render what ``load`` returned."""
        raise NotImplementedError


class PendingApprovals(Panel):
    TITLE = "Waiting for your approval   Enter: grant   r: refuse"
    DEFAULT_CSS = """
    PendingApprovals DataTable { height: auto; max-height: 8; }
    PendingApprovals #dash-none { color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__(id="dash-requests")
        self.requests: dict[str, authority.PendingRequest] = {}

    def compose(self) -> ComposeResult:
        yield from super().compose()
        t = DataTable(id="requests-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in (("id", "#", 4), ("what", "What", 24), ("amount", "Amount", 10),
                                  ("who", "Asked by", 10), ("where", "At", 12), ("age", "Since", 5)):
            t.add_column(label, key=key, width=width)
        yield t
        yield Static("nothing is waiting", id="dash-none")

    def load(self, ctx, user):
        return authority.pending_requests(ctx, user)

    def show(self, rows: list[authority.PendingRequest]) -> None:
        t = self.query_one(DataTable)
        ctx = self.app.ctx
        seen = set()
        for r in rows:
            key = str(r.id)
            seen.add(key)
            where = r.terminal + (f" {r.origin.split()[1]}" if r.origin else "")
            cells = (str(r.id), f"{action_words(r.action)}" + (f" {r.ref}" if r.ref else ""),
                     amount_words(ctx, r.action, r.amount) or "", r.requester, where, f"{r.created_at:%H:%M}")
            if key in self.requests:
                for col, value in zip(("id", "what", "amount", "who", "where", "age"), cells):
                    t.update_cell(key, col, value)
            else:
                t.add_row(*cells, key=key)
            self.requests[key] = r
        for gone in set(self.requests) - seen:
            t.remove_row(gone)
            del self.requests[gone]
        self.query_one("#dash-none").display = not rows
        t.display = bool(rows)

    def selected(self) -> authority.PendingRequest | None:
        t = self.query_one(DataTable)
        if not self.requests or t.cursor_row is None:
            return None
        try:
            key = t.coordinate_to_cell_key((t.cursor_row, 0)).row_key.value
        except Exception:  # noqa: BLE001 - the row went away meanwhile
            return None
        return self.requests.get(key)


class OpenDrawers(Panel):
    TITLE = "Open drawers"
    DEFAULT_CSS = """
    OpenDrawers DataTable { height: auto; max-height: 8; }
    OpenDrawers #drawers-none { color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__(id="dash-drawers")
        self.keys: set[str] = set()

    def compose(self) -> ComposeResult:
        yield from super().compose()
        t = DataTable(id="drawers-table", cursor_type="none", zebra_stripes=True)
        for key, label, width in (("drawer", "Drawer", 8), ("terminal", "Till", 8), ("cashier", "Cashier", 12),
                                  ("opened", "Since", 5), ("expected", "Expected cash", 14)):
            t.add_column(label, key=key, width=width)
        yield t
        yield Static("no drawer is open", id="drawers-none")

    def load(self, ctx, user):
        return [r for r in drawers.overview(ctx) if r.status == "open"]

    def show(self, rows) -> None:
        t = self.query_one(DataTable)
        ctx = self.app.ctx
        seen = set()
        for r in rows:
            cells = (r.drawer, r.terminal, r.cashier, f"{r.opened_at:%H:%M}", money_text(ctx, r.expected_cash))
            seen.add(r.drawer)
            if r.drawer in self.keys:
                for col, value in zip(("drawer", "terminal", "cashier", "opened", "expected"), cells):
                    t.update_cell(r.drawer, col, value)
            else:
                t.add_row(*cells, key=r.drawer)
                self.keys.add(r.drawer)
        for gone in self.keys - seen:
            t.remove_row(gone)
            self.keys.discard(gone)
        self.query_one("#drawers-none").display = not rows
        t.display = bool(rows)


class RefundsDue(Panel):
    """Mobile money or card payments that no sale uses (station.payments.flagged)."""

    TITLE = "Paid twice, refund due   (Manager F5, then F4: refund)"
    DEFAULT_CSS = """
    RefundsDue { display: none; }
    RefundsDue.shown { display: block; }
    RefundsDue #refunds-due-text { height: auto; max-height: 6; color: $warning; }
    """

    def __init__(self) -> None:
        super().__init__(id="dash-refunds")

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static("", id="refunds-due-text")

    def load(self, ctx, user):
        return payments.flagged(ctx)

    def show(self, rows) -> None:
        ctx = self.app.ctx
        self.set_class(bool(rows), "shown")
        lines = [f"{len(rows)} payment(s), "
                 f"{money_text(ctx, sum((v.paid_amount or v.amount) - v.refund_amount for v in rows))}"]
        lines += [f"{v.label} {money_text(ctx, (v.paid_amount or v.amount) - v.refund_amount)} "
                  f"{v.receipt or v.ref}  till {v.terminal or '-'}  {v.status}: {v.flag or ''}" for v in rows[:4]]
        if len(rows) > 4:
            lines.append(f"... and {len(rows) - 4} more")
        self.query_one("#refunds-due-text", Static).update(escape("\n".join(lines)))


class TreasuryWaiting(Panel):
    """Treasury items waiting (payments, variances, replenishments) and funds below their
    reorder level, for roles that see the treasury (station.treasury.queries)."""

    TITLE = "Treasury   (Y)"
    DEFAULT_CSS = """
    TreasuryWaiting { display: none; }
    TreasuryWaiting.shown { display: block; }
    TreasuryWaiting #treasury-text { height: auto; max-height: 3; color: $warning; }
    """

    def __init__(self) -> None:
        super().__init__(id="dash-treasury")

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static("", id="treasury-text")

    def load(self, ctx, user):
        if permissions.decide(user.role, "treasury.view") != permissions.ALLOW:
            return []
        return treasury.funds()

    def show(self, funds) -> None:
        waiting = sum(f.pending for f in funds)
        low = [f.name for f in funds if f.balance < f.reorder_level]
        self.set_class(bool(waiting or low), "shown")
        parts = []
        if waiting:
            parts.append(f"{waiting} item(s) waiting: payments, variances, replenishments")
        if low:
            parts.append(f"below the reorder level: {', '.join(low)}")
        self.query_one("#treasury-text", Static).update(escape("; ".join(parts)))


class Today(Panel):
    """Today so far against the same weekday last week by the same hour, the
    hourly sales of today (a sparkline, its numbers on O: Reports), and alerts."""

    TITLE = "Today"
    DEFAULT_CSS = """
    Today #today-figures { height: auto; }
    Today Sparkline { height: 1; width: 48; }
    Today #today-alerts { height: auto; color: $warning; }
    """

    def __init__(self) -> None:
        super().__init__(id="dash-today")

    def compose(self) -> ComposeResult:
        yield Label(self.TITLE, classes="panel-title", id="today-title")
        yield Static("", id="today-figures")
        yield Sparkline([], id="today-plot")
        yield Static("", id="today-alerts")

    def load(self, ctx, user):
        return reports.dashboard(ctx, user)

    def show(self, d: reports.Dashboard) -> None:
        ctx = self.app.ctx

        def text(v, kind):
            return money_text(ctx, v) if kind == "money" else str(v)
        parts = []
        for _k, label, now, before, kind in d.figures:
            parts.append(f"{label} [b]{text(now, kind)}[/b]" + (f" ({text(before, kind)})" if before >= 0 else ""))
        self.query_one("#today-title", Label).update(
            f"Today {d.today} by {d.hour:02d}h  (same weekday last week, {d.last_week}, by the same hour)")
        self.query_one("#today-figures", Static).update("  ".join(parts))
        values = [v for _h, v in d.hourly]
        self.query_one("#today-plot", Sparkline).data = values if any(values) else []
        self.query_one("#today-alerts", Static).update(escape("; ".join(d.alerts)))


#: the dashboard's panels, top to bottom
PANELS: list[type[Panel]] = [PendingApprovals, Today, OpenDrawers, RefundsDue, TreasuryWaiting]


class DashboardScreen(HomeScreen):
    AREA = "dashboard"
    TITLE = "Dashboard"

    DEFAULT_CSS = """
    DashboardScreen { align: left top; }
    DashboardScreen #dash-who { height: 1; padding: 0 1; text-style: bold; }
    DashboardScreen #dash-areas { height: auto; padding: 0 1; color: $text-muted; }
    DashboardScreen #dash-panels { height: 1fr; padding: 0 1; }
    DashboardScreen Panel { margin: 1 0 0 0; }
    DashboardScreen #dash-status { height: 1; padding: 0 1; }
    DashboardScreen #dash-status.error { color: $error; text-style: bold; }
    """

    BINDINGS = [
        Binding("f6", "refresh_panels", "Refresh", id="dashboard_refresh"),
        Binding("f7", "log", "Log", id="dashboard_log"),
        Binding("enter", "grant", "Grant", id="dashboard_grant"),
        Binding("r", "refuse", "Refuse", id="dashboard_refuse"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        yield Static(id="dash-who")
        yield Static(id="dash-areas")
        with Vertical(id="dash-panels"):
            for panel in PANELS:
                yield panel()
        yield Static("", id="dash-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.refresh_info()
        self.action_refresh_panels()
        self.set_interval(REFRESH_S, self.action_refresh_panels)
        self.query_one("#requests-table", DataTable).focus()

    def on_screen_resume(self) -> None:
        self.refresh_info()
        self.action_refresh_panels()

    def refresh_info(self) -> None:
        from screens import AREA_KEYS
        from screens.help import key_label
        app = self.app
        user = app.user
        if user is None:
            return
        ctx = app.ctx
        where = f"via {ctx.origin}" if ctx.origin else ctx.config.store.name
        self.query_one("#dash-who", Static).update(
            f"{user.full_name or user.name} ({user.role})  terminal {ctx.terminal}  {where}")
        keys = [f"[b]{key_label(app, Binding(key, ''))}[/b] {label}" for name, (key, label, _a) in AREA_KEYS.items()
                if app.may_open(name)]
        if permissions.decide(user.role, "log.view") == permissions.ALLOW:
            keys.append("[b]F7[/b] Log")
        keys += ["[b]F8[/b] Lock", "[b]F9[/b] Logout", "[b]F10[/b] Quit"]
        self.query_one("#dash-areas", Static).update(key_lines(keys, self.app.size.width - 2))
        self.refresh_bindings()

    def status(self, text: str, error: bool = False) -> None:
        s = self.query_one("#dash-status", Static)
        s.update(text)
        s.set_class(error, "error")

    # ------------------------------------------------------------ panels ---
    def action_refresh_panels(self) -> None:
        if self.app.user is not None and self.is_attached:
            self._load_panels()

    @work(thread=True, exit_on_error=False, group="dashboard", exclusive=True)
    def _load_panels(self) -> None:
        ctx, user = self.app.ctx, self.app.user
        panels = list(self.query(Panel))
        results = []
        try:
            for p in panels:
                results.append((p, p.load(ctx, user)))
        except StationError as e:
            self.from_thread(self.status, str(e), True)
            return
        except Exception as e:  # noqa: BLE001 - a dashboard that cannot read says so
            self.from_thread(self.status, f"cannot read the dashboard: {e.__class__.__name__}", True)
            return
        finally:
            release_thread_connection(ctx)
        self.from_thread(self._show_panels, results)

    def _show_panels(self, results) -> None:
        for panel, data in results:
            if panel.is_attached:
                panel.show(data)

    # ---------------------------------------------------------- requests ---
    def _selected(self) -> authority.PendingRequest | None:
        return self.query_one(PendingApprovals).selected()

    @on(DataTable.RowSelected, "#requests-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_grant()

    def action_grant(self) -> None:
        r = self._selected()
        if r is None:
            self.status("no request selected", True)
            return

        def done(approval) -> None:
            if approval is not None:
                self.status(f"request #{r.id} granted: {action_words(r.action)} for {r.requester} at {r.terminal}")
            self.action_refresh_panels()

        self.app.push_screen(GrantDialog(r), done)

    def action_refuse(self) -> None:
        r = self._selected()
        if r is None:
            self.status("no request selected", True)
            return
        def answer(yes) -> None:
            if yes:
                self._refuse(r)

        self.app.push_screen(Confirm(f"Refuse request #{r.id}: {action_words(r.action)} for {r.requester} "
                                     f"at {r.terminal}?"), answer)

    @work(thread=True, exit_on_error=False, group="dashboard-refuse")
    def _refuse(self, r: authority.PendingRequest) -> None:
        ctx = self.app.ctx
        try:
            authority.refuse_request(ctx, self.app.user, r.id)
        except StationError as e:
            self.from_thread(self.status, str(e), True)
            return
        finally:
            release_thread_connection(ctx)
        self.from_thread(self.status, f"request #{r.id} refused")
        self.from_thread(self.action_refresh_panels)

    def action_log(self) -> None:
        from screens.log import LogScreen
        self.app.push_screen(LogScreen())

    def check_action(self, action: str, parameters) -> bool | None:
        if action in ("grant", "refuse"):
            return bool(self.query_one(PendingApprovals).requests)
        if action == "log":
            user = self.app.user
            return user is not None and permissions.decide(user.role, "log.view") == permissions.ALLOW
        return super().check_action(action, parameters)


class GrantDialog(StationModal):
    """Grant one waiting request: the logged-in manager's PIN, then their
    authenticator code where the role needs one. Dismisses with the Approval or None.

    The dialog takes the keys itself (digits, Backspace, Enter, Escape) into
    one field at a time, so a PIN and a code typed in one burst over SSH
    ("3333 Enter 123456 Enter") land in their fields in the order typed."""

    DEFAULT_CSS = """
    GrantDialog { align: center middle; }
    GrantDialog > #grant-box { width: 64; max-width: 100%; height: auto; border: thick $warning;
                               background: $surface; padding: 0 1; }
    GrantDialog #grant-title { text-style: bold; width: 100%; content-align: center middle; }
    GrantDialog #grant-what { margin: 0 0 1 0; }
    GrantDialog .row { height: 1; margin: 0 0 1 0; }
    GrantDialog .field-label { width: 20; }
    GrantDialog .field { width: 1fr; height: 1; padding: 0 1; background: $boost; }
    GrantDialog .field.active { background: $accent 30%; }
    GrantDialog #grant-error { color: $error; text-style: bold; height: auto; }
    GrantDialog .hidden { display: none; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="grant_cancel")]
    LIMITS = {"pin": 8, "code": 6}

    def __init__(self, request: authority.PendingRequest) -> None:
        super().__init__()
        self.request = request
        self.busy = False
        self.values = {"pin": "", "code": ""}
        self.field = "pin"
        self.needs_code = False
        self._hold = None

    def compose(self) -> ComposeResult:
        r = self.request
        ctx = self.app.ctx
        self.needs_code = authority.needs_totp(ctx, self.app.user)
        what = [f"[b]{escape(action_words(r.action))}[/b]"]
        amt = amount_words(ctx, r.action, r.amount)
        if amt is not None:
            what.append(f"Amount: [b]{escape(amt)}[/b]")
        if r.ref is not None:
            what.append(f"For: {escape(r.ref)}")
        where = r.terminal + (f" ({r.origin})" if r.origin else "")
        what.append(f"Asked by: {escape(r.requester)} at {escape(where)}, {r.created_at:%H:%M} UTC")
        if r.reason:
            what.append(f"Reason: {escape(r.reason)}")
        with Vertical(id="grant-box"):
            yield Label(f"Grant request #{r.id}", id="grant-title")
            yield Static("\n".join(what), id="grant-what")
            with Horizontal(classes="row"):
                yield Label(f"PIN of {self.app.user.name}", classes="field-label")
                yield Static("", id="grant-pin", classes="field active")
            with Horizontal(classes="row" + ("" if self.needs_code else " hidden")):
                yield Label("Authenticator code", classes="field-label")
                yield Static("", id="grant-code", classes="field")
            yield Static("", id="grant-error")
            yield Static("digits, Enter: next / grant   Backspace   Esc: cancel", id="grant-keys")

    def on_mount(self) -> None:
        self._show_fields()

    def _show_fields(self) -> None:
        pin, code = self.values["pin"], self.values["code"]
        self.query_one("#grant-pin", Static).update("\u2022" * len(pin) if pin else "PIN")
        self.query_one("#grant-code", Static).update(code or "6 digits")
        self.query_one("#grant-pin").set_class(self.field == "pin", "active")
        self.query_one("#grant-code").set_class(self.field == "code", "active")

    def _error(self, text: str) -> None:
        self.query_one("#grant-error", Static).update(text)

    def on_key(self, event) -> None:
        if event.key == "escape":
            return   # the binding cancels
        event.stop()
        event.prevent_default()
        if self.busy:
            return
        value = self.values[self.field]
        if event.character is not None and event.character.isdigit() and event.character.isascii():
            if len(value) < self.LIMITS[self.field]:
                self.values[self.field] = value + event.character
        elif event.key == "backspace":
            self.values[self.field] = value[:-1]
        elif event.key == "enter":
            self._enter()
        self._show_fields()

    def _enter(self) -> None:
        if self.field == "pin":
            if not self.values["pin"]:
                self._error("type your PIN")
            elif self.needs_code:
                self.field = "code"
            else:
                self._submit()
        elif len(self.values["code"]) != 6:
            self._error("the authenticator code is 6 digits")
        else:
            self._submit()

    def _submit(self) -> None:
        self.busy = True
        self._hold = self.hold("granting")   # keys typed now follow the answer
        self._error("checking ...")
        self._grant(self.values["pin"], self.values["code"] if self.needs_code else None)

    @work(thread=True, exit_on_error=False, group="grant")
    def _grant(self, pin: str, code: str | None) -> None:
        ctx = self.app.ctx
        try:
            a = authority.grant_request(ctx, self.app.user.name, pin, code, self.request.id)
        except StationError as e:
            self.from_thread(self._failed, e)
        except Exception as e:  # noqa: BLE001 - never a traceback on screen
            self.from_thread(self._failed, StationError(f"the grant could not be recorded: "
                                                        f"{e.__class__.__name__}"))
        else:
            self.from_thread(self._granted, a)
        finally:
            release_thread_connection(ctx)

    def _release(self) -> None:
        if self._hold is not None:
            self._hold.release()
            self._hold = None

    def _granted(self, approval) -> None:
        self.busy = False
        self.dismiss(approval)
        self._release()

    def _failed(self, e: StationError) -> None:
        self.busy = False
        self._release()
        self._error(str(e))
        self.values["code"] = ""
        if isinstance(e, AuthFailed) and "TOTP" in str(e):
            self.field = "code"
        else:
            self.values["pin"] = ""
            self.field = "pin"
        self._show_fields()

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)
