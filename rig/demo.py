"""`make demo` (`python -m rig.demo [--home DIR]`): the whole picture in well under a minute.

Brings up the broker and the reference cloud in a temporary rig home (or `--home DIR`, kept),
starts an emulated button, sets it up through its access point as a customer would
(rig.strategies.provisioning.CustomerSetup, narrated from the board's own console events), presses
SINGLE, DOUBLE and LONG, and shows the board's console events, the click messages as the cloud
recorded them, a shadow round trip through the cloud API, and a job (`identify`) that reaches
the button and SUCCEEDS. Exits 0 on success, 1 with the reason
on failure; every process it started is stopped either way. It never prints key material or the
Wi-Fi password, and checks its own output for them before it reports success.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rig import gestures
from rig.backends.local import local_backend
from rig.broker import BrokerError
from rig.cloud.clicks.store import ClickLog
from rig.cloud.core.errors import CloudError
from rig.cloud.runtime import CloudRuntime
from rig.drivers.base import ExpectTimeout
from rig.drivers.emulated import BoardError, EmulatedBoard
from rig.strategies.jobs import JobRunner, JobWaitTimeout, details
from rig.strategies.oneclick import Placement, claim_and_place
from rig.strategies.provisioning import CustomerSetup, Provisioned, ProvisioningError, leaks

SERIAL = "G030PM0000DEMO1"  # an Enterprise Button serial: a 1-Click device id
WAIT_S = 30.0
PRESSES = [
    ("SINGLE", lambda: gestures.single(120)),
    ("DOUBLE", lambda: gestures.double(100, 150, 100)),
    ("LONG", lambda: gestures.long(2000)),
]
SHOWN_EVENTS = ("led", "click", "mqtt")
JOB_DOCUMENT = {"operation": "identify"}  # the LED blinks green: the job reached this button
SHADOW_UPDATE = {"state": {"desired": {"double_ms": 400, "long_ms": 1500}}}
DEVICE_DESIRED = {"double_ms": 600}  # step 7: a wider double-click window, desired at the cloud
CALLBACK = "DemoOnClick"
CALLBACK_CODE = """
import json


def handler(event, context):
    print("onClickCallback " + json.dumps(event, sort_keys=True))
"""
PLACED = Placement("DemoRoom", "room-1", "button", {"location": "meeting room 1"})
LATER = """\
The desired states above were written by this demo through the cloud API, as
`buttonrig iot-data update-thing-shadow` would."""


class DemoFailed(Exception):
    """A step did not happen; the message says what was seen."""


class Output:
    """Everything the demo prints, kept so it can check itself for secrets before it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.lines: list[str] = []

    def say(self, text: str = "") -> None:
        with self._lock:
            self.lines.append(text)
            print(text, flush=True)

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)


def describe_setup_event(event: dict[str, Any]) -> str | None:
    """One customer-visible step of the set-up, from a console event; None for the others."""
    ev = event.get("ev")
    pattern, state = event.get("pattern"), event.get("state")
    if ev == "led" and pattern == "unconfigured":
        return "LED solid orange: not configured"
    if ev == "config" and state == "open":
        return f"LED blinking blue: config mode, access point {event.get('essid')!r}"
    if ev == "config" and state == "applied":
        return "form submitted (Wi-Fi, certificate, key, CA, endpoint): applied, board restarts"
    if ev == "led" and pattern == "connecting":
        return "LED blinking white: connecting"
    if ev == "wifi" and state == "up":
        return f"Wi-Fi joined: {event.get('ssid')}"
    if ev == "mqtt" and state == "up":
        return f"connected: MQTT over mutual TLS to {event.get('host')}"
    if ev == "led" and str(pattern).startswith("err_"):
        return f"LED error pattern {pattern}"
    return None


class Narrator:
    """Prints the set-up steps as the board reports them, while the customer's set-up runs."""

    def __init__(self, board: EmulatedBoard, say: Callable[[str], None]) -> None:
        self.board = board
        self.say = say
        self._seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-narrator", daemon=True)

    def __enter__(self) -> Narrator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._flush()

    def _run(self) -> None:
        while not self._stop.wait(0.05):  # the console log has no callback; poll it gently
            self._flush()

    def _flush(self) -> None:
        events = self.board.events()
        for event in events[self._seen :]:
            step = describe_setup_event(event)
            if step is not None:
                self.say(f"  - {step}")
        self._seen = len(events)


class Demo:
    """One run: cloud, board, set-up, presses, results."""

    def __init__(self, home: Path, out: Output) -> None:
        self.home = home
        self.out = out
        self.runtime: CloudRuntime | None = None
        self.board: EmulatedBoard | None = None
        self.provisioned: Provisioned | None = None

    def run(self) -> None:
        runtime = self._cloud()
        board = self._board()
        self.provisioned = self._set_up(runtime, board)
        clicks = self._press(runtime, board)
        self._show_clicks(clicks)
        self._show_shadow(runtime)
        self._device_shadow(runtime, board)
        self._show_job(runtime, board)
        self._show_callback(runtime, board)
        self.out.say()
        self.out.say(LATER)

    def _cloud(self) -> CloudRuntime:
        self.out.say(f"1. Broker and reference cloud (rig home {self.home})")
        self.runtime = CloudRuntime(self.home)
        endpoint = self.runtime.start()
        self.out.say(f"  - mosquitto with mutual TLS on {endpoint.host}:{endpoint.port}")
        return self.runtime

    def _board(self) -> EmulatedBoard:
        self.out.say(f"2. Emulated button {SERIAL} (MicroPython unix port, real firmware)")
        self.board = EmulatedBoard(self.home / "boards" / SERIAL, SERIAL)
        self.board.deploy({"serial": SERIAL.encode()})
        self.board.start()
        return self.board

    def _set_up(self, runtime: CloudRuntime, board: EmulatedBoard) -> Provisioned:
        self.out.say("3. Set up like a customer: thing, certificate and policy in the cloud;")
        self.out.say("   the phone joins the button's access point and submits the config form")
        assert runtime.endpoint is not None
        with Narrator(board, self.out.say):
            done = CustomerSetup(local_backend(runtime)).provision(board, WAIT_S)
        self.out.say(
            f"  - cloud: thing {done.serial}, certificate {done.certificate_id[:12]}…,"
            f" policy {done.policy_name}"
        )
        return done

    def _press(self, runtime: CloudRuntime, board: EmulatedBoard) -> ClickLog:
        self.out.say("4. Press SINGLE, DOUBLE and LONG; the board's console events:")
        clicks = ClickLog(runtime.cloud.store)
        for count, (kind, gesture) in enumerate(PRESSES, start=1):
            start = len(board.events())
            board.press(gesture())
            click = board.expect("click", WAIT_S)
            if click.get("type") != kind:
                raise DemoFailed(f"pressed {kind}, the board saw {click}")
            board.expect("mqtt", WAIT_S, published=f"iotbutton/{SERIAL}")
            board.expect("led", WAIT_S, pattern="off")  # green for a second, then off
            clicks.wait_for(SERIAL, count, WAIT_S)
            self.out.say(f"  {kind}:")
            for event in board.events()[start:]:
                if event.get("ev") in SHOWN_EVENTS:
                    self.out.say(f"    {json.dumps(event, separators=(',', ':'))}")
        return clicks

    def _show_clicks(self, clicks: ClickLog) -> None:
        self.out.say("5. Click messages as recorded at the cloud (topic iotbutton/<serial>):")
        for click in clicks.clicks(SERIAL):
            self.out.say(f"  {json.dumps(click.payload)}  (copies received: {click.copies})")
        kinds = [c.click_type for c in clicks.clicks(SERIAL)]
        if kinds != [kind for kind, _ in PRESSES]:
            raise DemoFailed(f"the cloud recorded {kinds}, not one of each press")

    def _show_shadow(self, runtime: CloudRuntime) -> None:
        self.out.say("6. The thing's shadow through the cloud API (iot-data):")
        payload = json.dumps(SHADOW_UPDATE)
        self.out.say(f"  update-thing-shadow --thing-name {SERIAL} --payload '{payload}'")
        runtime.cloud.update_thing_shadow(SERIAL, payload.encode())
        shadow = json.loads(runtime.cloud.get_thing_shadow(SERIAL))
        self.out.say(f"  get-thing-shadow --thing-name {SERIAL} (metadata left out):")
        self.out.say(f"    state: {json.dumps(shadow['state'])}")
        self.out.say(f"    version: {shadow['version']}")

    def _device_shadow(self, runtime: CloudRuntime, board: EmulatedBoard) -> None:
        """The firmware's shadow agent: what the board reported, then a desired change it applies
        and acknowledges with its reported state."""
        self.out.say("7. The shadow from the device side (the firmware's shadow agent):")
        cloud = runtime.cloud
        reported = self._reported(cloud, lambda r: "fw" in r)
        self.out.say(f"  reported by the board: {json.dumps(reported)}")
        payload = json.dumps({"state": {"desired": DEVICE_DESIRED}})
        self.out.say(f"  update-thing-shadow --thing-name {SERIAL} --payload '{payload}'")
        start = len(board.events())
        cloud.update_thing_shadow(SERIAL, payload.encode())
        self._wait_reported(board, start, set(DEVICE_DESIRED))
        for event in board.events()[start:]:
            if event.get("ev") in ("settings", "shadow"):
                self.out.say(f"    {json.dumps(event, separators=(',', ':'))}")
        wanted = DEVICE_DESIRED["double_ms"]
        self._reported(cloud, lambda r: r.get("double_ms") == wanted)
        state = json.loads(cloud.get_thing_shadow(SERIAL))["state"]
        self.out.say(
            f"  acknowledged: reported double_ms {state['reported']['double_ms']},"
            f" delta {json.dumps(state.get('delta'))}"
        )
        if "delta" in state:
            raise DemoFailed(f"the board's report left a delta: {state['delta']}")

    @staticmethod
    def _wait_reported(board: EmulatedBoard, start: int, keys: set[str]) -> None:
        """Wait for the board's `shadow` event reporting `keys` (with others, perhaps: click counts
        waiting for their report go in the same one)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            seen = [e for e in board.events()[start:] if e.get("ev") == "shadow"]
            if any(keys <= set(e.get("reported", ())) for e in seen):
                return
            if time.monotonic() > deadline:
                raise DemoFailed(
                    f"no shadow report of {sorted(keys)} within {WAIT_S:.0f} s; seen: {seen}"
                )
            time.sleep(0.1)

    def _reported(self, cloud: Any, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        reported: dict[str, Any] = {}
        while time.monotonic() < deadline:
            reported = json.loads(cloud.get_thing_shadow(SERIAL))["state"].get("reported", {})
            if ok(reported):
                return reported
            time.sleep(0.1)
        raise DemoFailed(f"the board's reported state never came: {json.dumps(reported)}")

    def _show_job(self, runtime: CloudRuntime, board: EmulatedBoard) -> None:
        self.out.say("8. A job reaches the button (iot create-job; the firmware's jobs agent):")
        job_id = f"identify-{int(time.time())}"  # a kept --home may have older demo jobs
        document = json.dumps(JOB_DOCUMENT)
        self.out.say(
            f"  create-job --job-id {job_id} --targets thing/{SERIAL} --document '{document}'"
        )
        start = len(board.events())
        jobs = JobRunner(local_backend(runtime))
        jobs.create(job_id, JOB_DOCUMENT, things=[SERIAL])
        try:
            done = jobs.wait(job_id, [SERIAL], timeout=WAIT_S)[SERIAL]
        except JobWaitTimeout as exc:
            raise DemoFailed(str(exc)) from exc
        board.expect("job", WAIT_S, id=job_id, status=done["status"])  # its console line too
        for event in board.events()[start:]:
            if event.get("ev") in ("job", "led"):
                self.out.say(f"    {json.dumps(event, separators=(',', ':'))}")
        status = f"{done['status']} {json.dumps(details(done))}"
        self.out.say(f"  describe-job-execution --job-id {job_id}: {status}")
        if done["status"] != "SUCCEEDED":
            raise DemoFailed(f"job {job_id} ended {status}")

    def _show_callback(self, runtime: CloudRuntime, board: EmulatedBoard) -> None:
        self.out.say(
            "9. 1-Click: the button claimed by a press, placed, a press calls its callback"
        )
        cloud = runtime.cloud
        run = int(time.time())  # a kept --home may have an older demo's function and project
        name = f"{CALLBACK}-{run}"
        where = Placement(
            f"{PLACED.project}-{run}", PLACED.placement, PLACED.template, PLACED.attributes
        )
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("callback.py", CALLBACK_CODE)
        arn = cloud.functions.create_function(
            name, "python3.12", "callback.handler", code.getvalue()
        )["FunctionArn"]
        self.out.say(f"  lambda create-function --function-name {name}: {arn}")
        claim_and_place(cloud, board, SERIAL, arn, where)
        self.out.say(
            f"  claimed {SERIAL} (initiate, a press, finalize); project {where.project},"
            f" placement {where.placement}, onClickCallback {name}; enabled"
        )
        board.press(gestures.double(100, 150, 100))
        board.expect("click", WAIT_S, type="DOUBLE")
        store = cloud.functions.store
        deadline = time.monotonic() + WAIT_S
        while True:
            lines = [r["message"] for r in store.log_events(f"/aws/lambda/{name}", 0, 0)]
            called = [m for m in lines if m.startswith("onClickCallback ")]
            if called:
                break
            if time.monotonic() > deadline:
                raise DemoFailed(f"the callback never ran; its log: {lines}")
            time.sleep(0.1)
        event = json.loads(called[0].removeprefix("onClickCallback "))
        self.out.say(f"  logs tail /aws/lambda/{name}: the event the function got:")
        for line in json.dumps(event, indent=2, sort_keys=True).splitlines():
            self.out.say(f"    {line}")
        if event["deviceEvent"]["buttonClicked"]["clickType"] != "DOUBLE":
            raise DemoFailed(f"the callback's event is not the DOUBLE pressed: {event}")

    def check_no_secrets(self) -> None:
        if self.provisioned is None:
            return
        console = self.board.console_text() if self.board is not None else ""
        found = leaks(self.out.text() + console, self.provisioned.secrets)
        if found:
            raise DemoFailed(f"a secret reached the demo's output or console: {found}")

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime.cloud.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rig.demo", description=__doc__)
    parser.add_argument("--home", type=Path, help="rig home to use and keep (default: a tmp dir)")
    args = parser.parse_args(argv)
    home: Path = args.home or Path(tempfile.mkdtemp(prefix="buttonrig-demo-"))
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through the clean-up
    out = Output()
    demo = Demo(home, out)
    started = time.monotonic()
    try:
        demo.run()
        demo.check_no_secrets()
    except (
        DemoFailed,
        ProvisioningError,
        ExpectTimeout,
        BoardError,
        BrokerError,
        CloudError,
        TimeoutError,
        OSError,
        RuntimeError,
    ) as exc:
        print(f"demo failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("demo interrupted", file=sys.stderr, flush=True)
        return 130
    finally:
        demo.close()
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    out.say(
        f"\nDemo finished in {time.monotonic() - started:.0f} s; everything it started is stopped."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
