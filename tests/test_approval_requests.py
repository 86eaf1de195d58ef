"""Approval requests that wait in the database for a manager at another
terminal: request, list pending, grant (PIN + TOTP, not the requester, an
allowed role), refuse, cancel, expire; the grant is the one Approval for exactly
that action, amount and ref, used once. SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as _dt
import json
import time

import pyotp
import pytest

from data import db as dbmod
from data.models import Approval, ApprovalRequest, Journal
from station import authority, journal, totp_enrol
from station.errors import AuthFailed, Conflict, InvalidInput, PermissionDenied
from station.ops import session
from tests.conftest import add_user

SECRET = totp_enrol.DEMO_SECRET


def code(step_offset: int = 0) -> str:
    return pyotp.TOTP(SECRET).at(time.time() + 30 * step_offset)


@pytest.fixture
def shop(ctx):
    people = {
        "carla": add_user(ctx, "carla", "cashier", "1111"),
        "sam": add_user(ctx, "sam", "supervisor", "2222"),
        "mia": add_user(ctx, "mia", "manager", "3333"),
        "theo": add_user(ctx, "theo", "treasurer", "4444"),
    }
    for name in ("sam", "mia"):
        totp_enrol.enrol_known_secret(ctx, name, SECRET)
    return ctx, people


def kinds():
    return [j.kind for j in Journal.select().order_by(Journal.seq)]


def test_request_grant_use_once(shop):
    ctx, p = shop
    req = authority.request_approval(ctx, p["carla"], "sale.void_ticket", ref="ticket 7", reason="customer left")
    assert authority.request_state(ctx, req.id).status == "pending"
    # the manager sees it, the cashier who asked and the treasurer (no approver role) do not
    mine = authority.pending_requests(ctx, p["mia"])
    assert [(r.id, r.action, r.ref, r.requester, r.terminal) for r in mine] == \
        [(req.id, "sale.void_ticket", "ticket 7", "carla", ctx.terminal)]
    assert authority.pending_requests(ctx, p["carla"]) == []
    assert authority.pending_requests(ctx, p["theo"]) == []

    a = authority.grant_request(ctx, "mia", "3333", code(), req.id)
    assert (a.action, a.ref, a.amount, a.requester_id, a.approver_id) == \
        ("sale.void_ticket", "ticket 7", None, p["carla"].id, p["mia"].id)
    st = authority.request_state(ctx, req.id)
    assert (st.status, st.approval_id, st.decided_by) == ("granted", a.id, "mia")
    assert authority.pending_requests(ctx, p["mia"]) == []
    # bound to exactly this action and ref, used once
    with pytest.raises(PermissionDenied, match="different ticket"):
        with dbmod.write():
            authority.require(ctx, p["carla"], "sale.void_ticket", ref="ticket 8", approval=a.id)
    with dbmod.write():
        assert authority.require(ctx, p["carla"], "sale.void_ticket", ref="ticket 7", approval=a.id).id == a.id
    with pytest.raises(PermissionDenied, match="already used"):
        with dbmod.write():
            authority.require(ctx, p["carla"], "sale.void_ticket", ref="ticket 7", approval=a.id)
    assert kinds()[-2:] == ["override.requested", "override.approved"]
    approved = Journal.get(Journal.kind == "override.approved")
    assert json.loads(approved.data)["request"] == req.id
    # granting again: refused with what became of it
    with pytest.raises(Conflict, match="already granted by mia"):
        authority.grant_request(ctx, "mia", "3333", code(1), req.id)


def test_amount_is_part_of_the_request(shop):
    ctx, p = shop
    req = authority.request_approval(ctx, p["carla"], "drawer.paid_out", amount=9000, ref="session 1")
    a = authority.grant_request(ctx, "sam", "2222", code(), req.id)
    with pytest.raises(PermissionDenied, match="different amount"):
        with dbmod.write():
            authority.require(ctx, p["carla"], "drawer.paid_out", amount=9001, ref="session 1", approval=a.id)


def test_who_may_grant(shop):
    ctx, p = shop
    # a supervisor needs approval for a no-sale and may approve one: never their own
    req = authority.request_approval(ctx, p["sam"], "drawer.no_sale", ref="T1")
    with pytest.raises(PermissionDenied, match="someone else"):
        authority.grant_request(ctx, "sam", "2222", code(), req.id)
    with pytest.raises(PermissionDenied, match="someone else"):
        authority.refuse_request(ctx, p["sam"], req.id)
    # a treasurer is no approver of sale or drawer overrides
    with pytest.raises(PermissionDenied, match="may not approve"):
        authority.grant_request(ctx, "theo", "4444", None, req.id)
    # a wrong PIN, then a wrong code: nothing granted
    with pytest.raises(AuthFailed):
        authority.grant_request(ctx, "mia", "0000", code(), req.id)
    bad = "%06d" % ((int(code()) + 1) % 1_000_000)
    with pytest.raises(AuthFailed, match="wrong TOTP"):
        authority.grant_request(ctx, "mia", "3333", bad, req.id)
    assert authority.request_state(ctx, req.id).status == "pending"
    assert Approval.select().count() == 0
    authority.grant_request(ctx, "mia", "3333", code(), req.id)
    assert authority.request_state(ctx, req.id).status == "granted"


def test_nothing_to_request(shop):
    ctx, p = shop
    with pytest.raises(InvalidInput, match="without an approval"):
        authority.request_approval(ctx, p["mia"], "sale.void_ticket", ref="t")
    with pytest.raises(PermissionDenied):
        authority.request_approval(ctx, p["theo"], "sale.void_ticket", ref="t")
    assert ApprovalRequest.select().count() == 0


def test_refuse_cancel_and_a_newer_request(shop):
    ctx, p = shop
    r1 = authority.request_approval(ctx, p["carla"], "sale.void_ticket", ref="ticket 1")
    authority.refuse_request(ctx, p["mia"], r1.id, "ask the customer first")
    st = authority.request_state(ctx, r1.id)
    assert (st.status, st.decided_by, st.note) == ("refused", "mia", "ask the customer first")
    with pytest.raises(Conflict, match="refused by mia"):
        authority.grant_request(ctx, "mia", "3333", code(), r1.id)

    r2 = authority.request_approval(ctx, p["carla"], "sale.void_ticket", ref="ticket 2")
    with pytest.raises(PermissionDenied, match="only the person who asked"):
        authority.cancel_request(ctx, p["mia"], r2.id)
    authority.cancel_request(ctx, p["carla"], r2.id)
    assert authority.request_state(ctx, r2.id).status == "cancelled"
    with pytest.raises(Conflict, match="cancelled"):
        authority.grant_request(ctx, "mia", "3333", code(), r2.id)

    # one request at a time per terminal: a newer one cancels the older one
    r3 = authority.request_approval(ctx, p["carla"], "sale.void_ticket", ref="ticket 3")
    r4 = authority.request_approval(ctx, p["carla"], "sale.price_override", amount=99, ref="3:1")
    assert authority.request_state(ctx, r3.id).status == "cancelled"
    assert [r.id for r in authority.pending_requests(ctx, p["mia"])] == [r4.id]
    assert Approval.select().count() == 0


def test_expiry(shop):
    ctx, p = shop
    req = authority.request_approval(ctx, p["carla"], "sale.void_ticket", ref="ticket 9")
    assert req.expires_at - req.created_at == _dt.timedelta(minutes=ctx.config.security.approval_request_minutes)
    with dbmod.write():   # ten minutes later
        ApprovalRequest.update(expires_at=req.created_at - _dt.timedelta(seconds=1)).where(
            ApprovalRequest.id == req.id).execute()
    assert authority.pending_requests(ctx, p["mia"]) == []
    assert authority.request_state(ctx, req.id).status == "expired"
    with pytest.raises(Conflict, match="expired"):
        authority.grant_request(ctx, "mia", "3333", code(), req.id)
    assert kinds().count("override.request_expired") == 1
    assert Approval.select().count() == 0


def test_a_grant_over_ssh_records_where_the_manager_was(shop, monkeypatch):
    ctx, p = shop
    req = authority.request_approval(ctx, p["carla"], "sale.void_ticket", ref="ticket 5")
    # the manager's SSH session: its own station process on the same store
    from station.context import open_station
    monkeypatch.setenv("SSH_CONNECTION", "203.0.113.5 52114 192.0.2.10 22")
    monkeypatch.setenv("STATION_SSH_KEY", "mia-laptop")
    remote = open_station(ctx.config)
    try:
        assert remote.origin == "ssh 203.0.113.5 key mia-laptop"
        a = authority.grant_request(remote, "mia", "3333", code(), req.id)
        assert Approval.get_by_id(a.id).origin == "ssh 203.0.113.5 key mia-laptop"
        r = ApprovalRequest.get_by_id(req.id)
        assert r.origin is None and r.decided_origin == "ssh 203.0.113.5 key mia-laptop"
        asked = Journal.get(Journal.kind == "override.requested")
        granted = Journal.get(Journal.kind == "override.approved")
        assert "origin" not in json.loads(asked.data)          # asked at the till
        assert json.loads(granted.data)["origin"] == "ssh 203.0.113.5 key mia-laptop"
        # every entry this session writes carries it
        from station import auth
        auth.login(remote, "mia", "3333")
        assert json.loads(Journal.select().order_by(Journal.seq.desc()).get().data)["origin"] == \
            "ssh 203.0.113.5 key mia-laptop"
    finally:
        journal.set_origin(None)
    from station import verify
    assert all(r.ok for r in verify.run(ctx, only=["journal"]))


@pytest.mark.parametrize("env,want", [
    ({}, None),
    ({"SSH_CONNECTION": "203.0.113.5 52114 192.0.2.10 22"}, "ssh 203.0.113.5"),
    ({"SSH_CONNECTION": "2001:db8::7 52114 2001:db8::1 22"}, "ssh 2001:db8::7"),
    ({"SSH_CONNECTION": "not an address at all"}, None),
    ({"SSH_CONNECTION": "203.0.113.5 1 2 3", "STATION_SSH_KEY": "anna"}, "ssh 203.0.113.5 key anna"),
    ({"SSH_CONNECTION": "203.0.113.5 1 2 3", "STATION_SSH_KEY": "a b; rm -rf"}, "ssh 203.0.113.5"),
])
def test_origin_from_the_environment(env, want):
    assert session.origin(env) == want


def test_verify_checks_granted_requests(shop):
    from station import verify
    ctx, p = shop
    req = authority.request_approval(ctx, p["carla"], "sale.void_ticket", ref="ticket 1")
    a = authority.grant_request(ctx, "mia", "3333", code(), req.id)
    assert all(r.ok for r in verify.run(ctx, only=["approval."]))
    with dbmod.write():   # someone widens the approval behind the request's back
        Approval.update(ref="ticket 99").where(Approval.id == a.id).execute()
    bad = [r for r in verify.run(ctx, only=["approval."]) if not r.ok]
    assert bad and "not what was asked" in bad[0].problems[0]
