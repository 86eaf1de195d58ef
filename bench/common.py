"""What every benchmark shares: sizes, percentiles, and the target lines.

``STATION_BENCH_FULL=1`` runs every benchmark at its full size (the sizes the
targets in ARCHITECTURE.md speak of); the default is a quick run.

:func:`target` prints one figure beside its raw limit (measured in the same
run), the ratio, and whether the target holds; ``python -m bench`` repeats
every target line in a table at the end.
"""
from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FULL = os.environ.get("STATION_BENCH_FULL") == "1"
PG_ADMIN = os.environ.get("STATION_BENCH_PG") or os.environ.get(
    "STATION_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: (benchmark, figure, ours, raw, ratio, target text, met) of this process
RESULTS: list[tuple] = []


def loadavg() -> str:
    """The machine's load average now, for a benchmark's header line."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def size(full: int, quick: int, env: str | None = None) -> int:
    """``full`` under STATION_BENCH_FULL=1, else ``quick``; ``env`` overrides both."""
    if env and os.environ.get(env):
        return int(os.environ[env])
    return full if FULL else quick


def pct(xs, p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def p50(xs) -> float:
    return statistics.median(xs)


def p99(xs) -> float:
    return pct(xs, 99)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def pair(xs) -> str:
    return f"p50 {p50(xs) * 1000:7.2f} ms  p99 {p99(xs) * 1000:7.2f} ms"


def _fmt(v: float, unit: str) -> str:
    if unit == "ms":
        return f"{v * 1000:.2f} ms"
    if unit == "s":
        return f"{v:.2f} s"
    if unit == "MB":
        return f"{v:.0f} MB"
    return f"{v:.1f} {unit}"


def target(bench: str, figure: str, ours: float, raw: float | None, *, max_ratio: float | None = None,
           min_ratio: float | None = None, max_abs: float | None = None, min_abs: float | None = None,
           unit: str = "ms", raw_label: str = "raw") -> bool:
    """Print ``figure``: ours beside the raw limit, the ratio, the target, met or not.

    Ratios are ours / raw. ``max_ratio``/``min_ratio`` bound the ratio,
    ``max_abs``/``min_abs`` the figure itself (in ``unit``: seconds for ms/s)."""
    ratio = (ours / raw) if raw else None
    checks, texts = [], []
    if max_ratio is not None:
        checks.append(ratio is not None and ratio <= max_ratio)
        texts.append(f"<= {max_ratio:g}x")
    if min_ratio is not None:
        checks.append(ratio is not None and ratio >= min_ratio)
        texts.append(f">= {min_ratio:g}x")
    if max_abs is not None:
        checks.append(ours < max_abs)
        texts.append(f"< {_fmt(max_abs, unit)}")
    if min_abs is not None:
        checks.append(ours >= min_abs)
        texts.append(f">= {_fmt(min_abs, unit)}")
    met = all(checks) if checks else None
    ratio_s = f"{ratio:6.2f}x" if ratio is not None else "      -"
    raw_s = _fmt(raw, unit) if raw is not None else "-"
    verdict = "" if met is None else ("met" if met else "NOT MET")
    print(f"  {figure:52s} {_fmt(ours, unit):>11s} | {raw_label} {raw_s:>11s} | {ratio_s} | "
          f"target {' and '.join(texts) or '-':14s} {verdict}", flush=True)
    RESULTS.append((bench, figure, _fmt(ours, unit), raw_s, ratio_s.strip(), " and ".join(texts) or "-", verdict))
    return bool(met)


def summary() -> None:
    if not RESULTS:
        return
    print("\n=== targets (each figure beside its raw limit, same run) ===")
    print(f"{'benchmark':14s} {'figure':46s} {'ours':>11s} {'raw':>11s} {'ratio':>8s}  target")
    for bench, figure, ours, raw, ratio, text, verdict in RESULTS:
        print(f"{bench:14s} {figure:52s} {ours:>11s} {raw:>11s} {ratio:>8s}  {text} {verdict}")
    print(f"{loadavg()} at the end")


# ------------------------------------------------------------- PostgreSQL ---

def _pg_admin():
    import psycopg2
    p = urlparse(PG_ADMIN)
    c = psycopg2.connect(host=p.hostname, port=p.port or 5432, user=p.username or "postgres",
                         dbname=p.path.lstrip("/") or "postgres", connect_timeout=3)
    c.autocommit = True
    return c, p


def pg_create(prefix: str = "station_b_") -> str | None:
    """A fresh PostgreSQL database (its URL), or None (and a line) when unreachable."""
    import uuid
    try:
        c, p = _pg_admin()
    except Exception as e:  # noqa: BLE001
        print(f"  (PostgreSQL skipped: {str(e).strip().splitlines()[0]})")
        return None
    name = prefix + uuid.uuid4().hex[:10]
    with c.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    c.close()
    return f"postgresql://{p.username or 'postgres'}@{p.hostname}:{p.port or 5432}/{name}"


def pg_drop(url: str) -> None:
    c, _ = _pg_admin()
    with c.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    c.close()


def pg_connect(url: str):
    import psycopg2
    p = urlparse(url)
    return psycopg2.connect(host=p.hostname, port=p.port or 5432, user=p.username or "postgres",
                            dbname=p.path.lstrip("/"))


def config(home: Path, url: str, terminal: str = "T1", **overrides):
    from station import config as configmod
    return configmod.load(env={"STATION_HOME": str(home)}, overrides={
        "database.url": url, "security.scrypt_n": 2 ** 10, "terminal.id": terminal,
        "drawer.kick": "none", **overrides})
