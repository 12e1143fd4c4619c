"""`make benchmark`: run every benchmark module and write build/benchmark.json.

A module that fails is reported and its metrics are left out; the run still writes what it has,
and exits non-zero so a broken benchmark cannot pass unnoticed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from host.paths import BUILD_ROOT
from rig import benchmarks


@dataclass
class BenchContext:
    """What a benchmark module gets: a scratch directory and whether a quick run was asked for."""

    workdir: Path
    quick: bool


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rig.benchmarks")
    parser.add_argument("--out", default=str(BUILD_ROOT / "benchmark.json"))
    parser.add_argument("--only", action="append", help="run only these modules")
    parser.add_argument("--quick", action="store_true", help="smaller sample sizes")
    args = parser.parse_args(argv)

    results: dict[str, int | float] = {}
    failed: list[str] = []
    # `__main__` (this harness) and any `_helper` module are not benchmarks
    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_")
    )
    for name in names:
        if args.only and name not in args.only:
            continue
        module = importlib.import_module(f"{benchmarks.__name__}.{name}")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            try:
                metrics = module.run(BenchContext(workdir=Path(tmp), quick=args.quick))
            except Exception:
                traceback.print_exc()
                failed.append(name)
                continue
        print(f"[{name}] {time.monotonic() - started:.1f} s: {json.dumps(metrics)}", flush=True)
        results.update(metrics)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() and args.only else {}
    previous.update(results)
    out.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")
    if failed:
        print(f"benchmark modules failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
