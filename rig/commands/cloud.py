"""`buttonrig cloud up|status`: run the reference cloud (broker + service) in the foreground."""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig.cloud.core import endpoint
from rig.commands.errors import CommandError

if TYPE_CHECKING:  # imported when used: every buttonrig call loads this module
    from rig.cloud.runtime import AttachTarget

LOCK_FILE = "cloud-up.lock"


def _attach_target(args: argparse.Namespace) -> AttachTarget | None:
    from rig.cloud.runtime import AttachTarget
    from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity

    options = (
        args.attach_host,
        args.attach_port,
        args.attach_ca,
        args.attach_cert,
        args.attach_key,
    )
    if not any(options):
        return None
    if not all(options):
        raise CommandError(
            "attach mode needs all of --attach-host, --attach-port, --attach-ca,"
            " --attach-cert and --attach-key"
        )
    for path in (args.attach_ca, args.attach_cert, args.attach_key):
        if not Path(path).is_file():
            raise CommandError(f"attach mode: {path} is not a readable file")
    # TLS checks the broker's certificate against the name we dialled (an IP address is checked
    # against its IP SANs) unless told otherwise
    server_name = args.attach_server_name or args.attach_host
    return AttachTarget(
        BrokerEndpoint(args.attach_host, int(args.attach_port), Path(args.attach_ca), server_name),
        ClientIdentity(Path(args.attach_cert), Path(args.attach_key)),
    )


@contextmanager
def _only_cloud_up(home: Path) -> Iterator[None]:
    """Hold `<home>/cloud-up.lock` (flock, exclusive) while `cloud up` runs: two would start two
    brokers on one database, and endpoint.json is written only once the broker is up, too late
    to tell. The kernel drops the lock when the process ends, however it ends."""
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise CommandError(
                f"a cloud already runs for {home} (cloud up, pid {holder}); stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def up(args: argparse.Namespace) -> int:
    with _only_cloud_up(args.home):
        return _up(args)


def _up(args: argparse.Namespace) -> int:
    from rig.broker import BrokerError
    from rig.cloud.runtime import CloudRuntime

    # the lock covers other `cloud up`s; a cloud run in-process (a test's) takes none
    running = endpoint.running_cloud(args.home)
    if running is not None:
        raise CommandError(
            f"a cloud already runs for {args.home} (pid {running['pid']}, port {running['port']})"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _s, _f: stop.set())
    runtime = CloudRuntime(args.home, _attach_target(args))
    try:
        try:
            ready = runtime.start()
        except (BrokerError, RuntimeError, OSError) as exc:
            raise CommandError(f"the cloud did not start: {exc}") from exc
        files, api = runtime.file_server, runtime.api_server
        print(
            f"cloud up: mqtts://{ready.host}:{ready.port} (CA {ready.ca_file});"
            + (f" OTA files https://localhost:{files.port}/;" if files else "")
            + (f" S3 {runtime.object_server.url};" if runtime.object_server else "")
            + (f" AWS HTTP API {api.url} (--endpoint-url);" if api else "")
            + f" {endpoint.path_of(args.home)} written. Ctrl-C to stop.",
            flush=True,
        )
        try:
            while not stop.wait(0.5):
                if runtime.broker is not None and not runtime.broker.alive():
                    raise CommandError(f"the broker died: {runtime.broker.exit_reason()}")
        except KeyboardInterrupt:
            pass
    finally:
        runtime.stop()
        runtime.cloud.close()
        signal.signal(signal.SIGTERM, previous)
    print("cloud stopped", flush=True)
    return 0


def status(args: argparse.Namespace) -> int:
    """The endpoint, plus which certificates the broker refuses and why."""
    running = endpoint.running_cloud(args.home)
    if running is None:
        raise CommandError(f"no cloud runs for {args.home} (start one: buttonrig cloud up)")
    report = dict(running)
    auth = args.home / "cloud" / "auth-status.json"
    if auth.exists():
        report["auth"] = json.loads(auth.read_text())
    print(json.dumps(report, indent=4))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("cloud", help="run the reference cloud (broker + services)")
    commands = parser.add_subparsers(dest="cloud_command", metavar="ACTION", required=True)
    start = commands.add_parser("up", help="broker and cloud in the foreground until Ctrl-C")
    start.add_argument("--attach-host", help="use this running broker instead of starting one")
    start.add_argument("--attach-port", type=int)
    start.add_argument("--attach-ca", help="CA file (PEM) of the running broker")
    start.add_argument("--attach-cert", help="client certificate (PEM) for the cloud service")
    start.add_argument("--attach-key", help="its private key (PEM)")
    start.add_argument(
        "--attach-server-name",
        help="name the broker's certificate must carry (default: --attach-host)",
    )
    start.set_defaults(handler=up)
    show = commands.add_parser("status", help="print the running cloud's endpoint")
    show.set_defaults(handler=status)
