"""The clicks service: click messages of `iotbutton/<serial>` checked (engine), recorded once
per eventId (store), taken from MQTT (mqtt) and read back by tests and the CLI (api)."""
