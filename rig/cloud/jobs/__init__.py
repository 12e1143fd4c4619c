"""The Jobs service: the pure execution state machine (engine), jobs and executions in the
cloud's database (store) and the control-plane API (api)."""
