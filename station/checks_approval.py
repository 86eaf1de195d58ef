"""``station verify`` checks of approval requests granted at another terminal."""
from __future__ import annotations

from peewee import JOIN

from data.models import Approval, ApprovalRequest
from station.checks import check


@check("approval.requests")
def check_requests(ctx) -> list[str]:
    """every granted request has its one approval, for exactly what was asked, by who granted it"""
    out = []
    q = (ApprovalRequest.select(ApprovalRequest, Approval)
         .join(Approval, on=(ApprovalRequest.approval == Approval.id), join_type=JOIN.LEFT_OUTER)
         .where((ApprovalRequest.status == "granted") | ApprovalRequest.approval.is_null(False)))
    for r in q:
        a = r.approval if r.approval_id else None
        if r.status != "granted":
            out.append(f"request #{r.id} is {r.status} but has approval #{r.approval_id}")
        elif a is None:
            out.append(f"request #{r.id} is granted but has no approval")
        elif (a.action, a.amount, a.ref, a.requester_id) != (r.action, r.amount, r.ref, r.requester_id):
            out.append(f"request #{r.id}: approval #{a.id} is for {a.action} {a.amount} {a.ref} "
                       f"of user {a.requester_id}, not what was asked")
        elif a.approver_id != r.decided_by_id:
            out.append(f"request #{r.id}: approval #{a.id} was given by user {a.approver_id}, "
                       f"the request says user {r.decided_by_id}")
    return out
