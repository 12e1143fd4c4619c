"""`buttonrig jobs bundle`: a firmware build packed into one file under `<home>/files/`, and the
OTA job document (docs/contracts.md "OTA job document") whose sha256 and size are the file's;
served by the file server, a truncated download fails the SHA-256."""

from __future__ import annotations

import hashlib
import http.client
import json
import ssl
import tarfile
from pathlib import Path

from rig.cloud.api import Cloud
from rig.cloud.files.server import FileServer, files_dir, remembered_port
from rig.cloud.runtime import Identities
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

REPO = Path(__file__).resolve().parents[2]


def _build(directory: Path) -> Path:
    """A build as deploy leaves it: .mpy modules, and a .py the .mpy shadows."""
    directory.mkdir()
    (directory / "app.mpy").write_bytes(b"M\x06\x00\x1f" + bytes(300))
    (directory / "clicks.mpy").write_bytes(b"M\x06\x00\x1f" + bytes(range(200)))
    (directory / "main.py").write_text("import app\n")
    (directory / "app.py").write_text("stale source\n")
    (directory / "manifest.py").write_text("freeze('.')\n")
    (directory / "notes.txt").write_text("not firmware\n")
    return directory


def test_the_document_matches_the_bundle(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build = _build(tmp_path / "build")
    document = run_json(home, "jobs", "bundle", str(build), "--version", "1.2.0")
    port = remembered_port(home)
    assert port is not None  # picked now, the port the next cloud up listens on
    name = "firmware-1.2.0.tar"
    bundle = files_dir(home) / name
    data = bundle.read_bytes()
    assert document == {
        "operation": "ota",
        "version": "1.2.0",
        "url": f"https://localhost:{port}/{name}",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    with tarfile.open(bundle) as tar:
        assert tar.getnames() == ["app.mpy", "clicks.mpy", "main.py"]
        app = tar.extractfile("app.mpy")
        assert app is not None and app.read() == (build / "app.mpy").read_bytes()
    # the document is served beside it, for create-job --document-source
    assert json.loads((files_dir(home) / "firmware-1.2.0.json").read_text()) == document


def test_the_same_build_twice_is_the_same_bundle(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build = _build(tmp_path / "build")
    first = run_json(home, "jobs", "bundle", str(build), "--version", "1")
    assert run_json(home, "jobs", "bundle", str(build), "--version", "1") == first
    (build / "app.mpy").write_bytes(b"changed")  # a URL's content never changes under a device
    result = run(home, "jobs", "bundle", str(build), "--version", "1", ok=False)
    assert result.returncode != 0 and "already" in result.stderr


def test_the_firmware_sources_with_their_own_version(tmp_path: Path) -> None:
    home = tmp_path / "home"
    document = run_json(home, "jobs", "bundle", str(REPO / "firmware"))
    version = (REPO / "firmware" / "identity.py").read_text().split('FW_VERSION = "')[1][:5]
    assert document["version"] == version
    with tarfile.open(files_dir(home) / f"firmware-{version}.tar") as tar:
        names = tar.getnames()
    assert "main.py" in names and "app.py" in names and "manifest.py" not in names


def test_a_build_for_a_board_is_what_deploy_writes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    board = "esp32-devkitc"
    document = run_json(home, "jobs", "bundle", str(REPO / "firmware"), "--board", board)
    with tarfile.open(files_dir(home) / Path(document["url"]).name) as tar:
        names = tar.getnames()
    assert "main.py" in names and "board.mpy" in names and "app.mpy" in names
    assert not any(name.endswith(".py") and name != "main.py" for name in names)


def test_refusals(tmp_path: Path) -> None:
    home = tmp_path / "home"
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (
        (str(empty), "--version", "1"),  # no modules
        (str(tmp_path / "nope"), "--version", "1"),
        (str(_build(tmp_path / "b")),),  # no identity.py: --version needed
        (str(tmp_path / "b"), "--version", "../x"),
    ):
        result = run(home, "jobs", "bundle", *args, ok=False)
        assert result.returncode != 0 and "Traceback" not in result.stderr, args
        assert result.stderr.startswith("buttonrig: "), result.stderr


def test_a_truncated_download_fails_the_sha256(tmp_path: Path) -> None:
    home = tmp_path / "home"
    document = run_json(home, "jobs", "bundle", str(_build(tmp_path / "b")), "--version", "2")
    cloud = Cloud(home)
    server = FileServer(home, *Identities(cloud.ca, cloud.directory / "identities").server_files())
    port = server.start()
    try:
        assert document["url"] == f"https://localhost:{port}/firmware-2.tar"
        context = ssl.create_default_context(cafile=str(cloud.ca.certificate_file))
        connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=10)
        connection.request("GET", "/firmware-2.tar")
        whole = connection.getresponse().read()
        connection.close()
    finally:
        server.stop()
        cloud.close()
    assert (len(whole), hashlib.sha256(whole).hexdigest()) == (
        document["size"],
        document["sha256"],
    )
    truncated = whole[: document["size"] - 1]
    assert hashlib.sha256(truncated).hexdigest() != document["sha256"]
