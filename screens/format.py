"""How the screens write money, quantities, rates and errors. One place, used
by every screen (the sale and tender screens, search, the drawer screens)."""
from __future__ import annotations

import logging

from station import money
from station.context import database_error_text, storage_problem
from station.errors import StationError

log = logging.getLogger("station.screens")


def money_text(ctx, amount: int | None, *, currency: bool = False, none: str = "") -> str:
    """Minor units as the store writes them (decimal separator, optional symbol)."""
    if amount is None:
        return none
    store = ctx.config.store
    sep = store.decimal_separator if store.decimal_separator in (".", ",") else "."
    return money.format_amount(amount, minor_units=store.minor_units, decimal_sep=sep,
                               currency=store.currency_symbol if currency else "")


def rate_text(rate_bp: int) -> str:
    """Basis points as a percentage: 1900 -> ``19%``, 750 -> ``7.5%``."""
    whole, frac = divmod(int(rate_bp), 100)
    return f"{whole}" + (f".{frac:02d}".rstrip("0") if frac else "") + "%"


def qty_text(qty: int, unit: str = "pc") -> str:
    """Thousandths as typed: pieces whole (``3``), weights with three decimals."""
    whole, frac = divmod(abs(int(qty)), 1000)
    sign = "-" if qty < 0 else ""
    if frac == 0 and unit != "kg":
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:03d}"


def error_text(e: BaseException) -> str:
    """A one-line message for the cashier; never a traceback. Anything that is
    not a StationError (a sentence the services chose) is unexpected: its
    traceback goes to station.log first."""
    if isinstance(e, StationError):
        return str(e)
    log.error("unexpected error: %s", e.__class__.__name__, exc_info=e)
    db_text = database_error_text(e)
    if db_text is not None:
        return db_text
    s = str(e).strip()
    return f"{e.__class__.__name__}: {s.splitlines()[0]}" if s else e.__class__.__name__


def unexpected_text(error: BaseException) -> str:
    """One line for an error report: a StationError as is, anything else by
    class, pointing at the log that has the details."""
    from textual.worker import WorkerFailed
    if isinstance(error, WorkerFailed):
        error = error.error
    if isinstance(error, StationError):
        return str(error)
    named = storage_problem(error)
    if named:
        return named
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    name = error.__class__.__name__
    return f"unexpected error ({name}{': ' + text if text else ''}); details in station.log"
