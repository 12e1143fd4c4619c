"""Outfiles (`iot-data … outfile`, `--certificate-pem-outfile …`): regular files are replaced
atomically (through a symlink to its target), pipes and devices are written through, and a
failed write is a `buttonrig:` error with a non-zero exit."""

from __future__ import annotations

import errno
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from rig.commands.errors import CommandError
from rig.commands.outfiles import write_outfile
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_subprocess

PAYLOAD = '{"state": {"reported": {"pressed": 1}}}'


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with a shadow for thing `lamp`."""
    path = tmp_path_factory.mktemp("outfiles-home")
    path.chmod(0o700)
    scratch = tmp_path_factory.mktemp("outfiles-scratch") / "created.json"
    run(path, "iot-data", "update-thing-shadow", "--thing-name", "lamp", "--payload", PAYLOAD,
        str(scratch))  # fmt: skip
    return path


def get_shadow(home: Path, outfile: Path | str, ok: bool = True) -> tuple[int, str]:
    result = run(home, "iot-data", "get-thing-shadow", "--thing-name", "lamp", str(outfile), ok=ok)
    return result.returncode, result.stderr


def shadow_in(data: bytes | str) -> dict[str, object]:
    document = json.loads(data)
    assert document["state"] == {"reported": {"pressed": 1}}
    return document


def test_a_symlink_is_followed_and_kept(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to("real.json")
    get_shadow(home, link)
    assert link.is_symlink() and os.readlink(link) == "real.json"
    shadow_in(target.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_a_dangling_symlink_creates_its_target(home: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to("later.json")
    get_shadow(home, link)
    assert link.is_symlink()
    shadow_in((tmp_path / "later.json").read_text())


def test_a_fifo_is_written_through_to_its_reader(home: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "shadow.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with fifo.open("rb") as reader:
            received.append(reader.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    get_shadow(home, fifo)
    reader.join(10)
    assert not reader.is_alive()
    shadow_in(received[0])
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shadow.fifo"]


def test_dev_full_is_an_error_and_stays_a_device(home: Path, tmp_path: Path) -> None:
    devices = [Path("/dev/full")]
    if os.geteuid() == 0:  # a copy of the node, so a regression cannot break the machine's
        copy = tmp_path / "full"
        os.mknod(copy, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        devices.insert(0, copy)
    for device in devices:
        code, stderr = get_shadow(home, device, ok=False)
        assert code == 255
        assert stderr.startswith("buttonrig: unable to write") and "No space left" in stderr
        assert "Traceback" not in stderr
        assert stat.S_ISCHR(device.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["full"] if len(devices) == 2 else [])


def test_dev_null_takes_the_document(home: Path) -> None:
    assert get_shadow(home, "/dev/null")[0] == 0
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)


def test_dev_stdout_writes_to_standard_output(home: Path) -> None:
    result = buttonrig_subprocess(
        home, "iot-data", "get-thing-shadow", "--thing-name", "lamp", "/dev/stdout"
    )
    shadow_in(result.stdout)


def test_a_directory_is_refused_before_the_call(home: Path, tmp_path: Path) -> None:
    directory = tmp_path / "out"
    directory.mkdir()
    result = run(
        home,
        "iot-data",
        "update-thing-shadow",
        "--thing-name",
        "lamp",
        "--payload",
        '{"state": {"reported": {"pressed": 2}}}',
        str(directory),
        ok=False,
    )
    assert result.returncode == 255 and "is a directory" in result.stderr
    assert result.stderr.startswith("buttonrig: ")
    assert list(directory.iterdir()) == [] and sorted(tmp_path.iterdir()) == [directory]
    # refused before the service was called: the shadow is unchanged
    get_shadow(home, tmp_path / "after.json")
    shadow_in((tmp_path / "after.json").read_text())


def test_a_socket_is_refused(home: Path, tmp_path: Path) -> None:
    import socket

    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        code, stderr = get_shadow(home, path, ok=False)
    assert code == 255 and "not a regular file, FIFO or character device" in stderr


def test_a_failed_atomic_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "key.pem"
    target.write_bytes(b"old key")

    def disk_full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(CommandError, match="No space left"):
        write_outfile(str(target), b"new key", private=True)
    assert sorted(tmp_path.iterdir()) == [target] and target.read_bytes() == b"old key"


def test_a_private_outfile_is_created_0600(tmp_path: Path) -> None:
    target = tmp_path / "key.pem"
    write_outfile(str(target), b"secret", private=True)
    assert target.stat().st_mode & 0o777 == 0o600
