# The connectivity services' wiring (docs/firmware-connectivity.md): `register(app)` picks what a
# board runs from what is configured, once at boot. A blank board (or one whose identity cannot
# be set up for TLS) gets config mode (configmode.py); a configured board also gets the Wi-Fi
# station, and the MQTT session, the clicks it carries and the doors of the shadow and jobs
# agents (connection.py). Import-light: an unconfigured board imports no network or TLS module
# until asked, and none of the session services.
#
# Memory (docs/esp32-differences.md "Memory"): each board keeps only the code of what it runs.
# This module is used once: app drops it after register() (nothing kept refers to it: no
# function or lambda of its own is handed to a service, as one would hold its globals). `certs`
# and `netcfg` are imported here only, and dropped again: on a blank board at once, on a
# configured board once the TLS context holds the certificates; the config page imports them
# again when a request needs them. gc.collect() before the TLS context and before each session,
# so their large blocks are taken from a heap without the garbage of what came before.
import gc
import sys

import configmode
import events
import store


def register(app):
    import certs
    import netcfg

    how = certs.recover()
    if how:
        events.emit("config", state=how)
    cfg = netcfg.load()
    ca = certs.read(certs.CA)
    if cfg is None or ca is None or not certs.have_identity():
        for name in ("certs", "netcfg"):  # the page imports what it needs, when it needs it
            sys.modules.pop(name, None)
        app.add(configmode.ConfigMode(app, False))
        return
    config_mode = configmode.ConfigMode(app, True)
    app.add(config_mode)
    # each module's code is kept for good: a collection before each import lets it fill the
    # holes the garbage before it left, low in the heap, instead of splitting the free space
    # above (the TLS handshake needs KB-sized blocks; see "Memory" in docs/esp32-differences.md)
    gc.collect()
    import mqtt

    gc.collect()
    import wifi

    gc.collect()
    import connection  # with clock and outbox

    station = wifi.Station(cfg["ssid"], cfg["password"], app.led.show)
    cert_path, key_path = certs.CERT, certs.KEY
    for name in ("certs", "netcfg"):  # used once: not kept
        sys.modules.pop(name, None)
    del certs, netcfg
    gc.collect()
    try:  # after the imports: the context's buffers must not split the heap they load into
        ctx = mqtt.tls_context(store.read_bytes(cert_path), store.read_bytes(key_path), ca)
    except Exception as e:
        # A key or certificate mbedTLS rejects, or an image too old for this TLS set-up
        # (MicroPython < 1.24): no session can ever start, so ask for a new identity.
        events.error("tls_setup", "%s: %s" % (type(e).__name__, e))
        config_mode.unusable()
        return
    del ca
    client = mqtt.Client(app.serial, cfg["host"], cfg["port"], ctx)
    app.add(station)
    app.add(connection.Connection(app, client, station, cfg["host"]))
    app.add(connection.Clicks(app, client))
    app.add(connection.LazyAgent(app, client, "shadowagent", station.rssi))  # "Shadow agent"
    app.add(connection.JobsWatch(app, client))  # docs: "Jobs agent and OTA"
