"""`make demo` runs `python -m rig.demo`: the real firmware, broker and cloud, end to end. Its
output shows the three click types as recorded at the cloud and no key material or Wi-Fi
password; it leaves no process behind."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from process_kit import processes_using

from rig.demo import SERIAL
from rig.strategies.provisioning import Network

pytestmark = pytest.mark.e2e


def cloud_section(output: str) -> list[dict[str, object]]:
    """The click messages the demo printed under its 'recorded at the cloud' heading."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "recorded at the cloud" in line)
    messages = []
    for line in lines[start + 1 :]:
        if not line.startswith("  {"):
            break
        messages.append(json.loads(line.strip().split("  (copies")[0]))
    return messages


def test_demo_shows_three_clicks_at_the_cloud_and_no_secret(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run = subprocess.run(
        [sys.executable, "-m", "rig.demo", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output

    at_cloud = cloud_section(run.stdout)
    assert [m["clickType"] for m in at_cloud] == ["SINGLE", "DOUBLE", "LONG"], run.stdout
    assert {m["serialNumber"] for m in at_cloud} == {SERIAL}
    for step in ("solid orange", "blinking blue", "form submitted", "blinking white", "connected"):
        assert step in run.stdout, f"set-up step {step!r} not shown:\n{run.stdout}"
    assert "reported by the board: " in run.stdout and '"fw":' in run.stdout
    assert "acknowledged: reported double_ms 600, delta null" in run.stdout, run.stdout
    job = run.stdout.split("8. A job reaches the button")[1]
    assert '"pattern":"identify"' in job and ": SUCCEEDED {" in job, run.stdout
    callback = run.stdout.split("9. 1-Click:")[1].split("the event the function got:\n")[1]
    lines = [line[4:] for line in callback.splitlines()]
    event = json.loads("\n".join(lines[: lines.index("}") + 1]))
    assert event["deviceEvent"]["buttonClicked"]["clickType"] == "DOUBLE", event
    assert event["deviceInfo"]["deviceId"] == SERIAL and "placementInfo" in event, event

    key_der = (home / "boards" / SERIAL / "flash" / "pki" / "key.der").read_bytes()
    key_b64 = base64.b64encode(key_der).decode()
    secrets = {
        "Wi-Fi password": Network().password,
        "key DER (hex)": key_der.hex(),
        "key (base64, first PEM line)": key_b64[:64],
        "PEM key header": "PRIVATE KEY",
    }
    assert len(key_der) > 32, "the scan needs the board's real key"
    shown = [name for name, secret in secrets.items() if secret.lower() in output.lower()]
    assert shown == [], f"the demo's output shows: {shown}"
    assert processes_using(home) == []
