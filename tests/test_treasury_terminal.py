"""The treasury as a treasurer meets it: the real ``station`` process on a pty
read by pyte at 80x24, keys as bytes (a burst is one write). Y typed in the
same burst as the PIN while the dashboard opens; the funds with their balances;
a payment executed with the TOTP code typed in the same burst as the X that
opens its dialog; the ledger of the fund shows the payment."""
from __future__ import annotations

import pyotp
import pytest

from tests.terminal import Terminal, make_till

pytestmark = pytest.mark.slow


@pytest.fixture
def till(tmp_path):
    from station import config as configmod
    from station.context import open_station
    from station.treasury import payments
    from tests.conftest import add_user
    from tests.treasury_helpers import enrol, fund_up, user
    home = tmp_path / "home"
    make_till(home)
    ctx = open_station(configmod.load(env={"STATION_HOME": str(home)}))
    add_user(ctx, "theo", "treasurer", "4444")
    add_user(ctx, "ada", "admin", "5555")
    enrol(ctx)
    fund_up(ctx, "petty", 50_000)
    rid = payments.request(ctx, user("mia"), "petty", "42.00", "Window cleaner")
    payments.approve(ctx, user("ada"), rid)
    ctx.db.close()
    return home


def test_treasury_on_the_real_terminal(till):
    from tests.treasury_helpers import SECRETS
    with Terminal.start(till) as term:
        term.wait_for("Type your user name")
        term.type("theo", "enter", "4444", "enter", "y")           # Y while the dashboard is opening
        screen = term.wait_for(lambda t: "Funds" in t and "petty" in t and "500.00" in t)
        assert len(screen.splitlines()) == 24 and all(len(line) <= 80 for line in screen.splitlines())
        term.type("2")
        term.wait_for(lambda t: "Window cleaner" in t and "approved" in t)
        term.type("x", *pyotp.TOTP(SECRETS["theo"]).now(), "enter")  # the code typed as the dialog opens
        screen = term.wait_for("paid: 42.00 from petty, 458.00 left")
        term.type("1", "down", "enter")                              # petty's ledger
        screen = term.wait_for(lambda t: "Ledger of petty" in t and "-42.00" in t)
        assert "458.00" in screen and "requisition" in screen
