"""Station installs as a tool: ``pipx install .`` and ``uv tool install .`` from a
fresh clone give a ``station`` command that builds the demo store, reads its
schema version and checks the till (commands that ask for no sign-in).

pipx and uv come from the package index into a scratch environment (their own
homes and bin folders under the test's tmp dir: nothing lands in the user's)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.terminal import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("tool", ["pipx", "uv"])
def test_install_as_a_tool(tool, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    tools = tmp_path / "tools"
    subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True)
    p = subprocess.run([str(tools / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", tool],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"{tool} cannot be installed from the package index here: {p.stderr.strip()[-300:]}")
    bin_dir = tmp_path / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STATION_", "VIRTUAL_ENV"))}
    env.update({"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(bin_dir),
                "UV_TOOL_DIR": str(tmp_path / "uvtools"), "UV_TOOL_BIN_DIR": str(bin_dir),
                "STATION_HOME": str(tmp_path / "home")})
    cmd = [str(tools / "bin" / "pipx"), "install", str(clone)] if tool == "pipx" else \
        [str(tools / "bin" / "uv"), "tool", "install", str(clone)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    station = bin_dir / "station"
    assert station.exists()
    p = subprocess.run([str(station), "demo"], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0 and "demo store created" in p.stdout, p.stdout + p.stderr
    p = subprocess.run([str(station), "--demo", "db", "version"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert p.returncode == 0 and "this station's schema version" in p.stdout, p.stdout + p.stderr
    # the installed tool carries its styles (package data), not only code
    p = subprocess.run([str(station), "--demo", "doctor"], capture_output=True, text=True, env=env, timeout=300)
    assert "OK    schema" in p.stdout, p.stdout
    site = next((tmp_path / ("pipx" if tool == "pipx" else "uvtools")).rglob("screens/app.tcss"), None)
    assert site is not None, "screens/app.tcss is installed with the package"
