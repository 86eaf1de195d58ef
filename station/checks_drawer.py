"""``station verify`` checks of the cash drawer sessions."""
from __future__ import annotations

import json
from collections import defaultdict

from data.models import CashMovement, DenominationCount, DrawerSession, ZCounter, ZReport
from station.verify import check


def _sums_in_python() -> dict[int, int]:
    """Expected cash per session, recomputed independently: every movement row
    read and added up here (not by the database, not by the cache)."""
    sums: dict[int, int] = defaultdict(int)
    for session_id, amount in CashMovement.select(CashMovement.session, CashMovement.amount).tuples():
        sums[session_id] += amount
    return sums


@check("drawer.expected_cash")
def expected_cash_agrees(ctx) -> list[str]:
    """each session's expected cash (recomputed from its movements) equals the cached value and the SQL sum"""
    from station.drawer import expected_cash  # noqa: PLC0415
    problems = []
    sums = _sums_in_python()
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for sid, stage, den, qty in DenominationCount.select(
            DenominationCount.session, DenominationCount.stage, DenominationCount.denomination,
            DenominationCount.quantity).tuples():
        counts[(sid, stage)] += den * qty
    floats: dict[int, int] = defaultdict(int)
    for sid, amount in (CashMovement.select(CashMovement.session, CashMovement.amount)
                        .where(CashMovement.kind == "float").tuples()):
        floats[sid] += amount
    for s in DrawerSession.select().order_by(DrawerSession.id):
        py = sums.get(s.id, 0)
        sql = expected_cash(s.id)
        if py != sql:
            problems.append(f"session {s.id} (drawer {s.drawer}): movements add up to {py} but SQL says {sql}")
        if s.status == "open" and s.expected_cash != py:
            problems.append(f"session {s.id} (drawer {s.drawer}): cached expected cash {s.expected_cash} "
                            f"but the movements add up to {py}")
        if s.status == "closed":
            if s.expected_at_close != py:
                problems.append(f"session {s.id} (drawer {s.drawer}): expected at close {s.expected_at_close} "
                                f"but the movements add up to {py}")
            if s.counted != counts.get((s.id, "close"), 0):
                problems.append(f"session {s.id}: counted {s.counted} but the close count rows add up to "
                                f"{counts.get((s.id, 'close'), 0)}")
            if s.counted is not None and s.expected_at_close is not None and \
                    s.variance != s.counted - s.expected_at_close:
                problems.append(f"session {s.id}: variance {s.variance} is not counted - expected "
                                f"({s.counted} - {s.expected_at_close})")
        if s.float_amount != counts.get((s.id, "float"), 0) or s.float_amount != floats.get(s.id, 0):
            problems.append(f"session {s.id}: float {s.float_amount} differs from its count rows "
                            f"({counts.get((s.id, 'float'), 0)}) or its float movement ({floats.get(s.id, 0)})")
    return problems


@check("drawer.movements_in_session")
def movements_belong(ctx) -> list[str]:
    """every cash movement belongs to a drawer session, and every session has its float movement"""
    # A movement added to a session after its close changes that session's close
    # digest (drawer.closed_unchanged): that check catches it without trusting
    # the clocks of different terminals.
    problems = []
    ids = {i for (i,) in DrawerSession.select(DrawerSession.id).tuples()}
    has_float = set()
    for mid, sid, kind in CashMovement.select(CashMovement.id, CashMovement.session, CashMovement.kind).tuples():
        if sid not in ids:
            problems.append(f"cash movement {mid} belongs to no drawer session ({sid})")
        elif kind == "float":
            has_float.add(sid)
    for sid in sorted(ids - has_float):
        problems.append(f"drawer session {sid} has no float movement")
    return problems


@check("drawer.closed_unchanged")
def closed_unchanged(ctx) -> list[str]:
    """closed sessions are unchanged since their close (digest over figures, counts and movements)"""
    from station.drawer import verify_digest  # noqa: PLC0415
    problems = []
    for s in DrawerSession.select().where(DrawerSession.status == "closed").order_by(DrawerSession.id):
        if not s.close_hash:
            problems.append(f"closed session {s.id} (drawer {s.drawer}) has no close digest")
        elif not verify_digest(s.id):
            problems.append(f"closed session {s.id} (drawer {s.drawer}) changed after its close")
    return problems


@check("drawer.z_gapless")
def z_gapless(ctx) -> list[str]:
    """Z numbers run 1, 2, 3 ... per drawer with no gap, one per closed session"""
    problems = []
    by_drawer: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for z in ZReport.select().order_by(ZReport.drawer, ZReport.z_number):
        by_drawer[z.drawer].append((z.z_number, z.session_id))
        try:
            d = json.loads(z.data)
            if d.get("z_number") != z.z_number or d.get("session") != z.session_id:
                problems.append(f"Z report {z.drawer}/{z.z_number}: stored data names another number or session")
        except ValueError:
            problems.append(f"Z report {z.drawer}/{z.z_number}: stored data is not JSON")
    counters = {c.drawer: c.last for c in ZCounter.select()}
    closed = {s.id: s for s in DrawerSession.select().where(DrawerSession.status == "closed")}
    for drawer, zs in by_drawer.items():
        nums = [n for n, _ in zs]
        if nums != list(range(1, len(nums) + 1)):
            problems.append(f"drawer {drawer}: Z numbers {nums[:20]} are not 1..{len(nums)} without gaps")
        if counters.get(drawer) != (nums[-1] if nums else 0):
            problems.append(f"drawer {drawer}: Z counter is {counters.get(drawer)} but the last Z is {nums[-1]}")
        for n, sid in zs:
            s = closed.get(sid)
            if s is None or s.z_number != n:
                problems.append(f"drawer {drawer}: Z {n} belongs to session {sid} which is not closed with it")
    have = {sid for zs in by_drawer.values() for _, sid in zs}
    for sid, s in closed.items():
        if sid not in have:
            problems.append(f"closed session {sid} (drawer {s.drawer}) has no Z report")
    return problems
