"""`make benchmark`: run every benchmark module and write build/benchmark.json.

Each module declares the figures it produces (`METRICS`) and returns them from `run(ctx)`. A
module that fails is reported and its figures are left out; the run still writes what it has,
and exits non-zero so a broken benchmark cannot pass unnoticed. With `--only`, the previous file
keeps only the figures declared by modules that were not run (and import): those of the modules
that ran are replaced as a whole, so a failed module's old figures are removed, never left
standing as if measured now, and so are figures no module declares any more (renamed ones).
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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from host.paths import BUILD_ROOT
from rig import benchmarks

Figures = dict[str, int | float]


@dataclass
class BenchContext:
    """What a benchmark module gets: a scratch directory and whether a quick run was asked for."""

    workdir: Path
    quick: bool


def declared(module: ModuleType) -> tuple[str, ...]:
    """The figures `module` says it produces (its `METRICS`)."""
    names = getattr(module, "METRICS", None)
    if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{module.__name__} declares no METRICS tuple of figure names")
    return names


def merged(previous: Figures, fresh: Figures, kept: Iterable[str]) -> Figures:
    """The `previous` figures named in `kept` (declared by modules that did not run now), then
    the `fresh` ones: nothing else from an earlier run survives."""
    keep = set(kept)
    out = {name: value for name, value in previous.items() if name in keep}
    out.update(fresh)
    return out


def run_module(module: ModuleType, quick: bool) -> Figures:
    """The module's figures; a figure it did not declare is an error (the declarations are what
    keeps stale figures out of the file)."""
    names = declared(module)
    with tempfile.TemporaryDirectory(prefix=f"bench-{module.__name__.rsplit('.', 1)[-1]}-") as tmp:
        metrics = module.run(BenchContext(workdir=Path(tmp), quick=quick))
    undeclared = sorted(set(metrics) - set(names))
    if undeclared:
        raise ValueError(f"{module.__name__} returned undeclared figures {undeclared}")
    return metrics


def main(argv: list[str] | None = None, package: ModuleType = benchmarks) -> int:
    parser = argparse.ArgumentParser(prog="python -m rig.benchmarks")
    parser.add_argument("--out", default=str(BUILD_ROOT / "benchmark.json"))
    parser.add_argument("--only", action="append", help="run only these modules")
    parser.add_argument("--quick", action="store_true", help="smaller sample sizes")
    args = parser.parse_args(argv)

    results: Figures = {}
    kept: list[str] = []  # figures of the modules not run now, kept from the previous file
    failed: list[str] = []
    # `__main__` (this harness) and any `_helper` module are not benchmarks
    names = sorted(
        m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")
    )
    for name in names:
        selected = not args.only or name in args.only
        started = time.monotonic()
        try:
            module = importlib.import_module(f"{package.__name__}.{name}")
            if not selected:
                kept.extend(declared(module))
                continue
            metrics = run_module(module, args.quick)
        except Exception:
            traceback.print_exc()
            if selected:
                failed.append(name)
            continue
        print(f"[{name}] {time.monotonic() - started:.1f} s: {json.dumps(metrics)}", flush=True)
        results.update(metrics)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() and args.only else {}
    out.write_text(json.dumps(merged(previous, results, kept), indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")
    if failed:
        print(f"benchmark modules failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
