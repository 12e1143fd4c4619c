"""host.transport.enter_raw_repl: a board that misses the first Ctrl-A (still booting) is asked
again; one that never answers still fails, with mpremote's error."""

from __future__ import annotations

from typing import Any

import pytest

from host import transport as host_transport
from host.transport import TransportError, enter_raw_repl


class BootingBoard:
    """Answers the raw REPL only from the `ready_at`-th request on."""

    def __init__(self, ready_at: int) -> None:
        self.ready_at = ready_at
        self.requests = 0
        self.soft_resets = 0

    def enter_raw_repl(self, soft_reset: bool = False) -> None:
        self.requests += 1
        self.soft_resets += soft_reset
        if self.requests < self.ready_at:
            raise TransportError("could not enter raw repl")


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_transport, "ENTER_RETRY_PAUSE_S", 0)


def test_a_board_still_booting_is_asked_again() -> None:
    board = BootingBoard(ready_at=2)
    enter_raw_repl(board)  # type: ignore[arg-type]
    assert board.requests == 2 and board.soft_resets == 0


def test_a_board_that_never_answers_fails_after_the_last_attempt() -> None:
    board: Any = BootingBoard(ready_at=99)
    with pytest.raises(TransportError, match="could not enter raw repl"):
        enter_raw_repl(board, attempts=3)
    assert board.requests == 3
