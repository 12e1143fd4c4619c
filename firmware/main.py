"""Entry point: run the application folder `fw.json` names (A/B OTA, docs/contracts.md "A/B
application folders"), then the boot sequence of app.py. Never replaced by an OTA: keep it small.

A folder on trial (just installed by ota.py) gets `trial` boots, each with `secs` seconds to
report healthy (jobop_ota calls ota.confirm()); a boot that finds none left, a trial boot whose
firmware raises, or one still unconfirmed when its time is up (a reset) brings `prev` back."""

import sys

P = "fw.json"


def _read():
    import json

    for name in (P, P + ".tmp"):  # store.read_bytes: the .tmp is whole if the rename was cut
        try:
            with open(name) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
    return {}


def _deadline(_t):
    if "trial" in _read():
        import machine

        machine.reset()  # unconfirmed in time: this boot counts as a failed trial


p = _read()
n = p.get("trial")
if n is not None:
    if n > 0:
        p["trial"] = n - 1
    else:
        p = {"run": p.get("prev", ""), "rolled": p.get("ver"), "job": p.get("job")}
if p.get("run"):
    sys.path.insert(0, p["run"])
if n is not None:
    import store

    store.write_json(P, p)
    if "trial" in p:
        from machine import Timer

        Timer(0).init(mode=Timer.ONE_SHOT, period=p.get("secs", 120) * 1000, callback=_deadline)

try:
    import app

    app.main()
except Exception:
    if "trial" in _read():
        import machine

        machine.reset()  # a new firmware that crashes is not kept
    raise
