"""A till process for the payment tests (tests/test_payments_tills.py), on the real
store, talking to the fake providers.

usage: python tests/payments_till_child.py MODE HOME DB_URL TERMINAL USER FAKE_URL RECEIVER_URL

  till    ring up sugar, start an M-Pesa payment (prints "PENDING <ref>"), then poll
          the store as the tender screen does until it is paid, complete the sale
          and print "DONE <receipt no> <duplicate>" (or "OVER <status>")
  resume  after a restart: take up this terminal's open payments (prints "FOUND <ref>"
          or "NONE"), poll each until it is settled, complete the sale, print "DONE ..."
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def say(*parts) -> None:
    print(*parts, flush=True)


def settle_and_complete(ctx, user, ref: str, idem_key: str) -> None:
    from station import tender
    from station.payments import service
    from tests.payments_support import pay_with
    while True:
        v = service.watch(ctx, ref)
        if not v.waiting:
            break
        time.sleep(ctx.config.payments.poll_ms / 1000)
    if not v.paid:
        say("OVER", v.status)
        return
    r = tender.complete_sale(ctx, user, idem_key, [pay_with(v)])
    say("DONE", r.receipt_no, r.duplicate)


def main() -> None:
    mode, home, url, terminal, user_name, fake_url, receiver_url = sys.argv[1:8]
    from data.models import User
    from station import tender
    from station.context import open_station
    from station.payments import service
    from tests.conftest import make_config
    from tests.payments_support import SUGAR, configure, ring

    class Fake:   # what configure() needs of the fake
        url = fake_url

    ctx = open_station(make_config(Path(home), url, **{"terminal.id": terminal}))
    configure(ctx, Fake, receiver_url, payments__poll_ms=50)
    user = User.get(User.name == user_name)
    if mode == "till":
        st = ring(ctx, user, SUGAR)
        v = service.start(ctx, user, st.ticket_id, "mpesa", st.due, "0712345678")
        say("PENDING", v.ref)
        settle_and_complete(ctx, user, v.ref, st.idem_key)
    elif mode == "resume":
        found = service.open_here(ctx)
        if not found:
            say("NONE")
        for v in found:
            say("FOUND", v.ref)
            st = tender.begin_tender(ctx, user)       # the re-entered tender screen: the same key
            settle_and_complete(ctx, user, v.ref, st.idem_key)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
