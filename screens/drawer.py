"""The drawer screen (area "drawer"): open with a counted float, paid in, paid
out, drop to the safe, no-sale, X report, blind close with the Z report.

Thin: every key is one call of :mod:`station.drawer`; every rule (one open
session per drawer and cashier, limits, approvals, "not more than the expected
cash", reasons) lives there. Service calls run in thread workers (a drawer kick
may wait for a serial timeout) and come back with ``call_from_thread``. When a
service answers NeedsApproval, the manager-override dialog
(:class:`screens.approval.ApprovalDialog`) is pushed and the call repeated
with the approval. A failed kick is shown, never hidden.
"""
from __future__ import annotations

from typing import Any, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from screens import format as fmt
from screens.approval import ApprovalDialog
from screens.base import StationModal, StationScreen
from screens.format import error_text
from screens.count import CountScreen
from screens.widgets import KeyFooter
from station import drawer as svc
from station import permissions, reports
from station.context import release_thread_connection
from station.errors import NeedsApproval, StationError
from station.hardware import drawer as hw

TITLES = {"paid_in": "Paid in", "paid_out": "Paid out", "drop": "Drop to the safe", "no_sale": "No sale"}


def money_text(ctx, amount: int | None) -> str:
    return fmt.money_text(ctx, amount, none="-")


def sees_expected(ctx, user) -> bool:
    """Under blind close a cashier does not see the expected cash before counting."""
    if not ctx.config.values["drawer"]["blind_close"]:
        return True
    return user is not None and permissions.decide(user.role, "drawer.view_all") == permissions.ALLOW


# ------------------------------------------------------------- dialogs ---

class MovementDialog(StationModal):
    """Amount (not for no-sale), reason (arrows + Enter), note. Dismisses with
    ``{"amount": text, "reason": str, "note": str}`` or None (Escape)."""

    DEFAULT_CSS = """
    MovementDialog { align: center middle; }
    MovementDialog > Vertical { width: 60; max-width: 100%; height: auto; max-height: 100%;
                                border: thick $accent; background: $surface; padding: 0 1; }
    MovementDialog #mv-title { text-style: bold; }
    MovementDialog OptionList { height: auto; max-height: 9; }
    MovementDialog #mv-error { color: $error; text-style: bold; height: auto; }
    MovementDialog #mv-keys { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="movement_cancel")]

    def __init__(self, kind: str, reasons: list[str], check_amount: Callable[[str], Any] | None = None,
                 default_reason: str | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.reasons = list(reasons)
        self.check_amount = check_amount
        self.default_reason = default_reason
        self.last_error: str | None = None

    def help_name(self) -> str:
        return TITLES.get(self.kind, self.kind)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(TITLES.get(self.kind, self.kind), id="mv-title")
            if self.kind != "no_sale":
                yield Label("Amount")
                yield Input(id="mv-amount", max_length=16, placeholder="e.g. 12.50")
            yield Label("Reason (arrows, Enter)")
            yield OptionList(*[Option(r, id=f"r{i}") for i, r in enumerate(self.reasons)], id="mv-reason")
            yield Label("Note (optional)")
            yield Input(id="mv-note", max_length=200)
            yield Static("", id="mv-error")
            yield Static("Enter: next   Esc: cancel", id="mv-keys")

    def on_mount(self) -> None:
        ol = self.query_one("#mv-reason", OptionList)
        if self.default_reason in self.reasons:
            ol.highlighted = self.reasons.index(self.default_reason)
        elif self.reasons:
            ol.highlighted = 0
        if self.kind != "no_sale":
            self.query_one("#mv-amount", Input).focus()
        else:
            ol.focus()

    def _error(self, message: str) -> None:
        self.last_error = message
        self.query_one("#mv-error", Static).update(message)
        self.app.bell()

    @on(Input.Submitted, "#mv-amount")
    def _amount_done(self, event: Input.Submitted) -> None:
        event.stop()
        if self.check_amount is not None:
            try:
                self.check_amount(event.value)
            except StationError as e:
                self._error(str(e))
                return
        self.last_error = None
        self.query_one("#mv-error", Static).update("")
        self.query_one("#mv-reason", OptionList).focus()

    @on(OptionList.OptionSelected, "#mv-reason")
    def _reason_done(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.query_one("#mv-note", Input).focus()

    @on(Input.Submitted, "#mv-note")
    def _note_done(self, event: Input.Submitted) -> None:
        event.stop()
        ol = self.query_one("#mv-reason", OptionList)
        if ol.highlighted is None:
            self._error("choose a reason")
            ol.focus()
            return
        amount = self.query_one("#mv-amount", Input).value if self.kind != "no_sale" else ""
        self.dismiss({"amount": amount, "reason": self.reasons[ol.highlighted], "note": event.value})

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReportScreen(StationScreen):
    """A report (lines of text) to read; F8 prints it, Escape goes back."""

    DEFAULT_CSS = """
    ReportScreen VerticalScroll { height: 1fr; }
    ReportScreen #report-text { width: auto; padding: 0 2; }
    ReportScreen #report-message { height: auto; }
    ReportScreen #report-message.error { color: $error; text-style: bold; }
    """
    BINDINGS = [
        Binding("f8", "print", "Print", id="report_print"),
        # priority: the scrolling text binds these keys too (hidden); here they are named
        Binding("pagedown", "page(1)", "More", priority=True, id="report_page_down"),
        Binding("pageup", "page(-1)", "Back up", priority=True, id="report_page_up"),
        Binding("down", "line(1)", "Down", show=False, priority=True, id="report_down"),
        Binding("up", "line(-1)", "Up", show=False, priority=True, id="report_up"),
        Binding("escape", "back", "Back", id="report_back"),
    ]

    def __init__(self, data: dict, *, copy: bool = False, hide_expected: bool = False,
                 message: str = "", error: bool = False, auto_print: bool = False) -> None:
        super().__init__()
        self.data, self.is_copy, self.hide_expected = data, copy, hide_expected
        self.message, self.is_error = message, error
        self.auto_print = auto_print

    def help_name(self) -> str:
        kind = str(self.data.get("kind", "")).upper()
        return f"{kind} report" if kind else "Report"

    def on_mount(self) -> None:
        if self.auto_print:
            self.action_print()

    def action_page(self, direction: int) -> None:
        scroll = self.query_one(VerticalScroll)
        (scroll.scroll_page_down if direction > 0 else scroll.scroll_page_up)(animate=False)

    def action_line(self, direction: int) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=direction, animate=False)

    def compose(self) -> ComposeResult:
        width = self.app.ctx.config.values["printer"]["width"]
        with VerticalScroll():
            yield Static("\n".join(reports.lines(self.data, width, copy=self.is_copy,
                                                 hide_expected=self.hide_expected)), id="report-text")
        yield Static(self.message, id="report-message", classes="error" if self.is_error else "")
        yield KeyFooter()

    def show(self, message: str, error: bool = False) -> None:
        self.message, self.is_error = message, error
        m = self.query_one("#report-message", Static)
        m.update(message)
        m.set_class(error, "error")

    def action_print(self) -> None:
        self.show("printing ...")
        self._print()

    @work(thread=True, exit_on_error=False, group="report-print")
    def _print(self) -> None:
        ctx = self.app.ctx
        try:
            msg = reports.print_report(ctx, self.data, copy=self.is_copy)
            self.from_thread(self.show, msg)
        except StationError as e:
            self.from_thread(self.show, f"not printed: {e}", True)
        except Exception as e:  # noqa: BLE001
            self.from_thread(self.show, f"not printed: {error_text(e)}", True)
        finally:
            release_thread_connection(ctx)

    def action_back(self) -> None:
        self.dismiss()


# -------------------------------------------------------------- screen ---

class DrawerScreen(StationScreen):
    """This terminal's drawer session."""

    AREA = "drawer"
    TITLE = "Drawer"

    DEFAULT_CSS = """
    DrawerScreen { layout: vertical; }
    DrawerScreen #drawer-title { height: 1; text-style: bold; padding: 0 1; }
    DrawerScreen #drawer-state { height: auto; padding: 0 1; border: round $primary; }
    DrawerScreen #drawer-log { height: 1fr; padding: 0 1; }
    DrawerScreen #drawer-message { height: auto; padding: 0 1; }
    DrawerScreen #drawer-message.error { color: $error; text-style: bold; }
    DrawerScreen #drawer-message.warning { color: $warning; text-style: bold; }
    """

    BINDINGS = [
        Binding("f2", "open_drawer", "Open", id="drawer_open"),
        Binding("f3", "movement('paid_in')", "Paid in", id="drawer_paid_in"),
        Binding("f4", "movement('paid_out')", "Paid out", id="drawer_paid_out"),
        Binding("f5", "movement('drop')", "Drop", id="drawer_drop"),
        Binding("f6", "movement('no_sale')", "No sale", id="drawer_no_sale"),
        Binding("f7", "x_report", "X report", id="drawer_x_report"),
        Binding("f9", "close_drawer", "Close", id="drawer_close"),
        Binding("f10", "last_z", "Last Z", id="drawer_last_z"),
        Binding("escape", "back", "Back", id="drawer_back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.session: svc.SessionView | None = None
        self.busy = False
        self.last_message = ""
        self.log_lines: list[str] = []
        self.last_z: dict | None = None

    @property
    def ctx(self):
        return self.app.ctx

    @property
    def user(self):
        return self.app.user

    def compose(self) -> ComposeResult:
        yield Label("Drawer", id="drawer-title")
        yield Static("", id="drawer-state")
        yield Static("", id="drawer-log")
        yield Static("", id="drawer-message")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#drawer-title", Label).update(f"Drawer {self.ctx.drawer} - terminal {self.ctx.terminal}")
        self.refresh_state()
        if self.ctx.config.values["drawer"]["status"]:
            self._poll_status()
            self.set_interval(5, self._poll_status)

    # ------------------------------------------------------------ display ---
    def show(self, message: str, level: str = "info") -> None:
        self.last_message = message
        m = self.query_one("#drawer-message", Static)
        m.update(message)
        m.set_class(level == "error", "error")
        m.set_class(level == "warning", "warning")

    def log_line(self, text: str) -> None:
        self.log_lines = (self.log_lines + [text])[-12:]
        self.query_one("#drawer-log", Static).update("\n".join(self.log_lines))

    def _render_state(self, s: svc.SessionView | None) -> None:
        self.session = s
        st = self.query_one("#drawer-state", Static)
        if s is None:
            st.update("No session open on this drawer.  F2: count the float and open")
            return
        lines = [f"Session {s.id} open since {s.opened_at:%H:%M} for {s.cashier}",
                 f"Float {money_text(self.ctx, s.float_amount)}"]
        if sees_expected(self.ctx, self.user):
            lines[-1] += f"    Expected cash {money_text(self.ctx, s.expected_cash)}"
        st.update("\n".join(lines))

    def refresh_state(self) -> None:
        self._run(lambda: svc.current_session(self.ctx), self._render_state, busy=False)

    # ------------------------------------------------------------- workers ---
    def _run(self, fn: Callable[[], Any], on_ok: Callable[[Any], None], *, busy: bool = True,
             retry: Callable[[Any], Callable[[], Any]] | None = None, reason_required: bool = False) -> None:
        """Run ``fn`` in a thread; ``on_ok(result)`` on the UI thread. On
        NeedsApproval ask for it and run ``retry(approval)`` instead."""
        hold = None
        if busy:
            if self.busy:
                self.show("busy: wait for the last action to finish", "warning")
                return
            self.busy = True
            # its answer may open a dialog or a report: keys typed meanwhile wait for it
            hold = self.hold("drawer action")
        self._worker(fn, on_ok, busy, retry, reason_required, hold)

    @work(thread=True, exit_on_error=False, group="drawer")
    def _worker(self, fn, on_ok, busy, retry, reason_required, hold) -> None:
        try:
            result = fn()
        except NeedsApproval as e:
            self.from_thread(self._needs_approval, e, on_ok, retry, reason_required)
        except StationError as e:
            self.from_thread(self.show, str(e), "error")
        except Exception as e:  # noqa: BLE001 - never a traceback on screen
            self.from_thread(self.show, f"something went wrong: {error_text(e)}", "error")
        else:
            self.from_thread(self._deliver, on_ok, result)
        finally:
            release_thread_connection(self.ctx)
            self.from_thread(self._worker_done, busy, hold)

    def _worker_done(self, busy, hold) -> None:
        if busy:
            self.busy = False
        if hold is not None:
            hold.release()

    def _deliver(self, on_ok, result) -> None:
        try:
            on_ok(result)
        except Exception as e:  # noqa: BLE001 - shown, never a traceback
            self.show(f"done, but the screen could not show it: {error_text(e)}", "error")

    def _needs_approval(self, e: NeedsApproval, on_ok, retry, reason_required) -> None:
        self.show(str(e), "warning")
        if retry is None:
            return

        def done(approval) -> None:
            if approval is None:
                self.show("cancelled: nothing was recorded", "warning")
                return
            self._run(retry(approval), on_ok)
        self.app.push_screen(ApprovalDialog(e.action, e.amount, e.ref, reason_required=reason_required), done)

    # ------------------------------------------------------------- actions ---
    def _denominations(self) -> list[int]:
        return svc.denominations(self.ctx)

    def _fmt(self, v: int) -> str:
        return money_text(self.ctx, v)

    def action_open_drawer(self) -> None:
        if self.session is not None:
            self.show(f"session {self.session.id} is already open: close it first (F9)", "warning")
            return

        def counted(counts) -> None:
            if counts is None:
                self.show("opening cancelled: nothing was recorded", "warning")
                return
            self._run(lambda: svc.open_session(self.ctx, self.user, counts), self.after_open)
        self.app.push_screen(CountScreen(f"Open drawer {self.ctx.drawer}: count the float", self._denominations(),
                                         self._fmt, note="Digits and Enter per row; F10 done; Esc cancel"),
                             counted)

    def after_open(self, v: svc.SessionView) -> None:
        self._render_state(v)
        self.log_line(f"opened session {v.id} with a float of {self._fmt(v.float_amount)}")
        self._show_kick(v.kick, f"drawer open: float {self._fmt(v.float_amount)} recorded")

    def _show_kick(self, k: svc.KickInfo | None, ok_text: str) -> None:
        if k is not None and not k.ok:
            self.show(f"{ok_text}, but {k.message}", "error")
        elif k is not None and k.skipped:
            self.show(f"{ok_text} ({k.message})")
        else:
            self.show(ok_text)

    def action_movement(self, kind: str) -> None:
        if self.session is None:
            self.show("no session is open on this drawer: F2 opens one", "warning")
            return
        reasons = self.ctx.config.values["drawer"]["reasons"]

        def check(text: str) -> None:
            svc.parse_amount(self.ctx, text)

        def entered(form) -> None:
            if form is None:
                self.show("cancelled: nothing was recorded", "warning")
                return
            a, r, n = form["amount"], form["reason"], form["note"]
            if kind == "paid_in":
                fn, retry = (lambda: svc.paid_in(self.ctx, self.user, a, r, n)), None
            elif kind == "paid_out":
                fn = lambda: svc.paid_out(self.ctx, self.user, a, r, n)  # noqa: E731
                retry = lambda ap: (lambda: svc.paid_out(self.ctx, self.user, a, r, n, approval=ap))  # noqa: E731
            elif kind == "drop":
                fn, retry = (lambda: svc.drop(self.ctx, self.user, a, r, n)), None
            else:
                fn = lambda: svc.no_sale(self.ctx, self.user, r, n)  # noqa: E731
                retry = lambda ap: (lambda: svc.no_sale(self.ctx, self.user, r, n, approval=ap))  # noqa: E731
            self._run(fn, self.after_move, retry=retry)
        default = "safe drop" if kind == "drop" else None
        self.app.push_screen(MovementDialog(kind, reasons, None if kind == "no_sale" else check, default), entered)

    def after_move(self, m: svc.MovementView) -> None:
        what = TITLES.get(m.kind, m.kind)
        text = f"{what}: {self._fmt(abs(m.amount))} ({m.reason})" if m.kind != "no_sale" else f"{what} ({m.reason})"
        if m.bag:
            text += f" in bag {m.bag}"
        self.log_line(text + (f" - {m.note}" if m.note else ""))
        self._show_kick(m.kick, f"{text} recorded")
        self.refresh_state()

    def action_x_report(self) -> None:
        self._run(lambda: svc.x_report(self.ctx, self.user), self.show_x)

    def show_x(self, data: dict) -> None:
        self.app.push_screen(ReportScreen(data, hide_expected=not sees_expected(self.ctx, self.user)))

    def action_last_z(self) -> None:
        """The drawer's last Z report from its stored row (a copy); F8 there reprints it."""
        self._run(lambda: svc.z_report(self.ctx),
                  lambda data: self.app.push_screen(ReportScreen(data, copy=True)))

    def action_close_drawer(self) -> None:
        if self.session is None:
            self.show("no session is open on this drawer", "warning")
            return
        blind = self.ctx.config.values["drawer"]["blind_close"]
        note = "Blind count: count every note and coin. Digits and Enter per row; F10 done; Esc cancel"
        if not blind:
            note = f"Expected cash {self._fmt(self.session.expected_cash)}. " + note
        self._run(lambda: svc.kick(self.ctx, self.user, "count", ref=self.session.id),
                  lambda k: self._show_kick(k, "count the drawer") if not k.ok else None, busy=False)

        def counted(counts) -> None:
            if counts is None:
                self.show("close cancelled: the session stays open", "warning")
                return
            fn = lambda: svc.close_session(self.ctx, self.user, counts)  # noqa: E731
            retry = lambda ap: (lambda: svc.close_session(self.ctx, self.user, counts, approval=ap))  # noqa: E731
            self._run(fn, self.after_close, retry=retry, reason_required=True)
        self.app.push_screen(CountScreen(f"Close drawer {self.ctx.drawer}: count the cash", self._denominations(),
                                         self._fmt, note=note), counted)

    def after_close(self, z: svc.ZReportView) -> None:
        self.last_z = z.data
        self._render_state(None)
        sign = "+" if z.variance > 0 else ""
        self.log_line(f"closed: Z {z.z_number}, counted {self._fmt(z.counted)}, expected {self._fmt(z.expected)}, "
                      f"variance {sign}{self._fmt(z.variance)}")
        self.show(f"drawer closed: Z report {z.z_number}, variance {sign}{self._fmt(z.variance)}")
        self.app.push_screen(ReportScreen(z.data, auto_print=True))

    def _poll_status(self) -> None:
        if not self.ctx.config.values["drawer"]["status"]:
            return

        def got(st) -> None:
            if st.known and st.open:
                self.show("drawer still open: close the drawer", "warning")
        self._run(lambda: hw.status(self.ctx), got, busy=False)

    def action_back(self) -> None:
        self.dismiss()
