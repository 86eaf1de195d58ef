"""Where this station process runs: at the till itself, or in a manager's SSH
session (``SSH_CONNECTION``), and the kiosk mode of a till that boots into the
station.

``origin(environ)`` is what the journal and approvals record about the client:
``"ssh 203.0.113.5"`` (with the key's label when the ``authorized_keys`` line sets
``STATION_SSH_KEY``, e.g. ``"ssh 203.0.113.5 key anna"``), or None at the till.
"""
from __future__ import annotations

import ipaddress
import os
import re
import signal

_LABEL = re.compile(r"^[A-Za-z0-9._@-]{1,48}$")


def ssh_client(environ=None) -> str | None:
    """The SSH client's address, or None when not over SSH (or the variable is garbled)."""
    env = os.environ if environ is None else environ
    parts = (env.get("SSH_CONNECTION") or "").split()
    if len(parts) != 4:
        return None
    try:
        return str(ipaddress.ip_address(parts[0]))
    except ValueError:
        return None


def origin(environ=None) -> str | None:
    env = os.environ if environ is None else environ
    client = ssh_client(env)
    if client is None:
        return None
    label = (env.get("STATION_SSH_KEY") or "").strip()
    return f"ssh {client} key {label}" if _LABEL.match(label) else f"ssh {client}"


def original_command(environ=None) -> str | None:
    """The command an SSH client asked for (``ssh host CMD``) when ForceCommand
    runs the station instead; None for a plain interactive login."""
    env = os.environ if environ is None else environ
    cmd = env.get("SSH_ORIGINAL_COMMAND")
    return cmd if cmd and cmd.strip() else None


#: signals a till in kiosk mode ignores: Ctrl+C, Ctrl+Z (and its tty variants), Ctrl+\
KIOSK_IGNORED = (signal.SIGINT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGQUIT)


def enter_kiosk() -> None:
    """A till's console must never drop to a shell: the keys that would stop or
    suspend the process do nothing (the app itself takes Ctrl+C, Ctrl+Z as keys
    in raw mode; this covers the moments before and after it holds the terminal)."""
    for sig in KIOSK_IGNORED:
        signal.signal(sig, signal.SIG_IGN)
