"""PIN login: user name, then PIN (masked). Keyboard only.

Enter after the name moves to the PIN; Enter after the PIN logs in (in a
worker thread: the PIN hash is deliberately slow).

Keys typed faster than the screen repaints (a quick cashier, keys bunched over
SSH) never land in the wrong field: the app's input stream hands out the PIN
keys only once the name's Enter has moved the focus to the masked field, and
holds every key typed after the PIN's Enter until the answer is on screen (the
home screen, or the PIN field again). The rules (lockout shared by every
terminal, disabled users) are ``station.auth``'s; this screen shows its
messages.
"""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Header, Input, Label, Static

from screens.base import StationScreen
from screens.format import error_text
from station import auth
from station.context import release_thread_connection
from station.errors import AuthFailed, LockedOut, StationError


class LoginScreen(StationScreen):
    AREA = "login"
    phase = "name"    # "name", then "pin"
    busy = False
    TITLE = "Login"

    BINDINGS = [
        Binding("escape", "clear", "Clear", id="login_clear"),
        Binding("f10", "quit", "Quit", id="login_quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        ctx = self.app.ctx
        with Vertical(id="login-box"):
            yield Static(ctx.config.store.name, id="login-store")
            yield Static(f"terminal {ctx.terminal}", id="login-terminal")
            yield Label("User", classes="login-label")
            yield Input(placeholder="user name", id="login-name", max_length=64)
            yield Label("PIN", classes="login-label")
            yield Input(placeholder="PIN", password=True, id="login-pin", max_length=8, restrict=r"[0-9]*")
            yield Static("Type your user name, Enter, your PIN, Enter.", id="login-message")
        yield Footer()

    def on_mount(self) -> None:
        self.phase = "name"
        self.query_one("#login-name", Input).focus()
        self.busy = False
        self._hold = None

    @property
    def pin_field(self) -> Input:
        return self.query_one("#login-pin", Input)

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        self.pin_field.set_class(phase == "pin", "active")
        self.query_one("#login-name", Input).set_class(phase == "pin", "done")
        (self.pin_field if phase == "pin" else self.query_one("#login-name", Input)).focus()

    # ---------------------------------------------------------------- keys --
    @on(Input.Submitted, "#login-name")
    def _name_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.name_entered()

    @on(Input.Submitted, "#login-pin")
    def _pin_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.pin_entered()

    def name_entered(self) -> None:
        if not self.query_one("#login-name", Input).value.strip():
            self.show("Type your user name first.", error=True)
            return
        self._set_phase("pin")
        self.show("Your PIN, Enter.")

    def pin_entered(self) -> None:
        name = self.query_one("#login-name", Input).value.strip()
        pin = self.pin_field.value
        if not name:
            self.show("Type your user name first.", error=True)
            self._set_phase("name")
            return
        if not pin:
            self.show("Type your PIN.", error=True)
            return
        if self.busy:
            return
        self.busy = True
        self._hold = self.hold("checking the PIN")   # keys typed now go where the answer leads
        self.pin_field.value = ""   # the PIN goes to the check, not stays on screen
        self.show("Checking ...")
        self.check(name, pin)

    def action_clear(self) -> None:
        self.query_one("#login-name", Input).value = ""
        self.query_one("#login-pin", Input).value = ""
        self._set_phase("name")
        self.show("Type your user name, Enter, your PIN, Enter.")

    async def action_quit(self) -> None:
        await self.app.action_quit()

    # --------------------------------------------------------------- work --
    @work(thread=True, exit_on_error=False, group="login")
    def check(self, name: str, pin: str) -> None:
        ctx = self.app.ctx
        try:
            user = auth.login(ctx, name, pin)
        except LockedOut as e:
            self.from_thread(self.failed, f"Locked: {e}.")
            return
        except AuthFailed as e:
            msg = str(e)
            if "disabled" in msg:
                msg = f"{msg[0].upper()}{msg[1:]}: ask a manager."
            else:
                msg = "Unknown user or wrong PIN. Try again."
            self.from_thread(self.failed, msg)
            return
        except StationError as e:
            self.from_thread(self.failed, str(e))
            return
        except Exception as e:  # database down etc.: a message, never a crash
            self.from_thread(self.failed, f"Cannot log in now: {error_text(e)}")
            return
        finally:
            release_thread_connection(ctx)
        self.from_thread(self.succeeded, user)

    def _release(self) -> None:
        if self._hold is not None:
            self._hold.release()
            self._hold = None

    def failed(self, message: str) -> None:
        self.busy = False
        self.pin_field.value = ""
        self._set_phase("pin")      # the same user tries the PIN again; Esc starts over
        self.show(message, error=True)
        self.app.bell()
        self._release()

    def succeeded(self, user) -> None:
        self.busy = False
        self.app.login_done(user)   # the home screen replaces this one; keys wait for it
        self._release()

    def show(self, text: str, *, error: bool = False) -> None:
        m = self.query_one("#login-message", Static)
        m.update(text)
        m.set_class(error, "error")
