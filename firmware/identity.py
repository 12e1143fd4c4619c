"""Who this button is: its serial number (docs/contracts.md "Serial number") and firmware version."""

FW_VERSION = "0.1.0"

_serial = None


def serial_number():
    global _serial
    if _serial is None:
        try:
            with open("serial") as f:
                _serial = f.read().strip()
        except OSError:
            pass
        if not _serial:
            from binascii import hexlify

            import machine

            _serial = "ESP32-" + hexlify(machine.unique_id()).decode().upper()
    return _serial
