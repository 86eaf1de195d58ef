"""``station verify``: the integrity audit. Runs every check registered in
:mod:`station.checks` by the check modules of the areas imported here."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from station import checks_approval, checks_drawer, checks_journal, checks_sale  # noqa: F401  (they register their checks)
from station.payments import checks as payments_checks  # noqa: F401
from station.refund import checks as refund_checks  # noqa: F401
from station.reporting import checks as report_checks  # noqa: F401
from station.stock import checks as stock_checks  # noqa: F401
from station.treasury import checks as treasury_checks  # noqa: F401
from station.checks import REGISTRY


@dataclass
class CheckResult:
    name: str
    doc: str
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.error is None


def load_checks() -> dict[str, tuple[Callable, str]]:
    return dict(REGISTRY)


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


def anchors_result(anchors: list[tuple[int, str]], files: list[str]) -> CheckResult:
    """``verify --anchor``: the chain still holds every anchor kept outside the database."""
    from station import journal
    r = CheckResult(name="journal.anchors", doc=f"the journal still holds the {len(anchors)} anchor(s) of "
                                                f"{', '.join(files)}")
    try:
        r.problems = journal.check_anchors(anchors)
    except Exception as e:  # noqa: BLE001 - reported like any check that cannot run
        r.error = f"{e.__class__.__name__}: {e}"
    return r


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
