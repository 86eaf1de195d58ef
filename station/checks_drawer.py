"""``station verify`` checks of the cash drawer sessions."""
from __future__ import annotations

import json
from collections import defaultdict

from data.models import CashMovement, DenominationCount, DrawerSession, ZCounter, ZReport
from station.checks import check


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


@check("drawer.running_totals")
def running_totals_agree(ctx) -> list[str]:
    """each session's running totals and movement digest (what X and Z read) equal those recomputed from its rows"""
    from station import reports
    from station.drawer import recompute_running  # noqa: PLC0415
    problems = []
    z_data = {sid: data for sid, data in ZReport.select(ZReport.session, ZReport.data).tuples()}
    for sid, drawer, status, totals_text, digest in (
            DrawerSession.select(DrawerSession.id, DrawerSession.drawer, DrawerSession.status,
                                 DrawerSession.totals, DrawerSession.digest)
            .where(DrawerSession.digest.is_null(False)).order_by(DrawerSession.id).tuples()):
        totals, running = recompute_running(sid)
        stored = json.loads(totals_text or "{}")
        name = f"session {sid} (drawer {drawer})"
        keys = set(stored) | set(totals)
        if "users" not in stored:   # closed before the per-person figures existed
            keys.discard("users")
        for key in sorted(keys):
            if stored.get(key) != totals.get(key):
                problems.append(f"{name}: running {key} {stored.get(key)} but its rows give {totals.get(key)}")
        if digest != running:
            problems.append(f"{name}: the running digest does not match its movements (one was changed, "
                            f"added or removed behind the drawer service)")
        if status == "closed" and sid in z_data:
            try:
                z = json.loads(z_data[sid])
            except ValueError:
                continue
            want = {"sales": reports.sales_of(totals), "tenders": reports.tenders_of(totals),
                    "movements": reports.movements_of(totals)}
            for key, value in want.items():
                if z.get(key) != value:
                    problems.append(f"{name}: its Z report's {key} differ from its rows")
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


@check("drawer.journalled")
def journalled(ctx) -> list[str]:
    """every drawer session has its drawer.open journal entry, every closed one ONE drawer.close with its figures, and every such entry its session"""
    from data.models import Journal
    opens: dict[int, list] = defaultdict(list)
    closes: dict[int, list] = defaultdict(list)
    problems = []
    for seq, kind, amount, data in (Journal.select(Journal.seq, Journal.kind, Journal.amount, Journal.data)
                                    .where(Journal.kind.in_(("drawer.open", "drawer.close"))).tuples()):
        try:
            d = json.loads(data)
            sid = int(d["session"])
        except (ValueError, KeyError, TypeError):
            problems.append(f"journal seq {seq}: a {kind} entry that names no session")
            continue
        (opens if kind == "drawer.open" else closes)[sid].append((seq, amount, d))
    sessions = {s.id: s for s in DrawerSession.select()}
    for sid, s in sessions.items():
        name = f"drawer session {sid} (drawer {s.drawer})"
        if len(opens.get(sid, [])) != 1:
            problems.append(f"{name}: {len(opens.get(sid, []))} drawer.open journal entries, not 1")
        elif opens[sid][0][1] != s.float_amount:
            problems.append(f"{name}: the journal says a float of {opens[sid][0][1]}, the session {s.float_amount}")
        cs = closes.get(sid, [])
        if s.status == "closed":
            if len(cs) != 1:
                problems.append(f"{name}: closed, but {len(cs)} drawer.close journal entries, not 1")
                continue
            seq, amount, d = cs[0]
            if (amount, d.get("z"), d.get("counted"), d.get("expected")) != \
                    (s.variance, s.z_number, s.counted, s.expected_at_close):
                problems.append(f"{name}: the journal (seq {seq}) says Z {d.get('z')}, counted {d.get('counted')}, "
                                f"expected {d.get('expected')}, variance {amount}; the session says Z {s.z_number}, "
                                f"{s.counted}, {s.expected_at_close}, {s.variance}")
        elif cs:
            problems.append(f"{name}: open, but the journal closed it (seq {cs[0][0]})")
    for sid in sorted((set(opens) | set(closes)) - set(sessions)):
        problems.append(f"the journal has drawer entries for session {sid}, which does not exist")
    return problems
