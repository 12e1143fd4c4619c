"""A running reference cloud: broker + plugin socket + service + auth sync + endpoint.json, for
one rig home.

`buttonrig cloud up` and the `cloud` pytest fixture both use `CloudRuntime`. The broker's plugin
asks the cloud at every CONNECT (rig/cloud/auth/plugin_server.py, decided by
rig/cloud/auth/decisions.py from the database as it is then). Auth changes (certificates,
policies, attachments) bump the `auth_generation` counter in the database; the runtime then tells
the plugin, which asks again for every live connection and disconnects the refused ones — at once
when the change was made in this process (`Cloud.auth_applier`), within a poll period (50 ms) when
another process (the CLI) made it; it then records `auth_applied`, which that process waits for.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.broker import (
    LOOPBACK,
    SERVER_HOSTNAMES,
    AttachedBroker,
    BrokerError,
    BrokerFiles,
    MosquittoBroker,
    PortTaken,
    RuntimeDirectory,
)
from rig.cloud import ping
from rig.cloud.api import Cloud
from rig.cloud.auth.decisions import ConnectionDecider, ConnectionDecision
from rig.cloud.auth.plugin_server import PluginServer
from rig.cloud.ca_registration.admission import Admission
from rig.cloud.ca_registration.trust import TrustDirectory
from rig.cloud.certificates.ca import CertificateAuthority, certificate_id_of, pem_to_der
from rig.cloud.certificates.store import CLOUD_USER, PROBE_USER
from rig.cloud.clicks import mqtt as clicks_mqtt
from rig.cloud.core import endpoint
from rig.cloud.files.server import FileServer, url_of
from rig.cloud.functions.dispatcher import Dispatcher
from rig.cloud.host.service import CloudService
from rig.cloud.http.server import ApiServer
from rig.cloud.jobs import mqtt as jobs_mqtt
from rig.cloud.jobs.timers import StepTimers
from rig.cloud.lifecycle.mqtt import Presence, Report, gets_lifecycle_events
from rig.cloud.objects.client import ENDPOINT_KEY as OBJECTS_ENDPOINT_KEY
from rig.cloud.objects.client import ObjectReader
from rig.cloud.objects.server import ObjectServer
from rig.cloud.provisioning.just_in_time import JustInTimeProvisioner
from rig.cloud.provisioning.tasks import RegistrationRunner
from rig.cloud.rules.mqtt import RulesService
from rig.cloud.shadow.mqtt import ShadowResponder
from rig.cloud.shadow.wills import ExpectedWills
from rig.mqtt.endpoint import BrokerEndpoint, ClientIdentity

log = logging.getLogger(__name__)
POLL_S = 0.05
AUTH_STATUS_FILE = "auth-status.json"
PLUGIN_WATCH_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class AttachTarget:
    """An already running broker: where it is and which identity the cloud service uses."""

    endpoint: BrokerEndpoint
    identity: ClientIdentity


class Identities:
    """The cloud's own TLS identities (server, service client, readiness probe) in the home."""

    def __init__(self, ca: CertificateAuthority, directory: Path) -> None:
        self.ca = ca
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def client(self, common_name: str) -> ClientIdentity:
        # "client-" keeps a thing named "server" off the broker's own server.*.pem
        cert, key = (
            self.directory / f"client-{common_name}.crt.pem",
            self.directory / f"client-{common_name}.key.pem",
        )
        if not (cert.exists() and key.exists()):
            issued = self.ca.issue_client_certificate(common_name)
            assert issued.private_key_pem is not None
            _write_private(key, issued.private_key_pem.encode())
            cert.write_text(issued.certificate_pem)
        return ClientIdentity(cert, key)

    def own_certificate_ids(self) -> set[str]:
        """The certificate ids of the cloud's own clients (service, probe): full rights."""
        return {
            certificate_id_of(pem_to_der(path.read_text()))
            for path in self.directory.glob("client-*.crt.pem")
        }

    def server(self) -> tuple[bytes, bytes]:
        cert, key = self.server_files()
        return cert.read_bytes(), key.read_bytes()

    def server_files(self) -> tuple[Path, Path]:
        """The server certificate and key files (the broker's and the file server's)."""
        cert, key = self.directory / "server.crt.pem", self.directory / "server.key.pem"
        if not (cert.exists() and key.exists()):
            issued = self.ca.issue_server_certificate(SERVER_HOSTNAMES)
            assert issued.private_key_pem is not None
            _write_private(key, issued.private_key_pem.encode())
            cert.write_text(issued.certificate_pem)
        return cert, key


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


class CloudRuntime:
    """Start with `start()`, stop with `stop()` (or use as a context manager)."""

    def __init__(
        self, home: Path, attach: AttachTarget | None = None, objects: bool = True
    ) -> None:
        self.home = home
        # the rig's S3 and the bulk registration tasks that read from it (a second or two to
        # start: tests that need neither leave them out, `temporary_cloud`)
        self._objects = objects
        self.cloud = Cloud(home)
        self.identities = Identities(self.cloud.ca, self.cloud.directory / "identities")
        self.decider = ConnectionDecider(
            self.cloud.registry,
            self.cloud.certificates,
            self.cloud.policies,
            self.identities.own_certificate_ids,
            self._issuer_problem,
        )
        # your own CA: JITR/JITP at a first CONNECT (JITP's template applied by the provisioning
        # engine, as RegisterThing's), and the broker's capath of registered CAs
        self.admission = Admission(
            self.cloud.ca_registry, JustInTimeProvisioner(self.cloud.provisioner).provision
        )
        self._trust: TrustDirectory | None = None
        self._attach = attach
        self.broker: MosquittoBroker | AttachedBroker | None = None
        self.service: CloudService | None = None
        self.shadow_responder: ShadowResponder | None = None
        self.presence: Presence | None = None
        self.endpoint: BrokerEndpoint | None = None
        self._auth_lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.plugin_server: PluginServer | None = None
        self._socket_directory: RuntimeDirectory | None = None
        self._service_identity: ClientIdentity | None = None
        self._expected_wills = ExpectedWills()  # outlives a restart of the services
        self._presence_reports: queue.Queue[Report | None] = queue.Queue()  # this one too
        self.job_timers = StepTimers(self.cloud.job_store)  # database only: beside the service
        self.file_server: FileServer | None = None  # OTA files, with the cloud's own CA
        self.object_server: ObjectServer | None = None  # the rig's S3 (moto's server mode)
        self.registration_runner: RegistrationRunner | None = None  # bulk provisioning tasks
        self.api_server: ApiServer | None = None  # the AWS HTTP APIs (boto3, aws-cli)
        self.rules: RulesService | None = None  # topic rules on the MQTT host (#14)
        self.dispatcher = Dispatcher(self.cloud.functions)  # Lambda "Event" invocations (#14)

    def __enter__(self) -> CloudRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> BrokerEndpoint:
        # the object store's process starts first and comes up while the broker does
        if self._objects:
            self.object_server = ObjectServer(self.home, self.cloud.directory / "logs")
            self.object_server.launch()
        try:
            return self._start()
        except Exception:
            if self.object_server is not None:
                self.object_server.stop()
                self.object_server = None
            raise

    def _start(self) -> BrokerEndpoint:
        service_identity = self.identities.client(CLOUD_USER)
        probe = self.identities.client(PROBE_USER)
        generation = self.cloud.store.counter("auth_generation")
        if self._attach is None:
            server_cert, server_key = self.identities.server()
            self._socket_directory = RuntimeDirectory()
            self.plugin_server = PluginServer(
                self._socket_directory.path / "auth.sock",
                self.decider.decide,
                self._socket_directory.group,
            )
            self.plugin_server.start()
            files = BrokerFiles(
                ca_pem=self.cloud.ca.certificate_pem.encode(),
                server_cert_pem=server_cert,
                server_key_pem=server_key,
                auth_socket=self.plugin_server.path,
                trust_hook=self._trust_ready,
            )
            self.broker = MosquittoBroker(
                files,
                self.cloud.directory / "logs",
                probe,
                state_file=self.cloud.directory / "broker-sessions.db",
                session_keeper=CLOUD_USER,
            )
            try:
                broker_endpoint = self._start_on_the_home_port(self.broker)
            except Exception:
                self._stop_plugin_server()
                raise
            # an auth change must reach the plugin from the start: wait for its watch connection
            self.plugin_server.wait_watched(PLUGIN_WATCH_TIMEOUT_S)
            # clients get the CA from the home, not the broker's private runtime copy
            self.endpoint = BrokerEndpoint(
                broker_endpoint.host, broker_endpoint.port, self.cloud.ca.certificate_file
            )
        else:
            service_identity = self._attach.identity
            self.broker = AttachedBroker(self._attach.endpoint, service_identity)
            self.endpoint = self.broker.start()
        self._applied(generation)
        self._service_identity = service_identity
        self.service = self._compose_services(service_identity)
        try:
            self.service.start()
        except Exception:
            self.broker.stop()
            raise
        self._start_rules()
        self.dispatcher.start()
        self.cloud.auth_applier = self.sync_auth
        if self.plugin_server is not None:  # the plugin's lifecycle reports
            self.plugin_server.on_presence = self._on_presence
            self.plugin_server.on_will = self._on_will
            self.plugin_server.on_presented = self._on_presented
        self._watcher = threading.Thread(target=self._watch_auth, name="auth-sync", daemon=True)
        self._watcher.start()
        self.job_timers.start()
        self._start_file_server()
        self._start_registration_tasks()
        self._start_api_server()
        endpoint.write(self.home, self.endpoint_document())
        return self.endpoint

    def _start_file_server(self) -> None:
        self.file_server = FileServer(self.home, *self.identities.server_files())
        try:
            self.file_server.start()
        except Exception:
            self.file_server = None
            self.stop()
            raise

    def _start_registration_tasks(self) -> None:
        if self.object_server is None:
            return  # no S3, so no input for a task: start-thing-registration-task says so
        try:
            url = self.object_server.ready()
        except Exception:
            self.stop()
            raise
        objects = ObjectReader(self.home, url)
        self.registration_runner = RegistrationRunner(
            self.cloud.registration_tasks, self.cloud.provisioner, objects
        )
        self.registration_runner.start()

    def _start_api_server(self) -> None:
        self.api_server = ApiServer(self.cloud)
        try:
            self.api_server.start()
        except Exception:
            self.api_server = None
            self.stop()
            raise

    def restart_service(self, while_down: Callable[[], None] | None = None) -> None:
        """Stop the cloud's MQTT host and its services and start them again while the broker
        stays up (as a cloud process restarted against a broker that keeps running, or one
        whose client lost its connection); `while_down` runs in between."""
        assert self.service is not None and self._service_identity is not None, "not running"
        if self.presence is not None:  # first: its events leave on the link still running
            self.presence.stop()
        self._stop_rules()
        self.service.stop()
        if while_down is not None:
            while_down()
        self.service = self._compose_services(self._service_identity)
        self.service.start()
        self._start_rules()

    def _start_rules(self) -> None:
        if self.rules is not None:
            self.rules.start()

    def _stop_rules(self) -> None:
        if self.rules is not None:
            self.rules.stop()

    def _start_on_the_home_port(self, broker: MosquittoBroker) -> BrokerEndpoint:
        """The broker on the port this home's broker had (boards configured with it reconnect by
        themselves), or on a free one the first time; the port is remembered for next time."""
        port = endpoint.remembered_port(self.home)
        try:
            started = broker.start(port=port)
        except PortTaken as exc:
            raise BrokerError(
                f"port {exc.port} on {LOOPBACK}, this home's broker port (boards set up here"
                f" connect to it), is in use by another program: stop that program, or delete"
                f" {endpoint.port_file(self.home)} to take a new port (boards set up here must"
                " then be set up again)"
            ) from None
        endpoint.remember_port(self.home, started.port)
        return started

    def _compose_services(self, identity: ClientIdentity) -> CloudService:
        """The MQTT host with every service plugged in, in this order (docs/contracts.md
        "Cloud service handlers"): a new service is one more line here."""
        assert self.endpoint is not None
        service = CloudService(self.cloud.store, self.endpoint, identity)
        self.shadow_responder = ShadowResponder(
            service, self.cloud.shadow_store, self._expected_wills
        )
        self.shadow_responder.register()
        self.presence = Presence(service, self.cloud.presence_store, self._presence_reports)
        self.presence.listeners.append(self.cloud.iot_log.lifecycle_event)  # v2 logging
        self.presence.register()
        clicks_mqtt.register(service, self.cloud.click_log)
        jobs_mqtt.register(service, self.cloud.job_store)
        ping.register(service)
        self.rules = RulesService(service, self.cloud.topic_rules, self.cloud.functions)
        self.rules.register()
        return service

    def endpoint_document(self) -> dict[str, Any]:
        assert self.endpoint is not None
        if self._attach is None:
            ca_der = self.cloud.ca.certificate_file.with_suffix(".der")  # devices load DER only
            ca_der.write_bytes(self.cloud.ca.certificate_der)
        else:  # the attached broker's CA, the one in ca_file (a device loads one certificate)
            from cryptography import x509
            from cryptography.hazmat.primitives import serialization

            ca_der = self.cloud.directory / "attached-ca.der"
            first = x509.load_pem_x509_certificates(self.endpoint.ca_file.read_bytes())[0]
            ca_der.write_bytes(first.public_bytes(serialization.Encoding.DER))
        return {
            "host": self.endpoint.host,
            "port": self.endpoint.port,
            "ca_file": str(self.endpoint.ca_file),
            "ca_der_file": str(ca_der),
            "server_hostname": self.endpoint.server_hostname,
            "pid": os.getpid(),
            "broker_pid": self.broker.pid if self.broker else None,
            "broker_log": str(self.broker.log_file)
            if self.broker and self.broker.log_file
            else None,
            "mode": "attached" if self._attach else "started",
            "files_url": url_of(self.file_server.port, "") if self.file_server else None,
            OBJECTS_ENDPOINT_KEY: self.object_server.url if self.object_server else None,
            "api_url": self.api_server.url if self.api_server else None,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def sync_auth(self) -> None:
        """Make the broker's plugin ask again for every live connection (returns once it has,
        the refused ones disconnected); new connections are decided afresh anyway."""
        with self._auth_lock:
            if self.broker is None:
                return
            generation = self.cloud.store.counter("auth_generation")
            if self._trust is not None:  # before the plugin asks again: CAs trusted first
                self._trust.sync(self.cloud.ca_registry.registered_cas())
            if self.plugin_server is not None and not self.plugin_server.invalidate():
                log.warning("the broker plugin did not confirm auth change %d", generation)
            self._applied(generation)

    def _applied(self, generation: int) -> None:
        self._report(generation)
        self.cloud.store.set_counter("auth_applied", generation)

    def _trust_ready(self, capath: Path, group: int | None) -> None:
        """A broker run's capath (before mosquitto starts, also at a restart): the registered
        CAs go there, and again after each auth change (sync_auth)."""
        self._trust = TrustDirectory(capath, group)
        self._trust.sync(self.cloud.ca_registry.registered_cas())

    def _on_presented(self, certificate_id: str, der: bytes) -> ConnectionDecision | None:
        """A first CONNECT's certificate: JITR/JITP when unknown and from a registered CA."""
        reason = self.admission.presented(certificate_id, der)
        return None if reason is None else ConnectionDecision(False, reason)

    def _issuer_problem(self, certificate_id: str) -> str | None:
        ca_id, ca = self.cloud.ca_registry.ca_of_certificate(certificate_id)
        if ca_id is not None and ca is None:
            return f"the CA certificate {ca_id} it was registered under is deleted"
        return None

    def _on_presence(
        self, connected: bool, certificate_id: str, client_id: str, reason: str
    ) -> None:
        """The plugin's CONNECTED/DISCONNECTED report (a plugin connection thread): queued for
        the lifecycle service, also while the services restart (published when they are back)."""
        if gets_lifecycle_events(client_id):
            self._presence_reports.put((connected, certificate_id, client_id, reason))

    def _on_will(self, _client_id: str, topic: str, payload: bytes) -> None:
        """The plugin lets a client's will through: the shadow service must ignore it."""
        self._expected_wills.expect(topic, payload)

    def _report(self, generation: int) -> None:
        """`<home>/cloud/auth-status.json`: the auth generation in force at the broker (shown by
        `buttonrig cloud status`). Each CONNECT is decided by the broker plugin when it comes."""
        status = {
            "generation": generation,
            "decided_by": "broker plugin" if self.plugin_server is not None else "attached broker",
        }
        target = self.cloud.directory / AUTH_STATUS_FILE
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(status, indent=2) + "\n")
        os.replace(temporary, target)

    def _watch_auth(self) -> None:
        store = self.cloud.store
        while not self._stopping.wait(POLL_S):
            try:
                if store.counter("auth_generation") > store.counter("auth_applied"):
                    self.sync_auth()
            except Exception:
                log.exception("applying an auth change failed")

    def _stop_plugin_server(self) -> None:
        if self.plugin_server is not None:
            self.plugin_server.stop()
            self.plugin_server = None
        if self._socket_directory is not None:
            self._socket_directory.remove()
            self._socket_directory = None

    def stop(self) -> None:
        self._stopping.set()
        self.cloud.auth_applier = None
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self.job_timers.stop()
        if self.registration_runner is not None:
            self.registration_runner.stop()
            self.registration_runner = None
        if self.object_server is not None:
            self.object_server.stop()
            self.object_server = None
        if self.api_server is not None:
            self.api_server.stop()
            self.api_server = None
        if self.file_server is not None:
            self.file_server.stop()
            self.file_server = None
        if self.presence is not None:
            self.presence.stop()
        self._stop_rules()
        self.dispatcher.stop()
        if self.service is not None:
            self.service.stop()
            self.service = None
            self.shadow_responder = self.presence = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        self._stop_plugin_server()
        endpoint.remove(self.home, os.getpid())


@contextmanager
def temporary_cloud(prefix: str = "cloud-home-", objects: bool = False) -> Iterator[CloudRuntime]:
    """A running cloud (broker + service) in a private throwaway home (mode 0700, as mosquitto
    needs it when run as root); stopped, its database closed and the home removed on exit.
    With `objects` also the object store (S3) and the bulk registration tasks."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        home = Path(tmp)
        home.chmod(0o700)
        runtime = CloudRuntime(home, objects=objects)
        runtime.start()
        try:
            yield runtime
        finally:
            runtime.stop()
            runtime.cloud.close()
