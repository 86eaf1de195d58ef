"""PIN login: user name, then PIN (masked). Keyboard only.

Enter after the name moves to the PIN; Enter after the PIN logs in (in a
worker thread: the PIN hash is deliberately slow).

Keys typed faster than the screen repaints (a quick cashier, keys bunched over
SSH) must never land in the wrong field: a PIN typed into the name field would
show in clear. Textual moves focus later than the keys already on their way, so
focus never moves here: ONE field (``LoginKeys``, the name field) receives every
key and, once the name is done, routes digits, Backspace and Enter into the
masked PIN field synchronously, in the order they came. The rules (lockout shared by
every terminal, disabled users) are ``station.auth``'s; this screen shows its
messages.
"""
from __future__ import annotations

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Static

from station.errors import AuthFailed, LockedOut, StationError


class LoginKeys(Input):
    """The name field, which also receives (and routes) the PIN keys."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if key == "enter":
            return True
        return super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        scr = self.screen
        if not isinstance(scr, LoginScreen):
            return
        if scr.phase == "name":
            if event.key == "enter":
                event.stop()
                event.prevent_default()
                scr.name_entered()
            return
        # PIN phase: everything typed goes to the masked PIN field, never here
        pin = scr.pin_field
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            scr.pin_entered()
        elif event.key == "backspace":
            event.stop()
            event.prevent_default()
            pin.action_delete_left()
        elif event.character is not None and event.is_printable:
            event.stop()
            event.prevent_default()
            if event.character.isdigit() and len(pin.value) < (pin.max_length or 8):
                pin.insert_text_at_cursor(event.character)
            else:
                scr.show("A PIN is digits only.", error=True)


class LoginScreen(Screen):
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
            yield LoginKeys(placeholder="user name", id="login-name", max_length=64)
            yield Label("PIN", classes="login-label")
            pin = Input(placeholder="PIN", password=True, id="login-pin", max_length=8, restrict=r"[0-9]*")
            pin.can_focus = False   # keys reach it only through the name field, in order
            yield pin
            yield Static("Type your user name, Enter, your PIN, Enter.", id="login-message")
        yield Footer()

    def on_mount(self) -> None:
        self.phase = "name"
        self.query_one("#login-name", Input).focus()
        self.busy = False

    @property
    def pin_field(self) -> Input:
        return self.query_one("#login-pin", Input)

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        self.pin_field.set_class(phase == "pin", "active")
        self.query_one("#login-name", Input).set_class(phase == "pin", "done")

    # ---------------------------------------------------------------- keys --
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
        self.pin_field.value = ""   # the PIN goes to the check, not stays on screen
        self.show("Checking ...")
        self.check(name, pin)

    def action_clear(self) -> None:
        self.query_one("#login-name", Input).value = ""
        self.query_one("#login-pin", Input).value = ""
        self._set_phase("name")
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
        self.pin_field.value = ""
        self._set_phase("pin")      # the same user tries the PIN again; Esc starts over
        self.show(message, error=True)
        self.app.bell()

    def succeeded(self, user) -> None:
        self.busy = False
        self.app.login_done(user)

    def show(self, text: str, *, error: bool = False) -> None:
        m = self.query_one("#login-message", Static)
        m.update(text)
        m.set_class(error, "error")
