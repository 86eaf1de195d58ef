"""Printing receipts in the background: never blocks the next sale, never raises.

``Printer(ctx, on_result)`` owns one queue and one daemon thread. ``submit_receipt``
only puts a job on the queue and returns at once. The thread builds the bytes
(:mod:`station.receipt`, reading the committed sale with its own database
connection), kicks the drawer first on a cash sale (engineer C's
``station.drawer.kick``: printer pulse or serial, journalled ``drawer.kick`` /
``drawer.kick_failed``), then sends the receipt through the configured transport
(``station.hardware.transport``: none/file/serial/network/usb, each with a
timeout). Every outcome is journalled (``receipt.printed`` /
``receipt.print_failed``) and reported through ``on_result(PrintResult)``, which is
called on the printer thread (a Textual screen wraps it in ``call_from_thread``).

A failure never touches the sale: it is committed before the job is queued. The
receipt can be printed again with :meth:`Printer.reprint_last` or
``station receipt reprint N``; reprints are marked as copies (``receipt.reprinted``
in the journal).
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from data import db as dbmod
from data.models import Ticket
from station import authority, journal, receipt
from station.errors import NotFound, StationError

log = logging.getLogger(__name__)


@dataclass
class PrintResult:
    ok: bool
    message: str
    ticket_id: int | None = None
    receipt_no: int | None = None
    copy: bool = False
    kicked: bool | None = None       # None: no kick asked
    kick_message: str = ""
    skipped: bool = False            # printer.kind = none: nothing was sent (not a failure)


@dataclass
class _Job:
    ticket_id: int
    kick: bool
    copy: bool
    user: object


_STOP = object()


def _journal(ctx, kind, user, ref, amount=None, data=None) -> None:
    """Journal from the printer thread; a failure here is logged, never raised."""
    try:
        def tx():
            with dbmod.write():
                journal.append(kind, terminal=ctx.terminal, user=user, amount=amount, ref=ref, data=data or {})
        dbmod.retrying(tx)
    except Exception as e:  # noqa: BLE001
        log.warning("could not journal %s: %s", kind, e)


def send_bytes(ctx, data: bytes) -> str:
    """Send raw bytes to the configured printer (raises HardwareError); returns where."""
    from station.hardware import transport as tp  # noqa: PLC0415
    t = tp.from_config(ctx.config, port=ctx.extras.get("printer.port"))
    t.send(data)
    return t.describe()


def print_now(ctx, ticket_id: int, *, kick: bool = False, copy: bool = False, user=None) -> PrintResult:
    """Print one receipt in the calling thread (the worker's body; also the CLI).
    Never raises: the outcome is returned and journalled."""
    receipt_no = None
    kicked, kick_msg = None, ""
    try:
        t = Ticket.get_or_none(Ticket.id == ticket_id)
        if t is None or t.status != "completed":
            raise NotFound(f"ticket {ticket_id} is not a completed sale")
        receipt_no = t.receipt_no
        if kick:
            kicked, kick_msg = _kick(ctx, user, t)
        data = receipt.receipt_bytes(ctx, ticket_id, copy=copy)
        if ctx.config.printer.kind == "none":
            return PrintResult(True, f"receipt {receipt_no} not printed: no printer is configured "
                               f"(printer.kind = none)", ticket_id, receipt_no, copy, kicked, kick_msg,
                               skipped=True)
        where = send_bytes(ctx, data)
        res = PrintResult(True, f"receipt {receipt_no}{' (copy)' if copy else ''} printed on {where}",
                          ticket_id, receipt_no, copy, kicked, kick_msg)
        _journal(ctx, "receipt.printed", user, str(receipt_no), data={"ticket": ticket_id, "copy": copy,
                                                                      "bytes": len(data)})
    except StationError as e:
        res = PrintResult(False, f"receipt {receipt_no or ''} not printed: {e}".replace("  ", " "),
                          ticket_id, receipt_no, copy, kicked, kick_msg)
    except Exception as e:  # noqa: BLE001 - a printer must never crash the till
        res = PrintResult(False, f"receipt {receipt_no or ''} not printed: {e.__class__.__name__}: {e}"
                          .replace("  ", " "), ticket_id, receipt_no, copy, kicked, kick_msg)
    if not res.ok:
        res.message += ": print it again with the reprint key or 'station receipt reprint'"
        _journal(ctx, "receipt.print_failed", user, None if receipt_no is None else str(receipt_no),
                 data={"ticket": ticket_id, "copy": copy, "why": res.message})
    return res


def _kick(ctx, user, t: Ticket) -> tuple[bool, str]:
    try:
        from station import drawer  # noqa: PLC0415
        if user is not None:
            k = drawer.kick(ctx, user, "sale", ref=t.id)
            return k.ok, k.message
        from station.hardware import drawer as hw  # noqa: PLC0415
        r = hw.kick(ctx)
        if not r.skipped:
            _journal(ctx, "drawer.kick" if r.ok else "drawer.kick_failed", None, str(t.id),
                     data={"drawer": ctx.drawer, "via": r.via, "why": "sale", "message": r.message})
        return r.ok, r.message
    except Exception as e:  # noqa: BLE001
        return False, f"the drawer did not open: {e}"


class Printer:
    """The background print worker of one terminal (one per app)."""

    def __init__(self, ctx, on_result=None):
        self.ctx = ctx
        self.on_result = on_result
        self._q: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.results: list[PrintResult] = []   # the latest outcomes (bounded), newest last

    # -- public API (none raises; submit_receipt returns at once; reprint and
    #    reprint_last first find the sale and journal the reprint -- one short
    #    database transaction in the calling thread, so screens call them from a
    #    worker -- then queue the printing like submit_receipt) ----------------
    def submit_receipt(self, ctx, ticket_id: int, kick: bool = False, copy: bool = False, user=None) -> None:
        self._ensure_thread()
        self._q.put(_Job(ticket_id, kick, copy, user))

    def reprint_last(self, ctx=None, user=None) -> int | None:
        """Queue a copy of this terminal's last receipt; returns its ticket id (None: no sale yet)."""
        ctx = ctx or self.ctx
        try:
            t = (Ticket.select().where((Ticket.terminal == ctx.terminal) & (Ticket.status == "completed"))
                 .order_by(Ticket.receipt_no.desc()).first())
        except Exception as e:  # noqa: BLE001
            self._report(PrintResult(False, f"cannot find the last receipt: {e}"))
            return None
        if t is None:
            self._report(PrintResult(False, "no receipt to print again yet on this terminal"))
            return None
        self.reprint(ctx, user, t.receipt_no)
        return t.id

    def reprint(self, ctx, user, receipt_no: int, terminal: str | None = None) -> None:
        """Queue a copy of receipt ``receipt_no`` (of this terminal unless ``terminal``)."""
        ctx = ctx or self.ctx
        try:
            tid = mark_reprint(ctx, user, receipt_no, terminal)
        except StationError as e:
            self._report(PrintResult(False, str(e), receipt_no=receipt_no, copy=True))
            return
        except Exception as e:  # noqa: BLE001
            self._report(PrintResult(False, f"cannot reprint: {e}", receipt_no=receipt_no, copy=True))
            return
        self.submit_receipt(ctx, tid, kick=False, copy=True, user=user)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Tests and shutdown: wait until every queued job is done."""
        done = threading.Event()

        def waiter():
            self._q.join()
            done.set()
        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            th = self._thread
            if th is None:
                return
            self._q.put(_STOP)
        th.join(timeout)
        with self._lock:
            self._thread = None

    # -- the thread --------------------------------------------------------
    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="station-printer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                job = self._q.get()
                try:
                    if job is _STOP:
                        return
                    self._report(print_now(self.ctx, job.ticket_id, kick=job.kick, copy=job.copy, user=job.user))
                except Exception as e:  # noqa: BLE001 - the thread must survive anything
                    log.warning("print job failed: %s", e)
                finally:
                    self._q.task_done()
        finally:
            try:
                db = dbmod.proxy.obj
                if db is not None and not db.is_closed():
                    db.close()   # this thread's connection only (peewee: one per thread)
            except Exception:  # noqa: BLE001
                pass

    def _report(self, res: PrintResult) -> None:
        self.results.append(res)
        del self.results[:-50]
        if self.on_result is not None:
            try:
                self.on_result(res)
            except Exception as e:  # noqa: BLE001
                log.warning("print result callback failed: %s", e)


def mark_reprint(ctx, user, receipt_no: int, terminal: str | None = None) -> int:
    """Check the permission, find the sale, journal ``receipt.reprinted``; the ticket id."""
    terminal = terminal or ctx.terminal
    t = Ticket.get_or_none((Ticket.terminal == terminal) & (Ticket.receipt_no == receipt_no))
    if t is None or t.status != "completed":
        raise NotFound(f"there is no receipt {receipt_no} on terminal {terminal}")

    def tx():
        with dbmod.write():
            if user is not None:
                authority.require(ctx, user, "receipt.reprint", ref=t.id)
            journal.append("receipt.reprinted", terminal=ctx.terminal, user=user, ref=str(receipt_no),
                           data={"ticket": t.id, "of_terminal": terminal})
    dbmod.retrying(tx)
    return t.id


def reprint_bytes(ctx, user, receipt_no: int, terminal: str | None = None) -> bytes:
    """The copy's bytes (the CLI writes them to a file or sends them)."""
    tid = mark_reprint(ctx, user, receipt_no, terminal)
    return receipt.receipt_bytes(ctx, tid, copy=True)


def reprint(ctx, user, receipt_no: int, terminal: str | None = None) -> PrintResult:
    """Print a copy of receipt ``receipt_no`` now, in the calling thread (the CLI;
    screens use :meth:`Printer.reprint`, which queues it). Raises NotFound /
    PermissionDenied before anything is printed; a printer failure is returned."""
    tid = mark_reprint(ctx, user, receipt_no, terminal)
    return print_now(ctx, tid, copy=True, user=user)
