"""What a drawer session gave back: refunds by method and by reason, and the
session's net takings per method (sales - refunds), for the X and Z reports.

The session keeps them as running figures (``drawer_session.totals["refunds"]``:
``{"count": n, "methods": {method: [n, amount]}, "reasons": {reason: [n, amount]}}``,
amounts what went back), added by every refund's posting
(``station.drawer.SessionPosting.refund``) in the refund's transaction;
:func:`session_refunds` recomputes them from the refund rows (verify)."""
from __future__ import annotations

import peewee

from data.refund import Refund, RefundTender


def session_refunds(session_id: int) -> dict:
    """The running refund figures of a session, recomputed from its processed refunds."""
    done = (Refund.session == session_id) & (Refund.status == "processed")
    methods = {m: [int(n), -int(a or 0)] for m, n, a in (
        RefundTender.select(RefundTender.method, peewee.fn.COUNT(RefundTender.refund.distinct()),
                            peewee.fn.SUM(RefundTender.amount))
        .join(Refund, on=(RefundTender.refund == Refund.id)).where(done)
        .group_by(RefundTender.method).tuples())}
    reasons = {r: [int(n), int(a or 0)] for r, n, a in (
        Refund.select(Refund.reason, peewee.fn.COUNT(Refund.id), peewee.fn.SUM(Refund.total + Refund.rounding))
        .where(done).group_by(Refund.reason).tuples())}
    return {"count": sum(n for n, _a in reasons.values()), "methods": methods, "reasons": reasons}


def refunds_of(totals: dict) -> dict:
    """The report's refunds from a session's running figures: ``{"count", "total",
    "by_method": [...], "by_reason": [...]}`` (amounts what went back, positive)."""
    r = totals.get("refunds") or {}
    by_method = [{"method": m, "count": n, "amount": a} for m, (n, a) in sorted((r.get("methods") or {}).items())]
    by_reason = [{"reason": k, "count": n, "amount": a} for k, (n, a) in sorted((r.get("reasons") or {}).items())]
    return {"count": r.get("count", 0), "total": sum(x["amount"] for x in by_method),
            "by_method": by_method, "by_reason": by_reason}


def net_takings(tenders: list[dict], refunds: dict) -> dict:
    """Per method: taken by the session's sales minus given back by its refunds."""
    net: dict[str, int] = {}
    for t in tenders:
        net[t["method"]] = net.get(t["method"], 0) + t["amount"]
    for r in refunds["by_method"]:
        net[r["method"]] = net.get(r["method"], 0) - r["amount"]
    rows = [{"method": m, "amount": a} for m, a in sorted(net.items())]
    return {"by_method": rows, "total": sum(r["amount"] for r in rows)}
