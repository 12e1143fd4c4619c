"""The rig's HTTPS file server for OTA files (rig/cloud/files/server.py): whole files, byte
ranges a device resumes with, every traversal attempt refused, TLS verified against the cloud's
own CA and refused without it; `cloud up` runs it on the port remembered in the home."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.cloud.api import Cloud
from rig.cloud.files.server import FileServer, files_dir, remembered_port
from rig.cloud.runtime import CloudRuntime, Identities
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

PAYLOAD = bytes(range(256)) * 40 + b"tail"  # 10244 bytes, every byte value


class Served:
    def __init__(self, home: Path, ca_file: Path, port: int) -> None:
        self.home, self.ca_file, self.port = home, ca_file, port

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def get(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPSConnection(
            "localhost", self.port, context=self.context(), timeout=10
        )
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("ota-files")
    cloud = Cloud(home)
    server = FileServer(home, *Identities(cloud.ca, cloud.directory / "identities").server_files())
    port = server.start()
    root = files_dir(home)
    (root / "fw.tar").write_bytes(PAYLOAD)
    (root / "sub").mkdir()
    (root / "sub" / "doc.json").write_text('{"operation": "ota"}')
    (home / "secret.txt").write_text("not served")
    (root / "escape").symlink_to(home / "secret.txt")
    (root / "%2e%2e").write_text("a file with a strange name")
    try:
        yield Served(home, cloud.ca.certificate_file, port)
    finally:
        server.stop()
        cloud.close()


def test_a_whole_file_with_its_length(served: Served) -> None:
    status, headers, body = served.get("/fw.tar")
    assert status == 200
    assert body == PAYLOAD
    assert headers["Content-Length"] == str(len(PAYLOAD))
    assert headers["Accept-Ranges"] == "bytes"
    status, _, body = served.get("/sub/doc.json")
    assert (status, body) == (200, b'{"operation": "ota"}')


def test_head_gives_the_length_without_the_body(served: Served) -> None:
    status, headers, body = served.get("/fw.tar", method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", str(len(PAYLOAD)))


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=10000-", 10000, 10243),
        ("bytes=-4", 10240, 10243),
        ("bytes=10200-99999", 10200, 10243),
    ],
)
def test_a_byte_range_resumes_a_download(
    served: Served, header: str, first: int, last: int
) -> None:
    status, headers, body = served.get("/fw.tar", {"Range": header})
    assert status == 206
    assert body == PAYLOAD[first : last + 1]
    assert headers["Content-Range"] == f"bytes {first}-{last}/{len(PAYLOAD)}"
    assert headers["Content-Length"] == str(last - first + 1)


def test_a_download_resumed_where_it_stopped_is_the_file(served: Served) -> None:
    _, _, head = served.get("/fw.tar", {"Range": "bytes=0-4095"})
    _, _, rest = served.get("/fw.tar", {"Range": f"bytes={len(head)}-"})
    assert head + rest == PAYLOAD


def test_several_ranges_get_the_whole_file(served: Served) -> None:
    status, headers, body = served.get("/fw.tar", {"Range": "bytes=0-1,5-6"})
    assert (status, body) == (200, PAYLOAD)
    assert "Content-Range" not in headers


def test_a_range_past_the_end_is_416(served: Served) -> None:
    status, headers, _ = served.get("/fw.tar", {"Range": f"bytes={len(PAYLOAD)}-"})
    assert status == 416
    assert headers["Content-Range"] == f"bytes */{len(PAYLOAD)}"


def test_a_missing_file_or_a_directory_is_404(served: Served) -> None:
    assert served.get("/nope.tar")[0] == 404
    assert served.get("/sub")[0] == 404
    assert served.get("/sub/")[0] == 400  # an empty segment


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/sub/../fw.tar",  # even one that stays inside: dot segments are never taken
        "/./fw.tar",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/sub%2f..%2f..%2fsecret.txt",
        "/%2fetc%2fpasswd",
        "/..%5csecret.txt",
        "/fw.tar%00.json",
        "/%ff",
        "fw.tar",
    ],
)
def test_traversal_attempts_are_refused(served: Served, path: str) -> None:
    status, _, body = served.get(path)
    assert status == 400, (path, status)
    assert b"not served" not in body


def test_an_absolute_path_is_looked_up_inside_the_directory(served: Served) -> None:
    # http.server folds leading slashes into one (CPython gh-87389): a name under files/
    (served.home / "files" / "etc").mkdir(exist_ok=True)
    assert served.get("//etc/passwd")[0] == 404
    (served.home / "files" / "etc" / "passwd").write_text("inside")
    assert served.get("//etc/passwd")[0:3:2] == (200, b"inside")


def test_a_symlink_out_of_the_directory_is_404(served: Served) -> None:
    status, _, body = served.get("/escape")
    assert status == 404
    assert b"not served" not in body


def test_a_double_encoded_dot_dot_is_only_a_name(served: Served) -> None:
    assert served.get("/%252e%252e")[0:3:2] == (200, b"a file with a strange name")
    assert served.get("/%252e%252e/secret.txt")[0] == 404


def test_tls_is_verified_against_the_clouds_ca(served: Served) -> None:
    # the default trust store does not know the cloud's CA: the handshake fails
    connection = http.client.HTTPSConnection(
        "localhost", served.port, context=ssl.create_default_context(), timeout=10
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        connection.request("GET", "/fw.tar")
    connection.close()
    # the server still answers the next client (the failed handshake held up nobody)
    assert served.get("/fw.tar")[0] == 200


def test_cloud_up_serves_the_homes_files_on_its_remembered_port(
    cloud_runtime: CloudRuntime,
) -> None:
    home = cloud_runtime.home
    port = remembered_port(home)
    assert port is not None and cloud_runtime.file_server is not None
    assert cloud_runtime.file_server.port == port
    assert cloud_runtime.endpoint_document()["files_url"] == f"https://localhost:{port}/"
    (files_dir(home) / "hello.json").write_text("{}")
    served = Served(home, cloud_runtime.cloud.ca.certificate_file, port)
    assert served.get("/hello.json")[0:3:2] == (200, b"{}")
    assert os.stat(files_dir(home)).st_mode & 0o777  # made by cloud up


def test_a_bundle_reaches_a_job_through_cloud_up(
    cloud_runtime: CloudRuntime, tmp_path: Path
) -> None:
    """The whole OTA path on a running cloud: bundle, create-job --document-source on the served
    document, the job's document names a URL that serves the bundle with its sha256."""
    home = cloud_runtime.home
    build = tmp_path / "build"
    build.mkdir()
    (build / "app.mpy").write_bytes(b"M\x06" + bytes(5000))
    run(home, "iot", "create-thing", "--thing-name", "ota-1")
    document = run_json(home, "jobs", "bundle", str(build), "--version", "9.9.9")
    port = remembered_port(home)
    run(
        home,
        "iot",
        "create-job",
        "--job-id",
        "ota-999",
        "--targets",
        "arn:aws:iot:us-east-1:123456789012:thing/ota-1",
        "--document-source",
        f"https://localhost:{port}/firmware-9.9.9.json",
    )
    stored = run_json(home, "iot", "get-job-document", "--job-id", "ota-999")["document"]
    assert json.loads(stored) == document
    served = Served(home, cloud_runtime.cloud.ca.certificate_file, port or 0)
    status, headers, body = served.get("/" + document["url"].rsplit("/", 1)[1])
    assert status == 200 and int(headers["Content-Length"]) == document["size"]
    assert hashlib.sha256(body).hexdigest() == document["sha256"]
