from station import auth
from station.errors import AuthFailed, LockedOut
from data.models import Journal
import pytest


def test_login_and_lockout(ctx, people):
    assert auth.login(ctx, "carla", "1111").name == "carla"
    for _ in range(4):
        with pytest.raises(AuthFailed):
            auth.login(ctx, "carla", "0000")
    with pytest.raises(LockedOut):
        auth.login(ctx, "carla", "0000")
    with pytest.raises(LockedOut):
        auth.login(ctx, "carla", "1111")
    kinds = [j.kind for j in Journal.select().order_by(Journal.seq)]
    assert "user.locked" in kinds
