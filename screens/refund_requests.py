"""Refund requests (from the returns screen, F11): the refunds waiting for a
manager, and the approved ones waiting for their cashier. The list follows the
database (read again every few seconds). A manager grants or refuses the
request on the dashboard of any terminal (its approval request,
``station.authority``); the cashier who asked gives the money back here (F10).
Every rule (who may decide, not one's own request, exactly once) lives in
:mod:`station.authority` and :mod:`station.refund.service`."""
from __future__ import annotations

from typing import Any, Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Static

from screens.base import StationScreen
from screens.format import error_text, money_text, qty_text
from screens.printer import get_printer
from screens.widgets import KeyFooter, PromptDialog
from station.context import release_thread_connection
from station.errors import InvalidInput, StationError
from station.refund import receipt as refund_receipt, service

REFRESH_SECONDS = 3


class RequestsScreen(StationScreen):
    AREA = "refund_requests"
    TITLE = "Refund requests"

    DEFAULT_CSS = """
    RequestsScreen { layout: vertical; }
    RequestsScreen #req-title { height: 1; text-style: bold; padding: 0 1; }
    RequestsScreen #req-list { height: 1fr; padding: 0 1; }
    RequestsScreen #req-detail { height: 4; padding: 0 1; border-top: solid $primary; }
    RequestsScreen #req-message { height: 1; padding: 0 1; }
    RequestsScreen #req-message.error { color: $error; text-style: bold; }
    """

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False, id="requests_up"),
        Binding("down", "move(1)", "Down", show=False, id="requests_down"),
        Binding("f10", "process", "Give back", id="requests_process"),
        Binding("escape", "back", "Back", id="requests_back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[service.RequestView] = []
        self.cursor = 0
        self.busy = False
        self.last_message = ""

    @property
    def ctx(self):
        return self.app.ctx

    @property
    def user(self):
        return self.app.user

    def compose(self) -> ComposeResult:
        yield Label("Refund requests", id="req-title")
        yield Static("", id="req-list")
        yield Static("", id="req-detail")
        yield Label("", id="req-message")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(REFRESH_SECONDS, self.reload)

    def show(self, message: str, error: bool = False) -> None:
        self.last_message = message
        m = self.query_one("#req-message", Label)
        m.update(message)
        m.set_class(error, "error")

    # ------------------------------------------------------------ display ---
    def _show_rows(self) -> None:
        if not self.rows:
            self.query_one("#req-list", Static).update("No refund is waiting.")
            self.query_one("#req-detail", Static).update("")
            return
        self.cursor = min(self.cursor, len(self.rows) - 1)
        out = [f"  {'#':>4} {'Status':<9} {'Till':<5} {'Cashier':<10} {'Sale':<9} {'Amount':>9}  Needs"]
        for n, r in enumerate(self.rows):
            out.append(f"{'>' if n == self.cursor else ' '} {r.id:>4} {r.status:<9} {r.terminal:<5.5} "
                       f"{r.cashier:<10.10} {r.original or 'no rcpt':<9.9} {money_text(self.ctx, r.total):>9}  "
                       f"{r.needs.removeprefix('refund.')}")
        self.query_one("#req-list", Static).update("\n".join(out))
        r = self.rows[self.cursor]
        items = ", ".join(f"{qty_text(q)} x {n}" for n, q in r.lines)
        self.query_one("#req-detail", Static).update(
            f"Request {r.id} by {r.cashier} at {r.created_at:%H:%M}: {r.reason}; {items}\n"
            f"Why a manager: {r.why or '-'}" + (f"\nApproved by {r.approver}: F10 gives the money back"
                                                 if r.approver else "\nWaiting for a manager (dashboard)"))

    def action_move(self, step: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + int(step)))
            self._show_rows()

    # ------------------------------------------------------------ workers ---
    def reload(self) -> None:
        if not self.busy:
            self._run(lambda: service.list_requests(self.ctx), self._loaded, hold=False)

    def _loaded(self, rows) -> None:
        self.rows = rows
        self._show_rows()

    def _run(self, fn: Callable[[], Any], on_ok: Callable[[Any], None], *, hold: bool = True) -> None:
        if self.busy:
            return
        self.busy = True
        self._worker(fn, on_ok, self.hold("refund request") if hold else None)

    @work(thread=True, exit_on_error=False, group="refund-requests")
    def _worker(self, fn, on_ok, hold) -> None:
        try:
            outcome = ("ok", fn())
        except Exception as e:  # noqa: BLE001 - shown, never a traceback
            outcome = ("error", e)
        finally:
            release_thread_connection(self.ctx)
        self.from_thread(self._finish, on_ok, outcome, hold)

    def _finish(self, on_ok, outcome, hold) -> None:
        self.busy = False
        try:
            kind, value = outcome
            if kind == "ok":
                on_ok(value)
            else:
                self.show(str(value) if isinstance(value, StationError) else error_text(value), True)
        finally:
            if hold is not None:
                hold.release()

    def _selected(self) -> service.RequestView | None:
        if not self.rows:
            self.show("no request selected", True)
            return None
        return self.rows[self.cursor]

    # ------------------------------------------------------------ actions ---
    def action_process(self) -> None:
        r = self._selected()
        if r is None:
            return
        if r.status != "approved":
            self.show(f"request {r.id} is waiting for a manager: the dashboard of any terminal grants it", True)
            return
        self._run(lambda: service.request_plan(self.ctx, r.id), lambda plan: self._ask_refs(r, plan))

    def _ask_refs(self, r: service.RequestView, plan: service.Plan) -> None:
        methods = [t.method for t in plan.tenders if t.method != "cash"]
        refs: dict[str, str] = {}

        def ask(i: int) -> None:
            if i >= len(methods):
                self._run(lambda: service.process_request(self.ctx, self.user, r.id, references=refs), self._done)
                return

            def typed(text) -> None:
                if text is not None:
                    refs[methods[i]] = text.strip()
                    ask(i + 1)

            def check(text: str) -> None:
                if not text.strip():
                    raise InvalidInput("type the reference from the slip")
            self.app.push_screen(PromptDialog(f"{methods[i].capitalize()} refund", "reference from the slip",
                                              check=check), typed)
        ask(0)

    def _done(self, res: service.RefundResult) -> None:
        try:
            refund_receipt.submit(get_printer(self.app), self.ctx, res.refund_id, cash=res.cash > 0, user=self.user)
        except Exception as e:  # noqa: BLE001 - printing never undoes the refund
            self.app.notify(f"the refund receipt was not sent to the printer: {e}", severity="warning")
        self.show(f"refund {res.terminal}/{res.refund_no}: {money_text(self.ctx, res.paid_out)} back")
        self.reload()

    def action_back(self) -> None:
        self.dismiss()
