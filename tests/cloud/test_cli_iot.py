"""`buttonrig iot …` / `iot-data …` as a user runs them: subprocesses, JSON shapes, errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from rig.commands.errors import CommandError
from rig.commands.outfiles import write_outfile
from rig.pytest_plugin.cli_runner import buttonrig as run
from rig.pytest_plugin.cli_runner import buttonrig_json as run_json
from rig.pytest_plugin.cli_runner import buttonrig_subprocess


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-home")
    path.chmod(0o700)
    return path


def test_thing_lifecycle_shapes(home: Path) -> None:
    result = buttonrig_subprocess(
        home,
        "iot",
        "create-thing",
        "--thing-name",
        "MyLightBulb",
        "--attribute-payload",
        '{"attributes": {"wattage": "75", "model": "123"}}',
    )
    created = json.loads(result.stdout)
    assert set(created) == {"thingName", "thingArn", "thingId"}
    assert created["thingArn"] == "arn:aws:iot:us-east-1:123456789012:thing/MyLightBulb"
    described = run_json(home, "iot", "describe-thing", "--thing-name", "MyLightBulb")
    assert described["defaultClientId"] == "MyLightBulb"
    assert described["attributes"] == {"wattage": "75", "model": "123"}
    assert described["version"] == 1 and described["thingId"] == created["thingId"]
    assert (
        run(
            home,
            "iot",
            "update-thing",
            "--thing-name",
            "MyLightBulb",
            "--attribute-payload",
            '{"attributes": {"wattage": "", "color": "red"}, "merge": true}',
        ).stdout
        == ""
    )
    described = run_json(home, "iot", "describe-thing", "--thing-name", "MyLightBulb")
    assert described["attributes"] == {"model": "123", "color": "red"}
    assert described["version"] == 2
    listed = run_json(home, "iot", "list-things", "--attribute-name", "color")
    assert [t["thingName"] for t in listed["things"]] == ["MyLightBulb"]
    run(home, "iot", "delete-thing", "--thing-name", "MyLightBulb")
    gone = buttonrig_subprocess(
        home, "iot", "describe-thing", "--thing-name", "MyLightBulb", ok=False
    )
    assert gone.returncode == 255 and "Traceback" not in gone.stderr
    assert "ResourceNotFoundException" in gone.stderr and "MyLightBulb" in gone.stderr


def test_cli_input_json_and_shorthand(home: Path, tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps({"thingName": "FromJson", "attributePayload": {"attributes": {"a": "1"}}})
    )
    created = run_json(home, "iot", "create-thing", "--cli-input-json", f"file://{request}")
    assert created["thingName"] == "FromJson"
    kind = run_json(
        home,
        "iot",
        "create-thing-type",
        "--thing-type-name",
        "LightBulb",
        "--thing-type-properties",
        "thingTypeDescription=light bulb type, searchableAttributes=wattage,model",
    )
    assert kind["thingTypeArn"].endswith(":thingtype/LightBulb")
    described = run_json(home, "iot", "describe-thing-type", "--thing-type-name", "LightBulb")
    assert described["thingTypeProperties"] == {
        "searchableAttributes": ["wattage", "model"],
        "thingTypeDescription": "light bulb type",
    }
    bad = tmp_path / "bad.json"
    bad.write_text('{"thingName": "X", "noSuchMember": 1}')
    refused = run(home, "iot", "create-thing", "--cli-input-json", f"file://{bad}", ok=False)
    assert refused.returncode != 0 and "noSuchMember" in refused.stderr


def test_keys_go_only_to_outfiles_and_policies_attach(home: Path, tmp_path: Path) -> None:
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "private.key"
    public_file, der_key = tmp_path / "public.key", tmp_path / "private.der"
    result = run(
        home,
        "iot",
        "create-keys-and-certificate",
        "--set-as-active",
        "--certificate-pem-outfile",
        str(cert_file),
        "--public-key-outfile",
        str(public_file),
        "--private-key-outfile",
        str(key_file),
        "--private-key-der-outfile",
        str(der_key),
    )
    created = json.loads(result.stdout)
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    assert set(created["keyPair"]) == {"PublicKey"}
    assert len(created["certificateId"]) == 64
    assert "PRIVATE KEY" in key_file.read_text() and key_file.stat().st_mode & 0o077 == 0
    assert der_key.read_bytes()[:1] == b"\x30" and der_key.stat().st_mode & 0o077 == 0
    assert cert_file.read_text() == created["certificatePem"]
    assert "PRIVATE KEY" not in (home / "cloud" / "state.db").read_bytes().decode("latin-1")

    policy_file = tmp_path / "policy.json"
    policy_file.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}],
            }
        )
    )
    policy = run_json(
        home,
        "iot",
        "create-policy",
        "--policy-name",
        "ConnectAll",
        "--policy-document",
        f"file://{policy_file}",
    )
    assert policy["policyVersionId"] == "1" and policy["policyArn"].endswith(":policy/ConnectAll")
    arn = created["certificateArn"]
    run(home, "iot", "attach-policy", "--policy-name", "ConnectAll", "--target", arn)
    attached = run_json(home, "iot", "list-attached-policies", "--target", arn)
    assert attached["policies"][0]["policyName"] == "ConnectAll"
    run(home, "iot", "create-thing", "--thing-name", "Bulb2")
    run(home, "iot", "attach-thing-principal", "--thing-name", "Bulb2", "--principal", arn)
    principals = run_json(home, "iot", "list-thing-principals", "--thing-name", "Bulb2")
    assert principals == {"principals": [arn]}
    described = run_json(
        home, "iot", "describe-certificate", "--certificate-id", created["certificateId"]
    )
    assert described["certificateDescription"]["status"] == "ACTIVE"
    run(
        home,
        "iot",
        "update-certificate",
        "--certificate-id",
        created["certificateId"],
        "--new-status",
        "INACTIVE",
    )
    listed = run_json(home, "iot", "list-certificates")
    statuses = {c["certificateId"]: c["status"] for c in listed["certificates"]}
    assert statuses[created["certificateId"]] == "INACTIVE"
    malformed = run(
        home,
        "iot",
        "create-policy",
        "--policy-name",
        "Bad",
        "--policy-document",
        '{"Statement": 5}',
        ok=False,
    )
    assert malformed.returncode != 0 and "MalformedPolicyException" in malformed.stderr


def test_shadow_commands_write_the_outfile(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "output.txt"
    run(
        home,
        "iot-data",
        "update-thing-shadow",
        "--thing-name",
        "ShadowCli",
        "--payload",
        '{"state": {"desired": {"color": "red"}}}',
        str(out),
    )
    assert json.loads(out.read_text())["version"] == 1
    run(home, "iot-data", "get-thing-shadow", "--thing-name", "ShadowCli", str(out))
    document = json.loads(out.read_text())
    assert document["state"]["desired"] == {"color": "red"}
    assert document["state"]["delta"] == {"color": "red"}
    run(home, "iot-data", "delete-thing-shadow", "--thing-name", "ShadowCli", str(out))
    missing = run(
        home, "iot-data", "get-thing-shadow", "--thing-name", "ShadowCli", str(out), ok=False
    )
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
    invalid = run(
        home,
        "iot-data",
        "update-thing-shadow",
        "--thing-name",
        "ShadowCli",
        "--payload",
        '{"nostate": 1}',
        str(out),
        ok=False,
    )
    assert invalid.returncode != 0 and "Missing required node: state" in invalid.stderr


def test_an_unwritable_key_outfile_is_refused_before_a_key_is_made(
    home: Path, tmp_path: Path
) -> None:
    before = run_json(home, "iot", "list-certificates")["certificates"]
    refused = run(
        home,
        "iot",
        "create-keys-and-certificate",
        "--private-key-outfile",
        str(tmp_path / "missing-dir" / "key.pem"),
        ok=False,
    )
    assert refused.returncode != 0 and "missing-dir" in refused.stderr
    assert run_json(home, "iot", "list-certificates")["certificates"] == before


def test_a_directory_as_outfile_is_refused_before_anything_is_done(
    home: Path, tmp_path: Path
) -> None:
    before = run_json(home, "iot", "list-certificates")["certificates"]
    target = tmp_path / "somedir"
    target.mkdir()
    refused = run(
        home, "iot", "create-keys-and-certificate", "--private-key-outfile", str(target), ok=False
    )
    assert refused.returncode == 255 and "Traceback" not in refused.stderr
    assert f"--private-key-outfile {target}: is a directory" in refused.stderr
    assert run_json(home, "iot", "list-certificates")["certificates"] == before
    assert sorted(tmp_path.iterdir()) == [target]  # no temporary file holding a key

    shadow = run(
        home,
        "iot-data",
        "update-thing-shadow",
        "--thing-name",
        "DirOutfile",
        "--payload",
        '{"state": {"desired": {"on": true}}}',
        str(target),
        ok=False,
    )
    assert shadow.returncode == 255 and "outfile" in shadow.stderr and "directory" in shadow.stderr
    out = str(tmp_path / "out.json")
    missing = run(
        home, "iot-data", "get-thing-shadow", "--thing-name", "DirOutfile", out, ok=False
    )
    assert "ResourceNotFoundException" in missing.stderr  # the update was not applied


def test_the_same_outfile_twice_is_refused(home: Path, tmp_path: Path) -> None:
    both = str(tmp_path / "both.pem")
    refused = run(
        home,
        "iot",
        "create-keys-and-certificate",
        "--private-key-outfile",
        both,
        "--certificate-pem-outfile",
        both,
        ok=False,
    )
    assert refused.returncode == 255 and "also given as" in refused.stderr


def test_an_unwritable_outfile_is_refused(home: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked.pem"
    locked.write_text("")
    locked.chmod(0o444)
    # root may write a read-only file (CI runs as root) but not an immutable one
    immutable = os.geteuid() == 0
    if immutable:
        subprocess.run(["chattr", "+i", str(locked)], check=True)
    try:
        refused = run(
            home,
            "iot",
            "create-keys-and-certificate",
            "--private-key-outfile",
            str(locked),
            ok=False,
        )
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert refused.returncode == 255 and "is not writable" in refused.stderr
    assert locked.read_text() == ""


def test_a_failed_write_removes_its_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "key.pem"
    target.mkdir()  # os.replace onto a directory fails after the data was written
    with pytest.raises(CommandError, match="unable to write"):
        write_outfile(str(target), b"secret", private=True)
    assert sorted(tmp_path.iterdir()) == [target]


def test_groups_and_types_commands(home: Path) -> None:
    run(home, "iot", "create-thing-group", "--thing-group-name", "Lights")
    run(
        home,
        "iot",
        "create-thing-group",
        "--thing-group-name",
        "RedLights",
        "--parent-group-name",
        "Lights",
    )
    run(home, "iot", "create-thing", "--thing-name", "Red1")
    run(
        home,
        "iot",
        "add-thing-to-thing-group",
        "--thing-group-name",
        "RedLights",
        "--thing-name",
        "Red1",
    )
    direct = run_json(home, "iot", "list-things-in-thing-group", "--thing-group-name", "Lights")
    assert direct == {"things": []}
    recursive = run_json(
        home, "iot", "list-things-in-thing-group", "--thing-group-name", "Lights", "--recursive"
    )
    assert recursive == {"things": ["Red1"]}
    groups = run_json(home, "iot", "list-thing-groups-for-thing", "--thing-name", "Red1")
    assert [g["groupName"] for g in groups["thingGroups"]] == ["RedLights", "Lights"]
    names = [g["groupName"] for g in run_json(home, "iot", "list-thing-groups")["thingGroups"]]
    assert {"Lights", "RedLights"} <= set(names)
    run(home, "iot", "create-thing-type", "--thing-type-name", "Old")
    run(home, "iot", "deprecate-thing-type", "--thing-type-name", "Old")
    described = run_json(home, "iot", "describe-thing-type", "--thing-type-name", "Old")
    assert described["thingTypeMetadata"]["deprecated"] is True
    refused = run(
        home, "iot", "create-thing", "--thing-name", "New1", "--thing-type-name", "Old", ok=False
    )
    assert refused.returncode != 0 and "deprecated" in refused.stderr
    no_cloud = run(home, "iot", "describe-endpoint", ok=False)
    assert no_cloud.returncode != 0 and "cloud up" in no_cloud.stderr


def test_a_binary_policy_file_is_an_input_error(home: Path, tmp_path: Path) -> None:
    binary = tmp_path / "policy.bin"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe")
    refused = run(
        home,
        "iot",
        "create-policy",
        "--policy-name",
        "Binary",
        "--policy-document",
        f"file://{binary}",
        ok=False,
    )
    assert refused.returncode == 255 and "Traceback" not in refused.stderr
    assert "is not UTF-8 text" in refused.stderr and "fileb://" in refused.stderr


def test_an_unusable_home_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    for home in (Path("/proc/nope"), not_a_directory / "home"):
        refused = buttonrig_subprocess(home, "iot", "list-things", ok=False)
        assert refused.returncode == 255 and "Traceback" not in refused.stderr
        assert refused.stderr.startswith(f"buttonrig: cannot use {home} as the rig home:")


def test_abbreviated_options_are_refused_as_aws_cli_does(home: Path) -> None:
    refused = run(home, "iot", "create-thing", "--thing-nam", "J5", ok=False)
    assert refused.returncode == 2 and "unrecognized arguments: --thing-nam" in refused.stderr
    listed = run_json(home, "iot", "list-things")["things"]
    assert "J5" not in [thing["thingName"] for thing in listed]


def test_a_malformed_certificate_id_is_an_invalid_request(home: Path) -> None:
    for bad in ("abc", "g" * 64, "a" * 65):
        refused = run(home, "iot", "describe-certificate", "--certificate-id", bad, ok=False)
        assert refused.returncode == 255 and "InvalidRequestException" in refused.stderr
    missing = run(home, "iot", "describe-certificate", "--certificate-id", "a" * 64, ok=False)
    assert "ResourceNotFoundException" in missing.stderr


def test_nested_shorthand_points_to_json(home: Path) -> None:
    refused = run(
        home,
        "iot",
        "create-thing",
        "--thing-name",
        "Nested",
        "--attribute-payload",
        "attributes={a=1,b=2}",
        ok=False,
    )
    assert refused.returncode == 255
    assert "nested shorthand" in refused.stderr and "JSON" in refused.stderr
    flat = run_json(
        home,
        "iot",
        "create-thing-type",
        "--thing-type-name",
        "Flat",
        "--thing-type-properties",
        "thingTypeDescription=a {braced} description",
    )
    assert flat["thingTypeName"] == "Flat"


def test_thing_group_update_delete_and_children_commands(home: Path) -> None:
    run(home, "iot", "create-thing-group", "--thing-group-name", "Bulbs")
    run(
        home,
        "iot",
        "create-thing-group",
        "--thing-group-name",
        "BlueBulbs",
        "--parent-group-name",
        "Bulbs",
    )
    children = run_json(home, "iot", "list-thing-groups", "--parent-group", "Bulbs")
    assert [g["groupName"] for g in children["thingGroups"]] == ["BlueBulbs"]
    updated = run_json(
        home,
        "iot",
        "update-thing-group",
        "--thing-group-name",
        "BlueBulbs",
        "--thing-group-properties",
        "thingGroupDescription=blue ones",
    )
    assert updated == {"version": 2}
    refused = run(home, "iot", "delete-thing-group", "--thing-group-name", "Bulbs", ok=False)
    assert refused.returncode == 255 and "still child groups" in refused.stderr
    run(home, "iot", "delete-thing-group", "--thing-group-name", "BlueBulbs")
    assert run_json(home, "iot", "list-thing-groups", "--parent-group", "Bulbs") == {
        "thingGroups": []
    }
    run(home, "iot", "create-thing-type", "--thing-type-name", "Doomed")
    early = run(home, "iot", "delete-thing-type", "--thing-type-name", "Doomed", ok=False)
    assert early.returncode == 255 and "not deprecated" in early.stderr
