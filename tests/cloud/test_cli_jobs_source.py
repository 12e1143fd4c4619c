"""`buttonrig iot create-job --document-source URL`: the document fetched when the job is
created, from the rig's HTTPS file server (verified with the cloud's CA) or a local file; a
missing, non-JSON or non-object document, or another scheme, refused with nothing created."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.cloud.api import Cloud
from rig.cloud.files.server import FileServer, files_dir
from rig.cloud.runtime import Identities
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json

THING_ARN = "arn:aws:iot:us-east-1:123456789012:thing/b1"
DOC = {"operation": "ota", "version": "1.2.0"}


@pytest.fixture(scope="module")
def served_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    home = tmp_path_factory.mktemp("jobs-source") / "home"
    home.mkdir(mode=0o700)
    run(home, "iot", "create-thing", "--thing-name", "b1")
    cloud = Cloud(home)
    server = FileServer(home, *Identities(cloud.ca, cloud.directory / "identities").server_files())
    port = server.start()
    root = files_dir(home)
    (root / "doc.json").write_text(json.dumps(DOC))
    (root / "broken.json").write_text('{"operation": ')
    (root / "list.json").write_text("[1, 2]")
    (root / "latin1.json").write_bytes(b'{"v": "\xe9"}')
    try:
        yield home, port
    finally:
        server.stop()
        cloud.close()


def _create(home: Path, job_id: str, source: str, ok: bool = True) -> str:
    result = run(
        home,
        "iot",
        "create-job",
        "--job-id",
        job_id,
        "--targets",
        THING_ARN,
        "--document-source",
        source,
        ok=ok,
    )
    return result.stderr


def _refused(home: Path, job_id: str, source: str) -> str:
    stderr = _create(home, job_id, source, ok=False)
    assert "An error occurred (InvalidRequestException) when calling the CreateJob" in stderr
    assert "Traceback" not in stderr
    missing = run(home, "iot", "describe-job", "--job-id", job_id, ok=False)
    assert "ResourceNotFoundException" in missing.stderr  # nothing was created
    return stderr


def test_a_document_from_the_rigs_file_server(served_home: tuple[Path, int]) -> None:
    home, port = served_home
    _create(home, "from-https", f"https://localhost:{port}/doc.json")
    document = run_json(home, "iot", "get-job-document", "--job-id", "from-https")["document"]
    assert json.loads(document) == DOC
    described = run_json(home, "iot", "describe-job", "--job-id", "from-https")
    assert described["documentSource"] == f"https://localhost:{port}/doc.json"


def test_a_document_from_a_local_file(served_home: tuple[Path, int], tmp_path: Path) -> None:
    home, _ = served_home
    local = tmp_path / "local.json"
    local.write_text(json.dumps({"operation": "reboot"}))
    _create(home, "from-file", f"file://{local}")
    document = run_json(home, "iot", "get-job-document", "--job-id", "from-file")["document"]
    assert json.loads(document) == {"operation": "reboot"}


def test_a_missing_document_is_refused(served_home: tuple[Path, int], tmp_path: Path) -> None:
    home, port = served_home
    assert "404" in _refused(home, "missing", f"https://localhost:{port}/nope.json")
    assert "nope.json" in _refused(home, "missing-file", f"file://{tmp_path}/nope.json")


@pytest.mark.parametrize(
    ("name", "why"), [("broken.json", "JSON"), ("list.json", "object"), ("latin1.json", "UTF-8")]
)
def test_a_document_that_is_not_a_json_object_is_refused(
    served_home: tuple[Path, int], name: str, why: str
) -> None:
    home, port = served_home
    assert why in _refused(home, f"bad-{name[:-5]}", f"https://localhost:{port}/{name}")


@pytest.mark.parametrize(
    "source",
    ["s3://bucket/doc.json", "http://localhost/doc.json", "ftp://x/doc.json", "doc.json"],
)
def test_other_schemes_are_refused_naming_the_supported_ones(
    served_home: tuple[Path, int], source: str
) -> None:
    home, _ = served_home
    stderr = _refused(home, "scheme", source)
    assert "https://" in stderr and "file://" in stderr


def test_a_server_the_clouds_ca_did_not_sign_is_refused(
    served_home: tuple[Path, int], tmp_path: Path
) -> None:
    home, _ = served_home
    other = Cloud(tmp_path)  # another home: another CA
    server = FileServer(tmp_path, *Identities(other.ca, tmp_path / "ids").server_files())
    port = server.start()
    (files_dir(tmp_path) / "doc.json").write_text(json.dumps(DOC))
    try:
        stderr = _refused(home, "foreign", f"https://localhost:{port}/doc.json")
    finally:
        server.stop()
        other.close()
    assert "CERTIFICATE_VERIFY_FAILED" in stderr


def test_no_file_server_running_is_refused_pointing_at_cloud_up(
    served_home: tuple[Path, int],
) -> None:
    home, _ = served_home
    assert "cloud up" in _refused(home, "closed", "https://localhost:1/doc.json")


def test_document_and_document_source_together_are_refused(
    served_home: tuple[Path, int],
) -> None:
    home, port = served_home
    result = run(
        home,
        "iot",
        "create-job",
        "--job-id",
        "both",
        "--targets",
        THING_ARN,
        "--document",
        "{}",
        "--document-source",
        f"https://localhost:{port}/doc.json",
        ok=False,
    )
    assert "InvalidRequestException" in result.stderr
