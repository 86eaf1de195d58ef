"""Manager views (area "manager"): the journal browser, the users list, the
receipts that never printed (every till's print queue: queued, failed, sent
but unconfirmed) and the payments flagged "paid twice, refund due"
(station.payments).

Reachable by role only: the home screen offers the area to roles with
``journal.view``; the services refuse anyone else anyway (``station.audit``,
``station.auth.unlock/disable``), and this screen shows that refusal.

Keys (all keyboard, 80x24):
  F2 journal   F3 users   F4 unprinted receipts   F6 refunds due
  F5 refresh/apply filters   F7 older page   F8 newer page
  users table: u unlock   d disable   e enable       Escape back
  receipts table: p print it on this till   x dismiss (it needs no printing)
  refunds due: r refund through the provider   m mark refunded another way
"""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher, DataTable, Input, Label, Static

from screens.base import StationModal, StationScreen
from screens.format import error_text, money_text
from screens.widgets import KeyFooter, PromptDialog
from station import audit, auth, printing
from station.context import release_thread_connection
from station.errors import InvalidInput, StationError
from station.payments import service as payments

PAGE = 100


class Confirm(StationModal):
    HELP_TITLE = "Confirm"
    """y / Enter: yes; n / Escape: no."""

    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Static { width: 50; height: auto; border: thick $warning; background: $surface; padding: 1; }
    """
    BINDINGS = [Binding("y,enter", "yes", "Yes", id="confirm_yes"),
                Binding("n,escape", "no", "No", id="confirm_no")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(f"{self.question}\n\n[b]y[/b] yes    [b]n[/b] no")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class ManagerScreen(StationScreen):
    TITLE = "Manager"
    HELP_TITLE = "Manager: journal and users"
    DEFAULT_CSS = """
    ManagerScreen #mgr-title { text-style: bold; height: 1; }
    ManagerScreen #switcher { height: 1fr; }
    ManagerScreen #journal, ManagerScreen #users { height: 1fr; }
    ManagerScreen #filters { height: 3; }
    ManagerScreen #filters Input { width: 1fr; }
    ManagerScreen DataTable { height: 1fr; }
    ManagerScreen #detail { height: 2; color: $text-muted; }
    ManagerScreen #status { height: 1; }
    ManagerScreen #status.error { color: $error; text-style: bold; }
    """

    BINDINGS = [
        Binding("f2", "show('journal')", "Journal", id="manager_journal"),
        Binding("f3", "show('users')", "Users", id="manager_users"),
        Binding("f4", "show('receipts')", "Unprinted", id="manager_receipts"),
        Binding("f6", "show('refunds')", "Refunds due", id="manager_refunds"),
        Binding("f5", "refresh", "Refresh", id="manager_refresh"),
        Binding("f7", "older", "Older", id="manager_older"),
        Binding("f8", "newer", "Newer", id="manager_newer"),
        Binding("escape", "back", "Back", id="manager_back"),
        Binding("u", "user_op('unlock')", "Unlock user", id="manager_unlock"),
        Binding("d", "user_op('disable')", "Disable user", id="manager_disable"),
        Binding("e", "user_op('enable')", "Enable user", id="manager_enable"),
        Binding("p", "receipt_op('print')", "Print receipt", id="manager_receipt_print"),
        Binding("x", "receipt_op('dismiss')", "Dismiss receipt", id="manager_receipt_dismiss"),
        Binding("r", "refund", "Refund", id="manager_refund"),
        Binding("m", "resolve", "Mark refunded", id="manager_resolve"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pages: list[int | None] = [None]   # before_seq of each page shown (keyset paging)
        self.last_page_seq: int | None = None
        self.has_more = False
        self.events: dict[str, audit.Event] = {}
        self.jobs: dict[str, printing.JobView] = {}

    # ------------------------------------------------------------ layout ---
    def compose(self) -> ComposeResult:
        yield Label("Manager", id="mgr-title")
        with ContentSwitcher(initial="journal", id="switcher"):
            with Vertical(id="journal"):
                with Horizontal(id="filters"):
                    yield Input(placeholder="user", id="f-user")
                    yield Input(placeholder="kind (login*, ...)", id="f-kind")
                    yield Input(placeholder="terminal", id="f-terminal")
                t = DataTable(id="journal-table", cursor_type="row", zebra_stripes=True)
                yield t
                yield Static("", id="detail")
            with Vertical(id="users"):
                yield DataTable(id="users-table", cursor_type="row", zebra_stripes=True)
                yield Static("u unlock   d disable   e enable", id="users-keys")
            with Vertical(id="receipts"):
                yield DataTable(id="receipts-table", cursor_type="row", zebra_stripes=True)
                yield Static("p print it on this till   x dismiss (it needs no printing)", id="receipts-keys")
            with Vertical(id="refunds"):
                yield DataTable(id="refunds-table", cursor_type="row", zebra_stripes=True)
                yield Static("", id="refund-detail")
                yield Static("r refund through the provider   m mark refunded another way", id="refunds-keys")
        yield Static("", id="status")
        yield KeyFooter()

    def on_mount(self) -> None:
        t = self.query_one("#journal-table", DataTable)
        for key, label, width in (("seq", "seq", 6), ("ts", "time (UTC)", 16), ("terminal", "term", 6),
                                  ("user", "user", 10), ("kind", "kind", 18), ("amount", "amount", 10)):
            t.add_column(label, key=key, width=width)
        u = self.query_one("#users-table", DataTable)
        for key, label, width in (("name", "user", 12), ("role", "role", 10), ("status", "status", 24),
                                  ("failed", "fails", 5), ("totp", "TOTP", 4)):
            u.add_column(label, key=key, width=width)
        r = self.query_one("#receipts-table", DataTable)
        for key, label, width in (("receipt", "receipt", 9), ("status", "status", 11), ("tries", "tries", 5),
                                  ("when", "queued (UTC)", 16), ("why", "why", 30)):
            r.add_column(label, key=key, width=width)
        f = self.query_one("#refunds-table", DataTable)
        for key, label, width in (("ref", "payment", 24), ("method", "method", 7), ("amount", "amount", 10),
                                  ("term", "term", 5), ("receipt", "receipt", 11), ("status", "status", 10)):
            f.add_column(label, key=key, width=width)
        self.flagged: dict[str, payments.PaymentView] = {}
        self._title()
        self.load_journal()
        self.load_refunds()
        self.query_one("#journal-table", DataTable).focus()

    # ----------------------------------------------------------- helpers ---
    def status(self, text: str, error: bool = False) -> None:
        s = self.query_one("#status", Static)
        s.update(text)
        s.set_class(error, "error")

    def filters(self) -> audit.Filters:
        v = {k: self.query_one(f"#f-{k}", Input).value for k in ("user", "kind", "terminal")}
        return audit.make_filters(**v)

    # ----------------------------------------------------------- journal ---
    def load_journal(self, before_seq: int | None = None) -> None:
        try:
            f = self.filters()
        except StationError as e:
            self.status(str(e), error=True)
            return
        self._fetch_journal(f, before_seq)

    @work(thread=True, exit_on_error=False, group="manager-journal", exclusive=True)
    def _fetch_journal(self, f: audit.Filters, before_seq: int | None) -> None:
        ctx = self.app.ctx
        try:
            evs = audit.events(ctx, self.app.user, f, limit=PAGE + 1, before_seq=before_seq, newest_first=True)
            total = audit.count(ctx, self.app.user, f)
        except StationError as e:
            self.from_thread(self.status, str(e), True)
            return
        except Exception as e:
            self.from_thread(self.status, f"cannot read the journal: {error_text(e)}", True)
            return
        finally:
            release_thread_connection(ctx)
        self.from_thread(self._show_journal, evs, total, before_seq)

    def _show_journal(self, evs: list[audit.Event], total: int, before_seq: int | None) -> None:
        self.has_more = len(evs) > PAGE
        evs = evs[:PAGE]
        t = self.query_one("#journal-table", DataTable)
        t.clear()
        self.events = {}
        ctx = self.app.ctx
        for e in evs:
            key = str(e.seq)
            self.events[key] = e
            t.add_row(str(e.seq), e.ts[:16].replace("T", " "), e.terminal, e.user or "", e.kind,
                      audit.fmt_amount(ctx, e.amount), key=key)
        self.last_page_seq = evs[-1].seq if evs else None
        page_no = len(self.pages)
        more = "  F7 older" if self.has_more else ""
        newer = "  F8 newer" if page_no > 1 else ""
        self.status(f"{total} event(s); page {page_no}, {len(evs)} shown (newest first){more}{newer}")
        if evs:
            self._detail(evs[0])

    def _detail(self, e: audit.Event) -> None:
        bits = [f"#{e.seq} {e.kind}"]
        if e.ref:
            bits.append(f"ref {e.ref}")
        if e.data:
            bits.append(audit.data_text(e.data))
        self.query_one("#detail", Static).update(" | ".join(bits))

    @on(DataTable.RowHighlighted, "#journal-table")
    def _row(self, event: DataTable.RowHighlighted) -> None:
        e = self.events.get(event.row_key.value if event.row_key else None)
        if e:
            self._detail(e)

    @on(Input.Submitted)
    def _apply(self, event: Input.Submitted) -> None:
        event.stop()
        self.pages = [None]
        self.load_journal()
        self.query_one("#journal-table", DataTable).focus()

    # ------------------------------------------------------------- users ---
    @work(thread=True, exit_on_error=False, group="manager-users", exclusive=True)
    def load_users(self) -> None:
        ctx = self.app.ctx
        try:
            rows = audit.users(ctx, self.app.user)
        except StationError as e:
            self.from_thread(self.status, str(e), True)
            return
        except Exception as e:
            self.from_thread(self.status, f"cannot read the users: {error_text(e)}", True)
            return
        finally:
            release_thread_connection(ctx)
        self.from_thread(self._show_users, rows)

    def _show_users(self, rows: list[audit.UserRow]) -> None:
        t = self.query_one("#users-table", DataTable)
        keep = t.cursor_row
        t.clear()
        for r in rows:
            t.add_row(r.name, r.role, r.status, str(r.failed_attempts), "yes" if r.totp else "-", key=r.name)
        if rows:
            t.move_cursor(row=min(max(keep, 0), len(rows) - 1))
        self.status(f"{len(rows)} user(s)")

    def selected_user(self) -> str | None:
        t = self.query_one("#users-table", DataTable)
        if not t.row_count:
            return None
        try:
            return t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value
        except Exception:
            return None

    # ---------------------------------------------------------- receipts ---
    @work(thread=True, exit_on_error=False, group="manager-receipts", exclusive=True)
    def load_receipts(self, note: str = "") -> None:
        ctx = self.app.ctx
        try:
            jobs = printing.unprinted(ctx)
        except Exception as e:
            self.from_thread(self.status, f"cannot read the print queue: {error_text(e)}", True)
            return
        finally:
            release_thread_connection(ctx)
        self.from_thread(self._show_receipts, jobs, note)

    def _show_receipts(self, jobs: list[printing.JobView], note: str = "") -> None:
        t = self.query_one("#receipts-table", DataTable)
        keep = t.cursor_row
        t.clear()
        self.jobs = {str(j.id): j for j in jobs}
        for j in jobs:
            t.add_row(f"{j.terminal}/{j.receipt_no}{' c' if j.copy else ''}", j.status, str(j.attempts),
                      f"{j.created_at:%Y-%m-%d %H:%M}", (j.message or "-")[:60], key=str(j.id))
        if jobs:
            t.move_cursor(row=min(max(keep, 0), len(jobs) - 1))
        self.status((f"{note}; " if note else "")
                    + (f"{len(jobs)} receipt(s) not printed" if jobs else "every receipt printed"))

    def action_receipt_op(self, op: str) -> None:
        if self.query_one("#switcher", ContentSwitcher).current != "receipts":
            return
        t = self.query_one("#receipts-table", DataTable)
        if not t.row_count:
            return
        try:
            job = self.jobs[t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value]
        except Exception:
            return
        self._receipt_op(op, job)

    @work(thread=True, exit_on_error=False, group="manager-receipt-op")
    def _receipt_op(self, op: str, job: printing.JobView) -> None:
        from screens.printer import get_printer
        ctx = self.app.ctx
        try:
            if op == "dismiss":
                printing.dismiss(ctx, self.app.user, job.id, f"dismissed by {self.app.user.name}")
                text = f"receipt {job.terminal}/{job.receipt_no}: dismissed"
            else:   # printed again here; a receipt that may have printed comes out as a COPY
                get_printer(self.app).submit_receipt(ctx, job.ticket_id, copy=job.copy or job.status == "unconfirmed",
                                                     user=self.app.user, job_id=job.id)
                get_printer(self.app).wait_idle(30)
                text = f"receipt {job.terminal}/{job.receipt_no}: sent to this till's printer"
        except StationError as e:
            self.from_thread(self.status, str(e), True)
            return
        except Exception as e:
            self.from_thread(self.status, f"could not {op} the receipt: {error_text(e)}", True)
            return
        finally:
            release_thread_connection(ctx)
        self.from_thread(self.load_receipts, text)

    def check_action(self, action: str, parameters) -> bool | None:
        panes = {"user_op": "users", "receipt_op": "receipts", "refund": "refunds", "resolve": "refunds"}
        if action in panes:
            try:
                return self.query_one("#switcher", ContentSwitcher).current == panes[action]
            except Exception:
                return False
        return True

    def action_user_op(self, op: str) -> None:
        if self.query_one("#switcher", ContentSwitcher).current != "users":
            return
        name = self.selected_user()
        if name is None:
            return
        if op == "disable":
            def answer(yes):
                if yes:
                    self._user_op("disable", name)
            self.app.push_screen(Confirm(f"Disable {name}? They can no longer log in or approve."), answer)
        else:
            self._user_op(op, name)

    @work(thread=True, exit_on_error=False, group="manager-user-op")
    def _user_op(self, op: str, name: str) -> None:
        ctx = self.app.ctx
        try:
            getattr(auth, op)(ctx, self.app.user, name)
        except StationError as e:
            self.from_thread(self.status, str(e), True)
            return
        except Exception as e:
            self.from_thread(self.status, f"could not {op} {name}: {error_text(e)}", True)
            return
        finally:
            release_thread_connection(ctx)
        self.from_thread(self.status, f"{name}: {op}d" if op != "unlock" else f"{name}: unlocked")
        self.from_thread(self.load_users)

    # ------------------------------------------------ refunds due (payments) ---
    def _title(self) -> None:
        user = getattr(self.app, "user", None)
        n = len(getattr(self, "flagged", {}))
        due = f"   {n} payment(s) paid twice, refund due: F6" if n else ""
        self.query_one("#mgr-title", Label).update(
            f"Manager - {user.name if user else '?'} ({user.role if user else '-'}){due}")

    @work(thread=True, exit_on_error=False, group="manager-refunds", exclusive=True)
    def load_refunds(self, note: str = "") -> None:
        ctx = self.app.ctx
        try:
            rows = payments.flagged(ctx)
        except Exception as e:  # noqa: BLE001 - shown, never a traceback
            self.from_thread(self.status, f"cannot read the flagged payments: {e}", True)
            return
        finally:
            release_thread_connection(ctx)
        self.from_thread(self._show_refunds, rows, note)

    def _show_refunds(self, rows, note: str = "") -> None:
        t = self.query_one("#refunds-table", DataTable)
        t.clear()
        self.flagged = {}
        ctx = self.app.ctx
        for v in rows:
            self.flagged[v.ref] = v
            t.add_row(v.ref, v.method, money_text(ctx, (v.paid_amount or v.amount) - v.refund_amount),
                      v.terminal or "-", v.receipt or "-", v.status, key=v.ref)
        self._title()
        if self.query_one("#switcher", ContentSwitcher).current == "refunds":
            self.status(note or (f"{len(rows)} payment(s) received that no sale uses: refund due" if rows
                                 else "nothing flagged: no payment waits for a refund"))
            self._refund_detail()

    def selected_refund(self):
        t = self.query_one("#refunds-table", DataTable)
        if not t.row_count:
            return None
        try:
            return self.flagged.get(t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value)
        except Exception:
            return None

    def _refund_detail(self) -> None:
        v = self.selected_refund()
        self.query_one("#refund-detail", Static).update(
            f"{v.label} {v.phone or ''} {v.flag or v.message}" if v else "")

    @on(DataTable.RowHighlighted, "#refunds-table")
    def _refund_row(self, event: DataTable.RowHighlighted) -> None:
        self._refund_detail()

    def action_refund(self) -> None:
        v = self.selected_refund()
        if v is None or v.status != "refund_due":
            self.status("choose a payment that is refund due", True)
            return
        amount = money_text(self.app.ctx, (v.paid_amount or v.amount) - v.refund_amount)

        def answer(yes):
            if yes:
                self._refund(v.ref)
        self.app.push_screen(Confirm(f"Refund {amount} through {v.label} to {v.phone or 'the payer'}?"), answer)

    def action_resolve(self) -> None:
        v = self.selected_refund()
        if v is None or v.status != "refund_due":
            self.status("choose a payment that is refund due", True)
            return

        def got(note):
            if note:
                self._refund(v.ref, note)
        def need_note(text: str) -> None:
            if not text.strip():
                raise InvalidInput("say how it was refunded (e.g. cash from drawer T1)")
        self.app.push_screen(PromptDialog(f"Mark {v.ref} refunded", "how was it refunded? (e.g. cash from T1)",
                                          check=need_note), got)

    @work(thread=True, exit_on_error=False, group="manager-refund")
    def _refund(self, ref: str, note: str | None = None) -> None:
        ctx = self.app.ctx
        try:
            v = (payments.resolve(ctx, self.app.user, ref, note) if note
                 else payments.refund(ctx, self.app.user, ref))
        except StationError as e:
            self.from_thread(self.status, str(e), True)
            return
        except Exception as e:  # noqa: BLE001
            self.from_thread(self.status, f"the refund failed: {e.__class__.__name__}: {e}", True)
            return
        finally:
            release_thread_connection(ctx)
        self.from_thread(self.load_refunds, f"{ref}: {v.status} - {v.message}")

    # ----------------------------------------------------------- actions ---
    def action_show(self, pane: str) -> None:
        self.query_one("#switcher", ContentSwitcher).current = pane
        self.refresh_bindings()
        if pane == "users":
            self.load_users()
            self.query_one("#users-table", DataTable).focus()
        elif pane == "receipts":
            self.load_receipts()
            self.query_one("#receipts-table", DataTable).focus()
        elif pane == "refunds":
            self.load_refunds()
            self.query_one("#refunds-table", DataTable).focus()
        else:
            self.load_journal(self.pages[-1])
            self.query_one("#journal-table", DataTable).focus()

    def action_refresh(self) -> None:
        if self.query_one("#switcher", ContentSwitcher).current == "users":
            self.load_users()
        elif self.query_one("#switcher", ContentSwitcher).current == "receipts":
            self.load_receipts()
        elif self.query_one("#switcher", ContentSwitcher).current == "refunds":
            self.load_refunds()
        else:
            self.pages = [None]
            self.load_journal()

    def action_older(self) -> None:
        if self.query_one("#switcher", ContentSwitcher).current != "journal" or not self.has_more:
            return
        self.pages.append(self.last_page_seq)
        self.load_journal(self.last_page_seq)

    def action_newer(self) -> None:
        if self.query_one("#switcher", ContentSwitcher).current != "journal" or len(self.pages) < 2:
            return
        self.pages.pop()
        self.load_journal(self.pages[-1])

    def action_back(self) -> None:
        self.dismiss()
