"""OTA files: the HTTPS file server `cloud up` runs for job documents and firmware bundles
(`<home>/files/`, server.py) and the firmware bundles themselves (bundle.py)."""
