# Network configuration (Wi-Fi SSID and password, AWS IoT endpoint) in its own file, apart from
# settings: it holds a secret, so it is never printed; summary() is what may be shown.
import json

import store

PATH = "netcfg.json"
DEFAULT_PORT = 8883
_HOST_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"


def _hostname_ok(h):
    if not h or len(h) > 253:
        return False
    for label in h.split("."):
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-":
            return False
        for c in label:
            if c not in _HOST_CHARS:
                return False
    return True


def parse_endpoint(text):
    # "host" or "host:port" -> (host, port); ValueError with a message otherwise
    text = text.strip()
    if "/" in text:  # "https://host/..." would otherwise read as host "https", port "//host/..."
        raise ValueError(
            "endpoint must be a host name, not a URL: leave out https:// and any /path"
        )
    host, sep, port = text.partition(":")
    if sep:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("endpoint port must be 1-65535")
        p = int(port)
    else:
        p = DEFAULT_PORT
    if not _hostname_ok(host):
        raise ValueError("endpoint must be a host name like abc123.iot.us-east-1.amazonaws.com")
    return host.lower(), p


def validate(cfg):
    # -> {field: problem} (empty when fine). Messages never contain the password.
    errors = {}
    ssid = cfg.get("ssid")
    if not isinstance(ssid, str) or not ssid.strip():
        errors["ssid"] = "SSID must not be empty"
    elif len(ssid.encode()) > 32:
        errors["ssid"] = "SSID is longer than 32 bytes"
    pw = cfg.get("password")
    if not isinstance(pw, str):
        errors["password"] = "password missing"
    elif pw and not 8 <= len(pw.encode()) <= 63:
        errors["password"] = "WPA2 password must be 8-63 characters (or empty for an open network)"
    host = cfg.get("host")
    port = cfg.get("port")
    if not isinstance(host, str) or not _hostname_ok(host):
        errors["endpoint"] = "endpoint host name is missing or invalid"
    elif not isinstance(port, int) or not 0 < port < 65536:
        errors["endpoint"] = "endpoint port must be 1-65535"
    return errors


def encode(cfg):
    errors = validate(cfg)
    if errors:
        raise ValueError(", ".join(sorted(errors)))
    return json.dumps(
        {
            "ssid": cfg["ssid"],
            "password": cfg["password"],
            "host": cfg["host"],
            "port": cfg["port"],
        }
    ).encode()


def load():
    # the stored configuration, or None when missing or unusable
    try:
        cfg = store.read_json(PATH)
    except ValueError:
        return None
    if not isinstance(cfg, dict) or validate(cfg):
        return None
    return cfg


def save(cfg):
    store.write_bytes(PATH, encode(cfg))


def summary(cfg):
    # safe to print: no password
    if not cfg:
        return None
    return {
        "ssid": cfg["ssid"],
        "open": not cfg["password"],
        "host": cfg["host"],
        "port": cfg["port"],
    }
