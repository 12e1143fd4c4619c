"""Topic handlers of the cloud service: each module's `register(service)` is called at start.

See docs/contracts.md "Service handler hook". One module per part (jobs, rules, clicks…).
"""
