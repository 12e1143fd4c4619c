"""New lines of the broker's log file, fed to readers (the will reader, rig/cloud/host/wills.py).

The broker's debug lines (a CONNECT's will, its topic) go to its log file only, never to
`$SYS/broker/log/#`; `BrokerLogReader` tails that file, including a restarted broker's new one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)
POLL_S = 0.05


class LogTail:
    """New complete lines of a file that may be replaced (a restarted broker's new log)."""

    def __init__(self, path_of: Callable[[], Path | None]) -> None:
        self._path_of = path_of
        self._path: Path | None = None
        self._offset = 0
        self._partial = b""

    def start_at_end(self) -> None:
        self._path = self._path_of()
        self._offset = self._path.stat().st_size if self._path and self._path.exists() else 0

    def lines(self) -> list[str]:
        path = self._path_of()
        if path != self._path:  # a new log: read it from its beginning
            self._path, self._offset, self._partial = path, 0, b""
        if path is None:
            return []
        try:
            with open(path, "rb") as log_file:
                log_file.seek(self._offset)
                data = log_file.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        return [line.decode(errors="replace") for line in complete]


class BrokerLogReader:
    """Feeds every new line of the broker's log to `line_readers`, every POLL_S or at once on
    `read_now()` (from any thread)."""

    def __init__(
        self, log_file: Callable[[], Path | None], line_readers: Sequence[Callable[[str], object]]
    ) -> None:
        self._tail = LogTail(log_file)
        self._lock = threading.Lock()
        self._line_readers = list(line_readers)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker-log", daemon=True)

    def start(self) -> None:
        self._tail.start_at_end()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def read_now(self) -> None:
        with self._lock:
            for line in self._tail.lines():
                for reader in self._line_readers:
                    reader(line)

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.read_now()
            except Exception:
                log.exception("reading the broker's log failed")
