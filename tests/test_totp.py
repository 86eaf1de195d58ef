"""TOTP and approvals: replay refused, +-1 step accepted, +-2 refused, TOTP
failures count toward the DB-held lockout, an approval covers exactly one
action once and never the requester, the service refuses without one, and each
kind of bad input gives one clear message with only the failure event recorded."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pyotp
import pytest

from data import db as dbmod
from data.models import Approval, Journal, User
from station import auth, authority, totp_enrol
from station.errors import AuthFailed, InvalidInput, LockedOut, NeedsApproval, NotFound, PermissionDenied

SECRET = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
T = pyotp.TOTP(SECRET)


@pytest.fixture
def store(ctx, people):
    totp_enrol.enrol_known_secret(ctx, "mia", SECRET)
    totp_enrol.enrol_known_secret(ctx, "sam", SECRET)
    return ctx, people


def mia():
    return User.get(User.name == "mia")


def kinds_after(seq0: int) -> list[str]:
    return [j.kind for j in Journal.select().where(Journal.seq > seq0).order_by(Journal.seq)]


def last_seq() -> int:
    j = Journal.select().order_by(Journal.seq.desc()).first()
    return j.seq if j else 0


def code_at(t: float) -> str:
    return T.at(t)


# ---------------------------------------------------------------- windows ---

def test_current_and_one_step_either_side_accepted(store):
    ctx, _ = store
    t0 = 1_800_000_000.0  # a fixed instant: no step boundary races
    authority.verify_totp(ctx, mia(), code_at(t0 - 30), now=t0)
    authority.verify_totp(ctx, mia(), code_at(t0), now=t0)
    authority.verify_totp(ctx, mia(), code_at(t0 + 30), now=t0)
    assert mia().totp_last_step == int(t0 // 30) + 1


@pytest.mark.parametrize("steps", [-2, 2, -3, 5])
def test_codes_two_or_more_steps_away_refused(store, steps):
    ctx, _ = store
    t0 = 1_800_000_000.0
    seq0 = last_seq()
    with pytest.raises(AuthFailed, match="wrong TOTP code"):
        authority.verify_totp(ctx, mia(), code_at(t0 + 30 * steps), now=t0)
    assert kinds_after(seq0) == ["totp.failed"]
    assert mia().failed_attempts == 1 and mia().totp_last_step is None


def test_replayed_code_refused(store):
    ctx, _ = store
    t0 = 1_800_000_000.0
    c = code_at(t0)
    authority.verify_totp(ctx, mia(), c, now=t0)
    seq0 = last_seq()
    with pytest.raises(AuthFailed, match="already used"):
        authority.verify_totp(ctx, mia(), c, now=t0)
    # also 20 s later (same step, still inside the window)
    with pytest.raises(AuthFailed, match="already used"):
        authority.verify_totp(ctx, mia(), c, now=t0 + 20)
    # an OLDER code that is still inside the window is refused too (at or below the last step)
    with pytest.raises(AuthFailed, match="already used"):
        authority.verify_totp(ctx, mia(), code_at(t0 - 30), now=t0)
    assert kinds_after(seq0) == ["totp.replayed"] * 3
    # the next step's code is fine
    authority.verify_totp(ctx, mia(), code_at(t0 + 30), now=t0 + 30)


def test_replay_across_terminals(store, tmp_path):
    """The last step is in the database: another terminal (another config and
    connection) refuses the code this one used."""
    ctx, people = store
    c = T.now()
    authority.approve(ctx, people["cashier"], "mia", "3333", c, "sale.void_ticket", ref="t1")
    from station.context import open_station
    from tests.conftest import make_config
    home2 = tmp_path / "t2"
    home2.mkdir()
    # same key file (keys are per store), other terminal id
    import shutil
    shutil.copy(ctx.config.key_file, home2 / ctx.config.key_file.name)
    os.chmod(home2 / ctx.config.key_file.name, 0o600)
    ctx2 = open_station(make_config(home2, ctx.config.db_url, **{"terminal.id": "T2"}))
    try:
        with pytest.raises(AuthFailed, match="already used"):
            authority.approve(ctx2, people["cashier"], "mia", "3333", c, "sale.void_ticket", ref="t1")
    finally:
        pass
    assert Approval.select().count() == 1


# ---------------------------------------------------------------- lockout ---

def test_totp_failures_count_toward_the_lockout(store):
    """Right PIN + wrong code, over and over: the PIN's success must not reset
    the counter, so the approver ends up locked like with wrong PINs."""
    ctx, people = store
    limit = ctx.config.security.max_failed_attempts
    wrong = "%06d" % ((int(T.now()) + 500_000) % 1_000_000)
    for i in range(limit - 1):
        with pytest.raises(AuthFailed, match="wrong TOTP code") as e:
            authority.approve(ctx, people["cashier"], "mia", "3333", wrong, "sale.void_ticket", ref="t1")
        assert not isinstance(e.value, LockedOut)
        assert mia().failed_attempts == i + 1
    with pytest.raises(LockedOut, match="locked"):
        authority.approve(ctx, people["cashier"], "mia", "3333", wrong, "sale.void_ticket", ref="t1")
    # now even the right PIN and code are refused, at any terminal
    with pytest.raises(LockedOut):
        authority.approve(ctx, people["cashier"], "mia", "3333", T.now(), "sale.void_ticket", ref="t1")
    with pytest.raises(LockedOut):
        auth.login(ctx, "mia", "3333")
    assert Approval.select().count() == 0
    assert Journal.select().where(Journal.kind == "user.locked").count() == 1
    # a manager unlocks: usable again
    auth.unlock(ctx, people["admin"], "mia")
    a = authority.approve(ctx, people["cashier"], "mia", "3333", T.now(), "sale.void_ticket", ref="t1")
    assert a.approver_id == people["manager"].id


def test_pin_and_totp_failures_add_up(store):
    ctx, people = store
    limit = ctx.config.security.max_failed_attempts
    wrong = "%06d" % ((int(T.now()) + 500_000) % 1_000_000)
    for i in range(limit - 1):
        if i % 2:
            with pytest.raises(AuthFailed):
                authority.approve(ctx, people["cashier"], "mia", "0000", T.now(), "sale.void_ticket")
        else:
            with pytest.raises(AuthFailed):
                authority.approve(ctx, people["cashier"], "mia", "3333", wrong, "sale.void_ticket")
    assert mia().failed_attempts == limit - 1
    with pytest.raises(LockedOut):
        authority.approve(ctx, people["cashier"], "mia", "3333", wrong, "sale.void_ticket")


def test_success_resets_the_counter(store):
    ctx, people = store
    wrong = "%06d" % ((int(T.now()) + 500_000) % 1_000_000)
    with pytest.raises(AuthFailed):
        authority.approve(ctx, people["cashier"], "mia", "3333", wrong, "sale.void_ticket")
    assert mia().failed_attempts == 1
    authority.approve(ctx, people["cashier"], "mia", "3333", T.now(), "sale.void_ticket")
    assert mia().failed_attempts == 0


# -------------------------------------------------------------- approvals ---

def require(ctx, user, action, **kw):
    """A service's gate, as every service calls it: inside its write transaction."""
    with dbmod.write():
        return authority.require(ctx, user, action, **kw)


def test_approval_covers_one_action_once(store):
    ctx, people = store
    carla = people["cashier"]
    a = authority.approve(ctx, carla, "mia", "3333", T.now(), "sale.price_override", amount=150, ref="line 4",
                          reason="shelf label wrong")
    assert (a.requester_id, a.approver_id, a.reason) == (carla.id, people["manager"].id, "shelf label wrong")
    # not for another action, amount or ref
    with pytest.raises(PermissionDenied, match="is for sale.price_override"):
        require(ctx, carla, "sale.void_ticket", ref="line 4", approval=a)
    with pytest.raises(PermissionDenied, match="different amount"):
        require(ctx, carla, "sale.price_override", amount=1, ref="line 4", approval=a)
    with pytest.raises(PermissionDenied, match="different ticket"):
        require(ctx, carla, "sale.price_override", amount=150, ref="line 5", approval=a)
    # exactly this one: consumed
    assert require(ctx, carla, "sale.price_override", amount=150, ref="line 4", approval=a).id == a.id
    assert Approval.get_by_id(a.id).used_at is not None
    # never a second time, not even for the same action
    with pytest.raises(PermissionDenied, match="already used"):
        require(ctx, carla, "sale.price_override", amount=150, ref="line 4", approval=a.id)


def test_failed_action_does_not_consume_the_approval(store):
    ctx, people = store
    carla = people["cashier"]
    a = authority.approve(ctx, carla, "mia", "3333", T.now(), "sale.void_ticket", ref="t1")
    with pytest.raises(RuntimeError):
        with dbmod.write():
            authority.require(ctx, carla, "sale.void_ticket", ref="t1", approval=a)
            raise RuntimeError("the void failed half way")
    assert Approval.get_by_id(a.id).used_at is None
    assert require(ctx, carla, "sale.void_ticket", ref="t1", approval=a).id == a.id


def test_requester_can_neither_approve_nor_borrow(store):
    ctx, people = store
    carla, sam = people["cashier"], people["supervisor"]
    seq0 = last_seq()
    # the requester is the approver: refused (and journalled as a refused override)
    with pytest.raises(PermissionDenied, match="someone else"):
        authority.approve(ctx, sam, "sam", "2222", T.now(), "drawer.no_sale")
    assert kinds_after(seq0) == ["override.refused"]
    # an approval given to carla cannot be used by someone else (sam asks with it)
    a = authority.approve(ctx, carla, "mia", "3333", T.now(), "drawer.no_sale")
    with pytest.raises(PermissionDenied, match="given to someone else"):
        require(ctx, sam, "drawer.no_sale", approval=a)
    assert Approval.get_by_id(a.id).used_at is None
    # sam (supervisor: no-sale needs approval) cannot get one from himself through a
    # forged row either: require() refuses an approval whose approver is the user
    with dbmod.write():
        forged = Approval.create(action="drawer.no_sale", requester=sam, approver=sam, terminal="T1")
    with pytest.raises(PermissionDenied, match="someone else"):
        require(ctx, sam, "drawer.no_sale", approval=forged)
    assert require(ctx, carla, "drawer.no_sale", approval=a).id == a.id


def test_approver_role_must_be_allowed(store):
    ctx, people = store
    totp_enrol.enrol_known_secret(ctx, "theo", SECRET)
    seq0 = last_seq()
    # treasurer may not approve a sale void; a supervisor may not approve a no-sale alone
    with pytest.raises(PermissionDenied, match="may not approve"):
        authority.approve(ctx, people["cashier"], "theo", "4444", T.now(), "sale.void_ticket")
    with pytest.raises(PermissionDenied, match="may not approve"):
        authority.approve(ctx, people["cashier"], "sam", "2222", T.now(), "drawer.no_sale")
    assert kinds_after(seq0) == ["override.refused", "override.refused"]
    assert Approval.select().count() == 0


def test_service_without_approval_fails_like_the_ui(store):
    ctx, people = store
    carla = people["cashier"]
    with pytest.raises(NeedsApproval) as e:
        require(ctx, carla, "sale.price_override", amount=99, ref="line 1")
    assert (e.value.action, e.value.amount, e.value.ref) == ("sale.price_override", 99, "line 1")
    # a cashier's discount above the configured limit needs one; below it does not
    assert require(ctx, carla, "sale.discount", amount=1000) is None
    with pytest.raises(NeedsApproval):
        require(ctx, carla, "sale.discount", amount=1001)
    # refused outright, approval or not
    a = authority.approve(ctx, carla, "mia", "3333", T.now(), "sale.void_ticket")
    with pytest.raises(PermissionDenied):
        require(ctx, carla, "user.manage", approval=a)
    with pytest.raises(PermissionDenied, match="no such approval"):
        require(ctx, carla, "sale.void_ticket", approval=999999)
    with pytest.raises(PermissionDenied, match="nobody"):
        require(ctx, None, "sale.void_ticket")


# -------------------------------------------------------------- bad input ---

@pytest.mark.parametrize("case", ["wrong_pin", "wrong_code", "reused_code", "unknown_user",
                                  "disabled_user", "locked_user", "short_code"])
def test_bad_input_one_message_only_the_failure_event(store, case):
    ctx, people = store
    carla = people["cashier"]
    name, pin, code = "mia", "3333", T.now()
    expect_kind, expect_msg, expect_type = None, None, AuthFailed
    if case == "wrong_pin":
        pin, expect_kind, expect_msg = "0000", "approval.failed", "unknown user or wrong PIN"
    elif case == "wrong_code":
        code = "%06d" % ((int(code) + 500_000) % 1_000_000)
        expect_kind, expect_msg = "totp.failed", "wrong TOTP code"
    elif case == "short_code":
        code, expect_kind, expect_msg = "12", "totp.failed", "6 digits"
    elif case == "reused_code":
        authority.approve(ctx, carla, "sam", "2222", code, "sale.void_ticket")  # same secret: sam used it
        authority.approve(ctx, carla, "mia", "3333", code, "sale.void_ticket")
        expect_kind, expect_msg = "totp.replayed", "already used"
    elif case == "unknown_user":
        name, expect_kind, expect_msg = "nobody", "approval.failed", "unknown user or wrong PIN"
    elif case == "disabled_user":
        auth.disable(ctx, None, "mia")
        expect_kind, expect_msg = "approval.failed", "disabled"
    elif case == "locked_user":
        import datetime as dt
        User.update(locked_until=dt.datetime.utcnow() + dt.timedelta(minutes=5)).where(User.name == "mia").execute()
        expect_kind, expect_msg, expect_type = "approval.refused_locked", "locked", LockedOut
    seq0, approvals0 = last_seq(), Approval.select().count()
    before = {u.name: (u.failed_attempts, u.totp_last_step, u.locked_until, u.active) for u in User.select()}
    with pytest.raises(expect_type) as e:
        authority.approve(ctx, carla, name, pin, code, "sale.void_ticket", ref="t1")
    msg = str(e.value)
    assert expect_msg in msg and "\n" not in msg and "Traceback" not in msg
    assert kinds_after(seq0) == [expect_kind]
    if case in ("unknown_user", "disabled_user"):
        ev = Journal.select().order_by(Journal.seq.desc()).first()
        assert ev.user_name == name and ("disabled" if case == "disabled_user" else "unknown") in ev.data
    assert Approval.select().count() == approvals0
    after = {u.name: (u.failed_attempts, u.totp_last_step, u.locked_until, u.active) for u in User.select()}
    changed = {n for n in before if before[n] != after[n]}
    if case in ("wrong_pin", "wrong_code", "short_code", "reused_code"):
        assert changed == {"mia"} and after["mia"][0] == before["mia"][0] + 1  # only the counter
        assert after["mia"][1:] == before["mia"][1:]
    else:
        assert changed == set()


def test_no_totp_enrolled_is_one_message(store):
    ctx, people = store
    with pytest.raises(AuthFailed, match="no TOTP enrolled"):
        authority.approve(ctx, people["cashier"], "ada", "5555", "123456", "sale.void_ticket")
    assert Approval.select().count() == 0


def test_unknown_action_is_invalid(store):
    ctx, people = store
    with pytest.raises(InvalidInput):
        authority.approve(ctx, people["cashier"], "mia", "3333", T.now(), "sale.nonsense")


# -------------------------------------------------------------- enrolment ---

def test_enrol_checks_first_code_and_encrypts(store):
    ctx, people = store
    secret = totp_enrol.new_secret()
    t = pyotp.TOTP(secret)
    with pytest.raises(AuthFailed):
        totp_enrol.enrol(ctx, None, "ada", secret, "%06d" % ((int(t.now()) + 1) % 1_000_000))
    assert User.get(User.name == "ada").totp_secret is None  # nothing saved
    totp_enrol.enrol(ctx, None, "ada", secret, t.now())
    stored = User.get(User.name == "ada").totp_secret
    assert stored and secret not in stored
    assert authority.decrypt_secret(ctx, stored) == secret
    # the enrolment code itself cannot be replayed for an approval
    with pytest.raises(AuthFailed, match="already used"):
        authority.approve(ctx, people["cashier"], "ada", "5555", t.now(), "sale.void_ticket")
    with pytest.raises(NotFound):
        totp_enrol.enrol(ctx, None, "ghost", secret, t.now())
    with pytest.raises(InvalidInput):
        totp_enrol.validate_secret("not base32!")
    with pytest.raises(PermissionDenied):
        totp_enrol.save_secret(ctx, people["cashier"], "ada", secret)
    assert "user.totp_enrolled" in [j.kind for j in Journal.select()]


def test_qr_and_uri(store):
    ctx, _ = store
    uri = totp_enrol.provisioning_uri(ctx, "mia", SECRET)
    assert uri.startswith("otpauth://totp/") and f"secret={SECRET}" in uri and "mia" in uri
    q = totp_enrol.qr_text(uri).splitlines()
    assert 20 <= len(q) <= 24 and all(len(line) == len(q[0]) <= 80 for line in q)
    assert set("".join(q)) <= set("\u2588\u2580\u2584 ")


def _cli(ctx, *args, stdin=None):
    env = dict(os.environ, STATION_HOME=str(ctx.config.data_dir), STATION_DB=ctx.config.db_url,
               STATION_SECURITY_SCRYPT_N=str(2 ** 10))
    return subprocess.Popen([sys.executable, "-m", "station.cli", *args], cwd=os.getcwd(), env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cli_enrol_with_secret_out_and_stdin(store, tmp_path):
    ctx, _ = store
    out_file = tmp_path / "secret.txt"
    p = _cli(ctx, "user", "totp", "ada", "--secret-out", str(out_file))
    p.stdin.write("ada\n5555\n")   # who signs in: ada enrols her own first TOTP (PIN only)
    p.stdin.flush()
    deadline = time.time() + 30
    while not (out_file.exists() and out_file.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)
    secret = out_file.read_text().strip()
    assert oct(out_file.stat().st_mode & 0o777) == "0o600"
    stdout, stderr = p.communicate(pyotp.TOTP(secret).now() + "\n", timeout=30)
    assert p.returncode == 0, stderr
    assert "otpauth://totp/" in stdout and "\u2588" in stdout and "TOTP enrolled for ada" in stdout
    assert authority.decrypt_secret(ctx, User.get(User.name == "ada").totp_secret) == secret


def test_cli_enrol_wrong_code_saves_nothing(store):
    ctx, _ = store
    p = _cli(ctx, "user", "totp", "ada", "--secret", SECRET, "--code", "000000", "--quiet")
    stdout, stderr = p.communicate("ada\n5555\n", timeout=30)
    if T.now() == "000000":  # one chance in a million
        pytest.skip("the real code happened to be 000000")
    assert p.returncode == 2 and stderr.count("\n") == 1 and "nothing was saved" in stderr
    assert User.get(User.name == "ada").totp_secret is None


def test_disabled_since_login_is_refused_by_the_gate(store):
    """require() asks the database, not the session's copy of the user."""
    ctx, people = store
    carla = auth.login(ctx, "carla", "1111")
    assert require(ctx, carla, "sale.ring_up") is None
    auth.disable(ctx, None, "carla")
    assert carla.active  # the session's stale copy
    with pytest.raises(PermissionDenied, match="disabled"):
        require(ctx, carla, "sale.ring_up")
