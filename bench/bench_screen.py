"""Scan -> line on screen, beside a bare Textual app, at a large catalog.

The store (N products, one EAN-13 each, names "I0001234 Fresh Milk ...") is
made by ``station.catalog.import_records`` once and cached in bench/out/ (keyed
by the schema and catalog code). N = 1,000,000 with STATION_BENCH_FULL=1, else
100,000 (STATION_BENCH_SCREEN_PRODUCTS=N for any size).

1. Through the pilot (headless, 80x24): the real sale screen, the code's keys
   posted as raw key events, the clock from the Enter to the first frame whose
   output (rendered to terminal sequences, as a terminal would get them)
   contains the new line; baskets of 25 lines, parked between (not timed). The
   raw limit: a bare Textual app (the same scan field and line widget, frames
   drawn as the sale screen draws them: screens/frames.py) appending one line on
   Enter, measured the same way; the same bare app with Textual's own frame
   timer is printed beside it.
2. Through a pty (80x24), each app in its own process: the code and CR written
   as one burst (a scanner), the clock to the moment the line's text is read
   back from the terminal. One ticket of LONG distinct lines: p50/p99 over all,
   and the scans of the last 50 lines vs the first 50 (a scan's cost must not
   grow with the ticket). The bare app looks the code up with bare sqlite3.
3. RSS of the station process (peak, VmHWM) after those scans and 50 searches
   of 3-4 words (F2), beside the bare app's.
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import pty
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from bench.common import FULL, OUT, ROOT, config, p50, p99, size, target

NAME = "screen"
N = size(1_000_000, 100_000, "STATION_BENCH_SCREEN_PRODUCTS")
PILOT_SCANS = size(300, 150)
LONG = size(600, 600)
SEARCHES = 50
BASKET = 25
WORDS = ("fresh whole organic milk bread rye sourdough cheese gouda apple juice orange tomato pasta penne "
         "rice basmati coffee beans tea green black chocolate dark crisps salted butter yoghurt greek oat "
         "drink water sparkling still beer wine red white soap shampoo paper kitchen roll").split()
SIZES = ("100 g", "250 g", "500 g", "1 kg", "1 l", "0.5 l", "6 pcs")
QUERIES = ["fresh milk 1 l", "dark chocolate 100 g", "green tea bags", "sourdough rye bread", "red wine 0.5",
           "greek yoghurt oat", "sparkling water 1", "kitchen paper roll", "salted butter 250", "basmati rice 1 kg"]


def ean(i: int) -> str:
    body = f"29{i:010d}"
    total = sum(int(ch) * (3 if k % 2 == 0 else 1) for k, ch in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def token(i: int) -> str:
    return f"I{i:07d}"


def _records(n: int):
    from station import catalog
    rnd = random.Random(11)
    for i in range(n):
        name = " ".join(rnd.choice(WORDS).capitalize() for _ in range(rnd.randint(2, 3)))
        rec = {"sku": f"S{i:07d}", "barcode": ean(i), "name": f"{token(i)} {name} {rnd.choice(SIZES)}",
               "price": f"{rnd.randint(50, 9999) / 100:.2f}", "vat_rate": "19", "category": "", "unit": "pc",
               "active": "1"}
        yield i + 2, tuple(rec.get(c, "") for c in catalog.COLUMNS)


def cached_store(n: int) -> Path:
    """The store of ``n`` products, built once; its key file (the store records
    its key's check value: a till needs the key to open it) is kept beside it
    as ``<store>.key``."""
    key = hashlib.sha1()
    for f in ("data/migrations.py", "data/models.py", "station/catalog.py", "station/keys.py"):
        key.update((ROOT / f).read_bytes())
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"screen_{n}_{key.hexdigest()[:10]}.db"
    if path.exists() and path.with_suffix(".key").exists():
        return path
    from station import auth, catalog
    from station.context import open_station
    tmp = path.with_suffix(".building")
    home = Path(tempfile.mkdtemp(prefix="station-bench-screen-home-"))
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    ctx = open_station(config(home, f"sqlite:///{tmp}"), upgrade=True)
    rep = catalog.import_records(ctx, _records(n))
    assert rep.committed and not rep.errors, rep.errors[:3]
    auth.add_user(ctx, None, "bench", "cashier", "1111")
    ctx.db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    ctx.db.close()
    shutil.copy(ctx.config.key_file, path.with_suffix(".key"))
    shutil.rmtree(home, ignore_errors=True)
    os.replace(tmp, path)
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    print(f"  built a store of {n:,} products in {time.perf_counter() - t0:.0f} s -> {path.name}", flush=True)
    return path


# ------------------------------------------------------------------ pilot ---

class Probe:
    """Mixin for an App: every frame is rendered to terminal sequences (as a real
    terminal driver would) and searched for ``want``; ``seen`` is set then."""

    want: str | None = None
    seen: asyncio.Event | None = None
    seen_at = 0.0

    def _display(self, screen, renderable) -> None:
        from textual._compositor import CompositorUpdate
        if self.want is not None and isinstance(renderable, CompositorUpdate):
            text = renderable.render_segments(self.console)
            if self.want in text:
                self.seen_at = time.perf_counter()
                self.want = None
                self.seen.set()
        super()._display(screen, renderable)


async def _scan_once(app, pilot, code: str, want: str) -> float:
    from textual import events
    for ch in code:
        app.post_message(events.Key(ch, ch))
    await pilot.pause()
    app.seen.clear()
    app.want = want
    t0 = time.perf_counter()
    app.post_message(events.Key("enter", "\r"))
    await asyncio.wait_for(app.seen.wait(), 30)
    return app.seen_at - t0


async def pilot_station(ctx, user, idx: list[int]) -> list[float]:
    from screens.app import StationApp
    from screens.sale import SaleScreen

    class Host(Probe, StationApp):
        def on_mount(self) -> None:
            super().on_mount()             # as the app starts (the login screen first)
            self.call_after_refresh(self._enter)

        def _enter(self) -> None:
            self.login_done(user)
            self.open_area("sale")

    app = Host(ctx)
    app.seen = asyncio.Event()
    out = []
    async with app.run_test(size=(80, 24)) as pilot:
        while not isinstance(app.screen, SaleScreen):
            await asyncio.sleep(0.01)
        screen = app.screen
        while screen.runner.pending:
            await asyncio.sleep(0.01)
        await pilot.pause()
        for k, i in enumerate(idx):
            if k and k % BASKET == 0:
                await pilot.press("f8")
                while screen.runner.pending or screen.view is not None:
                    await asyncio.sleep(0.005)
                await pilot.pause()
            out.append(await _scan_once(app, pilot, ean(i), token(i)))
        await pilot.press("f8")
        while screen.runner.pending:
            await asyncio.sleep(0.005)
    return out


async def pilot_bare(idx: list[int], prompt_frames: bool = True) -> list[float]:
    from bench.screen_children import bare_app

    class App(Probe, bare_app(None, prompt_frames)):
        pass

    app = App()
    app.seen = asyncio.Event()
    out = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for k, i in enumerate(idx):
            # the bare app shows the code itself as the line's text
            out.append(await _scan_once(app, pilot, ean(i), ean(i)))
    return out


# -------------------------------------------------------------------- pty ---

class PtyApp:
    def __init__(self, args: list[str], env: dict):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=str(ROOT),
                                     start_new_session=True)
        os.close(slave)
        self.buf = bytearray()

    def read_until(self, want: bytes, timeout: float = 30.0) -> float:
        """Read the terminal until ``want`` appears; returns the time it was read."""
        end = time.monotonic() + timeout
        while True:
            i = self.buf.find(want)
            if i >= 0:
                del self.buf[:i + len(want)]
                return time.perf_counter()
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError(f"waited for {want!r}: {bytes(self.buf[-800:]).decode(errors='replace')}")
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    data = b""
                self.buf.extend(data)

    def drain(self, quiet: float = 0.15) -> None:
        while True:
            r, _, _ = select.select([self.master], [], [], quiet)
            if not r:
                self.buf.clear()
                return
            try:
                os.read(self.master, 65536)
            except OSError:
                return

    def write(self, data: bytes) -> float:
        t = time.perf_counter()
        os.write(self.master, data)
        return t

    def rss(self) -> tuple[float, float]:
        """(peak, current) resident set in MB."""
        vals = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(("VmHWM", "VmRSS")):
                    k, v = line.split(":")
                    vals[k] = int(v.split()[0]) / 1024
        return vals["VmHWM"], vals["VmRSS"]

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        os.close(self.master)


def _env() -> dict:
    env = dict(os.environ, TERM="xterm-256color", PYTHONPATH=str(ROOT))
    env.pop("TEXTUAL", None)
    return env


def pty_scans(app: PtyApp, idx: list[int], want) -> list[float]:
    out = []
    for i in idx:
        app.drain(0.02)
        t0 = app.write(ean(i).encode() + b"\r")
        t1 = app.read_until(want(i).encode())
        out.append(t1 - t0)
    return out


def pty_searches(app: PtyApp, n: int) -> None:
    for k in range(n):
        app.drain(0.02)
        app.write(b"\x1bOQ")                      # F2: search
        app.read_until(b"Search by name")
        app.drain(0.05)
        app.write(QUERIES[k % len(QUERIES)].encode())
        app.read_until(b"found")
        app.write(b"\x1b")                        # Escape
        app.read_until(b"scan or type", 10)


def main() -> None:
    print(f"bench_screen: scan -> line on screen at {N:,} products; pilot {PILOT_SCANS} scans; pty one ticket of "
          f"{LONG} lines, {SEARCHES} searches" + ("" if FULL else "; STATION_BENCH_FULL=1 for 1,000,000 products"))
    src = cached_store(N)
    work = Path(tempfile.mkdtemp(prefix="station-bench-screen-"))
    try:
        db = work / "store.db"
        shutil.copy(src, db)
        rng = random.Random(7)
        idx = list(dict.fromkeys(rng.randrange(N) for _ in range(PILOT_SCANS + LONG + 50)))
        pilot_idx, long_idx = idx[:PILOT_SCANS], idx[PILOT_SCANS:PILOT_SCANS + LONG]
        url = f"sqlite:///{db}"
        home = work / "home"
        home.mkdir()
        from station import keys
        keys.write(config(home, url).key_file, keys.read(src.with_suffix(".key")))

        from data.models import User
        from station.context import open_station
        ctx = open_station(config(home, url))
        user = User.get(User.name == "bench")
        ours = asyncio.run(pilot_station(ctx, user, pilot_idx))
        ctx.db.close()
        bare = asyncio.run(pilot_bare(pilot_idx))
        plain = asyncio.run(pilot_bare(pilot_idx, prompt_frames=False))
        target(NAME, "scan -> screen, pilot p50", p50(ours), p50(bare), max_ratio=1.5, raw_label="bare")
        target(NAME, "scan -> screen, pilot p99", p99(ours), p99(bare), max_ratio=2, raw_label="bare")
        print(f"  (the bare app with Textual's own frame timer: p50 {p50(plain) * 1000:.2f} ms, "
              f"p99 {p99(plain) * 1000:.2f} ms)")

        env = _env()
        app = PtyApp([sys.executable, "-m", "bench.screen_children", "station", str(home), url], env)
        try:
            app.read_until(b"scan or type", 60)
            app.drain(0.5)
            ours = pty_scans(app, long_idx, token)
            pty_searches(app, SEARCHES)
            peak, rss = app.rss()
        finally:
            app.close()
        bare_app = PtyApp([sys.executable, "-m", "bench.screen_children", "bare", str(db)], env)
        try:
            bare_app.read_until(b"TOTAL", 60)
            bare_app.drain(0.5)
            bare = pty_scans(bare_app, long_idx, lambda i: token(i))
            bpeak, _brss = bare_app.rss()
        finally:
            bare_app.close()
        target(NAME, "scan -> screen, pty p50", p50(ours), p50(bare), max_ratio=1.5, raw_label="bare")
        target(NAME, "scan -> screen, pty p99", p99(ours), p99(bare), max_ratio=2, raw_label="bare")
        target(NAME, f"pty: lines {LONG - 49}-{LONG} vs 1-50 (p50)", p50(ours[-50:]), p50(ours[:50]),
               max_ratio=1.2, raw_label="1-50")
        target(NAME, f"RSS peak, {len(long_idx)} scans + {SEARCHES} searches", peak, bpeak, max_abs=100,
               unit="MB", raw_label="bare")
        print(f"  (station RSS now {rss:.0f} MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
