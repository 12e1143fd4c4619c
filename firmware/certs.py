# Certificate store: device certificate, private key and root CA as DER files (the format both
# the ESP32 and the unix port's mbedTLS read). Contents are never printed.
#
# commit(files) replaces several files as one step: each new file is staged as <name>.new, then
# a marker COMMIT lists them; only then are they renamed into place. recover() at boot finishes
# a commit whose marker exists (roll forward) or drops stray staged files (roll back), so a power
# cut at any instant leaves either the whole old or the whole new configuration.
import os

import store

DIR = "pki"  # not "certs": a directory named like a module shadows it on import
CERT = DIR + "/cert.der"
KEY = DIR + "/key.der"
CA = DIR + "/ca.der"
COMMIT = "config.commit"
STAGED = ".new"


def _mkdir(d):
    try:
        os.mkdir(d)
    except OSError:
        pass


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def commit(files, staged=()):
    # files: {path: bytes}, and paths already staged; all replaced, or none
    _mkdir(DIR)
    for name in files:
        _write(name + STAGED, files[name])
    names = sorted(list(files) + list(staged))
    store.write_bytes(COMMIT, "\n".join(names).encode())
    _finish(names)


def _finish(names):
    for name in names:
        if store.exists(name + STAGED):
            try:
                os.remove(name)
            except OSError:
                pass
            os.rename(name + STAGED, name)
    store.remove(COMMIT)


def recover():
    # -> "rolled_forward", "rolled_back" or None
    marker = store.read_bytes(COMMIT)
    if marker is not None:
        _finish([n for n in marker.decode().split("\n") if n])
        return "rolled_forward"
    dropped = False
    for d in ("", DIR):
        try:
            names = os.listdir(d or ".")
        except OSError:
            continue
        for n in names:
            if n.endswith(STAGED):
                os.remove((d + "/" if d else "") + n)
                dropped = True
    return "rolled_back" if dropped else None


def read(path):
    return store.read_bytes(path)


def have_identity():
    return store.exists(CERT) and store.exists(KEY)


def factory_reset(extra=()):
    # erase certificates and network configuration (settings, serial and unsent clicks stay)
    import netcfg

    for path in (CERT, KEY, CA, COMMIT, netcfg.PATH) + tuple(extra):
        store.remove(path)
        store.remove(path + STAGED)
