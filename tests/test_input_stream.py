"""The app's input stream (screens/input.py) and the screen base classes, through
the pilot on a small app: a key with nothing ahead of it goes at once; keys
wait for a screen being pushed and for a hold; a dismiss happens once; a
worker's answer for a screen that is gone is dropped."""
from __future__ import annotations

import asyncio
import threading

from textual import events, on, work
from textual.app import App
from textual.widgets import Input, Label

from screens.base import StationModal, StationScreen
from screens.input import InputStream


class Form(StationScreen):
    """Two fields; Enter in the first opens a dialog (after a check held in a worker)."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.gate = gate
        self.answers: list = []

    def compose(self):
        yield Input(id="a")
        yield Input(id="b")

    def on_mount(self) -> None:
        self.query_one("#a").focus()

    @on(Input.Submitted, "#a")
    def _a(self, event) -> None:
        if self.gate is None:
            self.app.push_screen(Dialog(), self.answers.append)
            return
        self._check(self.hold("checking"))

    @work(thread=True)
    def _check(self, hold) -> None:
        self.gate.wait(30)
        self.from_thread(self._checked, hold)

    def _checked(self, hold) -> None:
        self.app.push_screen(Dialog(), self.answers.append)
        hold.release()


class Dialog(StationModal):
    def compose(self):
        yield Label("dialog")
        yield Input(id="d")

    def on_mount(self) -> None:
        self.query_one("#d").focus()

    @on(Input.Submitted, "#d")
    def _d(self, event) -> None:
        self.dismiss(event.value)


class Host(App):
    def __init__(self, screen) -> None:
        super().__init__()
        self.first = screen
        self.input = InputStream(self)

    def on_mount(self) -> None:
        self.input.start()
        self.push_screen(self.first)

    async def on_event(self, event) -> None:
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            await self.input.feed(event)
            return
        await super().on_event(event)

    def push_screen(self, *args, **kwargs):
        result = super().push_screen(*args, **kwargs)
        self.input.screen_changed()
        return result

    def pop_screen(self):
        result = super().pop_screen()
        self.input.screen_changed()
        return result


def burst(app, text: str) -> None:
    for ch in text:
        app.post_message(events.Key("enter", "\r") if ch == "\n" else events.Key(ch, ch))


async def until(pilot, cond, what="condition"):
    for _ in range(1000):
        if cond():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_key_with_nothing_ahead_is_dispatched_at_once():
    app = Host(Form())
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.focused, Input))
        await until(pilot, lambda: app.input.idle)
        before = app.input.dispatched
        await app.input.feed(events.Key("x", "x"))
        assert app.input.dispatched == before + 1 and not app.input.queue    # no frame, no timer
        await until(pilot, lambda: app.first.query_one("#a", Input).value == "x")


async def test_keys_typed_while_a_dialog_opens_go_to_the_dialog():
    app = Host(Form())
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.focused, Input))
        burst(app, "ab\ncd\nef")
        await until(pilot, lambda: app.first.answers == ["cd"], "the dialog's answer")
        await until(pilot, lambda: app.first.query_one("#a", Input).value == "abef", "the keys after it")
        assert app.screen is app.first


async def test_keys_wait_for_a_hold_then_go_where_its_answer_leads():
    gate = threading.Event()
    app = Host(Form(gate))
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.focused, Input))
        burst(app, "1\n23\n")
        await until(pilot, lambda: app.input.holds and len(app.input.queue) == 3, "keys held")
        assert app.first.query_one("#a", Input).value == "1"
        gate.set()
        await until(pilot, lambda: app.first.answers == ["23"], "the dialog's answer")


async def test_dismiss_happens_once_and_never_pops_the_screen_beneath():
    app = Host(Form())
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.focused, Input))
        dialog = Dialog()
        app.push_screen(dialog, app.first.answers.append)
        await until(pilot, lambda: app.screen is dialog and dialog.is_mounted)
        dialog.dismiss("one")
        dialog.dismiss("two")                 # a second Enter on a closing dialog
        await pilot.pause()
        assert app.screen is app.first and app.first.answers == ["one"]


async def test_an_answer_for_a_screen_that_is_gone_is_dropped():
    app = Host(Form())
    got = []
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.focused, Input))
        dialog = Dialog()
        app.push_screen(dialog)
        await until(pilot, lambda: app.screen is dialog and dialog.is_mounted)
        dialog.dismiss(None)
        await until(pilot, lambda: dialog.gone)
        t = threading.Thread(target=lambda: dialog.from_thread(got.append, "late"))
        t.start()
        while t.is_alive():
            await asyncio.sleep(0.01)
        await pilot.pause()
        assert got == [] and app.is_running
