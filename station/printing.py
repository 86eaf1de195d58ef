"""Printing receipts in the background: never blocks the next sale, never raises.

The durable queue is the ``print_job`` table: a sale's receipt is queued in the
sale's own transaction (:func:`enqueue`), a reprint's when it is journalled, so
a till killed right after a commit still knows the receipt never printed.
``Printer(ctx, on_result)`` owns one daemon thread: ``submit_receipt`` only
hands it the sale and returns at once; :meth:`Printer.resume` (at start) hands
it this till's receipts still queued from before -- printed without opening
the drawer. Every job ends ``printed`` (the printer confirmed, or the kind of
printer cannot tell), ``unconfirmed`` (a network printer took the bytes but did
not confirm its status: "sent, unconfirmed"), ``failed`` or ``dismissed`` (a
manager decided it needs no printing); :func:`unprinted` lists the ones a
manager should look at (the manager's view).

The thread builds the bytes (:mod:`station.receipt`, with its own database
connection), kicks the drawer first on a cash sale (``station.drawer.kick``,
journalled), then sends the receipt through the configured transport
(``station.hardware.transport``: every I/O with a timeout and a watchdog).
Every outcome is journalled (``receipt.printed`` / ``receipt.unconfirmed`` /
``receipt.print_failed``) and reported through ``on_result(PrintResult)``,
called on the printer thread (a screen wraps it in ``call_from_thread``).

A failure never touches the sale: it is committed before the job runs.
Reprints are marked as copies (``receipt.reprinted`` in the journal).
"""
from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

from data import db as dbmod
from data.models import PrintJob, Ticket, utcnow
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
    unconfirmed: bool = False        # sent, but the printer did not confirm it printed
    job_id: int | None = None


@dataclass
class JobView:
    """A queued or unprinted receipt, for the manager's view."""
    id: int
    ticket_id: int
    terminal: str
    receipt_no: int | None
    copy: bool
    status: str
    attempts: int
    message: str
    created_at: object
    user: str | None


@dataclass
class _Job:
    ticket_id: int | None
    kick: bool
    copy: bool
    user: object
    job_id: int | None = None
    run: object = None      # any other print job: run() -> PrintResult, never raises


_STOP = object()


def _journal(ctx, kind, user, ref, amount=None, data=None) -> None:
    """Journal from the printer thread; a failure here is logged, never raised."""
    try:
        def tx():
            with dbmod.write():
                journal.append(kind, terminal=ctx.terminal, user=user, amount=amount, ref=ref, data=data or {})
        dbmod.retrying(tx)
    except Exception:  # noqa: BLE001
        log.warning("could not journal %s", kind, exc_info=True)


# ------------------------------------------------------------- the queue ---

def enqueue(ctx, ticket_id: int, *, kick: bool = False, copy: bool = False, user=None) -> int:
    """Queue a receipt in the caller's write transaction (the sale's, so the job
    commits with it); the job's id."""
    return PrintJob.insert(ticket=ticket_id, terminal=ctx.terminal, copy=copy, kick=kick,
                           user_name=getattr(user, "name", user)).execute()


_QUEUE_SALE = ("INSERT INTO print_job (ticket_id, terminal, copy, kick, status, attempts, message, user_name, "
               "created_at, updated_at) VALUES (?, ?, FALSE, ?, 'queued', 0, '', ?, ?, ?)")


def queue_sale_receipt(sc) -> None:
    """Inside the sale's transaction (``tender.write_sale``): its receipt joins the
    print queue with it (one insert; on PostgreSQL it travels with the COMMIT),
    so a till killed right after the commit still prints or shows it."""
    now = dbmod.param_time(sc.now)
    dbmod.defer(dbmod.q(_QUEUE_SALE), (sc.ticket_id, sc.terminal, bool(sc.tendered_cash), sc.user.name, now, now))


def _job_for(ctx, ticket_id: int, kick: bool, copy: bool, user) -> int:
    """The queued job of this original receipt (written with the sale), or a new one."""
    def tx():
        with dbmod.write():
            if not copy:
                j = (PrintJob.select(PrintJob.id).where((PrintJob.ticket == ticket_id) & (~PrintJob.copy)
                                                         & (PrintJob.status == "queued"))
                     .order_by(PrintJob.id).first())
                if j is not None:
                    return j.id
            return enqueue(ctx, ticket_id, kick=kick, copy=copy, user=user)
    return dbmod.retrying(tx)


def _finish(ctx, job_id: int | None, res: PrintResult) -> None:
    """Record a job's outcome (never raises: the printer thread must go on)."""
    if job_id is None:
        return
    status = ("printed" if res.ok else "unconfirmed" if res.unconfirmed else "failed")
    if res.skipped:
        status = "dismissed"

    def tx():
        with dbmod.write():
            PrintJob.update(status=status, attempts=PrintJob.attempts + 1, message=res.message[:500],
                            updated_at=utcnow()).where(PrintJob.id == job_id).execute()
    try:
        dbmod.retrying(tx)
    except Exception:  # noqa: BLE001
        log.warning("could not record print job %s as %s", job_id, status, exc_info=True)


def _view(j: PrintJob) -> JobView:
    return JobView(j.id, j.ticket_id, j.terminal, getattr(j, "receipt_no", None), j.copy, j.status, j.attempts,
                   j.message, j.created_at, j.user_name)


def queued(ctx, terminal: str | None = None) -> list[JobView]:
    """This till's (or ``terminal``'s) receipts still waiting to print, oldest first."""
    q = (PrintJob.select(PrintJob, Ticket.receipt_no).join(Ticket, on=(PrintJob.ticket == Ticket.id))
         .where((PrintJob.terminal == (terminal or ctx.terminal)) & (PrintJob.status == "queued"))
         .order_by(PrintJob.id))
    return [_view(j) for j in q.objects()]


def unprinted(ctx, *, limit: int = 200) -> list[JobView]:
    """Every till's receipts that did not print (queued, failed, unconfirmed), newest first."""
    q = (PrintJob.select(PrintJob, Ticket.receipt_no).join(Ticket, on=(PrintJob.ticket == Ticket.id))
         .where(PrintJob.status.in_(("queued", "failed", "unconfirmed")))
         .order_by(PrintJob.id.desc()).limit(limit))
    return [_view(j) for j in q.objects()]


def dismiss(ctx, user, job_id: int, reason: str = "") -> None:
    """A manager decides an unprinted receipt needs no printing (journalled)."""
    def tx():
        with dbmod.write():
            authority.require(ctx, user, "receipt.manage")
            j = dbmod.locked(PrintJob.select().where(PrintJob.id == job_id)).first()
            if j is None:
                raise NotFound(f"there is no print job {job_id}")
            if j.status in ("printed", "dismissed"):
                return
            PrintJob.update(status="dismissed", message=(reason or "dismissed")[:500],
                            updated_at=utcnow()).where(PrintJob.id == job_id).execute()
            journal.append("receipt.dismissed", terminal=ctx.terminal, user=user, ref=str(j.ticket_id),
                           data={"job": job_id, "was": j.status, "reason": reason or ""})
    dbmod.retrying(tx)


# ------------------------------------------------------------- printing ---

def send_bytes(ctx, data: bytes):
    """Send raw bytes to the configured printer (raises HardwareError); (where, Sent)."""
    from station.hardware import transport as tp  # noqa: PLC0415
    t = tp.from_config(ctx.config, port=ctx.extras.get("printer.port"))
    return t.describe(), t.send(data, confirm=True)


def print_now(ctx, ticket_id: int, *, kick: bool = False, copy: bool = False, user=None,
              job_id: int | None = None) -> PrintResult:
    """Print one receipt in the calling thread (the worker's body; also the CLI).
    Never raises: the outcome is returned, journalled and (``job_id``) recorded."""
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
            res = PrintResult(True, f"receipt {receipt_no} not printed: no printer is configured "
                              f"(printer.kind = none)", ticket_id, receipt_no, copy, kicked, kick_msg,
                              skipped=True, job_id=job_id)
            _finish(ctx, job_id, res)
            return res
        where, sent = send_bytes(ctx, data)
        what = f"receipt {receipt_no}{' (copy)' if copy else ''}"
        if sent.confirmed is False:
            res = PrintResult(False, f"{what} sent to {where}, unconfirmed: {sent.note}; if it did not come "
                              f"out, print it again (F12 or 'station receipt reprint')", ticket_id, receipt_no,
                              copy, kicked, kick_msg, unconfirmed=True, job_id=job_id)
            _journal(ctx, "receipt.unconfirmed", user, str(receipt_no),
                     data={"ticket": ticket_id, "copy": copy, "bytes": len(data), "why": sent.note})
        else:
            res = PrintResult(True, f"{what} printed on {where}", ticket_id, receipt_no, copy, kicked, kick_msg,
                              job_id=job_id)
            _journal(ctx, "receipt.printed", user, str(receipt_no),
                     data={"ticket": ticket_id, "copy": copy, "bytes": len(data), "confirmed": sent.confirmed})
    except StationError as e:
        res = PrintResult(False, f"receipt {receipt_no or ''} not printed: {e}".replace("  ", " "),
                          ticket_id, receipt_no, copy, kicked, kick_msg, job_id=job_id)
    except Exception as e:  # noqa: BLE001 - a printer must never crash the till
        log.error("printing receipt of ticket %s failed", ticket_id, exc_info=True)
        res = PrintResult(False, f"receipt {receipt_no or ''} not printed: {e.__class__.__name__}: {e}"
                          .replace("  ", " "), ticket_id, receipt_no, copy, kicked, kick_msg, job_id=job_id)
    if not res.ok and not res.unconfirmed:
        res.message += ": print it again with the reprint key or 'station receipt reprint'"
        _journal(ctx, "receipt.print_failed", user, None if receipt_no is None else str(receipt_no),
                 data={"ticket": ticket_id, "copy": copy, "why": res.message})
    _finish(ctx, job_id, res)
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
        self._resumed: set[int] = set()          # queued jobs already handed to the thread

    # -- public API (none raises; submit_receipt returns at once; reprint and
    #    reprint_last first find the sale and journal the reprint -- one short
    #    database transaction in the calling thread, so screens call them from a
    #    worker -- then queue the printing like submit_receipt) ----------------
    def submit_receipt(self, ctx, ticket_id: int, kick: bool = False, copy: bool = False, user=None,
                       job_id: int | None = None) -> None:
        self._ensure_thread()
        self._q.put(_Job(ticket_id, kick, copy, user, job_id))

    def resume(self, ctx=None) -> int:
        """At start: print this till's receipts still queued from before (a crash
        or a kill right after a sale), without opening the drawer. How many."""
        ctx = ctx or self.ctx
        try:
            jobs = queued(ctx)
        except Exception as e:  # noqa: BLE001
            log.error("cannot read the print queue", exc_info=True)
            self._report(PrintResult(False, f"cannot read the print queue: {e}"))
            return 0
        with self._lock:
            jobs = [j for j in jobs if j.id not in self._resumed]
            self._resumed.update(j.id for j in jobs)
        for j in jobs:
            self.submit_receipt(ctx, j.ticket_id, kick=False, copy=j.copy, user=j.user, job_id=j.id)
        return len(jobs)

    def submit_job(self, run) -> None:
        """Queue any other print job (a refund receipt): ``run()`` prints in the
        printer thread and returns a PrintResult without raising."""
        self._ensure_thread()
        self._q.put(_Job(None, False, False, None, run=run))

    def reprint_last(self, ctx=None, user=None) -> int | None:
        """Queue a copy of this terminal's last receipt; returns its ticket id (None: no sale yet)."""
        ctx = ctx or self.ctx
        try:
            t = (Ticket.select().where((Ticket.terminal == ctx.terminal) & (Ticket.status == "completed"))
                 .order_by(Ticket.receipt_no.desc()).first())
        except Exception as e:  # noqa: BLE001
            log.error("cannot find the last receipt", exc_info=True)
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
            tid, job = mark_reprint(ctx, user, receipt_no, terminal)
        except StationError as e:
            self._report(PrintResult(False, str(e), receipt_no=receipt_no, copy=True))
            return
        except Exception as e:  # noqa: BLE001
            log.error("reprint of receipt %s failed", receipt_no, exc_info=True)
            self._report(PrintResult(False, f"cannot reprint: {e}", receipt_no=receipt_no, copy=True))
            return
        self.submit_receipt(ctx, tid, kick=False, copy=True, user=user, job_id=job)

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
                    if job.run is not None:
                        self._report(job.run())
                        continue
                    job_id = job.job_id
                    if job_id is None:
                        try:
                            job_id = _job_for(self.ctx, job.ticket_id, job.kick, job.copy, job.user)
                        except Exception:  # noqa: BLE001 - print anyway; the queue row is a record
                            log.error("cannot queue the receipt of ticket %s", job.ticket_id, exc_info=True)
                    self._report(print_now(self.ctx, job.ticket_id, kick=job.kick, copy=job.copy, user=job.user,
                                           job_id=job_id))
                except Exception:  # noqa: BLE001 - the thread must survive anything
                    log.error("print job failed", exc_info=True)
                finally:
                    self._q.task_done()
        finally:
            dbmod.release()   # this thread's connection only (peewee: one per thread)

    def _report(self, res: PrintResult) -> None:
        self.results.append(res)
        del self.results[:-50]
        if self.on_result is not None:
            try:
                self.on_result(res)
            except Exception:  # noqa: BLE001
                log.error("print result callback failed", exc_info=True)


def mark_reprint(ctx, user, receipt_no: int, terminal: str | None = None) -> tuple[int, int]:
    """Check the permission, find the sale, journal ``receipt.reprinted`` and queue
    the copy (one transaction); (ticket id, print job id)."""
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
            return enqueue(ctx, t.id, copy=True, user=user)
    return t.id, dbmod.retrying(tx)


def reprint_bytes(ctx, user, receipt_no: int, terminal: str | None = None) -> bytes:
    """The copy's bytes (the CLI writes them to a file or sends them): journalled
    as a reprint, its queue row marked printed by whoever wrote them out."""
    tid, job = mark_reprint(ctx, user, receipt_no, terminal)
    data = receipt.receipt_bytes(ctx, tid, copy=True)
    _finish(ctx, job, PrintResult(True, "written out by the command line", tid, receipt_no, True))
    return data


def reprint(ctx, user, receipt_no: int, terminal: str | None = None) -> PrintResult:
    """Print a copy of receipt ``receipt_no`` now, in the calling thread (the CLI;
    screens use :meth:`Printer.reprint`, which queues it). Raises NotFound /
    PermissionDenied before anything is printed; a printer failure is returned."""
    tid, job = mark_reprint(ctx, user, receipt_no, terminal)
    return print_now(ctx, tid, copy=True, user=user, job_id=job)
