"""An emulated button: the real firmware on the MicroPython unix port with the board shims.

docs/architecture.md decisions 1–4, docs/contracts.md "Emulated board process". The board's flash is a
directory that persists across resets; reset and deep sleep end the process and this driver
starts it again with the right reset cause and wake reason; power loss is a SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import signal
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from host.console_events import Event
from host.deploy import DeployError, build_firmware
from host.mpy import compile_module
from host.paths import EMULATED_PROFILE_DIR, FIRMWARE_DIR, SHIMS_DIR
from rig.drivers.base import Board, ExpectTimeout
from rig.drivers.console import ConsoleLog
from rig.drivers.console_proxy import Child, ConsoleProxy
from rig.drivers.profile import BoardProfile
from rig.drivers.sidechannel import Message, SideChannel, SideChannelError
from rig.unix_port.app_clock import monotonic_offset_ns, wake_clock_prefix
from rig.unix_port.binary import checked_binary, default_binary

# machine.reset_cause() / wake_reason() values (ESP32 constants, mirrored by the shim).
PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5
NO_WAKE, EXT0_WAKE, TIMER_WAKE = 0, 2, 4
SOFT_REBOOT_LINE = b"MPY: soft reboot\r\n"
CONNECT_TIMEOUT_S = 20.0  # generous: a loaded 2-core CI machine
ARM_TIMEOUT_S = 20.0


class BoardError(RuntimeError):
    """The emulated board cannot do what was asked in its present state."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Trace:
    """Outputs the board drove (LED pins, pixels), with host timestamps."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._items: list[tuple[float, Message]] = []

    def add(self, msg: Message) -> None:
        with self._lock:
            self._items.append((time.monotonic(), msg))
            self._lock.notify_all()

    def wait_for(
        self, done: Callable[[list[Message]], bool], timeout: float, what: str = "trace"
    ) -> list[Message]:
        """Wait until `done(messages)` holds; the messages. Fails listing the last ones seen."""
        with self._lock:
            if not self._lock.wait_for(lambda: done([m for _, m in self._items]), timeout):
                tail = [m for _, m in self._items[-12:]]
                raise BoardError(f"{what} not seen within {timeout:.1f} s; last outputs: {tail}")
            return [m for _, m in self._items]

    def items(self, op: str | None = None) -> list[tuple[float, Message]]:
        with self._lock:
            return [(t, m) for t, m in self._items if op is None or m["op"] == op]


def shims_path_entry(shims: Path, flash: Path) -> str:
    """The shims' MICROPYPATH entry: relative to the flash (the board's working directory, which
    the firmware never changes) when that is shorter. Each module's path stays on the GC heap as a
    qstr (its `__file__`): 40-80 bytes per shim from a temporary directory, which a chip's
    built-in modules do not cost."""
    relative = os.path.relpath(shims, flash)
    return relative if len(relative) < len(str(shims)) else str(shims)


class EmulatedBoard(Board):
    """One emulated button, its flash directory, console pty and side channel."""

    def __init__(
        self,
        workdir: Path,
        name: str = "emulated",
        *,
        profile_dir: Path = EMULATED_PROFILE_DIR,
        firmware_dir: Path = FIRMWARE_DIR,
        micropython: str | None = None,
        env: Mapping[str, str] | None = None,
        heapsize: str | None = None,
        unique_id: str | None = None,
        mpy: bool = False,
    ) -> None:
        self.name = name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.flash = self.workdir / "flash"
        self.flash.mkdir(exist_ok=True)
        self.tty = self.workdir / "tty"
        self.profile_dir = profile_dir
        self.firmware_dir = firmware_dir
        self.binary = checked_binary(micropython or default_binary())
        self.env: dict[str, str] = dict(env or {})  # extra environment (connectivity hooks)
        self.heapsize = heapsize
        self.unique_id = unique_id or hashlib.sha1(name.encode()).hexdigest()[:12]
        self.mpy = mpy
        self.ap_port = _free_port()
        self._shims_dir = SHIMS_DIR
        self.battery_mv = 3000
        self.console = ConsoleLog()
        self.trace = _Trace()
        self.messages: list[Message] = []  # every side-channel message from the board
        self._subscribers: list[Callable[[Message], None]] = []
        self._lock = threading.RLock()
        self._state_changed = threading.Condition(self._lock)
        self._state = "off"  # off | running | asleep
        self._generation = 0  # bumped at every process start
        self._exited_at = 0.0  # when the last process ended on its own
        self._child: Child | None = None
        self._exit_note: Message | None = None
        self._sleep_ext0: list[int] | None = None
        self._sleep_gen = 0
        self._rtc: dict[str, Any] = {}
        self._pins: dict[int, int] = {}
        self._armed = threading.Event()
        self._played = threading.Condition()
        self._played_count = 0
        self._profile: BoardProfile | None = None
        self._log = (self.workdir / "console.log").open("ab", buffering=0)
        self.channel = SideChannel(self._on_message)
        self.proxy = ConsoleProxy(
            self.tty, self._on_child_exit, [self.console.feed, self._log.write]
        )
        _live_boards.add(self)

    # ----- profile -----

    @property
    def profile(self) -> BoardProfile:
        if self._profile is None:
            self._profile = BoardProfile.load(self.profile_dir / "board.py")
        return self._profile

    @property
    def state(self) -> str:
        """`off`, `running` or `asleep`."""
        with self._lock:
            return self._state

    # ----- flash -----

    def _flash_path(self, path: str) -> Path:
        target = (self.flash / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.flash.resolve()) or target == self.flash.resolve():
            raise ValueError(f"not a file path inside the board's flash: {path!r}")
        return target

    def read_file(self, path: str) -> bytes:
        return self._flash_path(path).read_bytes()

    def write_file(self, path: str, data: bytes) -> None:
        target = self._flash_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".rigtmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)  # atomic, like the firmware's own writes

    def deploy(self, extra_files: Mapping[str, bytes] | None = None) -> None:
        """The same build as a physical board's deploy (host.deploy.build_firmware), bytecode
        with `mpy=True`, else source; written straight into the flash directory."""
        try:
            files = build_firmware(
                self.profile_dir.name,
                self.firmware_dir,
                self.profile_dir.parent,
                self.workdir / "build",
                bytecode=self.mpy,
            )
        except DeployError as exc:
            raise BoardError(str(exc)) from exc
        for file in files:
            self.write_file(file.name, file.data)
            # The module's other form must go: a .py shadows a .mpy, a stale .mpy the new source.
            stem, _, suffix = file.name.rpartition(".")
            other = f"{stem}.mpy" if suffix == "py" else f"{stem}.py"
            (self.flash / other).unlink(missing_ok=True)
        for path, data in (extra_files or {}).items():
            self.write_file(path, data)
        self._shims_dir = self._shims_path()

    def _shims_path(self) -> Path:
        """Where the shims are imported from. As .mpy (with `mpy=True`) they are not compiled on
        the board's heap at every boot: on a chip `machine` is built in and costs no heap."""
        if not self.mpy:
            return SHIMS_DIR
        target = self.workdir / "shims-mpy"
        target.mkdir(exist_ok=True)
        for src in SHIMS_DIR.glob("*.py"):
            out = target / f"{src.stem}.mpy"
            if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
                compile_module(src, out)
        return target

    # ----- power, reset, sleep -----

    def start(self) -> None:
        with self._lock:
            if self._state == "running":
                raise BoardError(f"{self.name} is already running")
            self._cancel_sleep()
            self.console.clear()
            self._rtc = {}  # RTC memory does not survive power loss
            self._spawn(PWRON_RESET, NO_WAKE)

    def reset(self) -> None:
        with self._lock:
            self._stop_process()
            self._cancel_sleep()
            self._spawn(HARD_RESET, NO_WAKE)

    def power_cut(self) -> None:
        with self._lock:
            self._stop_process()
            self._cancel_sleep()
            self._set_state("off")
            self.console.note("power cut")

    def _base_env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("BUTTONRIG_") and k != "MICROPYPATH"
        }
        env.setdefault("PATH", "/usr/bin:/bin")
        return env

    def _spawn(
        self, cause: int, wake: int, *, run_main: bool = True, enter_raw: bool = False
    ) -> None:
        _ = self.profile  # read now, not later in the side channel's reader thread
        env = self._base_env()
        env.update(
            {
                "MICROPYPATH": f":.frozen:{shims_path_entry(self._shims_dir, self.flash)}:lib",
                "BUTTONRIG_CHANNEL": self.channel.address,
                "BUTTONRIG_RESET_CAUSE": str(cause),
                "BUTTONRIG_WAKE_REASON": str(wake),
                "BUTTONRIG_PINS": json.dumps({str(k): v for k, v in self._pins.items()}),
                "BUTTONRIG_UNIQUE_ID": self.unique_id,
                "BUTTONRIG_AP_PORT": str(self.ap_port),
                "BUTTONRIG_BATTERY_MV": str(self.battery_mv),
                "BUTTONRIG_RTC": json.dumps(self._rtc),
            }
        )
        env.update(self.env)
        argv = [*wake_clock_prefix(), self.binary]  # ticks from the app's start, as on the chip
        if self.heapsize:
            argv += ["-X", f"heapsize={self.heapsize}"]
        if run_main:
            argv += ["-i", "main.py"]
        self._exit_note = None
        self._armed.clear()
        if not self.proxy.at_line_start:
            # The last process may have left a prompt mid-line; a chip's boot starts a new line.
            self.proxy.announce(b"\r\n")
        self._child = self.proxy.spawn(argv, env, self.flash, enter_raw=enter_raw)
        self._generation += 1
        self._set_state("running")

    def wait_state(self, state: str, timeout: float) -> None:
        """Wait until the board is `off`, `running` or `asleep`."""
        with self._lock:
            if not self._state_changed.wait_for(lambda: self._state == state, timeout):
                raise BoardError(
                    f"{self.name} is {self._state}, not {state}, after {timeout:.1f} s; "
                    f"console tail:\n{self.console.text()[-1000:]}"
                )

    def _set_state(self, state: str) -> None:
        self._state = state
        self._state_changed.notify_all()

    def _stop_process(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            self.proxy.kill(child)
            # Let the dead process's last side-channel messages drain before the next one starts.
            self.channel.wait_all_closed(5.0)

    def _cancel_sleep(self) -> None:
        self._sleep_gen += 1
        self._sleep_ext0 = None

    def _on_child_exit(self, child: Child, code: int) -> None:
        # Proxy thread. Wait for the side channel to drain: it says why the process ended.
        exited_at = time.monotonic()
        self.channel.wait_all_closed(5.0)
        with self._lock:
            if child is not self._child:
                return  # already handled by reset() / power_cut()
            self._child = None
            self._exited_at = exited_at
            note = self._exit_note
            if note is not None and note["op"] == "deepsleep":
                self._enter_sleep(note)
            elif note is not None and note["op"] == "reset":
                kind = note.get("kind")
                if kind == "soft":
                    self.proxy.announce(SOFT_REBOOT_LINE)
                    self._spawn(SOFT_RESET, NO_WAKE)
                else:
                    self._spawn(WDT_RESET if kind == "wdt" else HARD_RESET, NO_WAKE)
            elif code in (0, -signal.SIGINT):
                # The REPL ended (Ctrl-D): a board soft-reboots. In the raw REPL it stays there
                # and does not run main.py (what mpremote expects).
                self.proxy.announce(SOFT_REBOOT_LINE)
                raw = self.proxy.in_raw_repl
                self._spawn(SOFT_RESET, NO_WAKE, run_main=not raw, enter_raw=raw)
            else:
                self._set_state("off")
                self.console.note(f"board process ended unexpectedly (exit status {code})")

    def _enter_sleep(self, note: Message) -> None:
        self._set_state("asleep")
        self._sleep_gen += 1
        ext0 = note.get("ext0")
        self._sleep_ext0 = list(ext0) if ext0 else None
        ms = note.get("ms")
        self.console.note(f"deep sleep (ms={ms}, ext0={self._sleep_ext0})")
        wake_pin = self._sleep_ext0[0] if self._sleep_ext0 else None
        level = self._pins.get(wake_pin, -1) if wake_pin is not None else -1
        if wake_pin is not None and note.get("pull_lost") == wake_pin:
            level = 0  # the pad lost its pull-up (ESP32-S3 without hold=True): it floats low
        if wake_pin is not None and self._wakes_on(wake_pin, level):
            # ext0 is level-triggered: a button already held wakes the chip at once.
            self._cancel_sleep()
            self._spawn(DEEPSLEEP_RESET, EXT0_WAKE)
            return
        if ms:
            gen = self._sleep_gen
            timer = threading.Timer(ms / 1000.0, self._timer_wake, args=(gen,))
            timer.daemon = True
            timer.start()

    def _timer_wake(self, gen: int) -> None:
        with self._lock:
            if self._state == "asleep" and gen == self._sleep_gen:
                self._cancel_sleep()
                self._spawn(DEEPSLEEP_RESET, TIMER_WAKE)

    def _wakes_on(self, pin: int, level: int) -> bool:
        return self._state == "asleep" and self._sleep_ext0 == [pin, level]

    # ----- button -----

    def set_button(self, pressed: bool) -> None:
        pin = self.profile.button_pin
        level = self.profile.button_level(pressed)
        with self._lock:
            self._pins[pin] = level
            if self._wakes_on(pin, level):
                self._cancel_sleep()
                self._spawn(DEEPSLEEP_RESET, EXT0_WAKE)
                return
            running = self._state == "running"
            generation = self._generation
        if running:
            try:
                self.channel.send({"op": "pin", "pin": pin, "level": level}, CONNECT_TIMEOUT_S)
            except SideChannelError:
                if not self._process_ended(generation):
                    raise
                # It went to sleep (or reset) meanwhile: the level is kept for what comes next.

    def press(self, steps: list[tuple[int, bool]]) -> None:
        if not steps:
            return
        pin = self.profile.button_pin
        edges = [[int(delay), self.profile.button_level(pressed)] for delay, pressed in steps]
        if any(delay < 0 for delay, _ in edges):
            raise ValueError(f"gesture delays must be >= 0 ms: {steps}")
        state = self.state
        if state == "off":
            raise BoardError(f"{self.name} is off: start() it before pressing the button")
        if state == "asleep":
            edges = self._wake_by_press(pin, edges)
            if edges is None:
                return
        else:
            self._wait_armed()
        self._play(pin, edges)

    def _wake_by_press(
        self, pin: int, edges: list[list[int]], started: float | None = None
    ) -> list[list[int]] | None:
        """Sleeping board: the first edge that matches the wake level boots it (EXT0); the rest
        of the gesture is played on the new process at its real times. None = nothing woke.
        `started`: when the first delay began (default now)."""
        if started is None:
            started = time.monotonic()
        elapsed_ms = 0
        for i, (delay, level) in enumerate(edges):
            elapsed_ms += delay
            time.sleep(max(0.0, started + elapsed_ms / 1000 - time.monotonic()))  # gesture timing
            with self._lock:
                self._pins[pin] = level
                if not self._wakes_on(pin, level):
                    continue
                self._cancel_sleep()
                woke_at = time.monotonic()
                self._spawn(DEEPSLEEP_RESET, EXT0_WAKE)
            return self._late_rest([list(e) for e in edges[i + 1 :]], woke_at)
        return None

    def _late_rest(self, rest: list[list[int]], woke_at: float) -> list[list[int]]:
        """The rest of a gesture after a wake, at its real times: the boot ate into the first
        delay."""
        if rest:
            self.channel.wait_connected(CONNECT_TIMEOUT_S)
            late_ms = int((time.monotonic() - woke_at) * 1000)
            rest[0][0] = max(0, rest[0][0] - late_ms)
        return rest

    def _wait_armed(self) -> None:
        if not self._armed.wait(ARM_TIMEOUT_S):
            raise BoardError(
                f"{self.name}: the firmware set no IRQ on the button pin within {ARM_TIMEOUT_S} s; "
                f"console tail:\n{self.console.text()[-1000:]}"
            )

    def _play(self, pin: int, edges: list[list[int]]) -> None:
        """Play edges on the running process; if it goes to deep sleep meanwhile, the rest of the
        gesture goes on against the sleeping board (and may wake it), as a finger would."""
        if not edges:
            return
        with self._lock:
            generation = self._generation
        with self._played:
            before = self._played_count
        started = time.monotonic()
        try:
            self.channel.send({"op": "play", "pin": pin, "edges": edges}, CONNECT_TIMEOUT_S)
        except SideChannelError:
            if not self._process_ended(generation):
                raise
        budget = sum(d for d, _ in edges) / 1000 + CONNECT_TIMEOUT_S
        deadline = time.monotonic() + budget
        ended = False
        with self._played:
            while self._played_count == before and not ended:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BoardError(f"{self.name}: gesture not played within {budget:.1f} s")
                self._played.wait(min(left, 0.05))
                ended = self._process_ended(generation, wait=0)
        if ended:
            self._continue_after_exit(pin, edges, started)
            return
        with self._lock:
            self._pins[pin] = edges[-1][1]

    def _process_ended(self, generation: int, wait: float = CONNECT_TIMEOUT_S) -> bool:
        """Whether the process of `generation` has ended (waiting up to `wait` for the proxy to
        report it)."""
        with self._lock:
            return self._state_changed.wait_for(
                lambda: self._generation != generation or self._state != "running", wait
            )

    def _continue_after_exit(self, pin: int, edges: list[list[int]], started: float) -> None:
        with self._lock:
            if self._state != "asleep":
                return  # reset or off: the rest of the gesture presses a board that is gone
            exited_at = self._exited_at
        # Where the gesture was when the chip went to sleep; the rest is timed from then.
        at_exit_ms = (exited_at - started) * 1000
        due_ms = 0
        rest: list[list[int]] = []
        for i, (delay, level) in enumerate(edges):
            if due_ms + delay > at_exit_ms:
                rest = [[int(due_ms + delay - at_exit_ms), level], *map(list, edges[i + 1 :])]
                break
            due_ms += delay
            with self._lock:
                self._pins[pin] = level
        with self._lock:
            # ext0 is level-triggered: a button held as the chip sleeps wakes it at once.
            wake_now = self._wakes_on(pin, self._pins.get(pin, -1))
            if wake_now:
                self._cancel_sleep()
                self._spawn(DEEPSLEEP_RESET, EXT0_WAKE)
        if wake_now:
            remaining = self._late_rest(rest, exited_at)
        else:
            remaining = self._wake_by_press(pin, rest, started=exited_at)
        if remaining:
            self._play(pin, remaining)

    # ----- side channel -----

    def send(self, msg: Message, timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Any side-channel message to the running board process (e.g. `radio`)."""
        self.channel.send(msg, timeout)

    def subscribe(self, callback: Callable[[Message], None]) -> None:
        """`callback(msg)` for every side-channel message from the board (reader thread)."""
        self._subscribers.append(callback)

    def set_battery(self, mv: int) -> None:
        self.battery_mv = mv
        if self.state == "running" and self.channel.connected():
            self.channel.send({"op": "battery", "mv": mv})

    def _on_message(self, msg: Message) -> None:
        self.messages.append(msg)
        op = msg["op"]
        if op in ("out", "pixel"):
            self.trace.add(msg)
        elif op == "irq" and msg.get("pin") == self.profile.button_pin:
            (self._armed.set if msg.get("trigger") else self._armed.clear)()
        elif op == "played":
            with self._played:
                self._played_count += 1
                self._played.notify_all()
        elif op in ("deepsleep", "reset"):
            self._exit_note = msg
        elif op == "rtc":
            self._rtc = dict(msg.get("state") or {})
        for callback in list(self._subscribers):
            callback(msg)

    def ticks_offset_ms(self) -> float:
        """What the running process's ticks_ms() reads ahead of the host's
        `time.monotonic() * 1000` (its time namespace, rig/unix_port/app_clock.py): a console
        event's `t` on the host's clock is `t - ticks_offset_ms()`. A new one at each reset."""
        with self._lock:
            child = self._child
        if child is None:
            raise BoardError(f"{self.name} is not running")
        return monotonic_offset_ns(child.proc.pid) / 1e6

    # ----- console -----

    def expect(self, ev: str, timeout: float = 5.0, **fields: Any) -> Event:
        try:
            return self.console.expect(ev, timeout, **fields)
        except ExpectTimeout as exc:
            errors = self.channel.protocol_errors[-5:]
            if not errors:
                raise
            raise ExpectTimeout(f"{exc}\nSide-channel errors: {errors}") from None

    def events(self, ev: str | None = None) -> list[Event]:
        return self.console.events(ev)

    def console_text(self) -> str:
        return self.console.text()

    def close(self) -> None:
        with self._lock:
            self._cancel_sleep()
            self._stop_process()
            self._set_state("off")
        self.proxy.close()
        self.channel.close()
        with contextlib.suppress(OSError):
            self._log.close()
        _live_boards.discard(self)

    def __enter__(self) -> EmulatedBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmulatedBoard({self.name!r}, {self.state}, tty={self.tty})"


_live_boards: weakref.WeakSet[EmulatedBoard] = weakref.WeakSet()


@atexit.register
def _close_all_boards() -> None:
    for board in list(_live_boards):
        with contextlib.suppress(Exception):
            board.close()
