"""Run every benchmark: `python -m bench` (full sizes) or `python -m bench --quick` (tiny, for CI).

Each `bench/bench_*.py` module has `main(quick: bool) -> None`; `python -m bench NAME...` runs only those
(e.g. `python -m bench sql_append`). Benchmarks print ratios against a baseline measured in the same run;
they never assert speed.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("names", nargs="*", help="run only these benchmarks (bench_<name>.py)")
    args = parser.parse_args()
    found = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    chosen = args.names or found
    unknown = sorted(set(chosen) - set(found))
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; available: {found}")
    for name in chosen:
        started = time.perf_counter()
        print(f"\n=== bench_{name} {'(quick)' if args.quick else ''}", flush=True)
        importlib.import_module(f"bench.bench_{name}").main(args.quick)
        print(f"=== bench_{name} done in {time.perf_counter() - started:.1f}s", flush=True)


if __name__ == "__main__":
    main()
