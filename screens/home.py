"""Home: who is logged in, the role, the terminal and the store; F-keys open the
areas this role may use (the others are not shown); F8 locks, F9 logs out,
F10 quits."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Header, Static

from screens import AREA_KEYS
from screens.base import StationScreen
from screens.help import key_label


class HomeScreen(StationScreen):
    AREA = "home"
    TITLE = "Home"

    BINDINGS = [
        Binding("f2", "area('sale')", "Sale", id="home_sale"),
        Binding("f3", "area('drawer')", "Drawer", id="home_drawer"),
        Binding("f4", "area('drawers')", "All drawers", id="home_drawers"),
        Binding("f5", "area('manager')", "Manager", id="home_manager"),
        Binding("t", "area('returns')", "Returns", id="home_returns"),
        Binding("o", "area('reports')", "Reports", id="home_reports"),
        Binding("y", "area('treasury')", "Treasury", id="home_treasury"),
        Binding("k", "area('stock')", "Stock", id="home_stock"),
        Binding("f8", "lock", "Lock", id="home_lock"),
        Binding("f9", "logout", "Logout", id="home_logout"),
        Binding("f10", "quit", "Quit", id="home_quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=True)
        with Vertical(id="home-box"):
            yield Static(id="home-user")
            yield Static(id="home-where")
            yield Static(id="home-areas")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_info()

    def on_screen_resume(self) -> None:
        self.refresh_info()

    def refresh_info(self) -> None:
        app = self.app
        user = app.user
        ctx = app.ctx
        store = ctx.config.store
        if user is None:
            return
        who = user.full_name or user.name
        self.query_one("#home-user", Static).update(
            f"[b]{who}[/b]   user {user.name}, role {user.role}")
        address = ", ".join(store.address)
        self.query_one("#home-where", Static).update(
            f"Terminal [b]{ctx.terminal}[/b]  drawer {ctx.drawer}\n{store.name}" + (f"\n{address}" if address else ""))
        lines = []
        for name, (key, label, _action) in AREA_KEYS.items():
            if app.may_open(name):
                lines.append(f"  [b]{key_label(self.app, Binding(key, ''))}[/b]  {label}")
        lines.append("")
        lines.append("  [b]F8[/b]  Lock   [b]F9[/b]  Logout   [b]F10[/b]  Quit   [b]F1[/b]  Help")
        self.query_one("#home-areas", Static).update("\n".join(lines))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "area":
            return self.app.may_open(str(parameters[0])) if parameters else False
        if action == "lock":
            return getattr(self.app, "idle_lock", None) is not None
        return True

    def action_area(self, name: str) -> None:
        self.app.open_area(name)

    def action_lock(self) -> None:
        lock = getattr(self.app, "idle_lock", None)
        if lock is not None:
            lock.lock_now()

    def action_logout(self) -> None:
        self.app.logout()

    async def action_quit(self) -> None:
        await self.app.action_quit()
