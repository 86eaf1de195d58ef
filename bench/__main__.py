"""``python -m bench [NAME ...]`` (``./dev bench``): run every bench/bench_*.py (each
has ``main()``), or the named ones, then repeat every target line in one table.
Quick by default; ``STATION_BENCH_FULL=1`` for the full sizes."""
from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    names = available()
    wanted = argv or names
    unknown = [w for w in wanted if (w if w.startswith("bench_") else f"bench_{w}") not in names]
    if unknown:
        print(f"bench: unknown benchmark(s) {', '.join(unknown)}; available: "
              f"{', '.join(n[6:] for n in names)}", file=sys.stderr)
        return 2
    from bench.common import loadavg, summary
    failed = 0
    for w in wanted:
        name = w if w.startswith("bench_") else f"bench_{w}"
        print(f"=== {name} ({loadavg()}) ===", flush=True)
        t0 = time.perf_counter()
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception:  # noqa: BLE001 - one failing benchmark does not stop the others
            traceback.print_exc()
            failed += 1
        print(f"=== {name}: {time.perf_counter() - t0:.1f} s ({loadavg()}) ===\n", flush=True)
    summary()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
