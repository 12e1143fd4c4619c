# The A/B choice at boot (docs/contracts.md "A/B application folders"): main.py imports this from
# the image's own firmware (the root or the frozen modules), never from an OTA folder, and drops
# it unless the boot is a trial. choose() puts the folder `fw.json` names first on sys.path.
# A folder on trial (just installed by ota.py) gets `trial` boots, each with `secs` seconds to
# report healthy (jobop_ota calls ota.confirm()); a boot that finds none left runs `prev` again
# and marks `fw.json` `rolled`; a trial boot unconfirmed when its time is up, or whose firmware
# raises, resets (counting as a failed trial boot).
import sys

P = "fw.json"


def _read():
    import json

    for name in (P, P + ".tmp"):  # as store.read_bytes: the .tmp is whole if the rename was cut
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


def choose():
    # -> whether this boot is a trial
    p = _read()
    n = p.get("trial")
    if n is not None:
        if n > 0:
            p["trial"] = n - 1
        else:
            p = {"run": p.get("prev", ""), "rolled": p.get("ver"), "job": p.get("job")}
    if p.get("run"):
        sys.path.insert(0, p["run"])
    if n is None:
        return False
    import store  # the chosen folder's: the same atomic write

    store.write_json(P, p)
    if "trial" not in p:
        return False
    from machine import Timer

    Timer(0).init(mode=Timer.ONE_SHOT, period=p.get("secs", 120) * 1000, callback=_deadline)
    return True


def crashed():
    # the firmware raised out of app.main(): on trial, reset (a new firmware that crashes is not kept)
    if "trial" in _read():
        import machine

        machine.reset()
