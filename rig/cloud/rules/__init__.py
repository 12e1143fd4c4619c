"""The rules engine: topic rules stored (store), their SQL parsed (sql) and evaluated
(evaluate, functions), run on messages (engine) from the cloud's MQTT host (mqtt), and the
control-plane API (api)."""
