"""The object store's server: moto's S3-compatible server mode (`python -m moto.server`), one
process per running cloud, on 127.0.0.1 and the port remembered in `<home>/cloud/objects-port`
(kept across restarts, as the broker's: report links and scripts name it).

moto keeps objects in memory only, so a clean stop saves every bucket and object under
`<home>/cloud/objects/` and the next start loads them back: a bucket made with `buttonrig s3 mb`
is still there after `cloud up` stops and starts again, as an S3 bucket would be (PV-8). A cloud
killed with SIGKILL loses what changed since its last start.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, unquote

from rig.cloud.core.endpoint import read_port, write_port
from rig.cloud.objects.client import s3_client

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
PORT_FILE = "cloud/objects-port"
SNAPSHOT_DIR = "cloud/objects"
START_TIMEOUT_S = 30.0


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """preexec_fn: the kernel SIGTERMs the server when the cloud dies, even by SIGKILL (so it
    never holds the home's port after its cloud; the server keeps its user, so the setting
    stays, unlike mosquitto's, rig/broker.py)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class ObjectStoreError(RuntimeError):
    """The object store could not start (its port taken, or the server did not come up)."""


def port_file(home: Path) -> Path:
    return home / PORT_FILE


def url_of(port: int) -> str:
    return f"http://{HOST}:{port}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False


def _still_taken(port: int, grace_s: float = 5.0) -> bool:
    """The port is held, also after `grace_s` (the server of a cloud that was just killed gets
    SIGTERM from the kernel and needs a moment to let the port go)."""
    deadline = time.monotonic() + grace_s
    while _port_taken(port):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)
    return False


class ObjectServer:
    """Start with `start()` (returns the URL), stop with `stop()` (saves the objects)."""

    def __init__(self, home: Path, log_directory: Path) -> None:
        self.home = home
        self.log_directory = log_directory
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        assert self.port is not None, "not started"
        return url_of(self.port)

    def start(self) -> str:
        self.launch()
        return self.ready()

    def launch(self) -> None:
        """Start the server process (it takes about a second to serve: see `ready`)."""
        port = read_port(port_file(self.home))
        if port is None:
            port = _free_port()
        elif _still_taken(port):
            raise ObjectStoreError(
                f"port {port} on {HOST}, this home's object store (S3) port, is in use by another"
                f" program: stop it, or delete {port_file(self.home)} to take a new port"
            )
        self.log_directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        log_file = (self.log_directory / "objects.log").open("ab")
        environment = dict(os.environ, MOTO_CALL_RESET_API="false")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,  # a Ctrl-C of `cloud up` does not reach it first
                preexec_fn=_die_with_parent,
            )
        finally:
            log_file.close()
        self.port = port

    def ready(self) -> str:
        """Wait until the launched server serves, load the home's objects; its URL."""
        assert self.port is not None, "not launched"
        try:
            self._wait_ready()
            write_port(port_file(self.home), self.port)
            self._load()
        except Exception:
            self._terminate()
            raise
        return self.url

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ObjectStoreError(
                    f"the object store (moto server) exited with status {self.process.returncode}"
                    f" before it served; see {self.log_directory / 'objects.log'}"
                )
            try:
                with urllib.request.urlopen(self.url + "/moto-api/", timeout=1.0):
                    return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                time.sleep(0.1)
        raise ObjectStoreError(f"the object store did not serve within {START_TIMEOUT_S:.0f} s")

    # ---- the objects kept in the home ----------------------------------------------------

    def _snapshot(self) -> Path:
        return self.home / SNAPSHOT_DIR

    def _load(self) -> None:
        snapshot = self._snapshot()
        if not snapshot.is_dir():
            return
        client = s3_client(self.url)
        for bucket in sorted(p for p in snapshot.iterdir() if p.is_dir()):
            client.create_bucket(Bucket=bucket.name)
            for item in sorted(bucket.iterdir()):
                client.put_object(
                    Bucket=bucket.name, Key=unquote(item.name), Body=item.read_bytes()
                )

    def _save(self) -> None:
        """Every bucket and object into `<home>/cloud/objects/` (replaced whole)."""
        client = s3_client(self.url)
        staging = self._snapshot().with_name("objects.saving")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700, parents=True)
        for bucket in client.list_buckets().get("Buckets", []):
            directory = staging / bucket["Name"]
            directory.mkdir()
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
                for item in page.get("Contents", []):
                    body = client.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"]
                    (directory / quote(item["Key"], safe="")).write_bytes(body.read())
        previous = self._snapshot().with_name("objects.old")
        shutil.rmtree(previous, ignore_errors=True)
        if self._snapshot().exists():
            self._snapshot().rename(previous)
        staging.rename(self._snapshot())
        shutil.rmtree(previous, ignore_errors=True)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                self._save()
            except Exception:
                log.exception("saving the object store's objects failed; the last save is kept")
        self._terminate()

    def _terminate(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
