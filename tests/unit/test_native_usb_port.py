"""The rig refuses to press or reset through an ESP32-S3's own USB port (#11 item 5).

The DevKitC-1's auto-reset circuit (DTR -> GPIO0, RTS -> EN) hangs on the USB-UART bridge of its
"UART" port. On the chip's own "USB" port DTR/RTS are virtual lines of the USB CDC device
(MicroPython shared/tinyusb/mp_usbd_cdc.c): toggling them presses nothing and resets nothing, so
a test would wait for clicks that never come. The serial driver recognises the port by
Espressif's USB vendor id and says what to connect instead.
"""

from __future__ import annotations

from typing import cast

import pytest
import serial
from serial.tools.list_ports_common import ListPortInfo

from rig.drivers.serial import (
    NATIVE_USB,
    AutoResetLines,
    BoardCapabilityError,
    is_native_usb,
)


def port_info(device: str, vid: int, pid: int) -> ListPortInfo:
    info = ListPortInfo(device)
    info.vid, info.pid = vid, pid
    return info


PORTS = [
    port_info("/dev/ttyACM0", 0x303A, 0x4001),  # MicroPython's TinyUSB CDC on the S3
    port_info("/dev/ttyACM1", 0x303A, 0x1001),  # USB-Serial/JTAG
    port_info("/dev/ttyUSB0", 0x10C4, 0xEA60),  # CP2102N bridge of the UART port
]


@pytest.mark.parametrize(
    ("url", "native"),
    [
        ("/dev/ttyACM0", True),
        ("/dev/ttyACM1", True),
        ("/dev/ttyUSB0", False),
        ("/dev/ttyUSB9", False),  # not plugged in: nothing known, nothing refused
        ("rfc2217://localhost:4000", False),
    ],
)
def test_espressifs_own_usb_port_is_recognised(url: str, native: bool) -> None:
    assert is_native_usb(url, PORTS) is native


class Lines:
    dtr = False
    rts = False


@pytest.mark.parametrize("action", ["press", "reset"])
def test_pressing_or_resetting_through_it_is_refused_naming_the_uart_port(action: str) -> None:
    port = Lines()
    lines = AutoResetLines(cast(serial.Serial, port), NATIVE_USB, NATIVE_USB, "/dev/ttyACM0")
    with pytest.raises(BoardCapabilityError, match=r"own USB port.*UART port.*/dev/ttyUSB0"):
        if action == "press":
            lines.set_button(True)
        else:
            lines.hold_reset()
    assert (port.dtr, port.rts) == (False, False)  # nothing was toggled
