"""`buttonrig board list|flash|deploy|provision|monitor|serve-emulated`: physical buttons.

Every command that talks to a board takes `--port`: a device path (/dev/ttyUSB0) or a pyserial
URL (rfc2217://host:port, socket://host:port); without it, the one ESP32 USB bridge plugged in.
"""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
import threading
from pathlib import Path

from host import deploy as host_deploy
from host import flash as host_flash
from host import monitor as host_monitor
from host import package as host_package
from host import provision as host_provision
from host.paths import BUILD_ROOT
from host.ports import find_board_ports, list_serial_ports
from host.transport import TransportError, open_transport
from rig.commands.errors import CommandError

DEFAULT_PROFILE = "esp32-devkitc"
PASSWORD_ENV = "BUTTONRIG_WIFI_PASSWORD"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "board", help="physical buttons: list, flash, deploy, provision…"
    )
    commands = parser.add_subparsers(dest="board_command", metavar="ACTION", required=True)

    listing = commands.add_parser("list", help="serial ports; ESP32 USB bridges first")
    listing.add_argument("--all", action="store_true", help="also ports that are no ESP32 bridge")
    listing.set_defaults(handler=list_ports)

    flash = commands.add_parser("flash", help="write a MicroPython image with esptool")
    _port_option(flash, baud=host_flash.DEFAULT_BAUD)
    flash.add_argument("--image", required=True, type=Path, help="MicroPython firmware.bin")
    flash.add_argument("--chip", default="auto", help="esp32, esp32s3… (default: from the image)")
    flash.add_argument("--no-erase", action="store_true", help="keep the rest of the flash")
    flash.add_argument("--dry-run", action="store_true", help="print the esptool steps only")
    flash.set_defaults(handler=flash_image)

    deploy = commands.add_parser("deploy", help="copy the firmware (.mpy) to a board")
    _port_option(deploy)
    deploy.add_argument("--profile", default=DEFAULT_PROFILE, help="board profile under boards/")
    deploy.add_argument("--no-restart", action="store_true", help="stay at the REPL afterwards")
    deploy.set_defaults(handler=deploy_firmware)

    package = commands.add_parser(
        "package", help="a mip package (package.json) and a freeze manifest of the firmware"
    )
    package.add_argument("--profile", default=DEFAULT_PROFILE, help="board profile under boards/")
    package.add_argument("--out", type=Path, default=None, help="default: build/mip/<profile>")
    package.set_defaults(handler=package_firmware)

    provision = commands.add_parser(
        "provision",
        help="certificate, key, CA, Wi-Fi, endpoint and label",
        description=f"The Wi-Fi password comes from ${PASSWORD_ENV} or a prompt, "
        "never from the command line.",
    )
    _port_option(provision)
    source = provision.add_mutually_exclusive_group()
    source.add_argument(
        "--thing", help="get a new identity for this thing from the reference cloud"
    )
    source.add_argument("--cert", type=Path, help="device certificate (PEM or DER)")
    provision.add_argument("--key", type=Path, help="private key (PEM or DER), with --cert")
    provision.add_argument("--ca", type=Path, help="root CA (PEM or DER), with --cert")
    provision.add_argument("--ssid", help="Wi-Fi network")
    provision.add_argument(
        "--endpoint",
        help="MQTT endpoint host[:port] (default with --thing: the running reference cloud)",
    )
    provision.add_argument("--serial", dest="label", help="the label: the board's serial number")
    provision.add_argument("--no-restart", action="store_true", help="stay at the REPL afterwards")
    provision.set_defaults(handler=provision_board)

    monitor = commands.add_parser("monitor", help="follow the console (key material redacted)")
    _port_option(monitor)
    monitor.add_argument("--raw", action="store_true", help="do not pretty-print EVT lines")
    monitor.set_defaults(handler=monitor_console)

    serve = commands.add_parser(
        "serve-emulated",
        help="run an emulated button served as an RFC 2217 port, for the tools above",
    )
    serve.add_argument("--name", default="served", help="board name (its flash is in --home)")
    serve.add_argument("--tcp-port", type=int, default=0, help="loopback port (default: free)")
    serve.set_defaults(handler=serve_emulated)


def _port_option(parser: argparse.ArgumentParser, baud: int = 115200) -> None:
    parser.add_argument("--port", help="device or pyserial URL (default: the one ESP32 found)")
    parser.add_argument("--baud", type=int, default=baud, help=f"default {baud}")


def resolve_port(port: str | None) -> str:
    if port:
        return port
    found = find_board_ports()
    if not found:
        raise CommandError("no ESP32 USB bridge found; plug the board in or pass --port")
    if len(found) > 1:
        raise CommandError(
            f"several boards found ({', '.join(p.device for p in found)}); pass --port"
        )
    return found[0].device


def list_ports(args: argparse.Namespace) -> int:
    ports = list_serial_ports() if args.all else find_board_ports()
    if not ports:
        print("no ESP32 USB bridge found" + ("" if args.all else " (--all lists every port)"))
        return 0
    for port in ports:
        print(port.line())
    return 0


def flash_image(args: argparse.Namespace) -> int:
    try:
        plan = host_flash.plan_flash(
            args.image, port=args.port, chip=args.chip, baud=args.baud, erase=not args.no_erase
        )
        for command in plan.esptool_commands():
            print(" ".join(command))
        if not args.dry_run:
            host_flash.flash(plan)
    except host_flash.FlashError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def _restart(transport: object) -> None:
    """Ctrl-D at the friendly REPL: a soft reboot runs main.py again."""
    serial_port = getattr(transport, "serial")  # noqa: B009 - mpremote's attribute, untyped
    serial_port.write(b"\x04")


def deploy_firmware(args: argparse.Namespace) -> int:
    url = resolve_port(args.port)
    try:
        files = host_deploy.build_firmware(args.profile)
        transport = open_transport(url, args.baud)
    except (host_deploy.DeployError, TransportError) as exc:
        raise CommandError(str(exc)) from exc
    try:
        from host.transport import raw_repl

        with raw_repl(transport):
            report = host_deploy.deploy_files(transport, files)
        if not args.no_restart:
            _restart(transport)
    except (host_deploy.DeployError, TransportError) as exc:
        raise CommandError(f"deploy to {url} failed: {exc}") from exc
    finally:
        transport.close()
    print(report.summary())
    return 0


def package_firmware(args: argparse.Namespace) -> int:
    out = args.out or BUILD_ROOT / "mip" / args.profile
    try:
        files = host_deploy.build_firmware(args.profile, out_dir=out / "mpy")
        package = host_package.write_mip_package(files, out, host_package.firmware_version())
        manifest = host_package.write_freeze_manifest(args.profile, out / "manifest.py")
    except host_deploy.DeployError as exc:
        raise CommandError(str(exc)) from exc
    print(f"{package}  (mpremote mip install --target . {package})")
    print(f"{manifest}  (freeze: make BOARD=… FROZEN_MANIFEST={manifest})")
    return 0


def _wifi_password() -> str:
    password = os.environ.get(PASSWORD_ENV)
    if password is not None:
        return password
    if not sys.stdin.isatty():
        raise CommandError(f"--ssid needs the Wi-Fi password in ${PASSWORD_ENV} (no terminal)")
    return getpass.getpass("Wi-Fi password (empty for an open network): ")


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.partition(":")
    if port and not port.isdigit():
        raise CommandError(f"--endpoint {text!r}: the port must be a number")
    return host, int(port) if port else host_provision.DEFAULT_MQTT_PORT


def provision_board(args: argparse.Namespace) -> int:
    identity: host_provision.Identity | None = None
    endpoint_text: str | None = args.endpoint
    try:
        if args.thing:
            # Imported here: only --thing needs the reference cloud, the other commands start fast.
            from rig.strategies.provisioning import identity_from_cloud

            identity, running = identity_from_cloud(args.home, args.thing)
            if endpoint_text is None and running:
                endpoint_text = f"{running['host']}:{running['port']}"
        elif args.cert:
            if not (args.key and args.ca):
                raise CommandError("--cert needs --key and --ca")
            identity = host_provision.identity_from_files(args.cert, args.key, args.ca)
    except host_provision.ProvisionError as exc:
        raise CommandError(str(exc)) from exc
    network = None
    if args.ssid:
        if not endpoint_text:
            raise CommandError("--ssid needs --endpoint (or --thing with the cloud running)")
        host, port = _endpoint(endpoint_text)
        network = host_provision.NetworkConfig(args.ssid, _wifi_password(), host, port)
    url = resolve_port(args.port)
    try:
        transport = open_transport(url, args.baud)
    except TransportError as exc:
        raise CommandError(str(exc)) from exc
    try:
        host_provision.provision(transport, identity, network, args.label)
        if not args.no_restart:
            _restart(transport)
    except (host_provision.ProvisionError, TransportError) as exc:
        raise CommandError(str(exc)) from exc
    finally:
        transport.close()
    return 0


def monitor_console(args: argparse.Namespace) -> int:
    url = resolve_port(args.port)
    print(f"--- {url} (Ctrl-C to quit; key material is redacted) ---", file=sys.stderr)
    try:
        host_monitor.monitor(url, args.baud, pretty=not args.raw)
    except OSError as exc:
        raise CommandError(f"cannot open {url}: {exc}") from exc
    return 0


def serve_emulated(args: argparse.Namespace) -> int:
    from rig.drivers.emulated import EmulatedBoard
    from rig.drivers.rfc2217_server import serve_emulated as serve

    board = EmulatedBoard(Path(args.home) / "served" / args.name, args.name)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        board.deploy()
        board.start()
        with serve(board, port=args.tcp_port) as server:
            print(server.url, flush=True)
            print(
                f"serving emulated board {args.name!r}: DTR = button, RTS = reset "
                f"(try: buttonrig board monitor --port {server.url}); Ctrl-C stops",
                file=sys.stderr,
            )
            stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        board.close()
    return 0
