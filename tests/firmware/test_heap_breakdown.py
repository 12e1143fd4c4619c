"""The heap breakdown of rig/benchmarks/_heap.py on a configured board's flash (unix port, shims):
what stays imported after boot (the network modules, not the config page's), and that the parts
add up."""

from __future__ import annotations

import json
from pathlib import Path

from host.deploy import firmware_sources
from host.mpy import compile_module
from host.paths import BOARDS_DIR
from rig.benchmarks import _heap
from rig.cloud.certificates.ca import CertificateAuthority

PEAK = 200_000  # any peak: the runtime share is what is left of it


def _configured_flash(root: Path) -> Path:
    flash = root / "flash"
    for src in firmware_sources():
        if src.stem != "main":
            compile_module(src, flash / f"{src.stem}.mpy")
    compile_module(BOARDS_DIR / "emulated" / "board.py", flash / "board.mpy")
    ca = CertificateAuthority(root / "ca")
    issued = ca.issue_client_certificate("G030JF055364XVRB")
    assert issued.private_key_der is not None
    (flash / "pki").mkdir()
    (flash / "pki" / "cert.der").write_bytes(issued.certificate_der)
    (flash / "pki" / "key.der").write_bytes(issued.private_key_der)
    (flash / "pki" / "ca.der").write_bytes(ca.certificate_der)
    netcfg = {"ssid": "home", "password": "password123", "host": "localhost", "port": 8883}
    (flash / "netcfg.json").write_text(json.dumps(netcfg))
    return flash


def test_a_configured_boot_keeps_the_network_modules_and_not_the_config_page(
    tmp_path: Path,
) -> None:
    b = _heap.breakdown(_configured_flash(tmp_path), PEAK)
    assert {"app", "connection", "mqtt", "outbox", "wifi", "clock"} <= set(b.modules)
    assert "services" not in b.modules  # the wiring runs once at boot
    assert not {"configap", "httpd", "form", "pem"} & set(b.modules)
    # read once at boot: the TLS context holds the certificates, nothing needs them again
    assert not {"certs", "netcfg"} & set(b.modules)
    assert b.code == sum(size for size, _ in b.modules.values())
    assert all(size > 0 for size, _ in b.modules.values())
    assert 0 < b.interpreter < b.stdlib < b.code and b.shims > 0
    assert b.boot > 3000  # the TLS context alone holds the parsed certificates
    assert b.interpreter + b.stdlib + b.shims + b.code + b.boot + b.runtime == PEAK
    assert b.firmware_own == PEAK - b.interpreter - b.shims
