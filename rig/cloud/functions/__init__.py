"""Local Lambda functions: configurations, events and logs in the cloud's database (store), a
function's own process (bootstrap, worker), the API (`cloud.functions`, api) and the running
cloud's dispatcher of asynchronous events (dispatcher).

`FunctionInvoker` is what other services (rules, 1-Click) call: they type against this
protocol, never against the implementation.
"""

from __future__ import annotations

from typing import Any, Protocol


class FunctionInvoker(Protocol):
    def invoke_event(self, function_arn: str, event: dict[str, Any]) -> None:
        """Asynchronous ("Event" invocation type): returns at once; the event is kept durably
        (SQLite, as the other stores) until the function ran; errors/timeouts counted and
        logged. ResourceNotFoundException when no function has that ARN (nothing kept)."""
        ...
