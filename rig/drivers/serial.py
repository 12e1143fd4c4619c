"""A physical button on a serial port: `/dev/ttyUSB0`, `rfc2217://host:port`, `socket://…`.

Three parts, one job each:
* `ConsoleReader` — a thread that feeds everything the board prints to the shared `ConsoleLog`,
  and steps aside while mpremote's raw REPL borrows the port (deploy, read/write a file).
* `AutoResetLines` — the DevKitC auto-reset circuit seen from the host (docs/architecture.md decision 5):
  DTR asserted + RTS released → GPIO0 low (button held); RTS asserted + DTR released → EN low
  (reset held); both released → running. pyserial's `dtr = True` means asserted (line low).
* `SerialBoard` — the `Board` the tests use, built from those two and the board's profile.

The same driver runs in CI against an emulated board served by `rig.drivers.rfc2217_server`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import serial
from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from host import deploy as host_deploy
from host.console_events import Event
from host.paths import BOARDS_DIR
from host.serialport import open_serial
from host.transport import BorrowedPortTransport, TransportExecError, raw_repl
from rig.drivers.base import Board
from rig.drivers.console import ConsoleLog
from rig.drivers.profile import BoardProfile

RESET_PULSE_S = 0.1  # EN low this long: what esptool's hard reset uses
READ_TIMEOUT_S = 0.05  # the reader's poll period: bounds how long pausing it waits
BORROWED_TIMEOUT_S = 10.0  # mpremote reads fixed byte counts ("OK", window size): block, boundedly
FILE_CHUNK = 1024


class PowerSwitch(Protocol):
    """A switch for the board's supply (labgrid's PowerProtocol): a USB hub port with power
    switching, a relay, or the process of an emulated board."""

    def off(self) -> None: ...

    def on(self) -> None: ...


class BoardCapabilityError(RuntimeError):
    """The board (as its profile describes it) cannot do this from the rig, e.g. no way to press."""


class ConsoleReader:
    """Copies console bytes from the port to the sinks until closed; can be paused."""

    def __init__(self, port: serial.Serial, sinks: Sequence[Callable[[bytes], object]]) -> None:
        self._port = port
        self._sinks = list(sinks)
        # Held by the reader while it reads, by a borrower while paused.
        self._owner = threading.Lock()
        # Cleared while paused, so the reader does not take the lock straight back.
        self._running = threading.Event()
        self._running.set()
        self._closing = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"console-{port.name}", daemon=True)
        self._thread.start()

    @contextmanager
    def paused(self) -> Iterator[serial.Serial]:
        """The port, with the reader stopped, for the length of the block."""
        self._running.clear()
        try:
            with self._owner:
                timeout = self._port.timeout
                self._port.timeout = BORROWED_TIMEOUT_S
                try:
                    yield self._port
                finally:
                    self._port.timeout = timeout
        finally:
            self._running.set()

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._closing.is_set():
            if not self._running.wait(READ_TIMEOUT_S):
                continue
            with self._owner:
                try:
                    data = self._port.read(self._port.in_waiting or 1)
                except (serial.SerialException, OSError) as exc:
                    if not self._closing.is_set():
                        self.error = exc
                        # shows in expect()'s failure message, after what the board printed
                        message = f"\n[rig] console reader stopped: {exc}\n".encode()
                        for sink in self._sinks:
                            sink(message)
                    return
            if data:
                for sink in self._sinks:
                    sink(data)


ESPRESSIF_USB_VID = 0x303A  # the chip's own USB port (USB-Serial/JTAG or TinyUSB CDC)
NATIVE_USB = "native-usb"  # RIG_PRESS / RIG_RESET of a board reached through that port


def is_native_usb(url: str, ports: Sequence[ListPortInfo] | None = None) -> bool:
    """Whether `url` is an ESP32-S2/S3/C3's own USB port. Its DTR/RTS are virtual lines of the
    USB CDC device (MicroPython's mp_usbd_cdc.c, its TinyUSB glue), wired to neither GPIO0 nor EN;
    the DevKitC-1's auto-reset circuit hangs on the USB-UART bridge of its other port."""
    if not url.startswith("/dev/") and not url.upper().startswith("COM"):
        return False
    names = {url, os.path.realpath(url)}
    listed = list_ports.comports() if ports is None else ports
    return any(p.device in names and p.vid == ESPRESSIF_USB_VID for p in listed)


class AutoResetLines:
    """Press and reset through DTR/RTS, as the profile's RIG_PRESS / RIG_RESET allow."""

    def __init__(self, port: serial.Serial, press: str, reset: str, board: str) -> None:
        self._port = port
        self._press = press
        self._reset = reset
        self._board = board
        self.pressed = False
        self.reset_held = False

    def _native_usb(self) -> None:
        if NATIVE_USB in (self._press, self._reset):
            raise BoardCapabilityError(
                f"{self._board} is the chip's own USB port: its DTR/RTS are virtual lines that "
                "reach neither GPIO0 nor EN, so the rig can neither press nor reset the board "
                "through it. Connect the board's UART port (its USB-UART bridge, e.g. "
                "/dev/ttyUSB0) and give that to --board"
            )

    def set_button(self, pressed: bool) -> None:
        self._native_usb()
        if self._press != "dtr":
            raise BoardCapabilityError(
                f"{self._board}: RIG_PRESS is {self._press!r}; the rig can press only a button "
                "wired to the USB bridge's DTR (GPIO0 on DevKitC-style boards)"
            )
        if self.reset_held:
            raise BoardCapabilityError(
                f"{self._board} is held in reset: DTR and RTS both asserted would release it, "
                "so the button cannot be held now (start() the board first)"
            )
        self._port.rts = False
        self._port.dtr = pressed
        self.pressed = pressed

    def hold_reset(self) -> None:
        self._require_reset()
        # Let go of GPIO0 first: held low while EN rises, the ESP32 boots into its ROM loader.
        self._port.dtr = False
        self.pressed = False
        self._port.rts = True
        self.reset_held = True

    def release_reset(self) -> None:
        self._require_reset()
        self._port.rts = False
        self.reset_held = False

    def _require_reset(self) -> None:
        self._native_usb()
        if self._reset != "rts":
            raise BoardCapabilityError(
                f"{self._board}: RIG_RESET is {self._reset!r}; the rig can reset only through "
                "the USB bridge's RTS (EN on DevKitC-style boards)"
            )


class SerialBoard(Board):
    """A button behind a serial port, driven through its USB bridge's control lines."""

    def __init__(
        self,
        url: str,
        profile: str | Path,
        *,
        name: str | None = None,
        baud: int = 115200,
        rig_press: str | None = None,
        rig_reset: str | None = None,
        power: PowerSwitch | None = None,
        log_path: Path | None = None,
        build_dir: Path = host_deploy.BUILD_DIR,
    ) -> None:
        """`profile` is a board name under boards/ (or a profile file's directory);
        `rig_press`/`rig_reset` override the profile's RIG_PRESS/RIG_RESET (an emulated board
        served over RFC 2217 has the DevKitC lines, whatever its profile says); `power`, if the
        rig can switch the board's supply, makes `start`/`power_cut` real power cycles. It must
        leave the serial port usable (a bridge powered from the switched supply would vanish and
        need reopening, which this driver does not do)."""
        profile_dir = Path(profile) if Path(profile).is_dir() else BOARDS_DIR / profile
        self.profile = BoardProfile.load(profile_dir / "board.py")
        self.profile_name = profile_dir.name
        self._boards_dir = profile_dir.parent
        self.name = name or url
        self.url = url
        self._build_dir = build_dir
        self.console = ConsoleLog()
        self._log = log_path.open("ab", buffering=0) if log_path else None
        port = open_serial(url, baud, READ_TIMEOUT_S)
        self.port = port
        self.power = power
        self._powered = True  # a board on USB is powered from the moment it is plugged in
        press = rig_press or str(self.profile.get("RIG_PRESS", "none"))
        reset = rig_reset or str(self.profile.get("RIG_RESET", "none"))
        if is_native_usb(url):
            press = reset = NATIVE_USB
        self.lines = AutoResetLines(port, press, reset, self.name)
        sinks: list[Callable[[bytes], object]] = [self.console.feed]
        if self._log is not None:
            sinks.append(self._log.write)
        self.reader = ConsoleReader(port, sinks)
        self.last_deploy: host_deploy.DeployReport | None = None

    # ----- power and reset -----

    def start(self) -> None:
        """Boot the firmware: with a power switch, power it on (cycling it if it was on), cause
        `power`; without, release reset (after `power_cut`) or pulse it, cause `hard`."""
        if self.power is not None:
            if self._powered:
                self.power.off()
            self.console.clear()  # events "since start()": an unpowered board prints nothing
            self.power.on()
            self._powered = True
            return
        if not self.lines.reset_held:
            self.lines.hold_reset()
            time.sleep(RESET_PULSE_S)  # EN low long enough for the chip to see it
        self.console.clear()  # events "since start()": the board is silent while in reset
        self.lines.release_reset()

    def reset(self) -> None:
        self.lines.hold_reset()
        time.sleep(RESET_PULSE_S)  # EN low long enough for the chip to see it
        # Ends a half-printed line (a prompt), so the first line after the reset parses.
        self.console.note("reset (RTS pulse)")
        self.lines.release_reset()

    def power_cut(self) -> None:
        """Through the power switch if there is one. A bare USB board has none the rig controls:
        then EN is held low, which stops the chip just as abruptly (flash writes are cut
        mid-way); `start()` lets it run again and the firmware reports reset cause `hard`."""
        if self.power is not None:
            self.power.off()
            self._powered = False
            self.console.note("power cut")
            return
        self.lines.hold_reset()
        self.console.note("power cut (EN held low through RTS)")

    # ----- button -----

    def set_button(self, pressed: bool) -> None:
        self.lines.set_button(pressed)

    def press(self, steps: list[tuple[int, bool]]) -> None:
        """Host-timed gesture. Delays count from the previous step's planned time, so a slow
        control-line change (RFC 2217 waits for each acknowledgement) does not stretch it;
        steps shorter than one line change (tens of ms over RFC 2217) come late."""
        if any(delay < 0 for delay, _ in steps):
            raise ValueError(f"gesture delays must be >= 0 ms: {steps}")
        planned = time.monotonic()
        for delay_ms, pressed in steps:
            planned += delay_ms / 1000
            time.sleep(max(0.0, planned - time.monotonic()))
            self.set_button(pressed)

    # ----- console -----

    def expect(self, ev: str, timeout: float = 5.0, **fields: Any) -> Event:
        return self.console.expect(ev, timeout, **fields)

    def events(self, ev: str | None = None) -> list[Event]:
        return self.console.events(ev)

    def console_text(self) -> str:
        return self.console.text()

    # ----- flash, over mpremote's raw REPL -----

    @contextmanager
    def port_released(self) -> Iterator[str]:
        """Close the port for the block so another program (mpremote, esptool, a terminal) can
        open `url`; reopened afterwards with the lines as they were. The console seen meanwhile
        is not recorded. The firmware keeps running unless that program stops it."""
        with self.reader.paused() as port:
            dtr, rts = port.dtr, port.rts
            port.close()
            try:
                yield self.url
            finally:
                port.dtr, port.rts = dtr, rts  # applied as the port opens
                port.open()

    @contextmanager
    def transport(self) -> Iterator[BorrowedPortTransport]:
        """mpremote's transport on this board's port, console reader paused (for host tools
        such as `host.provision` that enter the raw REPL themselves)."""
        with self.reader.paused() as port:
            yield BorrowedPortTransport(port)

    @contextmanager
    def raw_repl(self) -> Iterator[BorrowedPortTransport]:
        """`transport()` in the raw REPL (the firmware is stopped and stays stopped at the REPL
        afterwards: `start()` or `reset()` boots it again)."""
        with self.transport() as transport, raw_repl(transport):
            yield transport

    def deploy(self, extra_files: Mapping[str, bytes] | None = None) -> None:
        self.last_deploy = self.deploy_report(extra_files)

    def deploy_report(
        self, extra_files: Mapping[str, bytes] | None = None
    ) -> host_deploy.DeployReport:
        """`deploy` that says what it wrote and what it left alone."""
        files = host_deploy.build_firmware(
            self.profile_name, boards_dir=self._boards_dir, out_dir=self._build_dir
        )
        files += [host_deploy.BoardFile(n, d) for n, d in (extra_files or {}).items()]
        with self.raw_repl() as transport:
            return host_deploy.deploy_files(transport, files)

    def read_file(self, path: str) -> bytes:
        with self.raw_repl() as transport:
            try:
                return bytes(transport.fs_readfile(path, chunk_size=FILE_CHUNK))
            except TransportExecError as exc:
                raise FileNotFoundError(f"{self.name}:{path}: {exc.error_output.strip()}") from exc

    def write_file(self, path: str, data: bytes) -> None:
        with self.raw_repl() as transport:
            host_deploy.write_atomically(transport, host_deploy.BoardFile(path, data))

    def close(self) -> None:
        self.reader.close()
        try:
            # Leave the board running with the button released, as a closed USB port does.
            self.port.dtr = False
            self.port.rts = False
        except (serial.SerialException, OSError):
            pass
        self.port.close()
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> SerialBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SerialBoard({self.url!r}, profile={self.profile_name!r})"
