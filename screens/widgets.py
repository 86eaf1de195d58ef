"""Widgets shared by the sale and tender screens.

``ScanField``
    The scanner input. A barcode scanner is a keyboard that types 8-20
    characters and a suffix key in a few milliseconds. The field handles the
    suffix in its OWN key handler: it takes the value and resets the field
    synchronously (before the next key is processed), then posts
    ``ScanField.Scanned(code)``. Nothing is ever looked up on ``Changed``.

    Suffixes (config ``scanner.suffix``): ``enter`` (CR), ``ctrl+j`` (LF) and
    ``tab``. Enter always submits (a cashier types codes by hand too). A
    configured ``tab`` never moves the focus; an LF that is not configured is
    ignored (it must not end up inside a code).

    GS (0x1D, the GS1 group separator, key ``ctrl+right_square_bracket``):
    Textual's Input drops it. Decision: a GS at the start or end of a code is
    an FNC1 marker and is dropped; a GS inside a code separates GS1 fields and
    is KEPT: it shows as ``␝`` in the field and the posted code carries the
    real ``\\x1d`` (the service decides what it means; an unknown code lands in
    the miss list showing ``␝``).

    Paste: only the first line is taken (a paste is not a scan; it fills the
    field, Enter submits it).

    Length: no code is longer than ``station.sale.MAX_SCAN_LENGTH``. Longer
    input (a runaway paste, a stuck key) is refused at once: the field is
    emptied, ``ScanField.Refused`` says why, and everything up to the next
    suffix key is dropped (that suffix submits nothing).

``SerialRunner``
    The ONE serial consumer of scans and every other ticket change: a
    ``queue.Queue`` drained by a single long-running thread worker. Jobs run
    one after another in submission order, so no scan is lost, merged or
    reordered whatever the database latency; results come back to the owner as
    ``SerialRunner.Done`` messages (posted in the same order).
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Footer, Input, Label, OptionList
from textual.widgets.option_list import Option

from screens.base import StationModal
from screens.format import error_text
from station.sale import MAX_SCAN_LENGTH

GS = "\x1d"
GS_SHOWN = "\u241d"  # SYMBOL FOR GROUP SEPARATOR
GS_KEY = "ctrl+right_square_bracket"
SUFFIX_KEYS = ("enter", "ctrl+j", "tab")


def normalize_suffixes(suffixes) -> frozenset[str]:
    """The configured scan suffixes as Textual key names; Enter is always in."""
    out = {"enter"}
    for s in suffixes or ():
        s = str(s).strip().lower()
        s = {"cr": "enter", "lf": "ctrl+j", "\n": "ctrl+j", "\r": "enter", "\t": "tab"}.get(s, s)
        if s in SUFFIX_KEYS:
            out.add(s)
    return frozenset(out)


def clean_code(raw: str) -> str:
    """Field text -> the code posted: surrounding blanks and FNC1 GS dropped,
    inner GS restored to 0x1D."""
    code = raw.replace(GS_SHOWN, GS).strip().strip(GS).strip()
    return code


def shown_code(code: str) -> str:
    return code.replace(GS, GS_SHOWN)


class ScanField(Input):
    """Input for scanners and hand-typed codes. Posts ``ScanField.Scanned``."""

    DEFAULT_CSS = """
    ScanField { width: 1fr; }
    """

    @dataclass
    class Scanned(Message):
        """A complete code was entered (suffix key). ``code`` is stripped."""
        scan_field: "ScanField"
        code: str

        @property
        def control(self) -> "ScanField":
            return self.scan_field

    @dataclass
    class Refused(Message):
        """Input too long to be a code was thrown away (``reason`` says so)."""
        scan_field: "ScanField"
        reason: str

        @property
        def control(self) -> "ScanField":
            return self.scan_field

    def __init__(self, *args, suffixes=SUFFIX_KEYS, on_scan: Callable[[str], None] | None = None,
                 max_length_scan: int = MAX_SCAN_LENGTH, **kwargs) -> None:
        kwargs.setdefault("placeholder", "scan or type a code, Enter")
        super().__init__(*args, **kwargs)
        self.suffixes = normalize_suffixes(suffixes)
        #: called with each code in the key's own handler (instead of posting
        #: Scanned): what it shows reaches the screen in the same frame as the
        #: cleared field
        self.on_scan = on_scan
        self.max_length_scan = max_length_scan
        #: every code posted, in order (for diagnostics and tests)
        self.posted = 0
        #: inside refused input: drop everything up to the next suffix key
        self.refusing = False

    def _refuse(self) -> None:
        self.take()
        if not self.refusing:
            self.refusing = True
            self.post_message(self.Refused(self, f"too long for a code (more than {self.max_length_scan} "
                                                 f"characters): thrown away, scan again"))

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if key in self.suffixes or key == GS_KEY:
            return True
        return super().check_consume_key(key, character)

    def _watch_value(self, value: str) -> None:
        # Input sets ``virtual_size`` on every character, a reactive with
        # layout=True: a relayout of the WHOLE screen per typed character (14 per
        # EAN-13 scan). The field's size never depends on its text (width 1fr),
        # so its scroll range is set here without a layout; Input's own watcher
        # then finds it unchanged (and does the rest: Changed, cursor, selection).
        size = Size(self.content_width, 1)
        if size != self.virtual_size:
            self.set_reactive(Widget.virtual_size, size)
            self._scroll_update(size)
        super()._watch_value(value)

    def take(self) -> str:
        """Take the value and reset the field, synchronously."""
        value = self.value
        self.value = ""
        self.cursor_position = 0
        return value

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        if key in self.suffixes:
            # Runs before Input's own handler and before any binding (enter ->
            # submit, tab -> focus next): the scan is complete NOW.
            event.stop()
            event.prevent_default()
            if self.refusing:   # the end of input that was too long: it submits nothing
                self.refusing = False
                self.take()
                return
            code = clean_code(self.take())
            if code:
                self.posted += 1
                if self.on_scan is not None:
                    self.on_scan(code)
                else:
                    self.post_message(self.Scanned(self, code))
            return
        if key == "ctrl+j":  # LF not configured as a suffix: never part of a code
            event.stop()
            event.prevent_default()
            return
        if key == GS_KEY:
            event.stop()
            event.prevent_default()
            if self.value:  # a leading GS (FNC1) is dropped
                self.insert_text_at_cursor(GS_SHOWN)
            return
        if event.is_printable and (self.refusing or len(self.value) >= self.max_length_scan):
            event.stop()
            event.prevent_default()
            self._refuse()
            return
        # printable keys: Input's handler inserts them (inherited dispatch)

    def _on_paste(self, event: events.Paste) -> None:
        # Input already keeps only the first line; say so explicitly here.
        lines = (event.text or "").splitlines()
        event.stop()
        event.prevent_default()
        if lines and lines[0]:
            if self.refusing or len(self.value) + len(lines[0]) > self.max_length_scan:
                self._refuse()
                return
            self.insert_text_at_cursor(lines[0].replace(GS, GS_SHOWN))


# --------------------------------------------------------------- serial ---

@dataclass
class Job:
    """One unit of work for the serial consumer. ``fn`` runs in the worker
    thread; ``kind`` and ``data`` tell the owner what it was."""
    fn: Callable[[], Any]
    kind: str
    data: dict = field(default_factory=dict)
    seq: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    #: the owner showed the outcome itself (:meth:`SerialRunner.wait`): its Done is ignored
    handled: bool = False


class SerialRunner:
    """A FIFO of jobs drained by ONE thread worker owned by ``owner`` (a
    widget/screen). Each job's outcome is posted to the owner as
    ``SerialRunner.Done(job, result, error)`` in submission order."""

    @dataclass
    class Done(Message):
        job: Job
        result: Any = None
        error: BaseException | None = None

    _STOP = object()

    def __init__(self, owner: Widget, *, on_thread_exit: Callable[[], None] | None = None):
        self.owner = owner
        self.queue: queue.Queue = queue.Queue()
        self._seq = 0
        self._lock = threading.Lock()
        self.pending = 0          # submitted and not yet Done-handled (UI thread only)
        self._kinds: dict[str, int] = {}
        self.worker = None
        self._stopped = threading.Event()
        self._on_thread_exit = on_thread_exit

    def start(self) -> None:
        if self.worker is None:
            self.worker = self.owner.run_worker(self._drain, name="serial-runner", group="serial",
                                                thread=True, exit_on_error=False)

    def submit(self, fn: Callable[[], Any], kind: str, **data) -> Job:
        with self._lock:
            self._seq += 1
            job = Job(fn, kind, data, self._seq)
        self.pending += 1
        self._kinds[kind] = self._kinds.get(kind, 0) + 1
        self.queue.put(job)
        return job

    def finished(self, job: Job | None = None) -> None:
        """Call from the owner's Done handler (UI thread)."""
        self.pending = max(0, self.pending - 1)
        if job is not None and self._kinds.get(job.kind):
            self._kinds[job.kind] -= 1

    def wait(self, job: Job, timeout: float) -> bool:
        """UI thread: wait up to ``timeout`` seconds for ``job`` (submitted with
        nothing ahead of it). True when it is done: the caller shows its outcome
        now (``job.result`` / ``job.error``) and its Done message is ignored."""
        if job.done.wait(timeout):
            job.handled = True
            return True
        return False

    def pending_kind(self, kind: str) -> int:
        return self._kinds.get(kind, 0)

    def stop(self) -> None:
        self._stopped.set()
        self.queue.put(self._STOP)

    def _owner_gone(self) -> bool:
        o = self.owner
        try:
            return bool(o._closing or o._closed or not o.is_attached or not o.app.is_running)
        except Exception:  # noqa: BLE001 - no app any more
            return True

    def _drain(self) -> None:
        # The thread never blocks for good: the asyncio loop's executor waits for
        # it at shutdown, so it also ends when its owner is gone without stop().
        try:
            while True:
                try:
                    job = self.queue.get(timeout=0.5)
                except queue.Empty:
                    if self._stopped.is_set() or self._owner_gone():
                        return
                    continue
                if job is self._STOP:
                    return
                try:
                    job.result = job.fn()
                except BaseException as e:  # noqa: BLE001 - reported to the owner, never raised
                    job.error = e
                # Done is queued before the UI thread (maybe waiting in wait()) wakes:
                # posting it afterwards would contend with the frame that UI thread draws
                self.owner.post_message(self.Done(job, job.result, job.error))
                job.done.set()
        finally:
            if self._on_thread_exit is not None:
                try:
                    self._on_thread_exit()
                except Exception:
                    pass


# -------------------------------------------------------------- dialogs ---

class PromptDialog(StationModal):
    """Ask for one line of text. Dismisses with the text or None (Escape).
    ``check(text)`` may raise an error: its message is shown and the dialog stays."""

    DEFAULT_CSS = """
    PromptDialog { align: center middle; }
    PromptDialog > Vertical { width: 50; max-width: 100%; height: auto; border: thick $accent;
                              background: $surface; padding: 0 1; }
    PromptDialog #prompt-title { text-style: bold; }
    PromptDialog #prompt-error { color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt_cancel")]

    def __init__(self, title: str, label: str = "", value: str = "",
                 check: Callable[[str], Any] | None = None) -> None:
        super().__init__()
        self._title, self._label, self._value, self._check = title, label, value, check

    def help_name(self) -> str:
        return self._title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title, id="prompt-title")
            if self._label:
                yield Label(self._label, id="prompt-label")
            yield Input(self._value, id="prompt-input")
            yield Label("", id="prompt-error")

    def on_mount(self) -> None:
        self.query_one("#prompt-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value
        if self._check is not None:
            try:
                self._check(text)
            except Exception as e:  # noqa: BLE001
                self.query_one("#prompt-error", Label).update(error_text(e))
                self.app.bell()
                return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickDialog(StationModal):
    """Pick one of a few options (arrows + Enter). Dismisses with the option id or None."""

    DEFAULT_CSS = """
    PickDialog { align: center middle; }
    PickDialog > Vertical { width: 70; max-width: 100%; height: auto; max-height: 90%;
                            border: thick $accent; background: $surface; padding: 0 1; }
    PickDialog #pick-title { text-style: bold; }
    PickDialog OptionList { height: auto; max-height: 16; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="pick_cancel")]

    def __init__(self, title: str, options: list[tuple[str, str]], empty: str = "nothing to choose") -> None:
        super().__init__()
        self._title, self._options, self._empty = title, options, empty

    def help_name(self) -> str:
        return self._title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title, id="pick-title")
            if self._options:
                yield OptionList(*[Option(text, id=oid) for oid, text in self._options], id="pick-list")
            else:
                yield Label(self._empty, id="pick-empty")

    def on_mount(self) -> None:
        if self._options:
            ol = self.query_one(OptionList)
            ol.highlighted = 0
            ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


# --------------------------------------------------------------- footer ---

class KeyFooter(Footer):
    """The Footer (keymap-aware: it shows the keys as remapped) on TWO rows, so
    every action key of a screen is visible at 80 columns."""

    DEFAULT_CSS = """
    KeyFooter { layout: grid; grid-columns: auto; grid-rows: 1; height: 2; }
    KeyFooter.-compact FooterKey { margin: 0; padding: 0 1 0 0; }
    """

    def __init__(self, rows: int = 2, **kwargs) -> None:
        kwargs.setdefault("compact", True)
        kwargs.setdefault("show_command_palette", False)
        super().__init__(**kwargs)
        self._rows = rows

    def compose(self) -> ComposeResult:
        # Textual 8.2.8: each FooterKey data-binds ``compact`` and so adds a watcher
        # on this footer that is only dropped when ``compact`` changes, which it
        # never does: every recompose (each screen pushed or popped) would keep
        # the old keys alive. The watchers of keys no longer attached go here.
        watchers = getattr(self, "__watchers", {})
        for name, entries in watchers.items():
            entries[:] = [(node, cb) for node, cb in entries if getattr(node, "is_attached", True)]
        items = list(super().compose())
        yield from items
        self.styles.grid_size_columns = max(1, -(-len(items) // self._rows))
