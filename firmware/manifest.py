# ruff: noqa: F821  (module, include and options are given by MicroPython's manifest tool)
# Freezes the button firmware into a MicroPython image (MicroPython docs, "MicroPython manifest
# files"; the functions are those of MicroPython's tools/manifestfile.py). Build it with
#     make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/buttonrig/firmware/manifest.py
# in MicroPython's ports/esp32 (docs/physical-boards.md "Freezing the firmware"), or include it
# from your own manifest with another board profile:
#     include("/path/to/buttonrig/firmware/manifest.py", board="esp32-s3-devkitc-1")
# Relative paths are taken from this file's directory. main.py is not frozen: it stays on the
# board's filesystem (two lines: `import app; app.main()`), as after `buttonrig board deploy`.
# This file is read by the build, never deployed (host/deploy.py NOT_ON_BOARD).

options.defaults(board="esp32-devkitc")

include("$(PORT_DIR)/boards/manifest.py")  # the port's own frozen modules (asyncio, ssl, ...)

for name in (
    "app",
    "appsel",
    "button",
    "certs",
    "clicks",
    "clock",
    "configap",
    "configmode",
    "configpage",
    "connection",
    "crash",
    "der",
    "events",
    "fault",
    "form",
    "formurl",
    "httpd",
    "identity",
    "jobop_config",
    "jobop_factory_reset",
    "jobop_identify",
    "jobop_ota",
    "jobop_reboot",
    "jobrun",
    "jobsagent",
    "led",
    "mqtt",
    "netcfg",
    "ota",
    "ota_esp32",
    "outbox",
    "pem",
    "power",
    "services",
    "settings",
    "shadowagent",
    "stall",
    "store",
    "upload",
    "wifi",
):
    module(name + ".py")

module("board.py", base_path="../boards/" + options.board)
