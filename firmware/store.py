"""Atomic files: write `<path>.tmp`, then rename over `<path>`; a reader sees old or new, never half."""

import json
import os

import stall


def write_bytes(path, data):
    tmp = path + ".tmp"
    stall.begin()  # flash erase and program: blocking calls
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        try:
            os.rename(tmp, path)
        except OSError:  # FAT cannot rename onto an existing file; LittleFS and POSIX can
            os.remove(path)
            os.rename(tmp, path)
    finally:
        stall.end()


def read_bytes(path):
    """The file's bytes, or None when missing. If only `<path>.tmp` exists (power lost between
    remove and rename on FAT), that complete copy is used."""
    for name in (path, path + ".tmp"):
        try:
            with open(name, "rb") as f:
                return f.read()
        except OSError:
            pass
    return None


def write_json(path, obj):
    write_bytes(path, json.dumps(obj).encode())


def read_json(path):
    """Parsed JSON, None if missing; ValueError if the file is not valid JSON."""
    data = read_bytes(path)
    return None if data is None else json.loads(data)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def remove(path):
    for name in (path, path + ".tmp"):
        try:
            os.remove(name)
        except OSError:
            pass
