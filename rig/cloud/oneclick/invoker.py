"""What the 1-Click layer needs of the local Lambda functions: an asynchronous invocation.

The same Protocol as rig/cloud/functions' `FunctionInvoker` (the rules-lambda part), declared here
so this package does not import that one; the `Cloud` facade hands the real one in.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)


class FunctionInvoker(Protocol):
    def invoke_event(self, function_arn: str, event: dict[str, Any]) -> None:
        """Async `Event` invocation; never raises for function errors."""
        ...


class NoFunctions:
    """Until a function runtime is wired in: every callback is an invocation error (logged, and
    counted as CallbackInvocationErrors by the caller)."""

    def invoke_event(self, function_arn: str, event: dict[str, Any]) -> None:
        del event
        raise LookupError(f"no function runtime: {function_arn} not invoked")
