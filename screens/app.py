"""The app shell: ``StationApp(ctx)``.

* ``app.ctx``: the :class:`station.context.Context` (config, database, keys);
  ``app.user``: the logged-in ``data.models.User`` or None.
* Login screen first; after a login the home screen; ``open_area(name)`` pushes
  the screen of an area from ``screens.AREAS`` (imported lazily, a missing
  module is a notification, not a crash); Escape on an area goes back home.
* F1 on any screen: the help screen lists every key of the screen below it.
* The keymap from ``[keymap] bindings`` (binding id -> keys) is applied with
  ``set_keymap``.
* Every key and paste goes through ONE ordered input stream
  (``app.input``, :mod:`screens.input`): a key is handed out only when the
  screen that should get it is ready, so type-ahead lands where the cashier
  meant it, across screen changes and dialogs.
* A worker that fails, or a handler that raises, is shown as an error
  notification and written to the log; the app keeps running (a till never
  drops to a traceback).
"""
from __future__ import annotations

import gc
import importlib
import logging
from pathlib import Path

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerFailed, WorkerState

from screens import AREA_KEYS, AREAS
from screens.format import unexpected_text
from screens.help import HelpScreen
from screens.home import HomeScreen
from screens.input import InputStream
from screens.lock import IdleLock
from screens.login import LoginScreen
from station import auth, permissions
from station.context import release_thread_connection
from station.errors import StationError
from station.payments import registry as payment_registry

log = logging.getLogger("station.app")


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
        self.input = InputStream(self)
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
        if self.kiosk:   # again: Textual's driver put its own SIGTSTP handler in place
            from station.ops import session
            session.enter_kiosk()
        self.input.start()
        # everything loaded so far (modules, classes, Textual's and Rich's tables)
        # lives as long as the app: out of the collector's sight (gc.freeze), a
        # full collection in the middle of a scan walks only what was made since,
        # not the whole heap (its pause was the tail of scan -> screen)
        gc.freeze()
        self.push_screen(LoginScreen())
        try:
            self.idle_lock = IdleLock(self)
            self.idle_lock.install()
        except Exception as e:  # the idle lock is an extra; the till still works
            self.report_error(e, where="idle lock")
        self._shell_ready = True
        self.run_worker(self._resume_printing, thread=True, exit_on_error=False, group="print-resume")

    def _resume_printing(self) -> None:
        """Receipts this till committed but never printed (killed right after a
        sale): printed now, from the database's print queue."""
        from screens.printer import get_printer
        n = get_printer(self).resume()
        if n:
            self.call_from_thread(self.notify, f"printing {n} receipt(s) left unprinted before the restart",
                                  title="Printer", timeout=8)

    async def on_event(self, event: events.Event) -> None:
        if self.idle_lock is not None and isinstance(event, (events.Key, events.MouseDown)):
            self.idle_lock.touch()
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            await self.input.feed(event)     # the one ordered stream (it routes the key)
            return
        await super().on_event(event)

    def on_unmount(self) -> None:
        gc.unfreeze()       # an app run in a process that goes on (tests) leaves nothing frozen
        self.input.stop()
        payment_registry.close_all(self.ctx)

    # ------------------------------------------------ screen changes ---
    # Every change of the top screen tells the input stream: the next key waits
    # until the new screen is mounted and focused.
    def push_screen(self, *args, **kwargs):
        result = super().push_screen(*args, **kwargs)
        self.input.screen_changed()
        return result

    def pop_screen(self):
        result = super().pop_screen()
        self.input.screen_changed()
        return result

    def switch_screen(self, screen):
        result = super().switch_screen(screen)
        self.input.screen_changed()
        return result

    # -------------------------------------------------------------- errors --
    def report_error(self, error: BaseException, *, where: str = "") -> None:
        if isinstance(error, StationError):
            log.warning("%s: %s", where or "error", error)
        else:
            log.error("%s failed", where or "handler", exc_info=error)
        try:
            self.notify(unexpected_text(error), title="Error", severity="error", timeout=8)
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
        self._fatal_text = unexpected_text(error)
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
        """Back to the home screen of the logged-in user (or the login): the
        dashboard for roles with ``dashboard.view`` (what needs a manager now)."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if self.user is None:
            self.push_screen(LoginScreen())
        elif permissions.decide(self.user.role, "dashboard.view") == permissions.ALLOW:
            from screens.dashboard import DashboardScreen
            self.push_screen(DashboardScreen())
        else:
            self.push_screen(HomeScreen())

    def logout(self) -> None:
        user, self.user = self.user, None
        if user is not None:
            self.run_worker(lambda: self._journal_logout(user), thread=True, exit_on_error=False,
                            group="logout")
        self.go_home()

    def _journal_logout(self, user) -> None:
        try:
            auth.logout(self.ctx, user)
        finally:
            release_thread_connection(self.ctx)

    # -------------------------------------------------------------- areas --
    def may_open(self, name: str) -> bool:
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
    @property
    def kiosk(self) -> bool:
        return bool(self.ctx.config.values["terminal"]["kiosk"])

    async def action_quit(self) -> None:
        """A till in kiosk mode never quits to a shell: quitting logs out."""
        if not self.kiosk:
            await super().action_quit()
        elif self.user is not None:
            self.logout()
        else:
            self.notify("kiosk mode: this till does not quit", severity="warning")

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        self.push_screen(HelpScreen.for_screen(self.screen))

