"""The app shell: ``StationApp(ctx)``.

* ``app.ctx``: the :class:`station.context.Context` (config, database, keys);
  ``app.user``: the logged-in ``data.models.User`` or None.
* Login screen first; after a login the home screen; ``open_area(name)`` pushes
  the screen of an area from ``screens.AREAS`` (imported lazily, a missing
  module is a notification, not a crash); Escape on an area goes back home.
* F1 on any screen: the help screen lists every key of the screen below it.
* The keymap from ``[keymap] bindings`` (binding id -> keys) is applied with
  ``set_keymap``.
* A worker that fails, or a handler that raises, is shown as an error
  notification and written to the log; the app keeps running (a till never
  drops to a traceback).
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerFailed, WorkerState

from station import permissions
from station.errors import StationError

log = logging.getLogger("station.app")


def error_text(error: BaseException) -> str:
    """One line for the screen: a StationError as is, anything else by class."""
    if isinstance(error, WorkerFailed):
        error = error.error
    if isinstance(error, StationError):
        return str(error)
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    name = error.__class__.__name__
    return f"unexpected error ({name}{': ' + text if text else ''}); details in station.log"


class StationApp(App):
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))   # absolute: subclasses elsewhere find it
    TITLE = "Station"
    ENABLE_COMMAND_PALETTE = False   # every action has its own key; ctrl+p stays free

    BINDINGS = [
        Binding("f1", "help", "Help", id="app_help"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app_quit"),
    ]

    def __init__(self, ctx, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ctx = ctx
        self.user = None
        self.idle_lock = None
        self._shell_ready = False
        cfg = ctx.config
        self.title = f"Station - {cfg.store.name}"
        self.sub_title = f"terminal {ctx.terminal}"
        keymap = dict(cfg.keymap.bindings or {})
        if keymap:
            self.set_keymap(keymap)
        # every worker that ends in ERROR (exit_on_error=False) is reported
        manager = self.workers
        original = manager._remove_worker

        def removed(worker: Worker) -> None:
            try:
                if (worker.state == WorkerState.ERROR and worker.error is not None
                        and not worker.exit_on_error):   # those come through _handle_exception
                    self.report_error(worker.error, where=f"worker {worker.name or worker.group}")
            finally:
                original(worker)

        manager._remove_worker = removed

    # ----------------------------------------------------------- lifecycle --
    def on_mount(self) -> None:
        from screens.login import LoginScreen
        self.push_screen(LoginScreen())
        try:
            from screens.lock import IdleLock
        except ImportError:
            IdleLock = None
        if IdleLock is not None:
            try:
                self.idle_lock = IdleLock(self)
                self.idle_lock.install()
            except Exception as e:  # the idle lock is an extra; the till still works
                self.report_error(e, where="idle lock")
        self._shell_ready = True

    def on_event(self, event: events.Event):
        if self.idle_lock is not None and isinstance(event, (events.Key, events.MouseDown)):
            self.idle_lock.touch()
        return super().on_event(event)

    # -------------------------------------------------------------- errors --
    def report_error(self, error: BaseException, *, where: str = "") -> None:
        if isinstance(error, StationError):
            log.warning("%s: %s", where or "error", error)
        else:
            log.error("%s failed", where or "handler", exc_info=error)
        try:
            self.notify(error_text(error), title="Error", severity="error", timeout=8)
        except Exception:  # noqa: BLE001 - never let the report itself crash
            pass

    def _handle_exception(self, error: Exception) -> None:
        if self._shell_ready and isinstance(error, WorkerFailed):
            self.report_error(error.error, where="worker")   # a failed worker: a message, the app goes on
            return
        # A handler that raised has stopped its message pump: the app cannot go
        # on safely. It exits; the details go to the log and the terminal gets
        # one line (see _print_error_renderables), never a traceback.
        log.error("unexpected error, the app stops", exc_info=error)
        self._fatal_text = error_text(error)
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        text = getattr(self, "_fatal_text", None)
        if text is None:
            return super()._print_error_renderables()
        self._exit_renderables.clear()
        if not getattr(self, "_fatal_printed", False):
            self._fatal_printed = True
            import sys
            print(f"station: the app stopped: {text}", file=sys.stderr)

    # -------------------------------------------------------------- login --
    def login_done(self, user) -> None:
        """The login screen calls this after a successful login."""
        self.user = user
        self.go_home()

    def go_home(self) -> None:
        """Back to the home screen of the logged-in user (or the login)."""
        from screens.home import HomeScreen
        from screens.login import LoginScreen
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(HomeScreen() if self.user is not None else LoginScreen())

    def logout(self) -> None:
        user, self.user = self.user, None
        if user is not None:
            self.run_worker(lambda: self._journal_logout(user), thread=True, exit_on_error=False,
                            group="logout")
        self.go_home()

    def _journal_logout(self, user) -> None:
        from station import auth
        try:
            auth.logout(self.ctx, user)
        finally:
            release_connection(self.ctx)

    # -------------------------------------------------------------- areas --
    def may_open(self, name: str) -> bool:
        from screens import AREA_KEYS
        if self.user is None:
            return False
        spec = AREA_KEYS.get(name)
        if spec is None:
            return True
        try:
            return permissions.decide(self.user.role, spec[2]) != permissions.REFUSE
        except KeyError:
            return False

    def open_area(self, name: str) -> bool:
        """Push the screen of area ``name``; False (and a notification) if it
        cannot be opened."""
        from screens import AREAS
        if self.user is None:
            self.notify("log in first", severity="warning")
            return False
        target = AREAS.get(name)
        if target is None:
            self.notify(f"there is no '{name}' area", severity="warning")
            return False
        if not self.may_open(name):
            self.notify(f"{self.user.name} ({self.user.role}) may not open {name}", severity="warning")
            return False
        module_name, _, class_name = target.partition(":")
        try:
            module = importlib.import_module(module_name)
            cls = getattr(module, class_name)
        except ImportError as e:
            log.warning("area %s: %s", name, e)
            self.notify(f"the {name} screen is not available in this installation", severity="warning")
            return False
        except AttributeError:
            self.notify(f"the {name} screen is not available in this installation", severity="warning")
            return False
        except Exception as e:  # noqa: BLE001 - a broken module is a message, not a crash
            self.report_error(e, where=f"opening {name}")
            return False
        self.push_screen(cls())
        return True

    # ------------------------------------------------------------ actions --
    def action_help(self) -> None:
        from screens.help import HelpScreen
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen.for_screen(self.screen))


def release_connection(ctx) -> None:
    """End of a worker thread's database work (see ``data.db.release``)."""
    from data import db as dbmod
    dbmod.release(ctx.db)
