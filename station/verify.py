"""``station verify``: the integrity audit. Each check is one named function
registered with :func:`check`; it returns a list of problems (empty = holds).
Check modules are listed in CHECK_MODULES and imported on demand."""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Callable

CHECK_MODULES = [
    "station.checks_journal",
    "station.checks_drawer",
    "station.checks_sale",
]


@dataclass
class CheckResult:
    name: str
    doc: str
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.error is None


_REGISTRY: dict[str, tuple[Callable, str]] = {}


def check(name: str):
    """Decorator: ``@check("journal.chain")`` on ``fn(ctx) -> list[str]``."""
    def deco(fn):
        _REGISTRY[name] = (fn, (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else name)
        return fn
    return deco


def load_checks() -> dict[str, tuple[Callable, str]]:
    for mod in CHECK_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
    return dict(_REGISTRY)


def run(ctx, only: list[str] | None = None) -> list[CheckResult]:
    out = []
    for name, (fn, doc) in sorted(load_checks().items()):
        if only and not any(name.startswith(o) for o in only):
            continue
        r = CheckResult(name=name, doc=doc)
        try:
            r.problems = list(fn(ctx))
        except Exception as e:  # a check that cannot run is a failure, reported, not a crash
            r.error = f"{e.__class__.__name__}: {e}"
        out.append(r)
    return out


def report_text(results: list[CheckResult]) -> str:
    lines = []
    for r in results:
        mark = "OK  " if r.ok else "FAIL"
        lines.append(f"{mark} {r.name}: {r.doc}")
        for p in r.problems[:50]:
            lines.append(f"       - {p}")
        if len(r.problems) > 50:
            lines.append(f"       ... and {len(r.problems) - 50} more")
        if r.error:
            lines.append(f"       ! could not run: {r.error}")
    bad = sum(not r.ok for r in results)
    lines.append(f"{len(results) - bad} of {len(results)} checks hold" + ("" if not bad else f"; {bad} FAILED"))
    return "\n".join(lines)


def report_json(results: list[CheckResult]) -> str:
    return json.dumps({"ok": all(r.ok for r in results),
                       "checks": [{"name": r.name, "doc": r.doc, "ok": r.ok, "problems": r.problems,
                                   "error": r.error} for r in results]}, indent=2)
