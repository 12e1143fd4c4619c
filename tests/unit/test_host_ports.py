"""host/ports.py: ESP32 bridges are recognised by USB VID:PID and listed first."""

from __future__ import annotations

from serial.tools.list_ports_common import ListPortInfo

from host.ports import find_board_ports, list_serial_ports


def usb_port(device: str, vid: int | None, pid: int | None, description: str = "") -> ListPortInfo:
    port = ListPortInfo(device, skip_link_detection=True)
    port.vid, port.pid, port.description = vid, pid, description or "n/a"
    return port


PORTS = [
    usb_port("/dev/ttyS0", None, None),
    usb_port("/dev/ttyUSB1", 0x067B, 0x2303, "Prolific PL2303"),  # not an ESP32 board bridge
    usb_port("/dev/ttyUSB0", 0x10C4, 0xEA60),
    usb_port("/dev/ttyACM0", 0x303A, 0x1001),
    usb_port("/dev/ttyUSB2", 0x1A86, 0x55D4),
]


def test_known_bridges_come_first_with_their_names() -> None:
    listed = list_serial_ports(PORTS)
    assert [(p.device, p.bridge) for p in listed] == [
        ("/dev/ttyACM0", "Espressif USB-Serial/JTAG (ESP32-S3/C3 native USB)"),
        ("/dev/ttyUSB0", "Silicon Labs CP210x"),
        ("/dev/ttyUSB2", "WCH CH9102"),
        ("/dev/ttyS0", None),
        ("/dev/ttyUSB1", None),
    ]
    assert listed[1].usb_id == "10C4:EA60"
    assert listed[3].usb_id == "-"
    assert "Prolific PL2303" in listed[4].line()


def test_only_bridges_are_board_candidates() -> None:
    assert [p.device for p in find_board_ports(PORTS)] == [
        "/dev/ttyACM0",
        "/dev/ttyUSB0",
        "/dev/ttyUSB2",
    ]
    assert find_board_ports([usb_port("/dev/ttyS0", None, None)]) == []
