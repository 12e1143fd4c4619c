"""Fine-grained logging (AWS IoT "v2" logging): the options and per-target levels
(store.py), their control plane (api.py), and the cloud's own log of device events honouring
them (log.py)."""
