"""A till that boots into the station: ``station --kiosk`` on a real pty shrugs
off Ctrl+C, Ctrl+Z, Ctrl+\\ (as keys and as signals) and never quits to a shell
(quitting logs out); the shipped systemd unit passes ``systemd-analyze verify``
and the getty login shell is valid shell."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.terminal import Terminal, make_till

ROOT = Path(__file__).resolve().parent.parent
KIOSK = ROOT / "deploy" / "kiosk"


@pytest.mark.slow
def test_kiosk_till_cannot_be_stopped_or_quit(tmp_path):
    home = tmp_path / "home"
    make_till(home)
    with Terminal.start(home, "--kiosk") as till:
        till.wait_for("Type your user name")
        for sig in (signal.SIGINT, signal.SIGTSTP, signal.SIGQUIT, signal.SIGTTIN, signal.SIGTTOU):
            os.kill(till.proc.pid, sig)
        till.write(b"\x03\x1a\x1c")                    # Ctrl+C, Ctrl+Z, Ctrl+\ typed on the console
        till.type("ctrl+q")                            # quit: refused at the login
        till.wait_for("does not quit")
        assert till.proc.poll() is None
        till.type("carla", "enter", "1111", "enter")   # still answering
        till.wait_for("Sale")
        till.type("f10")                               # quit from home: logs out, no shell
        till.wait_for("Type your user name")
        assert till.proc.poll() is None
        till.proc.terminate()                          # the machine shutting down (SIGTERM) ends it
        till.proc.wait(20)


def test_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    unit = (KIOSK / "station-kiosk@.service").read_text()
    assert "ExecStart=/opt/station/bin/station --kiosk" in unit and "Restart=always" in unit
    # the unit as shipped, with this checkout's station where it would be installed
    (tmp_path / "station-kiosk@.service").write_text(
        unit.replace("/opt/station/bin/station", str(Path(sys.executable).with_name("station"))))
    p = subprocess.run([analyze, "verify", str(tmp_path / "station-kiosk@tty1.service")],
                       capture_output=True, text=True, cwd=tmp_path)
    if "Failed to" in p.stderr and "bus" in p.stderr.lower():
        pytest.skip(f"systemd-analyze cannot run here: {p.stderr.strip()}")
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr


def test_getty_login_shell_is_valid_and_traps_the_keys():
    script = (KIOSK / "station-kiosk.sh").read_text()
    assert subprocess.run(["sh", "-n", str(KIOSK / "station-kiosk.sh")]).returncode == 0
    assert "trap '' INT QUIT TSTP" in script and "--kiosk" in script
    assert os.access(KIOSK / "station-kiosk.sh", os.X_OK)
    conf = (KIOSK / "getty-autologin.conf").read_text()
    assert "--autologin till" in conf
