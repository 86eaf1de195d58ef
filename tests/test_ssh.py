"""Managers over SSH, through a real sshd on 127.0.0.1 configured from the
shipped recipe (deploy/ssh/station.conf) with the station as ForceCommand:

* a manager logs in with their key, sees the dashboard (the approval waiting,
  the open drawers) and approves an override a cashier asked for at a till
  (another station process, on its own pty); the till goes on; the approval and
  the journal carry the SSH client's address and the key's label;
* a shell, another command, sftp, a session without a terminal, port and stdio
  forwarding: all refused;
* a plain ``TERM=xterm`` session and a ``TERM=linux`` console: 16 colours, and
  the Linux console's own F-key sequences work.

Both ends are read as a person would see them: pyte screens of real ptys.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pyotp
import pytest

from tests.sshd import ROOT, Sshd
from tests.terminal import Terminal, make_till

pytestmark = pytest.mark.slow

LABEL = "mia-laptop"
PENCIL = "4006381333931"
NAMED_COLOURS = {"default", "black", "red", "green", "brown", "blue", "magenta", "cyan", "white",
                 "brightblack", "brightred", "brightgreen", "brightbrown", "brightblue", "brightmagenta",
                 "brightcyan", "brightwhite"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A store with a cashier (carla 1111), a manager with TOTP (mia 3333), and
    an sshd whose ForceCommand runs this checkout's station on it."""
    folder = tmp_path_factory.mktemp("ssh")
    home = folder / "home"
    make_till(home)
    force = f"cd {ROOT} && exec env STATION_HOME={home} {sys.executable} -m screens.main ssh-session"
    with Sshd.start(folder / "sshd", force_command=force, key_label=LABEL) as sshd:
        yield home, sshd


def on_store(home, fn):
    from station import config as configmod
    from station.context import open_station
    from station import journal
    ctx = open_station(configmod.load(env={"STATION_HOME": str(home)}))
    try:
        return fn(ctx)
    finally:
        ctx.db.close()
        journal.set_origin(None)


def ssh_terminal(sshd, term="xterm-256color") -> Terminal:
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STATION_", "TEXTUAL", "COLORTERM"))}
    env.update({"TERM": term, "LANG": "C.UTF-8"})
    return Terminal(sshd.ssh_argv(), env)


def colours(term: Terminal) -> set[str]:
    with term.changed:
        return {getattr(ch, attr) for row in term.screen.buffer.values() for ch in row.values()
                for attr in ("fg", "bg")}


def test_manager_over_ssh_approves_an_override_asked_at_a_till(shop):
    from data.models import User
    from station import drawer, totp_enrol
    home, sshd = shop
    on_store(home, lambda ctx: drawer.open_session(ctx, User.get(User.name == "carla"), {10000: 1}, kick=False))
    with Terminal.start(home) as till:
        till.wait_for("Type your user name")
        till.type("carla", "enter", "1111", "enter")
        till.wait_for("Sale")
        till.type("f2")
        till.wait_for(lambda t: "Total" in t or "TOTAL" in t)
        till.type(PENCIL, "enter")
        till.wait_for("Pencil")
        till.type("f11")                                       # void the ticket: a cashier needs a manager
        till.wait_for("Manager approval")
        till.type("f2")                                        # ask a manager at another terminal
        till.wait_for("Waiting for a manager at another terminal")

        with ssh_terminal(sshd) as office:
            office.wait_for("Type your user name")
            office.type("mia", "enter", "3333", "enter")
            screen = office.wait_for(lambda t: "Waiting for your approval" in t and "carla" in t
                                     and "100.00" in t)
            assert f"via ssh 127.0.0.1 key {LABEL}" in screen and "terminal office" in screen
            assert "Void the whole ticket" in screen and "T1" in screen      # the request, from till T1
            assert "Open drawers" in screen and "100.00" in screen             # carla's drawer, its float
            office.type("enter")
            office.wait_for("Grant request #")
            office.type("3333", "enter", pyotp.TOTP(totp_enrol.DEMO_SECRET).now(), "enter")
            office.wait_for("granted")

        # the till saw the grant arrive and went on: the ticket is voided
        till.wait_for(lambda t: "Waiting for a manager" not in t and "Pencil" not in t)

    def check(ctx):
        from data.models import Approval, ApprovalRequest, Journal, Ticket
        assert Ticket.select().where(Ticket.status == "voided").count() == 1
        a = Approval.get()
        assert a.used_at is not None and a.origin == f"ssh 127.0.0.1 key {LABEL}" and a.terminal == "T1"
        r = ApprovalRequest.get()
        assert r.status == "granted" and r.origin is None and r.decided_origin == a.origin
        approved = Journal.get(Journal.kind == "override.approved")
        assert approved.terminal == "office" and json.loads(approved.data)["origin"] == a.origin
        login = Journal.select().where((Journal.kind == "login") & (Journal.user_name == "mia")).get()
        assert json.loads(login.data)["origin"] == a.origin
        asked = Journal.get(Journal.kind == "override.requested")
        assert asked.terminal == "T1" and "origin" not in json.loads(asked.data)
    on_store(home, check)


def test_no_shell_no_command_no_forwarding(shop):
    home, sshd = shop

    def ssh(*more, tty=False, command=None, stdin=None):
        return subprocess.run(sshd.ssh_argv(*more, tty=tty, command=command), capture_output=True, text=True,
                              timeout=60, input=stdin)

    for command in (["/bin/sh", "-c", "echo PWNED"], ["bash"], ["station", "user", "list"]):
        p = ssh(command=command)
        assert p.returncode != 0 and "PWNED" not in p.stdout + p.stderr, command
        assert "this account runs the station only; commands are refused" in p.stderr, command
    p = ssh(tty=True, command=["/bin/sh", "-c", "echo PWNED"], stdin="")
    assert p.returncode != 0 and "PWNED" not in p.stdout + p.stderr
    p = ssh(stdin="echo PWNED\n")                                  # a session without a terminal
    assert p.returncode != 0 and "PWNED" not in p.stdout and "needs a terminal" in p.stderr
    p = ssh("-W", "127.0.0.1:22")                                   # stdio forwarding
    assert p.returncode != 0
    p = ssh("-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:22")   # remote port forwarding
    assert p.returncode != 0 and "forwarding failed" in p.stderr
    p = subprocess.run(["sftp", *sshd.client_options(), "-P", str(sshd.port), "-b", "-",
                        f"{sshd.user}@127.0.0.1"], input="ls /\n", capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    log = (home / "station.log").read_text()
    assert "command refused: '/bin/sh -c echo PWNED'" in log and f"ssh 127.0.0.1 key {LABEL}" in log
    # and the manager reads it from the SSH session (dashboard F7)
    with ssh_terminal(sshd) as office:
        office.wait_for("Type your user name")
        office.type("mia", "enter", "3333", "enter")
        office.wait_for("F7 Log")
        office.type("f7")
        office.wait_for(lambda t: "command refused: '/bin/sh -c echo PWNED'" in " ".join(t.split()))


def test_plain_xterm_over_ssh_and_a_linux_console(shop):
    home, sshd = shop
    with ssh_terminal(sshd, term="xterm") as office:           # no COLORTERM over ssh, plain xterm
        office.wait_for("Type your user name")
        assert colours(office) <= NAMED_COLOURS, colours(office) - NAMED_COLOURS
    with Terminal.start(home, env={"TERM": "linux"}) as console:
        console.wait_for("Type your user name")
        assert colours(console) <= NAMED_COLOURS, colours(console) - NAMED_COLOURS
        console.type("carla", "enter", "1111", "enter")
        console.wait_for("Sale")
        console.write(b"\x1b[[A")                              # F1 as the Linux console sends it
        console.wait_for("Help")
        console.write(b"\x1b[[A")
        console.wait_for(lambda t: "Help" not in t.splitlines()[0] and "Sale" in t)
        console.write(b"\x1b[[B")                              # F2: the sale screen
        console.wait_for(lambda t: "Total" in t or "TOTAL" in t)
