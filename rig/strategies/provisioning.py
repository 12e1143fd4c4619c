"""Provisioning strategy: bring an emulated button from blank to connected as a customer does.

The rig plays every role a person plays with a real AWS IoT button:

1. the cloud console: create the thing, its certificate and policy (`Cloud.provision_button`);
2. the home network: an access point with an SSID and password on the board's virtual radio;
3. the button: config mode (a blank board opens it by itself; a configured one is held >= 6 s);
4. the phone: join the button's access point `Button ConfigureMe - XXX` with the last eight
   characters of the serial (the label), open the page and submit the form, certificate and key
   pasted as PEM files;
5. then watch the board reboot, join the network and connect (`mqtt` `up`).

A board started again (`buttonrig emulate stop` + `start`) is set up only when what it keeps on
flash no longer works with this cloud (another endpoint or network, a certificate that is not
ACTIVE or not its thing's). Then the firmware's own factory reset (`certs.factory_reset()`: key,
certificates and network configuration erased; settings, serial and unsent clicks kept) runs on
its flash before it starts, so it opens config mode by itself as a new button does: the 6 s hold
that would reopen it also makes a LONG click (docs/architecture.md decision 7), a press nobody
made. The certificate it had is made INACTIVE once the new one is connected, as AWS's guide
rotates a device certificate (UpdateCertificate), so replaced certificates do not pile up ACTIVE.

What a board *is* lives in `rig.drivers`; how it is driven is its driver; this module only brings a
board to a state. `ConfigPage` is the phone's HTTP client for the board's page.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.provision import Identity
from rig.backends.base import CloudBackend
from rig.cloud.api import Cloud
from rig.cloud.certificates.ca import certificate_id_of
from rig.drivers.emulated import EmulatedBoard
from rig.mqtt.endpoint import BrokerEndpoint
from rig.unix_port.process import run_mp

CONFIG_HOLD_MS = 6500  # firmware: config mode on a hold of >= 6 s
WAIT_S = 60.0  # generous: boots, joins and TLS handshakes on a loaded 2-core CI machine
HTTP_TIMEOUT_S = 30.0


class ProvisioningError(AssertionError):
    """A step of the customer's setup did not do what it should; the message says what was seen."""


def identity_from_cloud(home: Path, thing_name: str) -> tuple[Identity, dict[str, Any] | None]:
    """A new certificate for `thing_name` from the reference cloud in `home` (thing, policy and
    certificate are created and attached there), as the plain data host.provision writes to a
    board; also the running cloud's endpoint (`host`, `port`), if one runs."""
    cloud = Cloud(home)
    try:
        issued = cloud.provision_button(thing_name)
    finally:
        cloud.close()
    identity = Identity(issued["certificateDer"], issued["privateKeyDer"], issued["caDer"])
    return identity, issued.get("endpoint")


@dataclass(frozen=True)
class Network:
    """The customer's Wi-Fi access point on the virtual radio."""

    ssid: str = "home-network"
    password: str = "correct horse battery"
    rssi: int = -52
    dhcp: bool = True

    def ap(self, **changes: Any) -> dict[str, Any]:
        ap = {"ssid": self.ssid, "password": self.password, "rssi": self.rssi, "dhcp": self.dhcp}
        ap.update(changes)
        return ap

    def __repr__(self) -> str:  # never the password
        return f"Network(ssid={self.ssid!r}, password=<hidden>)"


@dataclass(frozen=True)
class Page:
    status: int
    body: str

    def errors(self) -> dict[str, str]:
        """Field name -> message of the error list on the page."""
        found = re.findall(
            r'<li class="error" data-field="([^"]+)">[^:]*: ([^<]*)</li>', self.body
        )
        return dict(found)


@dataclass
class FilePart:
    """A file the customer picks in the form (name as downloaded from the console)."""

    filename: str
    data: bytes


def multipart(fields: Mapping[str, str | bytes | FilePart]) -> tuple[str, bytes]:
    """(content type, body) of a multipart/form-data form as a browser sends it."""
    boundary = "----buttonrig" + uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += f"--{boundary}\r\n".encode()
        if isinstance(value, FilePart):
            out += (
                f'Content-Disposition: form-data; name="{name}"; filename="{value.filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            out += value.data
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            out += value if isinstance(value, bytes) else value.encode()
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(out)


class ConfigPage:
    """The phone's side of the board's configuration page (emulated: a loopback port)."""

    def __init__(self, board: EmulatedBoard) -> None:
        self.board = board

    def join(self, password: str, timeout: float = WAIT_S) -> bool:
        """Join the board's access point with `password`; whether the board let us in."""
        start = len(self.board.messages)
        self.board.send({"op": "ap_join", "password": password})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.board.messages[start:]:
                if msg.get("op") == "ap_join" and "ok" in msg:
                    return bool(msg["ok"])
            time.sleep(0.02)
        raise ProvisioningError(f"{self.board.name}: no answer to ap_join within {timeout} s")

    def request(
        self, method: str, path: str = "/", body: bytes | None = None, content_type: str = ""
    ) -> Page:
        conn = http.client.HTTPConnection("127.0.0.1", self.board.ap_port, timeout=HTTP_TIMEOUT_S)
        try:
            headers = {"Content-Type": content_type} if content_type else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return Page(response.status, response.read().decode(errors="replace"))
        finally:
            conn.close()

    def get(self) -> Page:
        return self.request("GET", "/")

    def submit(self, fields: Mapping[str, str | bytes | FilePart]) -> Page:
        content_type, body = multipart(fields)
        return self.request("POST", "/configure", body, content_type)

    def raw(self, data: bytes, timeout: float = HTTP_TIMEOUT_S) -> bytes:
        """Send raw bytes, half-close, return everything the board answered."""
        import socket

        with socket.create_connection(("127.0.0.1", self.board.ap_port), timeout) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            chunks: list[bytes] = []
            try:
                while chunk := s.recv(65536):
                    chunks.append(chunk)
            except ConnectionResetError:
                if not chunks:
                    raise  # reset before any answer
        return b"".join(chunks)


def label_serial(board: EmulatedBoard) -> str:
    """The serial number on the board's label: the `serial` file the factory wrote, else the
    chip's id (firmware/identity.py)."""
    try:
        return board.read_file("serial").decode().strip()
    except FileNotFoundError:
        return "ESP32-" + board.unique_id.upper()


def ap_password(serial: str) -> str:
    return serial[-8:]


@dataclass
class Provisioned:
    """What the setup produced. `secrets` holds the key material a console must never show."""

    serial: str
    certificate_id: str
    certificate_arn: str
    policy_name: str
    network: Network
    endpoint: str
    secrets: list[str] = field(repr=False, default_factory=list)


def endpoint_text(endpoint: BrokerEndpoint) -> str:
    return f"{endpoint.server_hostname}:{endpoint.port}"


@dataclass(frozen=True)
class StoredSetup:
    """What a set-up board keeps on flash about where it connects and as whom (never its key or
    the Wi-Fi password): the endpoint as the form took it, the SSID, its certificate's id."""

    endpoint: str
    ssid: str
    certificate_id: str


def stored_setup(board: EmulatedBoard) -> StoredSetup | None:
    """The board's stored set-up (firmware netcfg.json and pki/cert.der), or None when it has
    none or only part of one."""
    try:
        network = json.loads(board.read_file("netcfg.json"))
        certificate = board.read_file("pki/cert.der")
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(network, dict):
        return None
    return StoredSetup(
        f"{network.get('host')}:{network.get('port')}",
        str(network.get("ssid")),
        certificate_id_of(certificate),
    )


def factory_reset(board: EmulatedBoard) -> None:
    """The firmware's own factory reset on a stopped board's flash, run by the unix port as
    `mpremote exec` would run it on a physical board."""
    if board.state == "running":
        raise ProvisioningError(f"{board.name}: a factory reset needs the board stopped")
    run_mp("import certs\ncerts.factory_reset()\n", path=(), workdir=board.flash)


class CustomerSetup:
    """The strategy: `CustomerSetup(backend).provision(board)` → a connected board, on whichever
    cloud the backend is (rig/backends)."""

    def __init__(self, backend: CloudBackend, network: Network | None = None) -> None:
        self.backend = backend
        self.endpoint = backend.endpoint
        self.network = network or Network()

    def still_set_up(self, board: EmulatedBoard) -> StoredSetup | None:
        """The board's stored set-up when it still works here: this endpoint and network, and a
        certificate that is ACTIVE and attached to the board's thing; else None."""
        stored = stored_setup(board)
        if (
            stored is None
            or stored.endpoint != endpoint_text(self.endpoint)
            or stored.ssid != self.network.ssid
        ):
            return None
        active = self.backend.certificate_status(stored.certificate_id) == "ACTIVE"
        attached = _certificate_arn(
            self.backend.thing_principals(label_serial(board)), stored.certificate_id
        )
        return stored if active and attached else None

    def resume(
        self, board: EmulatedBoard, stored: StoredSetup, timeout: float = WAIT_S
    ) -> Provisioned:
        """A board that is still set up (`still_set_up`), started with its network around it
        (`set_radio` before the start): connected. Nothing is created in the cloud and nothing
        is pressed."""
        board.expect("mqtt", timeout, state="up")
        serial = label_serial(board)
        arn = _certificate_arn(self.backend.thing_principals(serial), stored.certificate_id)
        policies = self.backend.attached_policies(arn) if arn else []
        return Provisioned(
            serial=serial,
            certificate_id=stored.certificate_id,
            certificate_arn=arn or "",
            policy_name=policies[0] if policies else "",
            network=self.network,
            endpoint=stored.endpoint,
        )

    def provision(
        self, board: EmulatedBoard, timeout: float = WAIT_S, replaces: str | None = None
    ) -> Provisioned:
        """Set the board up as a new button; `replaces`, the id of the certificate it had, is
        made INACTIVE once the board is connected with its new one."""
        serial = label_serial(board)
        identity = self.backend.provision_board(serial)
        set_radio(board, [self.network.ap()])
        page = enter_config_mode(board, timeout)
        shown = page.get()
        if shown.status != 200 or f"device: {serial}" not in shown.body:
            raise ProvisioningError(
                f"config page of {board.name} does not name serial {serial}: {shown.status}"
                f" {shown.body[:300]!r}"
            )
        answer = page.submit(
            {
                "ssid": self.network.ssid,
                "password": self.network.password,
                "cert": FilePart(
                    f"{serial}-certificate.pem.crt", identity.certificate_pem.encode()
                ),
                "key": FilePart(f"{serial}-private.pem.key", identity.private_key_pem.encode()),
                "ca": FilePart("AmazonRootCA1.pem", identity.ca_pem.encode()),
                "endpoint": endpoint_text(self.endpoint),
            }
        )
        if answer.status != 200:
            raise ProvisioningError(
                f"{board.name} refused the configuration ({answer.status}): {answer.errors()}"
            )
        board.expect("config", timeout, state="applied")
        board.expect("boot", timeout)
        board.expect("mqtt", timeout, state="up")
        if replaces is not None and replaces != identity.certificate_id:
            self._deactivate(replaces)
        return Provisioned(
            serial=serial,
            certificate_id=identity.certificate_id,
            certificate_arn=identity.certificate_arn,
            policy_name=identity.policy_name,
            network=self.network,
            endpoint=endpoint_text(self.endpoint),
            secrets=secrets_of(identity.private_key_pem, identity.private_key_der, self.network),
        )

    def _deactivate(self, certificate_id: str) -> None:
        # deleted meanwhile (None): nothing left to deactivate
        if self.backend.certificate_status(certificate_id) == "ACTIVE":
            self.backend.set_certificate_status(certificate_id, "INACTIVE")


def _certificate_arn(principals: list[str], certificate_id: str) -> str | None:
    """The principal among `principals` that is the certificate with this id, if attached."""
    return next((p for p in principals if p.endswith(f":cert/{certificate_id}")), None)


def reconfigure(
    board: EmulatedBoard, fields: Mapping[str, str | bytes | FilePart], timeout: float = WAIT_S
) -> None:
    """The customer changes some fields (empty ones keep their values): hold >= 6 s, join the
    access point, submit, and wait for the board to boot with the new configuration."""
    page = enter_config_mode(board, timeout)
    answer = page.submit(fields)
    if answer.status != 200:
        raise ProvisioningError(
            f"{board.name} refused the configuration ({answer.status}): {answer.errors()}"
        )
    board.expect("config", timeout, state="applied")
    board.expect("boot", timeout)


def enter_config_mode(board: EmulatedBoard, timeout: float = WAIT_S) -> ConfigPage:
    """Config mode open and the phone on the board's access point. A blank board opens config
    mode by itself (after its solid orange); any other is held for more than 6 s, as the customer
    would."""
    if not _offers_config_mode(board, timeout):
        board.press([(0, True), (CONFIG_HOLD_MS, False)])
        board.expect("config", timeout, state="open")
    page = ConfigPage(board)
    serial = label_serial(board)
    if not page.join(ap_password(serial)):
        raise ProvisioningError(f"{board.name}: the access point refused password of {serial}")
    return page


def _offers_config_mode(board: EmulatedBoard, timeout: float) -> bool:
    """Whether config mode is open now; a blank board (solid orange) is given `timeout` to open
    it by itself. A board showing anything else (connecting, off, an error) is not offering it."""
    deadline = time.monotonic() + timeout
    while True:
        events = board.events()
        boots = [i for i, e in enumerate(events) if e["ev"] == "boot"]
        since_boot = events[boots[-1] :] if boots else events
        config = [e.get("state") for e in since_boot if e["ev"] == "config"]
        leds = [e.get("pattern") for e in since_boot if e["ev"] == "led"]
        if config and config[-1] == "open":
            return True
        if leds and leds[-1] not in ("unconfigured", "config"):
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def secrets_of(key_pem: str, der: bytes, network: Network) -> list[str]:
    """Strings that must never appear on a console or in a log: the Wi-Fi password, the key as
    PEM, its base64 body lines, and its DER as hex."""
    lines = [
        line
        for line in key_pem.splitlines()
        if line and not line.startswith("-----") and len(line) >= 16
    ]
    return [network.password, key_pem.strip(), *lines, der.hex(), der.hex().upper()]


def leaks(text: str, secrets: list[str]) -> list[str]:
    """Which secrets appear in `text` (named by length and start only, never in full)."""
    return [f"<{len(s)} chars starting {s[:2]!r}…>" for s in secrets if s and s in text]


def set_radio(board: EmulatedBoard, aps: list[dict[str, Any]], connect_ms: int = 300) -> None:
    """The access points around the board, now and after every restart (they are part of the
    world, not of the board's process): the `radio` op and `BUTTONRIG_RADIO` for the next start."""
    radio = {"aps": aps, "connect_ms": connect_ms}
    board.env["BUTTONRIG_RADIO"] = json.dumps(radio)
    if board.state == "running":
        board.send({"op": "radio", **radio})


__all__ = [
    "ConfigPage",
    "CustomerSetup",
    "FilePart",
    "Network",
    "Provisioned",
    "ProvisioningError",
    "StoredSetup",
    "enter_config_mode",
    "factory_reset",
    "leaks",
    "multipart",
    "reconfigure",
    "secrets_of",
    "set_radio",
    "stored_setup",
]
