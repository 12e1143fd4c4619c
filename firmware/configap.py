# Configuration mode: a WPA2 access point "Button ConfigureMe - XXX" (XXX = last three
# characters of the serial; password = its last eight, as the AWS IoT Button) serving a page at
# / and /index.html. The form sets Wi-Fi, certificate, private key, endpoint and optionally the
# root CA; an empty field keeps the stored value ("Enter the value for any field that you wish to
# change"). Everything is validated first, then written in one commit (certs.commit), then the
# portal ends. Nothing secret is ever echoed back: the page re-fills SSID and endpoint only.
# Memory: the page (configpage.py) is streamed out piece by piece from constants (never built
# whole); the form is streamed in from the socket in small blocks, certificates decoded straight
# into staged files (form, upload, pem), so no allocation grows with the upload. Each module is
# held only while a request needs it (docs/esp32-differences.md "Memory"): while a POST's form is
# read only `form` (or `formurl`), `upload` and `pem` (not the page, `certs` or `netcfg`); then the checks
# (`der`), then `netcfg`, then `certs` for the commit; all of them dropped once it is answered.
import asyncio
import gc
import sys

import board
import events
import httpd
import network

AP_TIMEOUT_S = 600  # ours: the guide is silent on how long the blue light lasts
# The page's address, as on the AWS IoT Button; ESP-IDF's soft-AP would use 192.168.4.1.
AP_IP = "192.168.0.1"
MAX_BODY = 16384  # certificate + key + CA as PEM fit easily
# dropped once a POST is answered
POST_MODULES = ("form", "formurl", "upload", "pem", "der", "certs", "netcfg")


def _drop(*names):
    # a module used for one step is not kept: its code goes with the next collection (what is
    # imported again later is read from flash again)
    for name in names:
        sys.modules.pop(name, None)


def ap_ssid(serial):
    return "Button ConfigureMe - " + serial[-3:]


def ap_password(serial):
    return serial[-8:]


def _text(fields, name):
    v = fields.get(name, b"")
    try:
        return v.decode().strip()
    except UnicodeError:
        raise ValueError(name)


def _shown(fields, name):
    # a text field to re-fill the form with ("" when it is not valid UTF-8)
    try:
        return _text(fields, name)
    except ValueError:
        return ""


class Portal:
    def __init__(self, serial, show, addr=None, timeout_s=AP_TIMEOUT_S, request_timeout_ms=10000):
        self.serial = serial
        self.request_timeout_ms = request_timeout_ms
        self.show = show
        self.addr = addr or board.CONFIG_AP_ADDR
        self.timeout_s = timeout_s
        self.done = asyncio.Event()
        self.applied = False

    def build(self, up):
        # -> (files to commit besides the staged ones, errors); files is None when anything is
        # wrong. `up` is the streamed form (upload.Upload): certificate fields already staged.
        up.check()
        _drop("der")  # its code makes room for netcfg's
        gc.collect()
        import netcfg

        fields = up.text
        errors = up.errors
        old = netcfg.load() or {}
        cfg = {}
        try:
            ssid = _text(fields, "ssid")
            password = fields.get("password", b"").decode()
            endpoint = _text(fields, "endpoint")
        except (ValueError, UnicodeError):
            return None, {"form": "text fields must be UTF-8"}
        cfg["ssid"] = ssid or old.get("ssid", "")
        if fields.get("open"):
            cfg["password"] = ""
        elif password:
            cfg["password"] = password
        elif "password" in old and not ssid:
            cfg["password"] = old["password"]
        elif "password" in old and ssid == old.get("ssid"):
            cfg["password"] = old["password"]
        else:
            cfg["password"] = None
            errors.setdefault("password", "enter the Wi-Fi password or tick Open Network")
        if endpoint:
            try:
                cfg["host"], cfg["port"] = netcfg.parse_endpoint(endpoint)
            except ValueError as e:
                errors.setdefault("endpoint", str(e))
        else:
            cfg["host"], cfg["port"] = old.get("host"), old.get("port")
        for k, v in netcfg.validate(cfg).items():
            errors.setdefault(k, v)
        if errors:
            return None, errors
        return {netcfg.PATH: netcfg.encode(cfg)}, {}

    async def handle(self, req):
        if req.path not in ("/", "/index.html", "/configure"):
            return 404, "text/plain", b"not found\n"
        if req.method == "GET":
            import netcfg

            cfg = netcfg.load() or {}
            ep = cfg.get("host", "")
            if ep and cfg.get("port") != netcfg.DEFAULT_PORT:
                ep = "%s:%d" % (ep, cfg["port"])
            _drop("netcfg")
            import configpage

            return (
                200,
                "text/html; charset=utf-8",
                configpage.page(self.serial, None, cfg.get("ssid", ""), ep),
            )
        if req.method != "POST":
            return 405, "text/plain", b"GET or POST only\n"
        _drop("configpage")  # imported again for the answer
        gc.collect()  # the form's code fills the holes low in the heap, not the room above
        import form
        import upload

        _drop("certs")  # upload keeps the names it needs; the code is back for the commit
        gc.collect()  # ... and its room is free before the form is read
        up = upload.Upload()
        ssid = ep = ""
        try:  # the form streams from the socket into staged files: nothing held whole
            try:
                await form.parse(req.headers.get("content-type"), req.body, up)
                errors = None
            except form.FormError as e:
                errors = {"form": str(e)}
            form = None  # the parser is done: its code makes room for the checks'
            _drop("form", "formurl")
            gc.collect()
            files = None
            if errors is None:
                files, errors = self.build(up)
                if files is None:
                    events.emit("config", state="refused", fields=sorted(errors))
                    fields = up.text
                    ssid = _shown(fields, "ssid") if "ssid" not in errors else ""
                    ep = _shown(fields, "endpoint") if "endpoint" not in errors else ""
            _drop("der", "pem", "netcfg")  # (upload imports pem where it uses it)
            gc.collect()
            import configpage  # the answer's page before the commit: no commit goes unanswered

            if files is not None:
                import certs

                certs.commit(files, up.staged)
                changed = sorted(list(files) + up.staged)
                up.staged = []
        finally:
            up.discard()  # a refused, broken or cut-off upload leaves nothing staged
            up = upload = None
            _drop(*POST_MODULES)
        if errors:
            return 400, "text/html; charset=utf-8", configpage.page(self.serial, errors, ssid, ep)
        self.applied = True
        events.emit("config", state="applied", changed=changed)
        return 200, "text/html; charset=utf-8", configpage.confirmation(), self.done.set

    async def run(self):
        # -> True when a configuration was applied, False when the portal timed out
        ap = network.WLAN(network.AP_IF)
        # on first: ESP-IDF takes the AP's settings only while it is enabled (esp_wifi_set_config)
        ap.active(True)
        ap.config(
            essid=ap_ssid(self.serial),
            password=ap_password(self.serial),
            authmode=network.AUTH_WPA2_PSK,
        )
        ap.ifconfig((AP_IP, "255.255.255.0", AP_IP, AP_IP))  # its DHCP server restarts on it
        server = httpd.Server(self.handle, MAX_BODY, self.request_timeout_ms)
        await server.start(self.addr[0], self.addr[1])
        events.emit(
            "config",
            state="open",
            essid=ap_ssid(self.serial),
            ip=ap.ifconfig()[0],
            port=self.addr[1],
        )
        self.show("config")
        try:
            await asyncio.wait_for(self.done.wait(), self.timeout_s)
        except asyncio.TimeoutError:
            pass
        finally:
            server.close()
            ap.active(False)
        events.emit("config", state="closed", applied=self.applied)
        return self.applied
