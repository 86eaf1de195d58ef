"""What every Station screen and dialog shares: its place in the app's input
stream (:mod:`screens.input`).

``StationScreen`` (a full screen) and ``StationModal`` (a dialog) give:

* ``hold(reason)``: keys wait until the returned hold is released. Take one
  when starting work whose answer decides where the next keys go (a PIN
  check, a commit that closes the screen, a lookup that opens a dialog);
  release it once the answer is shown. The hold ends by itself when the screen
  is removed.
* ``from_thread(fn, *args)``: from a worker thread, run ``fn(*args)`` on the
  UI thread if this screen is still on the stack; a result for a screen that
  is gone is dropped with a log line, never an exception on screen.
* ``dismiss(result)`` is idempotent: a second dismiss (a second Enter on a
  dialog that is already closing) does nothing, and a screen that is not on
  top never pops the one above it.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from textual.await_complete import AwaitComplete
from textual.screen import ModalScreen, Screen

log = logging.getLogger("station.screens")


class _NoHold:
    """The hold of an app without an input stream (a bare test host)."""

    def release(self) -> None:
        pass


class KeyedMixin:
    _dismissed = False
    #: what F1 calls this screen (as a cashier knows it); default: TITLE
    HELP_TITLE: str | None = None

    def help_name(self) -> str:
        return self.HELP_TITLE or getattr(self, "TITLE", None) or self.__class__.__name__

    def hold(self, reason: str = ""):
        stream = getattr(self.app, "input", None)
        return stream.hold(self, reason) if stream is not None else _NoHold()

    @property
    def gone(self) -> bool:
        """This screen has been dismissed or removed."""
        return self._dismissed or self._closing or self._closed or not self.is_attached

    def from_thread(self, fn: Callable[..., Any], *args: Any) -> None:
        """From a worker thread: ``fn(*args)`` on the UI thread, if this screen is still there."""
        def run() -> None:
            if self.gone:
                log.info("%s: result for a screen that is gone dropped (%s)",
                         self.__class__.__name__, getattr(fn, "__name__", fn))
                return
            fn(*args)
        try:
            self.app.call_from_thread(run)
        except RuntimeError:   # the app is not running any more
            log.info("%s: result after the app stopped dropped", self.__class__.__name__)

    def dismiss(self, result: Any = None) -> AwaitComplete:
        if self._dismissed or not self.is_active:
            log.info("%s: dismiss ignored (%s)", self.__class__.__name__,
                     "already dismissed" if self._dismissed else "not the top screen")
            return AwaitComplete.nothing()
        self._dismissed = True
        return super().dismiss(result)  # type: ignore[misc]


class StationScreen(KeyedMixin, Screen):
    """A full screen of the app."""


class StationModal(KeyedMixin, ModalScreen):
    """A dialog over a screen."""
