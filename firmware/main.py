"""Entry point: the boot sequence is in app.py."""

import app

app.main()
