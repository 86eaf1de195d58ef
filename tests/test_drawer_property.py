"""Property: random sequences of opening, paid in/out, drops, no-sales, cash
postings (sale, change, refund), bad inputs and closes keep the system's
expected cash equal to an independent computation done here, in the test
(on a real SQLite file)."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from data.models import DrawerSession
from station import drawer, verify
from station.errors import Conflict, InvalidInput
from tests.conftest import add_user

amounts = st.integers(min_value=1, max_value=20000)
ops = st.one_of(
    st.tuples(st.just("open"), st.dictionaries(st.sampled_from([5000, 1000, 200, 50]),
                                               st.integers(0, 20), max_size=4)),
    st.tuples(st.just("paid_in"), amounts),
    st.tuples(st.just("paid_out"), amounts),
    st.tuples(st.just("drop"), amounts),
    st.tuples(st.just("no_sale"), st.just(0)),
    st.tuples(st.just("sale"), amounts),
    st.tuples(st.just("change"), amounts),
    st.tuples(st.just("refund"), amounts),
    st.tuples(st.just("bad"), st.sampled_from(["-5", "1x", "1.234", "", "0"])),
    st.tuples(st.just("close"), st.integers(-300, 300)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.lists(ops, min_size=1, max_size=25))
def test_expected_cash_matches_independent_model(sqlite_ctx, seq):
    ctx = sqlite_ctx
    from data.models import User
    mia = User.get_or_none(User.name == "mia") or add_user(ctx, "mia", "manager", "3333")
    # start each example from a closed drawer
    cur = drawer.current_session(ctx)
    if cur is not None:
        drawer.close_session(ctx, mia, {5000: 0})
    model: int | None = None       # the expected cash, computed here
    session_id = None
    for op, arg in seq:
        if op == "open":
            if model is None:
                v = drawer.open_session(ctx, mia, arg, kick=False)
                model, session_id = sum(d * q for d, q in arg.items()), v.id
            else:
                try:
                    drawer.open_session(ctx, mia, arg, kick=False)
                    raise AssertionError("a second open session was allowed")
                except Conflict:
                    pass
            continue
        if model is None:
            # nothing is open: every movement is refused, nothing recorded
            try:
                if op in ("sale", "change", "refund"):
                    drawer.post_cash(ctx, mia, op, arg if op == "sale" else -arg)
                elif op == "paid_in":
                    drawer.paid_in(ctx, mia, arg, "other")
                else:
                    continue
                raise AssertionError("a movement outside any session was recorded")
            except Conflict:
                continue
        if op == "paid_in":
            drawer.paid_in(ctx, mia, arg, "other")
            model += arg
        elif op in ("paid_out", "drop"):
            fn = drawer.paid_out if op == "paid_out" else drawer.drop
            if arg > model:
                try:
                    fn(ctx, mia, arg, "other")
                    raise AssertionError("paid out more than the expected cash")
                except InvalidInput:
                    pass
            else:
                fn(ctx, mia, arg, "other")
                model -= arg
        elif op == "no_sale":
            drawer.no_sale(ctx, mia, "change")
        elif op == "sale":
            with ctx.db.atomic():
                drawer.post_cash(ctx, mia, "sale", arg)
            model += arg
        elif op == "refund" and arg > model:
            try:
                drawer.post_cash(ctx, mia, op, -arg)
                raise AssertionError("a cash refund larger than the drawer was recorded")
            except InvalidInput:
                pass
        elif op in ("change", "refund"):
            drawer.post_cash(ctx, mia, op, -arg)
            model -= arg
        elif op == "bad":
            try:
                drawer.paid_in(ctx, mia, arg, "other")
                raise AssertionError(f"bad amount {arg!r} accepted")
            except InvalidInput:
                pass
        elif op == "close":
            counted = max(0, model + arg)
            z = drawer.close_session(ctx, mia, {1: counted} if counted <= 10000 else
                                     {5000: counted // 5000, 1: counted % 5000})
            assert z.expected == model and z.variance == counted - model
            model, session_id = None, None
            continue
        assert drawer.expected_cash(session_id) == model
        assert DrawerSession.get_by_id(session_id).expected_cash == model
    assert all(r.ok for r in verify.run(ctx, ["drawer"])), verify.report_text(verify.run(ctx, ["drawer"]))
