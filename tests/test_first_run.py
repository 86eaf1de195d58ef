"""The README's first command on a fresh clone: ``./dev demo`` says what it is
doing (creating the environment, installing with pip, package by package,
building the demo store) and ends at the login's PIN prompt.

Run on a real pty (pyte); ``script`` keeps the transcript of everything written
to the terminal before the app took the screen. pip's cache is the machine's,
so a warm cache makes this about a minute."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.terminal import ROOT, Terminal

pytestmark = pytest.mark.slow

STEPS = [
    "station: first run: creating the environment in .venv",
    "station: installing Station and its dependencies with pip",
    "  collecting textual==8.2.8",
    "packages installed",
    "station: environment ready",
    "station: building the demo store in",
    "station: demo store ready: cashier 1111",
]


def test_first_run_of_dev_demo_in_a_fresh_clone(tmp_path):
    if shutil.which("script") is None:
        pytest.skip("util-linux 'script' is not installed")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    transcript = tmp_path / "transcript"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STATION_", "TEXTUAL", "COLORTERM", "VIRTUAL_ENV", "PYTHON"))}
    env.update({"STATION_HOME": str(tmp_path / "home"), "TERM": "xterm-256color", "LANG": "C.UTF-8",
                "PATH": os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)})
    with Terminal(["script", "-qfec", f"cd {clone} && exec ./dev demo", str(transcript)], env) as term:
        screen = term.wait_for(lambda t: "Type your user name" in t and "PIN" in t, timeout=900)
        assert "Station Demo Grocery" in screen
        text = transcript.read_text(errors="replace")
    at = [text.find(step) for step in STEPS]
    assert all(i >= 0 for i in at), [s for s, i in zip(STEPS, at) if i < 0]
    assert at == sorted(at), "the steps are shown in the order they happen"
    assert (clone / ".venv" / "bin" / "station").exists()
