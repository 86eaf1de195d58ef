"""The manager-override dialog.

``ApprovalDialog(action, amount=None, ref=None, reason_required=False, title=None)``
is a ModalScreen that returns the unused :class:`data.models.Approval` (ready to
be passed to the service as ``approval=``) or ``None`` when cancelled (Escape:
nothing happens, nothing is recorded).

It only asks and shows: every rule (who may approve, PIN, TOTP with replay
refusal, lockout, "not the requester") lives in :func:`station.authority.approve`.

F2 asks a manager at another terminal instead (or over SSH):
:func:`station.authority.request_approval` leaves the request in the database,
the dialog waits (polling :func:`~station.authority.request_state`) and
dismisses with the granted Approval as soon as it arrives; a refusal or an
expiry is shown; Escape stops waiting (the request is cancelled).
"""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from screens.base import StationModal
from screens.format import error_text, money_text
from station import authority, permissions
from station.context import release_thread_connection
from station.money import format_amount
from station.errors import AuthFailed, LockedOut, PermissionDenied, StationError

#: how each action reads to the person approving it
ACTION_WORDS = {
    "sale.void_ticket": "Void the whole ticket",
    "sale.void_line": "Void a line",
    "sale.price_override": "Override a price",
    "sale.discount": "Give a discount",
    "sale.tender": "Take payment",
    "receipt.reprint": "Reprint a receipt",
    "drawer.no_sale": "Open the drawer without a sale",
    "drawer.paid_out": "Pay cash out of the drawer",
    "drawer.paid_in": "Pay cash into the drawer",
    "drawer.close": "Close the drawer with a variance",
    "drawer.drop": "Drop cash to the safe",
    "refund.process": "Refund more than a cashier may alone",
    "refund.override": "Refund late, without a receipt or by another method",
    "refund.post_void": "Post-void the last sale",
    "refund.post_void_late": "Post-void a sale after the window",
}


def action_words(action: str) -> str:
    if action in ACTION_WORDS:
        return ACTION_WORDS[action]
    words = action.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def amount_words(ctx, action: str, amount: int | None) -> str | None:
    """The amount as the approver should read it (money, or a percentage)."""
    if amount is None:
        return None
    kind = permissions.LIMITS.get(action, (None, "amount"))[1]
    if kind == "percent":  # basis points
        whole, frac = divmod(abs(amount), 100)
        return f"{'-' if amount < 0 else ''}{whole}" + (f".{frac:02d}".rstrip("0") if frac else "") + " %"
    if ctx is None:   # no store (a bare test host): two decimals
        return format_amount(amount, minor_units=2)
    return money_text(ctx, amount, currency=True)


def ref_words(action: str, ref: str) -> str:
    """What the approval is for, as the approver reads it (``ref`` of the
    service's NeedsApproval: a ticket, "ticket:line", or a drawer session)."""
    if action.startswith("drawer."):
        return f"For: drawer session {ref}"
    if action.startswith("refund."):
        return f"For: {ref} (this refund and amount, once)"
    if action.startswith(("sale.", "receipt.")):
        ticket, _, line = ref.partition(":")
        return f"For: ticket {ticket}" + (" (the selected line)" if line else "")
    return f"For: {ref}"


class ApprovalDialog(StationModal):
    HELP_TITLE = "Manager approval"
    """Ask a manager to approve exactly one action. Dismisses with the Approval or None."""

    DEFAULT_CSS = """
    ApprovalDialog {
        align: center middle;
    }
    ApprovalDialog > #approval-box {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    ApprovalDialog #approval-title {
        text-style: bold;
        width: 100%;
        content-align: center middle;
    }
    ApprovalDialog #approval-what {
        margin: 0 0 1 0;
    }
    ApprovalDialog .row {
        height: 1;
        margin: 0 0 1 0;
    }
    ApprovalDialog .field-label {
        width: 20;
        margin: 0;
    }
    ApprovalDialog Input {
        width: 1fr;
        height: 1;
        border: none;
        padding: 0 1;
        margin: 0;
        background: $boost;
    }
    ApprovalDialog Input:focus {
        border: none;
        background: $accent 30%;
    }
    ApprovalDialog #approval-error {
        color: $error;
        text-style: bold;
        height: auto;
    }
    ApprovalDialog #approval-keys {
        color: $text-muted;
    }
    ApprovalDialog .hidden {
        display: none;
    }
    ApprovalDialog #approval-box.waiting .row {
        display: none;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="approval_cancel"),
        Binding("f2", "ask_elsewhere", "Ask a manager elsewhere", id="approval_elsewhere"),
    ]

    #: seconds between two looks at a request waiting for a manager elsewhere
    POLL_S = 1.0

    def __init__(self, action: str, amount: int | None = None, ref=None,
                 reason_required: bool = False, title: str | None = None) -> None:
        super().__init__()
        self.action = action
        self.amount = amount
        self.ref = None if ref is None else str(ref)
        self.reason_required = reason_required
        self.title_text = title or "Manager approval"
        self.busy = False
        self._hold = None
        self.code_needed = False
        self.last_error: str | None = None
        self.request_id: int | None = None     # waiting for a manager elsewhere
        self._poll_timer = None

    # ------------------------------------------------------------ layout ---
    def compose(self) -> ComposeResult:
        ctx = getattr(self.app, "ctx", None)
        user = getattr(self.app, "user", None)
        what = [f"[b]{action_words(self.action)}[/b]"]
        amt = amount_words(ctx, self.action, self.amount)
        if amt is not None:
            what.append(f"Amount: [b]{amt}[/b]")
        if self.ref is not None:
            what.append(ref_words(self.action, self.ref))
        if user is not None:
            what.append(f"Asked by: {user.name}")
        with Vertical(id="approval-box"):
            yield Label(self.title_text, id="approval-title")
            yield Static("\n".join(what), id="approval-what", markup=True)
            with Horizontal(classes="row"):
                yield Label("Approver", classes="field-label")
                yield Input(placeholder="user name", id="approver", max_length=64)
            with Horizontal(classes="row"):
                yield Label("PIN", classes="field-label")
                yield Input(placeholder="PIN", id="pin", password=True, max_length=8, restrict=r"[0-9]*")
            with Horizontal(classes="row hidden", id="code-row"):
                yield Label("Authenticator code", classes="field-label", id="code-label")
                yield Input(placeholder="6 digits", id="code", max_length=6, restrict=r"[0-9]*")
            if self.reason_required:
                with Horizontal(classes="row"):
                    yield Label("Reason", classes="field-label")
                    yield Input(placeholder="why", id="reason", max_length=200)
            yield Static("", id="approval-waiting", classes="hidden")
            yield Static("", id="approval-error")
            yield Static("Enter: next / approve   F2: ask a manager elsewhere   Esc: cancel", id="approval-keys")

    def on_mount(self) -> None:
        self.query_one("#approver", Input).focus()

    # ------------------------------------------------------------- flow ---
    def _needs_code(self, name: str) -> bool:
        """Whether to ask for a TOTP code: the approver's role needs one (by config).
        An unknown name asks for none; approve() then refuses it with one message."""
        ctx = getattr(self.app, "ctx", None)
        return ctx is not None and authority.asks_totp(ctx, name)

    def _set_code_visible(self, visible: bool) -> None:
        self.code_needed = visible
        self.query_one("#code-row").set_class(not visible, "hidden")

    def _show_error(self, message: str) -> None:
        self.last_error = message
        self.query_one("#approval-error", Static).update(message)

    @on(Input.Submitted, "#approver")
    def _approver_done(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self._show_error("type the approver's user name")
            return
        self._set_code_visible(self._needs_code(event.value))
        self.query_one("#pin", Input).focus()

    @on(Input.Submitted, "#pin")
    def _pin_done(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self._show_error("type the approver's PIN")
            return
        self._set_code_visible(self._needs_code(self.query_one("#approver", Input).value))
        if self.code_needed:
            self.query_one("#code", Input).focus()
        elif self.reason_required:
            self.query_one("#reason", Input).focus()
        else:
            self._submit()

    @on(Input.Submitted, "#code")
    def _code_done(self, event: Input.Submitted) -> None:
        event.stop()
        if len(event.value) != 6:
            self._show_error("the authenticator code is 6 digits")
            return
        if self.reason_required:
            self.query_one("#reason", Input).focus()
        else:
            self._submit()

    @on(Input.Submitted, "#reason")
    def _reason_done(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self._show_error("a reason is required")
            return
        self._submit()

    def _submit(self) -> None:
        if self.busy:
            return
        name = self.query_one("#approver", Input).value.strip()
        pin = self.query_one("#pin", Input).value
        if not name:
            self._show_error("type the approver's user name")
            self.query_one("#approver", Input).focus()
            return
        if not pin:
            self._show_error("type the approver's PIN")
            self.query_one("#pin", Input).focus()
            return
        code = self.query_one("#code", Input).value if self.code_needed else None
        reason = self.query_one("#reason", Input).value.strip() if self.reason_required else ""
        self.busy = True
        self._hold = self.hold("checking the approval")   # keys typed now follow the answer
        self._show_error("checking ...")
        self._approve(name, pin, code, reason)

    @work(thread=True, exit_on_error=False, group="approval")
    def _approve(self, name: str, pin: str, code: str | None, reason: str) -> None:
        ctx = self.app.ctx
        try:
            a = authority.approve(ctx, self.app.user, name, pin, code, self.action,
                                  amount=self.amount, ref=self.ref, reason=reason)
        except StationError as e:
            self.from_thread(self._failed, e)
        except Exception as e:  # never a traceback on screen
            self.from_thread(self._failed, StationError(f"the approval could not be recorded: {error_text(e)}"))
        else:
            self.from_thread(self._approved, a)
        finally:
            release_thread_connection(ctx)

    def _release(self) -> None:
        if self._hold is not None:
            self._hold.release()
            self._hold = None

    def _approved(self, approval) -> None:
        self.busy = False
        self.dismiss(approval)
        self._release()

    def _failed(self, e: StationError) -> None:
        self.busy = False
        self._release()
        msg = str(e)
        self._show_error(msg)
        pin = self.query_one("#pin", Input)
        code = self.query_one("#code", Input)
        code.value = ""
        if isinstance(e, LockedOut) or isinstance(e, PermissionDenied):
            pin.value = ""
            approver = self.query_one("#approver", Input)
            approver.focus()
            approver.action_select_all() if hasattr(approver, "action_select_all") else None
        elif isinstance(e, AuthFailed) and ("TOTP" in msg or "code" in msg):
            self._set_code_visible(True)
            code.focus()
        else:
            pin.value = ""
            pin.focus()

    def action_cancel(self) -> None:
        if self.busy:
            return  # the approval is being recorded; its answer decides
        if self.request_id is not None:
            self._stop_waiting()
            request_id, user, ctx = self.request_id, self.app.user, self.app.ctx
            self.request_id = None
            self.app.run_worker(lambda: _cancel_request(ctx, user, request_id), thread=True,
                                exit_on_error=False, group="approval-cancel")
        self.dismiss(None)

    # ------------------------------------------- a manager at another terminal
    def action_ask_elsewhere(self) -> None:
        if self.busy or self.request_id is not None:
            return
        reason = ""
        if self.reason_required:
            reason = self.query_one("#reason", Input).value.strip()
            if not reason:
                self._show_error("type the reason first: the manager reads it")
                self.query_one("#reason", Input).focus()
                return
        self.busy = True
        self._hold = self.hold("asking a manager elsewhere")   # keys typed now follow the answer
        self._show_error("asking ...")
        self._request(reason)

    @work(thread=True, exit_on_error=False, group="approval-request")
    def _request(self, reason: str) -> None:
        ctx = self.app.ctx
        try:
            r = authority.request_approval(ctx, self.app.user, self.action, amount=self.amount, ref=self.ref,
                                           reason=reason)
        except StationError as e:
            self.from_thread(self._failed, e)
        except Exception as e:  # noqa: BLE001 - never a traceback on screen
            self.from_thread(self._failed, StationError(f"the request could not be recorded: "
                                                        f"{e.__class__.__name__}"))
        else:
            self.from_thread(self._waiting, r.id, r.expires_at)
        finally:
            release_thread_connection(ctx)

    def _waiting(self, request_id: int, expires_at) -> None:
        self.busy = False
        self._release()
        self.request_id = request_id
        self.query_one("#approval-box").add_class("waiting")
        w = self.query_one("#approval-waiting", Static)
        w.update(f"Waiting for a manager at another terminal (request #{request_id}, "
                 f"until {expires_at:%H:%M} UTC) ...")
        w.remove_class("hidden")
        self._show_error("")
        self.query_one("#approval-keys", Static).update("Esc: stop waiting (nothing happens)")
        self.set_focus(None)
        self._poll_timer = self.set_interval(self.POLL_S, self._poll)

    def _stop_waiting(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None

    def _poll(self) -> None:
        if self.request_id is not None:
            self._look(self.request_id)

    @work(thread=True, exit_on_error=False, group="approval-poll", exclusive=True)
    def _look(self, request_id: int) -> None:
        ctx = self.app.ctx
        try:
            st = authority.request_state(ctx, request_id)
            approval = authority.granted_approval(ctx, st)
        except Exception:  # noqa: BLE001 - the next look tries again (the database may be back)
            return
        finally:
            release_thread_connection(ctx)
        self.from_thread(self._answered, st, approval)

    def _answered(self, st, approval) -> None:
        if st.id != self.request_id or st.status == "pending":
            return
        self._stop_waiting()
        self.request_id = None
        if st.status == "granted":
            self.dismiss(approval)
            return
        words = {"refused": f"refused by {st.decided_by}" + (f": {st.note}" if st.note else ""),
                 "expired": "no manager answered in time",
                 "cancelled": "the request was cancelled"}.get(st.status, st.status)
        self.query_one("#approval-box").remove_class("waiting")
        self.query_one("#approval-waiting", Static).add_class("hidden")
        self.query_one("#approval-keys", Static).update(
            "Enter: next / approve   F2: ask a manager elsewhere   Esc: cancel")
        self._show_error(f"request #{st.id} {words}")
        self.query_one("#approver", Input).focus()


def _cancel_request(ctx, user, request_id: int) -> None:
    """The asking terminal stopped waiting (a worker of the app: the dialog is gone)."""
    try:
        authority.cancel_request(ctx, user, request_id)
    finally:
        release_thread_connection(ctx)
