"""`buttonrig`: the one console entry point.

Each command group lives in its own module under `rig.commands` and adds itself to the parser
with `register(subparsers)`; a handler gets the parsed arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

from rig import commands
from rig.commands.errors import CommandError
from rig.home import rig_home


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buttonrig", description="Firmware, host tools and test rig for ESP32 Wi-Fi buttons."
    )
    parser.add_argument(
        "--home",
        default=None,
        help="rig state directory (default: $BUTTONRIG_HOME or ./.buttonrig)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in commands.HELPER_MODULES:
            continue  # shared helpers of the command modules, not command groups
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(subparsers)
    return parser


def _home(explicit: str | None) -> Path:
    try:
        return rig_home(explicit)
    except OSError as exc:  # e.g. under /proc, or a parent that is a file or read-only
        raise CommandError(
            f"cannot use {explicit or 'the rig home'} as the rig home: {exc}"
        ) from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.home = _home(args.home)
        return int(args.handler(args) or 0)
    except CommandError as exc:
        print(f"buttonrig: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
