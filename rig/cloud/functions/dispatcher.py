"""The running cloud's dispatcher of asynchronous ("Event") invocations.

Events are rows in the database (rig/cloud/functions/store.py) written by whoever invoked
(the rules engine and 1-Click in this process: they wake the dispatcher at once; another
process, e.g. `buttonrig lambda invoke --invocation-type Event`: found by a poll every 200 ms).
Each function with due events gets a runner thread that runs them one after another, oldest
first, in the function's warm worker; functions run in parallel, so one that hangs until its
timeout holds up only its own events (L-4). An event leaves the table only once its function
ran it (or, after the retries, stays as failed), so a cloud that stops or dies mid-way runs it
again when it is back.
"""

from __future__ import annotations

import logging
import threading
import time

from rig.cloud.functions.api import Functions

log = logging.getLogger(__name__)
POLL_S = 0.2


class Dispatcher:
    def __init__(self, functions: Functions) -> None:
        self.functions = functions
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._runners: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.functions.on_event = self._wake.set
        self._thread = threading.Thread(target=self._loop, name="lambda-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self.functions.on_event = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            runners = list(self._runners.values())
        self.functions.pool.stop()  # a run cut short is retried: its event stays
        for runner in runners:
            runner.join(timeout=5)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(POLL_S)
            self._wake.clear()
            try:
                due = self.functions.store.due(int(time.time() * 1000))
            except Exception:
                log.exception("reading the pending Lambda events failed")
                continue
            for name, _seq in due:
                self._ensure_runner(name)

    def _ensure_runner(self, name: str) -> None:
        with self._lock:
            if name in self._runners or self._stopping.is_set():
                return
            runner = threading.Thread(
                target=self._run, args=(name,), name=f"lambda-events-{name}", daemon=True
            )
            self._runners[name] = runner
        runner.start()

    def _run(self, name: str) -> None:
        try:
            while not self._stopping.is_set() and self.functions.run_next_event(name):
                pass
        except Exception:
            log.exception("running an event of function %s failed", name)
        finally:
            with self._lock:
                self._runners.pop(name, None)
            self._wake.set()  # an event that came while this runner was finishing
