# Side-channel client of an emulated board (docs/contracts.md "Side channel").
#
# Connects to the rig at BUTTONRIG_CHANNEL on first import, says `hello`, and runs a reader
# thread that dispatches the rig's messages. Other shims use the public API:
#   send(obj)            one JSON message to the rig (no-op when no rig is attached)
#   on(op, callback)     callback(msg) for each incoming message with that op (reader thread!)
#   level(pin, default)  the input level the rig set for a pin
#   set_level(pin, lvl)  change it and notify watchers (what `pin` and `play` do)
#   watch(callback)      callback(pin, old, new) on each input level change (old None = never
#                        set: the pin's pull decides); runs in the reader/play thread
#   end()                end this process now (reset / deep sleep): no REPL, no clean-up
import _thread
import json
import os
import socket
import time

_send_lock = _thread.allocate_lock()
_handlers = {}
_watchers = []
_levels = {}
_sock = None


def send(obj):
    if _sock is None:
        return
    data = json.dumps(obj).encode() + b"\n"
    with _send_lock:
        try:
            _sock.write(data)
        except OSError:
            pass  # the rig went away; the reader thread ends the process


def on(op, callback):
    _handlers.setdefault(op, []).append(callback)


def watch(callback):
    _watchers.append(callback)


def level(pin, default=0):
    return _levels.get(pin, default)


def set_level(pin, lvl):
    lvl = 1 if lvl else 0
    old = _levels.get(pin)
    _levels[pin] = lvl
    if old != lvl:
        for w in _watchers:
            w(pin, old, lvl)


def end():
    # SystemExit would drop to the REPL under `micropython -i`; the process must really end,
    # as a chip does when it resets or sleeps. Kill our own process (the shell's parent).
    os.system("kill -9 $PPID")
    while True:
        time.sleep_ms(1000)


def _play(msg):
    pin = msg["pin"]
    for delay, lvl in msg["edges"]:
        if delay > 0:
            time.sleep_ms(delay)
        set_level(pin, lvl)
    send({"op": "played"})


def _dispatch(msg):
    op = msg.get("op")
    if op == "pin":
        set_level(msg["pin"], msg["level"])
    elif op == "play":
        # Own thread: a gesture lasts seconds and must not stall other messages.
        _thread.start_new_thread(_play, (msg,))
    for cb in _handlers.get(op, ()):
        cb(msg)


def _reader(sock):
    while True:
        try:
            line = sock.readline()
        except OSError:
            line = b""
        if not line:
            print("[shim] side channel to the rig lost: ending")
            end()  # the rig is gone: nothing may outlive it
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        try:
            _dispatch(msg)
        except Exception as e:  # keep the channel alive; report instead
            send({"op": "shim_error", "msg": repr(e)})


# At import, once (top-level code, not functions: it is freed once the import is done):
# the initial input levels, then the connection to the rig.
_v = os.getenv("BUTTONRIG_PINS")
if _v:
    _levels.update({int(k): 1 if v else 0 for k, v in json.loads(_v).items()})
_v = os.getenv("BUTTONRIG_CHANNEL")
if _v:
    _host, _port = _v.rsplit(":", 1)
    _sock = socket.socket()
    _sock.connect(socket.getaddrinfo(_host, int(_port))[0][-1])
    try:
        with open("/proc/self/stat") as _f:
            _v = int(_f.read().split()[0])
        del _f
    except OSError:
        _v = None
    send({"op": "hello", "pid": _v})
    _thread.start_new_thread(_reader, (_sock,))
    del _host, _port
del _v
