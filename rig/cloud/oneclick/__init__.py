"""AWS IoT 1-Click on the reference cloud: devices claimed by a press (devices.py), projects and
placements (projects.py), clicks delivered to callbacks (delivery.py); pure rules and payloads in
engine.py, tables in store.py, the facade `OneClick` in api.py (docs/contracts.md "1-Click")."""
