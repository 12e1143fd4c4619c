"""The broker's trust in registered CAs: an OpenSSL hash directory (mosquitto's `capath`).

Mosquitto verifies a client certificate in OpenSSL during the TLS handshake, before our plugin
sees the connection: a device certificate from the owner's CA must chain to a trusted
certificate there, so the real verification stays. mosquitto hands `capath` to
SSL_CTX_load_verify_locations (src/net.c), i.e. OpenSSL's X509_LOOKUP_hash_dir, which looks a
certificate up by file name (`<subject name hash>.<n>`, as `openssl rehash`/`c_rehash` name
them) when a chain needs an issuer it has not loaded yet: a CA written here is trusted by the
running broker at its next handshake, no restart (tests/cloud/test_ca_registration_broker.py).
OpenSSL keeps what it loaded for the broker's life, so removing a file does not untrust a CA in a
running broker: the plugin's CONNECT decision refuses what the registry no longer allows.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path


def subject_hash(certificate_pem: str) -> str:
    """OpenSSL's X509_subject_name_hash, as the hash directory names files (8 hex digits)."""
    done = subprocess.run(
        ["openssl", "x509", "-noout", "-subject_hash"],
        input=certificate_pem.encode(),
        capture_output=True,
        check=True,
    )
    return done.stdout.decode().strip()


class TrustDirectory:
    """Writes the registered CAs into `path` under their hash names; `sync()` after a change."""

    def __init__(self, path: Path, group: int | None = None) -> None:
        self.path = path
        self._group = group  # the broker's group when it runs as its own user
        self._hashes: dict[str, str] = {}  # CA id -> subject hash (openssl runs once per CA)

    def sync(self, cas: Iterable[tuple[str, str]]) -> None:
        """Make the directory hold exactly `cas` ((id, PEM)); files are replaced atomically."""
        by_hash: dict[str, list[tuple[str, str]]] = {}
        for ca_id, certificate_pem in sorted(cas):
            if ca_id not in self._hashes:
                self._hashes[ca_id] = subject_hash(certificate_pem)
            by_hash.setdefault(self._hashes[ca_id], []).append((ca_id, certificate_pem))
        wanted: dict[str, bytes] = {}
        for name_hash, members in by_hash.items():
            # OpenSSL reads <hash>.0, .1, … and stops at the first missing suffix: no gaps
            for index, (_ca_id, certificate_pem) in enumerate(members):
                wanted[f"{name_hash}.{index}"] = certificate_pem.encode()
        for name, data in wanted.items():
            target = self.path / name
            if target.exists() and target.read_bytes() == data:
                continue
            temporary = self.path / f".{name}.tmp"
            temporary.write_bytes(data)
            if self._group is not None:
                os.chown(temporary, -1, self._group)
            os.chmod(temporary, 0o640)
            os.replace(temporary, target)
        for stale in self.path.iterdir():
            if not stale.name.startswith(".") and stale.name not in wanted:
                stale.unlink(missing_ok=True)
