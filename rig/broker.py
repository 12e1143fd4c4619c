"""The MQTT broker: a mosquitto the rig starts (or an already running one it attaches to).

Mosquitto stands in for the AWS IoT message broker:

* mutual TLS only (`require_certificate`); the client id is the one the client asks for.
* every authorization decision is taken inside the broker by our plugin
  (rig/broker_plugin/buttonrig_auth.c, built at set-up against Debian's `mosquitto-dev`
  headers): at CONNECT it asks the reference cloud, over a Unix socket, whether this certificate
  may connect with this client id and what the connection may publish, subscribe to and
  receive; each PUBLISH, SUBSCRIBE and delivery is then decided in the plugin. A refused
  PUBLISH or SUBSCRIBE closes the connection without PUBACK or SUBACK, as AWS IoT does
  (docs/cloud-decisions.md "Decisions inside the broker").
* QoS 2: the plugin refuses a QoS 2 PUBLISH (the guide: no PUBACK; here no PUBREC either) and a
  QoS 2 SUBSCRIBE (no SUBACK), closing the connection; it disconnects a persistent session
  (cleanSession = 0) right after its CONNACK.
* `retain_available false`: a retained PUBLISH disconnects the client, as the guide says.
* `max_packet_size`: a packet longer than 128 KB after its fixed header closes the connection
  before mosquitto reads it, with no PUBACK (mosquitto 2.0 lib/packet_mosq.c, packet__read:
  `remaining_length+1 > max_packet_size` is MOSQ_ERR_OVERSIZE_PACKET). AWS IoT refuses a payload
  over 128 KB; counting topic and packet id too makes ours a few bytes stricter. Not
  `message_size_limit`: mosquitto drops such a message and still acknowledges it.
* a duplicate client id drops the connected client (mosquitto's behaviour equals the guide's).
* sessions survive a restart: `persistence true` in a directory of the run's own, whose
  `mosquitto.db` (written by mosquitto when it stops) the owner keeps and gives to the next run
  (and to `state_file`, for the next process). So the cloud's own persistent session, and the
  QoS 1 messages acknowledged to devices while its client was away, outlive a broker restart;
  devices use clean sessions, which are never kept. When the owner dies, its watchdog stops the
  broker (SIGTERM: it saves) and copies the file to `state_file`. SIGKILL saves nothing.

Mosquitto started as root drops to user `mosquitto` before it reads its files, and the rig home is
0700: the broker's files (server key, CA certificate, plugin, config) live in a separate
runtime directory readable by that user, and the plugin's socket in one it may connect in.
The CA key never goes there.

The broker never outlives its owner: a watchdog process holds the read end of a pipe whose write
end only the owner has; when the owner dies (even by SIGKILL) the pipe reaches EOF and the
watchdog stops the broker. (PR_SET_PDEATHSIG alone is not enough: the kernel clears it when
mosquitto changes its user id.)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import grp
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity
from rig.mqtt.handshake import mqtt_handshake

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
# AWS IoT's largest message payload (quotas: "Message broker and protocol limits and quotas")
MESSAGE_LIMIT_BYTES = 128 * 1024
PLUGIN_DIRECTORY = Path(__file__).parent / "broker_plugin"
PLUGIN_SOURCES = ("buttonrig_auth.c", "permissions.c")
PLUGIN_LIBRARY = Path(__file__).parents[1] / "build" / "buttonrig_auth.so"
PLUGIN_HEADERS = ("/usr/include/mosquitto_broker.h", "/usr/include/mosquitto.h")
LOOPBACK = "127.0.0.1"
PERSISTENCE_FILE = "mosquitto.db"
SERVER_HOSTNAMES = ("localhost", "127.0.0.1")
_PR_SET_PDEATHSIG = 1


class BrokerError(RuntimeError):
    """The broker could not be started, reached or reloaded."""


class PortTaken(BrokerError):
    """The port asked for is held by another program."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} on {LOOPBACK} is in use by another program")
        self.port = port


def find_mosquitto() -> str:
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in MOSQUITTO_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    raise BrokerError(
        "mosquitto not found: install it (apt-get install mosquitto) or run make setup"
    )


def plugin_library() -> Path:
    """The broker plugin, compiled now when missing or older than its source (`make setup`
    builds it too; the system packages it needs are installed there)."""
    newest_source = max(p.stat().st_mtime for p in PLUGIN_DIRECTORY.iterdir())
    if PLUGIN_LIBRARY.exists() and PLUGIN_LIBRARY.stat().st_mtime >= newest_source:
        return PLUGIN_LIBRARY
    missing = [h for h in PLUGIN_HEADERS if not os.path.exists(h)]
    compiler = shutil.which("gcc") or shutil.which("cc")
    if missing or compiler is None:
        raise BrokerError(
            f"cannot build the broker plugin (missing: {', '.join(missing) or 'a C compiler'}):"
            " run make setup (it installs mosquitto-dev, libmosquitto-dev, libssl-dev and gcc)"
        )
    PLUGIN_LIBRARY.parent.mkdir(parents=True, exist_ok=True)
    # another process may build it at the same time: each writes its own file, then renames
    temporary = PLUGIN_LIBRARY.with_name(f".{PLUGIN_LIBRARY.name}.{os.getpid()}")
    command = [compiler, "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-O2"]
    command += ["-fPIC", "-shared", "-o", str(temporary)]
    command += [*(str(PLUGIN_DIRECTORY / name) for name in PLUGIN_SOURCES), "-lcrypto"]
    built = subprocess.run(command, capture_output=True, text=True, check=False)
    if built.returncode != 0:
        raise BrokerError(f"building the broker plugin failed: {built.stderr.strip()}")
    os.replace(temporary, PLUGIN_LIBRARY)
    return PLUGIN_LIBRARY


def free_port() -> int:
    """A loopback port free right now (a small race remains; start() retries on a clash)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def port_taken(port: int) -> bool:
    """Whether another program listens on (or holds) the loopback `port`. SO_REUSEADDR, as
    mosquitto sets it: connections of an earlier run left in TIME_WAIT do not count."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


class RuntimeDirectory:
    """A directory the broker's (possibly unprivileged) user can read; removed on close."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="buttonrig-broker-"))
        self._gid = self._mosquitto_gid()
        self._secure(self.path, 0o750)

    @staticmethod
    def _mosquitto_gid() -> int | None:
        if os.geteuid() != 0:
            return None  # not root: mosquitto keeps our uid and reads our files
        try:
            return grp.getgrnam("mosquitto").gr_gid
        except KeyError:
            return None

    @property
    def group(self) -> int | None:
        """The broker's group when it runs as its own user (files and sockets must be its)."""
        return self._gid

    def _secure(self, path: Path, mode: int) -> None:
        if self._gid is not None:
            os.chown(path, -1, self._gid)
        os.chmod(path, mode)

    def writable_directory(self, name: str) -> Path:
        """A subdirectory the broker may write into (owned by its user when it drops to one)."""
        path = self.path / name
        path.mkdir(mode=0o700)
        if self._gid is not None:
            with contextlib.suppress(KeyError):
                os.chown(path, pwd.getpwnam("mosquitto").pw_uid, self._gid)
        return path

    def readable_directory(self, name: str) -> Path:
        """A subdirectory the broker may read (ours to write)."""
        path = self.path / name
        path.mkdir()
        self._secure(path, 0o750)
        return path

    def write(self, name: str, data: bytes) -> Path:
        """Write atomically (readers never see half a file), group-readable by the broker."""
        target = self.path / name
        temporary = self.path / f".{name}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        self._secure(temporary, 0o640)
        os.replace(temporary, target)
        return target

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


# Called with the `capath` directory of a broker run (and the broker's group, or None) before
# mosquitto starts: the cloud keeps the CAs its owner registered there (rig/cloud/ca_registration)
TrustHook = Callable[[Path, "int | None"], None]
CAPATH = "capath"


@dataclass(frozen=True)
class BrokerFiles:
    """The TLS material the broker needs, and the socket its plugin asks the cloud on. The
    server key is copied; the CA key never is."""

    ca_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes
    auth_socket: Path
    trust_hook: TrustHook | None = None  # client CAs besides `ca_pem`, in an OpenSSL capath

    def __repr__(self) -> str:
        return "BrokerFiles(<server key hidden>)"


def render_config(
    port: int,
    runtime: Path,
    auth_socket: Path,
    log_topic: bool = True,
    state: Path | None = None,
    session_keeper: str | None = None,
) -> str:
    lines = [
        "# generated by buttonrig: mosquitto standing in for the AWS IoT message broker",
        "per_listener_settings false",
        *(
            [
                "persistence true",  # saved when mosquitto stops (SIGTERM)
                f"persistence_location {state}/",
                f"persistence_file {PERSISTENCE_FILE}",
            ]
            if state is not None
            else ["persistence false"]
        ),
        "allow_anonymous false",
        "retain_available false",
        # closes the connection of a client whose packet (after the fixed header) is longer
        f"max_packet_size {MESSAGE_LIMIT_BYTES + 1}",
        "connection_messages true",
        # Nagle + delayed ACK would add ~40 ms to a PUBACK-then-PUBLISH reply
        "set_tcp_nodelay true",
        "log_dest stderr",
        *(["log_dest topic"] if log_topic else []),
        "log_type error",
        # debug lines go to the log file only (never to $SYS/broker/log), for humans and tests
        "log_type debug",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "log_type subscribe",  # for $aws/events/subscriptions/... lifecycle events
        "log_type unsubscribe",
        "log_timestamp true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        # every CONNECT, PUBLISH, SUBSCRIBE and delivery is decided by our plugin
        f"plugin {runtime / 'buttonrig_auth.so'}",
        f"plugin_opt_socket {auth_socket}",
        # while this client id is offline, its persistent session still receives everything
        *([f"plugin_opt_session_keeper {session_keeper}"] if session_keeper else []),
        # listener settings must follow `listener`, or mosquitto opens a default one on 1883
        f"listener {port} {LOOPBACK}",
        # no `max_qos 1`: mosquitto would lower a QoS 2 SUBSCRIBE to 1 before the plugin sees it;
        # the plugin refuses QoS 2 PUBLISH and SUBSCRIBE itself (no PUBREC, no SUBACK)
        f"cafile {runtime / 'ca.pem'}",
        # and the CAs registered by their owners, looked up by subject hash at each handshake
        # (OpenSSL X509_LOOKUP_hash_dir): one registered later is trusted without a restart
        f"capath {runtime / CAPATH}",
        f"certfile {runtime / 'server.crt'}",
        f"keyfile {runtime / 'server.key'}",
        "tls_version tlsv1.2",
        "require_certificate true",
        # no use_identity_as_username: with it mosquitto skips the plugin's CONNECT decision
        # (src/handle_connect.c), and the client id is the client's own
    ]
    return "\n".join(lines) + "\n"


_WATCHDOG = """
import os, shutil, signal, sys, time
pid, runtime, state_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sys.stdin.buffer.read()  # returns at EOF: the owner closed the pipe or died
def alive():
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"mosquitto" in f.read()
    except OSError:
        return False
if alive():
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive():
        os.kill(pid, signal.SIGKILL)
    saved = os.path.join(runtime, "state", "mosquitto.db")  # written as mosquitto stopped
    if state_file and os.path.exists(saved):  # the owner died: keep it for the next run
        shutil.copyfile(saved, state_file + ".tmp")
        os.chmod(state_file + ".tmp", 0o600)
        os.replace(state_file + ".tmp", state_file)
shutil.rmtree(runtime, ignore_errors=True)  # the owner may have died before cleaning up
"""


def _die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGTERM the child when the owner dies (best effort)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class MosquittoBroker:
    """A mosquitto process on a loopback port with mutual TLS; `start()` then `stop()`.

    `restart()` (or `stop()` then `start(port=...)`) brings it back on the same port, with the
    same CA, server certificate and plugin socket; each run writes its own log file and has its
    own watchdog.
    """

    def __init__(
        self,
        files: BrokerFiles,
        log_dir: Path,
        probe_identity: ClientIdentity,
        state_file: Path | None = None,
        session_keeper: str | None = None,
    ) -> None:
        self._files = files
        # mosquitto's saved sessions: from the last run of this object, else from `state_file`
        # (the last run of another process); written back to it on each stop
        self._state_file = state_file
        # the client id (the cloud's own) whose persistent session keeps receiving while it is
        # offline, or restored from `state_file` before it reconnects: the plugin has no live
        # connection to decide by then
        self._session_keeper = session_keeper
        self._saved_state: bytes | None = (
            state_file.read_bytes() if state_file is not None and state_file.exists() else None
        )
        self._log_dir = log_dir
        self._probe = probe_identity
        self._runtime: RuntimeDirectory | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._lifeline: int | None = None
        # start/stop from different threads (a test restarts while the service reconnects)
        self._lock = threading.RLock()
        self.log_file: Path | None = None
        self.endpoint: BrokerEndpoint | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def exit_reason(self) -> str:
        """How the broker ended, with the end of its log (for an error message)."""
        code = self._process.returncode if self._process else None
        return f"mosquitto exited with {code}: {self._log_tail()}"

    def start(
        self, timeout: float = 20.0, attempts: int = 3, *, port: int | None = None
    ) -> BrokerEndpoint:
        """Start mosquitto on `port`, by default a free one; returns once it serves mTLS.
        A `port` another program holds raises PortTaken (no other port is tried)."""
        with self._lock:
            if self._process is not None:
                raise BrokerError("broker is already running")
            if port is not None and port_taken(port):
                raise PortTaken(port)
            last_error = ""
            for _ in range(attempts):
                try:
                    return self._start_once(timeout, port if port is not None else free_port())
                except BrokerError as exc:  # e.g. the free port was taken meanwhile
                    last_error = str(exc)
                    self.stop()
            raise BrokerError(f"mosquitto did not start after {attempts} attempts: {last_error}")

    def restart(self, timeout: float = 20.0) -> BrokerEndpoint:
        """Stop mosquitto for real and start it again on the same port (its clients see the
        connection closed, then find the broker where it was)."""
        with self._lock:
            if self.endpoint is None:
                raise BrokerError("broker is not running")
            port = self.endpoint.port
            self.stop()
            return self.start(timeout, port=port)

    def _start_once(self, timeout: float, port: int) -> BrokerEndpoint:
        runtime = self._runtime = RuntimeDirectory()
        files = self._files
        runtime.write("ca.pem", files.ca_pem)
        runtime.write("server.crt", files.server_cert_pem)
        runtime.write("server.key", files.server_key_pem)
        runtime.write("buttonrig_auth.so", plugin_library().read_bytes())
        capath = runtime.readable_directory(CAPATH)
        if files.trust_hook is not None:
            files.trust_hook(capath, runtime.group)
        state = runtime.writable_directory("state")
        if self._saved_state is not None:
            (state / PERSISTENCE_FILE).write_bytes(self._saved_state)
            shutil.chown(state / PERSISTENCE_FILE, state.stat().st_uid, state.stat().st_gid)
        config = runtime.write(
            "mosquitto.conf",
            render_config(
                port,
                runtime.path,
                files.auth_socket,
                state=state,
                session_keeper=self._session_keeper,
            ).encode(),
        )
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self.log_file = self._new_log_file(port)
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                [find_mosquitto(), "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self._start_watchdog(self._process.pid, runtime.path)
        atexit.register(self.stop)
        endpoint = BrokerEndpoint(LOOPBACK, port, runtime.path / "ca.pem")
        self._wait_ready(endpoint, timeout)
        self.endpoint = endpoint
        return endpoint

    def _new_log_file(self, port: int) -> Path:
        """A log of its own for each run, even a restart on the same port in the same second."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        candidate = self._log_dir / f"mosquitto-{stamp}-{port}.log"
        run = 1
        while candidate.exists():
            run += 1
            candidate = self._log_dir / f"mosquitto-{stamp}-{port}-{run}.log"
        return candidate

    def _start_watchdog(self, broker_pid: int, runtime: Path) -> None:
        read_end, write_end = os.pipe()  # both non-inheritable: only the watchdog gets read_end
        self._watchdog = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WATCHDOG,
                str(broker_pid),
                str(runtime),
                str(self._state_file or ""),
            ],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # no PDEATHSIG here: the watchdog must outlive the owner to stop the broker
            start_new_session=True,  # a Ctrl-C in the terminal must not kill it first
        )
        os.close(read_end)
        self._lifeline = write_end

    def _wait_ready(self, endpoint: BrokerEndpoint, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise BrokerError(
                    f"mosquitto exited with {self._process.returncode}: {self._log_tail()}"
                )
            try:
                code = mqtt_handshake(endpoint, self._probe, timeout=2.0)
                if code == 0:
                    return
                last_error = f"CONNACK return code {code}"
            except (OSError, BrokerError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.02)
        raise BrokerError(f"mosquitto not ready within {timeout:.0f} s ({last_error})")

    def _log_tail(self, lines: int = 8) -> str:
        if self.log_file is None or not self.log_file.exists():
            return "(no log)"
        return " | ".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait, then SIGKILL; remove the runtime directory. Safe to call twice."""
        with self._lock:
            process, self._process = self._process, None
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process is not None and self._runtime is not None:  # before the watchdog clears it
                self._keep_state(self._runtime.path / "state" / PERSISTENCE_FILE)
            if self._lifeline is not None:
                os.close(self._lifeline)  # the watchdog sees EOF, finds no broker, exits
                self._lifeline = None
            watchdog, self._watchdog = self._watchdog, None
            if watchdog is not None:
                try:
                    watchdog.wait(timeout)
                except subprocess.TimeoutExpired:
                    watchdog.kill()
                    watchdog.wait()
            if self._runtime is not None:
                self._runtime.remove()
                self._runtime = None
            self.endpoint = None
            atexit.unregister(self.stop)

    def _keep_state(self, saved: Path) -> None:
        """What mosquitto saved as it stopped, for the next run (none when it was killed)."""
        if not saved.exists():
            return
        self._saved_state = saved.read_bytes()
        if self._state_file is not None:
            temporary = self._state_file.with_suffix(".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(self._saved_state)
            os.replace(temporary, self._state_file)


class AttachedBroker:
    """A broker someone else runs: we only connect to it.

    Authorization is the operator's business there: our plugin does not run in it, so policy and
    certificate-status changes are not enforced by the broker in attach mode (the cloud model
    still records them).
    """

    def __init__(self, endpoint: BrokerEndpoint, probe_identity: ClientIdentity) -> None:
        self.endpoint = endpoint
        self._probe = probe_identity
        self.pid: int | None = None
        self.log_file: Path | None = None

    def start(self, timeout: float = 20.0) -> BrokerEndpoint:
        """Wait up to `timeout` for the broker to accept the probe identity. A broker still
        starting is waited for; a certificate that does not verify, or a CONNACK that refuses
        us, will not change by waiting and fails at once."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                code = mqtt_handshake(self.endpoint, self._probe, timeout=2.0)
                if code == 0:
                    return self.endpoint
                problem, lasting = f"the broker refused the connection (CONNACK code {code})", True
            except ssl.SSLCertVerificationError as exc:
                problem, lasting = f"{type(exc).__name__}: {exc}", True
            except (OSError, BrokerError) as exc:
                problem, lasting = f"{type(exc).__name__}: {exc}", False
            if lasting or time.monotonic() > deadline:
                raise BrokerError(
                    f"cannot connect to the broker at {self.endpoint.host}:{self.endpoint.port}"
                    f" (TLS server name {self.endpoint.server_hostname!r}): {problem}"
                )
            time.sleep(0.1)

    def alive(self) -> bool:
        return True  # not ours to watch; the service notices a lost connection

    def exit_reason(self) -> str:
        return "attached broker"

    def stop(self, timeout: float = 5.0) -> None:
        del timeout
