"""A throwaway OpenSSH server for tests: its own host key, its own config built
from the shipped recipe (``deploy/ssh/station.conf``), a free port on
127.0.0.1, the test's own user key, and the station as ForceCommand.

    with Sshd.start(tmp_path, force_command="...", key_label="mia-laptop") as sshd:
        argv = sshd.ssh_argv(tty=True)          # ssh -tt ... user@127.0.0.1 -p PORT

Without ``sshd`` on this machine the test skips with the reason, except under
CI=true, where it fails (``.ci/run`` installs openssh-server).
"""
from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "deploy" / "ssh" / "station.conf"
SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


def need_sshd() -> None:
    missing = [n for n, p in (("sshd", SSHD), ("ssh", shutil.which("ssh")), ("ssh-keygen", shutil.which("ssh-keygen")))
               if not p]
    if missing:
        reason = f"OpenSSH is not installed ({', '.join(missing)} missing): apt-get install openssh-server"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def recipe_match_block(user: str, force_command: str) -> str:
    """The Match block of the shipped recipe, for ``user`` and this checkout's station."""
    text = RECIPE.read_text()
    block = text[text.index("Match User store"):]
    block = block.replace("Match User store", f"Match User {user}")
    return re.sub(r"ForceCommand .*", f"ForceCommand {force_command}", block)


def recipe_globals() -> list[str]:
    """The recipe's global lines (before its Match block), comments dropped."""
    text = RECIPE.read_text()
    head = text[:text.index("Match User store")]
    return [line for line in head.splitlines() if line.strip() and not line.lstrip().startswith("#")]


class Sshd:
    def __init__(self, folder: Path, force_command: str, key_label: str | None, extra: str = ""):
        need_sshd()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        self.user = getpass.getuser()
        self.port = free_port()
        self.host_key = folder / "host_ed25519"
        self.user_key = folder / "user_ed25519"
        for key in (self.host_key, self.user_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        options = "restrict,pty" + (f',environment="STATION_SSH_KEY={key_label}"' if key_label else "")
        auth = folder / "authorized_keys"
        auth.write_text(f"{options} {self.user_key.with_suffix('.pub').read_text().strip()}\n")
        os.chmod(auth, 0o600)
        self.log = folder / "sshd.log"
        self.config = folder / "sshd_config"
        lines = [
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {auth}", "UsePAM no", "StrictModes no",
            "PermitRootLogin prohibit-password", "PubkeyAuthentication yes", "LogLevel VERBOSE",
            *recipe_globals(), extra, recipe_match_block(self.user, force_command),
        ]
        self.config.write_text("\n".join(lines) + "\n")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)   # privilege separation directory
        check = subprocess.run([SSHD, "-t", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise AssertionError(f"sshd refuses the config: {check.stderr.strip()}\n{self.config.read_text()}")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)],
                                     stdout=open(self.log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"sshd did not start: {self.log.read_text()}")
                time.sleep(0.05)

    @classmethod
    def start(cls, folder: Path, *, force_command: str, key_label: str | None = None, extra: str = "") -> "Sshd":
        return cls(folder, force_command, key_label, extra)

    def client_options(self) -> list[str]:
        return ["-F", "/dev/null", "-i", str(self.user_key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", f"UserKnownHostsFile={self.folder / 'known_hosts'}",
                "-o", "LogLevel=ERROR"]

    def ssh_argv(self, *more: str, tty: bool = True, command: list[str] | None = None) -> list[str]:
        """``ssh`` to the station account: a terminal (-tt) or none (-T), extra
        options, and a command asked for (which the server must refuse)."""
        return ["ssh", *self.client_options(), "-p", str(self.port), *(["-tt"] if tty else ["-T"]), *more,
                f"{self.user}@127.0.0.1", *(command or [])]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def __enter__(self) -> "Sshd":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
