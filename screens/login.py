"""PIN login: user name, then PIN (masked). Keyboard only.

Enter in the name field moves to the PIN; Enter in the PIN field logs in (in a
worker thread: the PIN hash is deliberately slow). The rules (lockout shared by
every terminal, disabled users) are ``station.auth``'s; this screen shows its
messages.
"""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Static

from station.errors import AuthFailed, LockedOut, StationError


class LoginScreen(Screen):
    AREA = "login"
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
        self.query_one("#login-name", Input).focus()
        self.busy = False

    # ---------------------------------------------------------------- keys --
    @on(Input.Submitted, "#login-name")
    def _name_done(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.show("Type your user name first.", error=True)
            return
        self.query_one("#login-pin", Input).focus()

    @on(Input.Submitted, "#login-pin")
    def _pin_done(self, event: Input.Submitted) -> None:
        name = self.query_one("#login-name", Input).value.strip()
        pin = event.value
        if not name:
            self.show("Type your user name first.", error=True)
            self.query_one("#login-name", Input).focus()
            return
        if not pin:
            self.show("Type your PIN.", error=True)
            return
        if self.busy:
            return
        self.busy = True
        self.show("Checking ...")
        self.check(name, pin)

    def action_clear(self) -> None:
        self.query_one("#login-name", Input).value = ""
        self.query_one("#login-pin", Input).value = ""
        self.query_one("#login-name", Input).focus()
        self.show("Type your user name, Enter, your PIN, Enter.")

    async def action_quit(self) -> None:
        await self.app.action_quit()

    # --------------------------------------------------------------- work --
    @work(thread=True, exit_on_error=False, group="login")
    def check(self, name: str, pin: str) -> None:
        from screens.app import release_connection
        from station import auth
        ctx = self.app.ctx
        try:
            user = auth.login(ctx, name, pin)
        except LockedOut as e:
            self.app.call_from_thread(self.failed, f"Locked: {e}.")
            return
        except AuthFailed as e:
            msg = str(e)
            if "disabled" in msg:
                msg = f"{msg[0].upper()}{msg[1:]}: ask a manager."
            else:
                msg = "Unknown user or wrong PIN. Try again."
            self.app.call_from_thread(self.failed, msg)
            return
        except StationError as e:
            self.app.call_from_thread(self.failed, str(e))
            return
        except Exception as e:  # database down etc.: a message, never a crash
            from screens.app import error_text
            self.app.call_from_thread(self.failed, f"Cannot log in now: {error_text(e)}")
            return
        finally:
            release_connection(ctx)
        self.app.call_from_thread(self.succeeded, user)

    def failed(self, message: str) -> None:
        self.busy = False
        pin = self.query_one("#login-pin", Input)
        pin.value = ""
        pin.focus()
        self.show(message, error=True)
        self.app.bell()

    def succeeded(self, user) -> None:
        self.busy = False
        self.app.login_done(user)

    def show(self, text: str, *, error: bool = False) -> None:
        m = self.query_one("#login-message", Static)
        m.update(text)
        m.set_class(error, "error")
