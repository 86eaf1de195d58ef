"""Manager views (area "manager"): the journal browser and the users list.

Reachable by role only: the home screen offers the area to roles with
``journal.view``; the services refuse anyone else anyway (``station.audit``,
``station.auth.unlock/disable``), and this screen shows that refusal.

Keys (all keyboard, 80x24):
  F2 journal   F3 users   F5 refresh/apply filters   F7 older page   F8 newer page
  users table: u unlock   d disable   e enable       Escape back
"""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Input, Label, Static

from data import db as dbmod
from station import audit
from station.errors import StationError

PAGE = 100


class Confirm(ModalScreen):
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


class ManagerScreen(Screen):
    DEFAULT_CSS = """
    ManagerScreen #mgr-title { text-style: bold; height: 1; }
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
        Binding("f5", "refresh", "Refresh", id="manager_refresh"),
        Binding("f7", "older", "Older", id="manager_older"),
        Binding("f8", "newer", "Newer", id="manager_newer"),
        Binding("escape", "back", "Back", id="manager_back"),
        Binding("u", "user_op('unlock')", "Unlock user", id="manager_unlock"),
        Binding("d", "user_op('disable')", "Disable user", id="manager_disable"),
        Binding("e", "user_op('enable')", "Enable user", id="manager_enable"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pages: list[int | None] = [None]   # before_seq of each page shown (keyset paging)
        self.last_page_seq: int | None = None
        self.has_more = False
        self.events: dict[str, audit.Event] = {}

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
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one("#journal-table", DataTable)
        for key, label, width in (("seq", "seq", 6), ("ts", "time (UTC)", 19), ("terminal", "term", 6),
                                  ("user", "user", 10), ("kind", "kind", 20), ("amount", "amount", 10)):
            t.add_column(label, key=key, width=width)
        u = self.query_one("#users-table", DataTable)
        for key, label, width in (("name", "user", 12), ("role", "role", 10), ("status", "status", 24),
                                  ("failed", "fails", 5), ("totp", "TOTP", 4)):
            u.add_column(label, key=key, width=width)
        user = getattr(self.app, "user", None)
        self.query_one("#mgr-title", Label).update(
            f"Manager - {user.name if user else '?'} ({user.role if user else '-'})")
        self.load_journal()
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
            self.app.call_from_thread(self.status, str(e), True)
            return
        except Exception as e:
            self.app.call_from_thread(self.status, f"cannot read the journal: {e.__class__.__name__}", True)
            return
        finally:
            dbmod.release(ctx.db)
        self.app.call_from_thread(self._show_journal, evs, total, before_seq)

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
            t.add_row(str(e.seq), e.ts[:19].replace("T", " "), e.terminal, e.user or "", e.kind,
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
            self.app.call_from_thread(self.status, str(e), True)
            return
        except Exception as e:
            self.app.call_from_thread(self.status, f"cannot read the users: {e.__class__.__name__}", True)
            return
        finally:
            dbmod.release(ctx.db)
        self.app.call_from_thread(self._show_users, rows)

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

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "user_op":
            try:
                return self.query_one("#switcher", ContentSwitcher).current == "users"
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
        from station import auth
        ctx = self.app.ctx
        try:
            getattr(auth, op)(ctx, self.app.user, name)
        except StationError as e:
            self.app.call_from_thread(self.status, str(e), True)
            return
        except Exception as e:
            self.app.call_from_thread(self.status, f"could not {op} {name}: {e.__class__.__name__}", True)
            return
        finally:
            dbmod.release(ctx.db)
        self.app.call_from_thread(self.status, f"{name}: {op}d" if op != "unlock" else f"{name}: unlocked")
        self.app.call_from_thread(self.load_users)

    # ----------------------------------------------------------- actions ---
    def action_show(self, pane: str) -> None:
        self.query_one("#switcher", ContentSwitcher).current = pane
        self.refresh_bindings()
        if pane == "users":
            self.load_users()
            self.query_one("#users-table", DataTable).focus()
        else:
            self.load_journal(self.pages[-1])
            self.query_one("#journal-table", DataTable).focus()

    def action_refresh(self) -> None:
        if self.query_one("#switcher", ContentSwitcher).current == "users":
            self.load_users()
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
        self.app.pop_screen()
