"""The registry of ``station verify`` checks. Each check is one named function
``fn(ctx) -> list[str]`` (the problems found; empty = holds), registered with
:func:`check` in the check module beside its area (``station/checks_*.py``,
``station/<area>/checks.py``); ``station.verify`` imports them all and runs them."""
from __future__ import annotations

from typing import Callable

REGISTRY: dict[str, tuple[Callable, str]] = {}


def check(name: str):
    """Decorator: ``@check("journal.chain")`` on ``fn(ctx) -> list[str]``; the first
    line of its docstring says what holds."""
    def deco(fn):
        REGISTRY[name] = (fn, (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else name)
        return fn
    return deco
