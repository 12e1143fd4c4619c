"""Serial ports on this machine, and which of them look like an ESP32 board's USB bridge."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

# USB VID:PID of the bridges found on ESP32 boards (DevKitC and clones, S3 native USB).
KNOWN_BRIDGES: dict[tuple[int, int], str] = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x",
    (0x10C4, 0xEA70): "Silicon Labs CP2105",
    (0x1A86, 0x7523): "WCH CH340",
    (0x1A86, 0x7522): "WCH CH340K",
    (0x1A86, 0x55D4): "WCH CH9102",
    (0x1A86, 0x55D3): "WCH CH343",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6010): "FTDI FT2232",
    (0x0403, 0x6014): "FTDI FT232H",
    (0x0403, 0x6015): "FTDI FT231X",
    (0x303A, 0x1001): "Espressif USB-Serial/JTAG (ESP32-S3/C3 native USB)",
    (0x303A, 0x4001): "Espressif TinyUSB CDC (MicroPython on ESP32-S2/S3 USB)",
}


@dataclass(frozen=True)
class SerialPortInfo:
    """One port as `buttonrig board list` shows it."""

    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    description: str
    bridge: str | None  # the known ESP32 bridge it is, if any

    @property
    def usb_id(self) -> str:
        return f"{self.vid:04X}:{self.pid:04X}" if self.vid is not None and self.pid else "-"

    def line(self) -> str:
        what = self.bridge or self.description or "serial port"
        serial_no = f"  serial {self.serial_number}" if self.serial_number else ""
        return f"{self.device:<20} {self.usb_id:<9}  {what}{serial_no}"


def describe(port: ListPortInfo) -> SerialPortInfo:
    bridge = None
    if port.vid is not None and port.pid is not None:
        bridge = KNOWN_BRIDGES.get((port.vid, port.pid))
    description = port.description if port.description not in (None, "n/a") else ""
    return SerialPortInfo(
        device=port.device,
        vid=port.vid,
        pid=port.pid,
        serial_number=port.serial_number,
        description=description or "",
        bridge=bridge,
    )


def list_serial_ports(ports: Iterable[ListPortInfo] | None = None) -> list[SerialPortInfo]:
    """All serial ports, ESP32 bridges first, then by device name."""
    found = [describe(p) for p in (list_ports.comports() if ports is None else ports)]
    return sorted(found, key=lambda p: (p.bridge is None, p.device))


def find_board_ports(ports: Iterable[ListPortInfo] | None = None) -> list[SerialPortInfo]:
    """Only the ports whose USB bridge is a known ESP32 board bridge."""
    return [p for p in list_serial_ports(ports) if p.bridge is not None]
