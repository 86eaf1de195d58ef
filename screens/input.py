"""The app's ONE ordered input stream.

Every key and paste the terminal delivers enters :class:`InputStream` in
arrival order. A key is handed out (Textual's own routing: priority bindings,
else the focused widget, bubbling up to the screen's and the app's bindings)
only when everything the key before it caused has been handled:

* its handlers, and the messages they posted along the way (``Input.Submitted``,
  ``OptionList.OptionSelected``, a deferred ``focus()``, a dismiss callback);
* a screen pushed, popped or switched: the new top screen is mounted and has
  taken the focus it wants;
* a *hold*: a screen that started work whose answer decides where the next
  keys go (a PIN check, the sale commit, a manager approval, a search before
  Enter can pick) holds the stream until the answer is on screen.

Nothing is dropped, nothing is reordered, nothing goes to a screen that is
being removed. A key with nothing queued ahead of it is dispatched at once,
in the app's own message handler: no extra frame, no timer.

A printable character that the focused text field consumes
(``Input.check_consume_key``) cannot move the focus or change the screen, so it
is passed on without waiting for the field (typed text and scanner bursts reach
the field exactly as fast as Textual alone would deliver them); the next key
that is not such a character waits until the field has taken them all. The
contract for screens: ``Input.Changed`` handlers never move the focus nor
change screens (look nothing up on Changed anyway).

How a screen takes part is in ARCHITECTURE.md ("Keys"); in short: subclass
:class:`screens.base.StationScreen` / :class:`screens.base.StationModal`, and
wrap work whose answer changes where keys go in ``self.hold(...)``.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Iterable

from textual import events, messages
from textual.app import App
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.widgets import Input

log = logging.getLogger("station.input")


class Hold:
    """Keys wait while a hold is active. ``release()`` is idempotent. A hold
    owned by a screen ends when that screen is removed."""

    __slots__ = ("stream", "owner", "reason", "active")

    def __init__(self, stream: "InputStream", owner, reason: str) -> None:
        self.stream, self.owner, self.reason, self.active = stream, owner, reason, True

    def release(self) -> None:
        if self.active:
            self.active = False
            self.stream._released(self)

    def __repr__(self) -> str:  # pragma: no cover - diagnostics
        return f"Hold({self.reason!r}, owner={self.owner!r}, active={self.active})"


def _chain(node) -> Iterable[MessagePump]:
    while node is not None:
        yield node
        node = node._parent


#: what a pump may still have queued without it mattering for where keys go:
#: repaints, relayouts, scroll updates, idle prompts, timer ticks (a timer that
#: changes screens is seen as a screen change)
_RENDERING = (messages.Update, messages.Layout, messages.UpdateScroll, messages.Prompt, events.Timer,
              events.Idle)


def _busy(pump: MessagePump) -> bool:
    """``pump`` has something queued that may move the focus or change screens."""
    if pump._next_callbacks:
        return True
    pending = pump._pending_message
    if pending is not None and not isinstance(pending, _RENDERING):
        return True
    return any(not isinstance(m, _RENDERING) for m in pump._message_queue.values)


def _alive(pump: MessagePump) -> bool:
    return not (pump._closing or pump._closed)


class InputStream:
    """One per app (``app.input``). The app feeds it every key and paste from
    the terminal (:meth:`feed`) and tells it about screen changes
    (:meth:`screen_changed`)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.queue: deque[events.Event] = deque()
        self.holds: list[Hold] = []
        self.dispatched = 0            # keys handed out (diagnostics, tests)
        self._settle = False           # wait for the last key's consequences before the next
        self._dispatching = False
        self._pipelined: MessagePump | None = None   # field that may still hold fast-path chars
        self._chain: tuple[MessagePump, ...] = ()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._retry: events.Event | None = None
        self._inflight: events.Event | None = None   # the last key handed out, until settled

    # ------------------------------------------------------------ life ---
    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="input-stream")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    @property
    def idle(self) -> bool:
        """Nothing queued, held, in flight or settling."""
        return not (self.queue or self.holds or self._settle or self._dispatching)

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # ----------------------------------------------------------- holds ---
    def hold(self, owner=None, reason: str = "") -> Hold:
        """Keys wait until the returned hold is released (or its owner screen
        is removed). Call on the UI thread."""
        h = Hold(self, owner, reason)
        self.holds.append(h)
        return h

    def _released(self, h: Hold) -> None:
        try:
            self.holds.remove(h)
        except ValueError:
            pass
        self._settle = True       # the answer may have changed screens or focus
        self._kick()

    def retry_key(self) -> bool:
        """The key being handled cannot be decided yet (e.g. Enter in a search
        whose results are not in): hand it out again, first, once the holds
        are released. Returns False when no key is being handled."""
        event = self._inflight
        if event is None:
            return False
        if isinstance(event, events.Key):
            self._retry = events.Key(event.key, event.character)
        elif isinstance(event, events.Paste):
            self._retry = events.Paste(event.text)
        else:
            return False
        return True

    # ----------------------------------------------------------- input ---
    async def feed(self, event: events.Event) -> None:
        """A key or paste from the terminal (the app's message handler)."""
        if self.queue or self.holds or self._settle or self._dispatching or (
                self._pipelined is not None and not self._fast(event) and self._priority(event)):
            self.queue.append(event)
            if self._pipelined is not None and not self._settle:
                self._settle = True
            self._kick()
            return
        await self._dispatch(event)

    def screen_changed(self) -> None:
        """A screen was pushed, popped or switched: the next key waits until the
        new top screen is ready. Holds of screens no longer on the stack end."""
        stack = self.app.screen_stack
        for h in list(self.holds):
            if isinstance(h.owner, Screen) and h.owner not in stack:
                log.info("hold %r released: its screen is gone", h.reason)
                h.release()
        self._settle = True
        self._kick()

    # -------------------------------------------------------- dispatch ---
    def _fast(self, event: events.Event) -> bool:
        focused = self.app.focused
        if not isinstance(focused, Input) or focused.disabled:
            return False
        if isinstance(event, events.Paste):
            return True
        return (isinstance(event, events.Key) and event.is_printable
                and focused.check_consume_key(event.key, event.character)
                and not self._priority(event))

    def _priority(self, event: events.Event) -> bool:
        """Whether a priority binding (run before the focused widget) takes the key."""
        if not isinstance(event, events.Key):
            return False
        try:
            chain = self.app.screen._binding_chain
        except Exception:  # noqa: BLE001 - no screen yet
            return False
        for _node, bindings in chain:
            for b in bindings.key_to_bindings.get(event.key, ()):
                if b.priority:
                    return True
        return False

    async def _dispatch(self, event: events.Event) -> None:
        app = self.app
        self._dispatching = True
        try:
            fast = self._fast(event)
            target = app.focused or app.screen
            self.dispatched += 1
            if fast:
                if not app.app_focus:
                    app.app_focus = True
                self._pipelined = target
                target._forward_event(event)
                return
            self._chain = tuple(_chain(target))
            self._inflight = event
            self._settle = True
            self._pipelined = None
            await App.on_event(app, event)     # Textual's routing of one key
        finally:
            self._dispatching = False
            if self._settle:
                self._kick()

    # ------------------------------------------------------------ task ---
    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._drain()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the stream must never stop
                log.error("input stream", exc_info=e)
                self._settle = False
                self._dispatching = False

    async def _drain(self) -> None:
        while True:
            if self._settle and not self._dispatching:
                await self._wait_settled()
                self._settle = False
                self._pipelined = None
                self._inflight = None
                self._chain = ()
            if self._dispatching or self.holds:
                return
            if self._retry is not None:
                event, self._retry = self._retry, None
                self.queue.appendleft(event)
            if not self.queue:
                return
            event = self.queue.popleft()
            try:
                await self._dispatch(event)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - a handler raised: the app's usual report
                self.app._handle_exception(e)

    async def _wait_settled(self) -> None:
        """Until every pump the last key (or screen change) touched has handled
        everything it has queued, and the top screen is mounted."""
        app = self.app
        loop = asyncio.get_running_loop()
        while True:
            try:
                screen = app.screen
            except Exception:  # noqa: BLE001 - no screen (starting or exiting)
                return
            if not screen.is_mounted and _alive(screen):
                await self._until(screen, screen._mounted_event.wait())
                continue
            pumps = {id(p): p for p in (*self._chain, *_chain(app.focused or screen), app)}
            busy = [p for p in pumps.values() if _alive(p) and _busy(p)]
            if not busy:
                return
            waits = []
            for p in busy:
                fut = loop.create_future()
                if p.call_later(_resolve, fut):
                    waits.append(self._until(p, fut))
            if waits:
                await asyncio.gather(*waits)
            else:
                await asyncio.sleep(0)

    @staticmethod
    async def _until(pump: MessagePump, awaitable) -> None:
        """Await ``awaitable`` unless ``pump`` closes first."""
        inner = asyncio.ensure_future(awaitable)
        task = pump._task
        if task is None or task.done():
            if not _alive(pump):
                inner.cancel()
                return
            await inner
            return
        done, _ = await asyncio.wait({inner, task}, return_when=asyncio.FIRST_COMPLETED)
        if inner not in done:
            inner.cancel()


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)
