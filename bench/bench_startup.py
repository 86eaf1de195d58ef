"""Start to PIN prompt: a fresh process running ``station``'s path (config,
open the store, check the schema, key file, import the shell, mount the login
screen with the PIN field) vs a bare Textual app with the same widgets (Header,
two Labels, two Inputs, Statics, Footer) in a fresh process. Headless, so the
terminal is not part of the figure. Also checks python-escpos is not imported
at start (it costs ~250 ms and calls logging.basicConfig).

BENCH_STARTUP_RUNS (default 7) runs each; the median is printed.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", "7"))

OURS = r'''
import sys, time
t0 = float(sys.argv[1])
from station.cli import build_parser
from station.cli import core as cli_core
args = build_parser().parse_args(["--db", sys.argv[2]])
from screens.main import make_app
app = make_app(cli_core.build_context(args))
cls = type(app)

def probe():
    try:
        app.screen.query_one("#login-pin")
    except Exception:
        return
    print(f"ready {time.time() - t0:.4f} escpos={'escpos' in sys.modules}", flush=True)
    app.exit()

orig = cls.on_mount
def on_mount(self):
    orig(self)
    self.set_interval(0.002, probe)
cls.on_mount = on_mount
app.run(headless=True, size=(80, 24))
'''

BARE = r'''
import sys, time
t0 = float(sys.argv[1])
from textual.app import App
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Static

class Login(Screen):
    def compose(self):
        yield Header(show_clock=True)
        with Vertical():
            yield Static("Store")
            yield Static("terminal T1")
            yield Label("User")
            yield Input(placeholder="user name", id="login-name")
            yield Label("PIN")
            yield Input(placeholder="PIN", password=True, id="login-pin")
            yield Static("Type your user name, Enter, your PIN, Enter.")
        yield Footer()

class Bare(App):
    def on_mount(self):
        self.push_screen(Login())
        self.set_interval(0.002, self.probe)
    def probe(self):
        try:
            self.screen.query_one("#login-pin")
        except Exception:
            return
        print(f"ready {time.time() - t0:.4f} escpos={'escpos' in sys.modules}", flush=True)
        self.exit()

Bare().run(headless=True, size=(80, 24))
'''


def once(script: str, *args: str, env: dict) -> tuple[float, str]:
    t0 = time.time()
    r = subprocess.run([sys.executable, "-c", script, repr(t0), *args], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=120)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("ready")), None)
    if line is None:
        raise RuntimeError(f"no ready line: {r.stdout[-500:]} {r.stderr[-2000:]}")
    _, secs, escpos = line.split()
    return float(secs), escpos


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    try:
        env = dict(os.environ, STATION_HOME=str(tmp), PYTHONPATH=str(ROOT))
        env.pop("STATION_DB", None)
        url = f"sqlite:///{tmp / 'store.db'}"
        subprocess.run([sys.executable, "-m", "station.cli", "--db", url, "db", "upgrade"], env=env, cwd=ROOT,
                       check=True, capture_output=True)
        once(OURS, url, env=env)   # warm the file cache and .pyc files
        once(BARE, env=env)
        ours, bare, flags = [], [], set()
        for _ in range(RUNS):
            s, e = once(OURS, url, env=env)
            ours.append(s)
            flags.add(e)
            bare.append(once(BARE, env=env)[0])
        print(f"start to PIN prompt (headless, {RUNS} runs): station median {statistics.median(ours) * 1e3:.0f} ms "
              f"(min {min(ours) * 1e3:.0f})   | bare Textual app with the same widgets median "
              f"{statistics.median(bare) * 1e3:.0f} ms (min {min(bare) * 1e3:.0f})   | difference "
              f"{(statistics.median(ours) - statistics.median(bare)) * 1e3:.0f} ms")
        print(f"python-escpos imported at start: {'yes' if 'escpos=True' in flags else 'no'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
