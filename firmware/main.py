"""Entry point: run the application folder `fw.json` names (A/B OTA, appsel.py), then app.py's
boot sequence; a crash out of it resets or sleeps (crash.py). Never replaced by an OTA: keep it
small."""

import sys

import appsel

trial = appsel.choose()
if not trial:  # its code is not kept (a trial boot keeps it for its deadline)
    del appsel
    sys.modules.pop("appsel", None)
try:
    import app

    app.main()
except Exception as e:
    if trial:
        appsel.crashed()  # type: ignore[possibly-unbound]  # kept when trial
    sys.modules.pop("app", None)  # its objects are garbage now: room for the rescue
    globals().pop("app", None)
    import crash

    crash.recover(e)
