"""`buttonrig jobs bundle`: make an OTA bundle for a job from a firmware build.

Packs the firmware (a build directory of `.mpy` files, the `firmware/` sources, or with
`--board` the exact files `buttonrig board deploy` would write) into `<home>/files/firmware-<V>.tar`,
which `cloud up` serves over HTTPS, and prints the job document for it (docs/contracts.md "OTA
job document"), also written beside it as `firmware-<V>.json` for `iot create-job
--document-source`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from rig.commands.errors import CommandError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("jobs", help="helpers for AWS IoT jobs (OTA bundles)")
    commands = parser.add_subparsers(dest="jobs_command", metavar="COMMAND", required=True)
    bundle = commands.add_parser(
        "bundle",
        help="pack a firmware build into <home>/files/ and print its OTA job document",
        description=__doc__,
    )
    bundle.add_argument(
        "directory",
        type=Path,
        help="a build (.mpy files) or the firmware sources (firmware/)",
    )
    bundle.add_argument(
        "--version",
        help="the firmware version (default: FW_VERSION of the directory's identity.py)",
    )
    bundle.add_argument(
        "--board",
        help="compile DIRECTORY's sources for this board as deploy does (main.py, .mpy"
        " modules, the board's profile as board.mpy)",
    )
    bundle.set_defaults(handler=make_bundle)


def make_bundle(args: argparse.Namespace) -> int:
    from rig.cloud.files.bundle import BundleError, directory_files, source_version, write_bundle

    directory: Path = args.directory
    version = args.version or source_version(directory)
    if version is None:
        raise CommandError(f"{directory} has no identity.py with FW_VERSION: give --version")
    try:
        files = _board_files(directory, args.board) if args.board else directory_files(directory)
        bundle = write_bundle(args.home, files, version)
    except BundleError as exc:
        raise CommandError(str(exc)) from exc
    except (OSError, ValueError) as exc:  # an unreadable file, a path with a NUL
        raise CommandError(f"cannot bundle {directory}: {exc}") from exc
    document = json.loads(bundle.path.with_suffix(".json").read_text())
    print(json.dumps(document, indent=4))
    return 0


def _board_files(directory: Path, board: str) -> list[tuple[str, bytes]]:
    from host.deploy import DeployError, build_firmware

    with tempfile.TemporaryDirectory(prefix="bundle-build-") as out:
        try:
            built = build_firmware(board, firmware_dir=directory, out_dir=Path(out))
        except DeployError as exc:
            raise CommandError(str(exc)) from exc
    return [(file.name, file.data) for file in built]
