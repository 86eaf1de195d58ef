"""The app's receipt printer service (one per app) and how its outcome is shown.

Used by the sale screen (reprint) and the tender screen (the receipt after the
commit). Printing never blocks a sale: a failure is a warning, the sale stands.
"""
from __future__ import annotations

import threading

from station import printing


def on_ui(app, fn, *args) -> None:
    """Run ``fn(*args)`` on the UI thread from any thread."""
    if getattr(app, "_thread_id", None) == threading.get_ident():
        fn(*args)
    else:
        try:
            app.call_from_thread(fn, *args)
        except RuntimeError:   # the app has stopped
            pass


def print_result(app, result) -> None:
    """Printer callback (any thread): a failure is a non-blocking warning."""
    ok = getattr(result, "ok", True)
    message = getattr(result, "message", "") or ""
    kicked = getattr(result, "kicked", None)
    kick_message = getattr(result, "kick_message", "") or ""

    def show() -> None:
        problems = []
        if not ok:
            problems.append(message or "the receipt did not print: F12 prints it again")
        if kicked is False:
            problems.append(kick_message or "the drawer did not open")
        if not problems:
            return
        text = "; ".join(problems)
        app.notify(text, title="Printer", severity="warning", timeout=8)
        status = getattr(app.screen, "set_status", None)   # the sale screen's status line
        if status is not None:
            status(f"printer: {text}", "warning")
    on_ui(app, show)


def get_printer(app) -> printing.Printer:
    """The app's printing service (created on first use)."""
    ctx = app.ctx
    printer = ctx.extras.get("printer")
    if printer is None:
        printer = printing.Printer(ctx, on_result=lambda r: print_result(app, r))
        ctx.extras["printer"] = printer
    return printer
