"""The board interface every test uses without knowing what is behind it.

A `Board` is driven by one driver (emulated process, USB serial, RFC 2217); tests call only
these methods, so the same test runs on an emulated and on a physical button.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any


class ExpectTimeout(AssertionError):
    """A wait for a console event failed; the message lists what was seen instead."""


class Board(ABC):
    """One button under test."""

    name: str

    @abstractmethod
    def deploy(self, extra_files: Mapping[str, bytes] | None = None) -> None:
        """Put the firmware (and the board's profile as `board.py`) on the board's flash."""

    @abstractmethod
    def start(self) -> None:
        """Power the board on (or release reset) so the firmware boots."""

    @abstractmethod
    def reset(self) -> None:
        """Hard reset: the firmware boots again with reset cause `hard`."""

    @abstractmethod
    def power_cut(self) -> None:
        """Cut power at this instant (no clean shutdown); `start()` powers it again."""

    @abstractmethod
    def set_button(self, pressed: bool) -> None:
        """Hold the button down or let it go, now."""

    @abstractmethod
    def press(self, steps: list[tuple[int, bool]]) -> None:
        """Play a gesture: `(delay_ms, pressed)` steps, delays relative to the previous step.

        Returns once the last step has been played.
        """

    @abstractmethod
    def expect(self, ev: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """Wait for the next console event `ev` whose fields equal `fields`; return it.

        Raises ExpectTimeout naming the events seen while waiting.
        """

    @abstractmethod
    def events(self, ev: str | None = None) -> list[dict[str, Any]]:
        """All console events seen since `start()` (or of one kind)."""

    @abstractmethod
    def console_text(self) -> str:
        """The raw console output seen so far."""

    @abstractmethod
    def read_file(self, path: str) -> bytes:
        """Read a file from the board's flash."""

    @abstractmethod
    def write_file(self, path: str, data: bytes) -> None:
        """Write a file to the board's flash (the firmware need not be running)."""

    @abstractmethod
    def close(self) -> None:
        """Stop driving the board and release everything it holds."""
