"""Locking the terminal.

:class:`IdleLock` is the app's idle timer: the app calls :meth:`IdleLock.touch`
on every key or mouse event and :meth:`IdleLock.install` once; after
``security.idle_lock_minutes`` without input it pushes :class:`LockScreen` over
whatever is showing (nothing below is touched, so the same user's PIN pops back
to exactly where they were, ticket and all). Another user unlocking gets a fresh
start at home; the first user's open ticket is parked for them by
:func:`station.idle.unlock` (never inherited).

Rules live in :mod:`station.idle`; this module only asks and shows.
"""
from __future__ import annotations

import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from screens.base import StationModal
from screens.format import error_text
from station import idle
from station.context import release_thread_connection
from station.errors import StationError


class LockScreen(StationModal):
    HELP_TITLE = "Terminal locked"
    """The terminal is locked: name + PIN to come back. There is no way around it
    (a modal screen: the app's non-priority keys do nothing underneath)."""

    DEFAULT_CSS = """
    LockScreen {
        align: center middle;
        background: $background;
    }
    LockScreen > #lock-box {
        width: 50;
        max-width: 100%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    LockScreen #lock-title {
        text-style: bold;
        width: 100%;
        content-align: center middle;
    }
    LockScreen #lock-error {
        color: $error;
        text-style: bold;
    }
    LockScreen #lock-keys {
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("escape", "noop", "", show=False, id="lock_escape"),  # Escape does not get you out
    ]

    def __init__(self, locked_user=None) -> None:
        super().__init__(id="lock-screen")
        self.locked_user = locked_user
        self.busy = False
        self._hold = None

    def compose(self) -> ComposeResult:
        who = self.locked_user.name if self.locked_user is not None else None
        ctx = getattr(self.app, "ctx", None)
        where = f"{ctx.config.store.name} - terminal {ctx.terminal}" if ctx is not None else ""
        with Vertical(id="lock-box"):
            yield Label("Terminal locked", id="lock-title")
            yield Static(where, id="lock-where")
            yield Static(f"{who}: type your PIN to continue." if who else "Log in to continue.",
                         id="lock-who")
            yield Label("User")
            yield Input(value=who or "", id="lock-name", max_length=64)
            yield Label("PIN")
            yield Input(placeholder="PIN", id="lock-pin", password=True, max_length=8, restrict=r"[0-9]*")
            yield Static("", id="lock-error")
            yield Static("Another person: Tab back to User, type your name", id="lock-keys")

    def on_mount(self) -> None:
        self.query_one("#lock-pin" if self.locked_user is not None else "#lock-name", Input).focus()

    def action_noop(self) -> None:
        pass

    @on(Input.Submitted, "#lock-name")
    def _name_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#lock-pin", Input).focus()

    @on(Input.Submitted, "#lock-pin")
    def _pin_done(self, event: Input.Submitted) -> None:
        event.stop()
        name = self.query_one("#lock-name", Input).value.strip()
        pin = event.value
        if not name:
            self._error("type your user name")
            self.query_one("#lock-name", Input).focus()
            return
        if not pin or self.busy:
            return
        self.busy = True
        self._hold = self.hold("checking the PIN")   # keys typed now go where the answer leads
        self._error("checking ...")
        self._unlock(name, pin)

    def _error(self, text: str) -> None:
        self.query_one("#lock-error", Static).update(text)

    @work(thread=True, exit_on_error=False, group="unlock")
    def _unlock(self, name: str, pin: str) -> None:
        ctx = self.app.ctx
        try:
            res = idle.unlock(ctx, self.locked_user, name, pin)
        except StationError as e:
            self.from_thread(self._failed, str(e))
        except Exception as e:  # never a traceback on screen
            self.from_thread(self._failed, f"cannot check the PIN now: {error_text(e)}")
        else:
            self.from_thread(self._done, res)
        finally:
            release_thread_connection(ctx)

    def _release(self) -> None:
        if self._hold is not None:
            self._hold.release()
            self._hold = None

    def _failed(self, message: str) -> None:
        self.busy = False
        self._release()
        self._error(message)
        pin = self.query_one("#lock-pin", Input)
        pin.value = ""
        pin.focus()

    def _done(self, res: idle.Unlocked) -> None:
        self.busy = False
        self.dismiss(res)
        self._release()


class IdleLock:
    """The app's idle timer. Wire it with three lines in the App:

        self.idle_lock = IdleLock(self)          # in on_mount (after ctx/user exist)
        self.idle_lock.install()
        # and in on_event: if isinstance(event, events.InputEvent): self.idle_lock.touch()

    ``home`` is called after another user took over (default: ``app.go_home()``
    when the app has it, else the screen stack is emptied down to its base).
    """

    def __init__(self, app, *, minutes: float | None = None, clock=time.monotonic,
                 check_every: float = 1.0, home=None) -> None:
        self.app = app
        m = app.ctx.config.security.idle_lock_minutes if minutes is None else minutes
        self.clock = idle.IdleClock(minutes=m, clock=clock)
        self.check_every = check_every
        self.home = home
        self.locked = False
        self.timer = None
        self.last_result: idle.Unlocked | None = None
        self._palette = None

    def install(self) -> None:
        if self.clock.enabled and self.timer is None:
            self.timer = self.app.set_interval(self.check_every, self.check, name="idle-lock")

    def touch(self) -> None:
        if not self.locked:
            self.clock.touch()

    def check(self) -> None:
        if self.locked:
            # something (a palette, a dialog) got above the lock: take it off again
            if any(isinstance(s, LockScreen) for s in self.app.screen_stack):
                while not isinstance(self.app.screen, LockScreen):
                    self.app.pop_screen()
            return
        if getattr(self.app, "user", None) is None:
            self.clock.touch()  # nobody logged in: nothing to protect
            return
        stream = getattr(self.app, "input", None)
        if stream is not None and stream.holds:
            self.clock.touch()  # a commit, a check is under way: its answer comes first
            return
        if self.clock.expired():
            self.lock_now()

    def lock_now(self) -> None:
        if self.locked:
            return
        self.locked = True
        self._palette = getattr(self.app, "use_command_palette", None)
        if self._palette is not None:
            self.app.use_command_palette = False
        self._push()
        user = self.app.user
        self.app.run_worker(lambda: self._journal_lock(user), thread=True, exit_on_error=False,
                            group="idle-journal")

    def _push(self) -> None:
        self.app.push_screen(LockScreen(getattr(self.app, "user", None)), self._unlocked)

    def _journal_lock(self, user) -> None:  # runs in a worker thread
        ctx = self.app.ctx
        try:
            idle.lock(ctx, user)
        except Exception as e:  # the screen is locked either way: the lost event is said and logged
            text = f"the lock was not journalled: {error_text(e)}"
            try:
                self.app.call_from_thread(lambda: self.app.notify(text, severity="warning", timeout=8))
            except RuntimeError:   # the app has stopped meanwhile
                pass
        finally:
            release_thread_connection(ctx)

    def _unlocked(self, res: idle.Unlocked | None) -> None:
        self.locked = False
        if self._palette is not None:
            self.app.use_command_palette = self._palette
        self.clock.touch()
        self.last_result = res
        if res is None or res.same:
            return  # exactly where they were
        self.app.user = res.user
        if self.home is not None:
            self.home()
        elif hasattr(self.app, "go_home"):
            self.app.go_home()
        else:
            while len(self.app.screen_stack) > 1:
                self.app.pop_screen()
        if res.note:
            self.app.notify(res.note)
