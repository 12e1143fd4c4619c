"""The jobs step timers: a thread that turns IN_PROGRESS executions whose `stepTimeoutInMinutes`
ran out into TIMED_OUT (API reference UpdateJobExecution: "If the job execution status is not set
to a terminal state before this timer expires ... the job execution status is set to TIMED_OUT"),
and the job's in-progress timer likewise; it also queues the executions a job's rollout rate held
back (`maximumPerMinute`, docs/cloud-decisions.md J-21).

It only writes the database (the notify / notify-next of a time-out go through the outbox like
any other change), so it runs beside the MQTT service, started and stopped by the runtime.
Timers are checked every `period_s` (1 s): a time-out lands at most that late.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from rig.cloud.jobs.shapes import now_ms
from rig.cloud.jobs.store import JobStore

log = logging.getLogger(__name__)


class StepTimers:
    def __init__(
        self, jobs: JobStore, period_s: float = 1.0, clock: Callable[[], int] = now_ms
    ) -> None:
        self.jobs = jobs
        self.period_s = period_s
        self.clock = clock  # epoch milliseconds; the tests pass a later one
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="job-step-timers", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.wait(self.period_s):
            for tick in (self.jobs.time_out_expired, self.jobs.release_rollouts):
                try:
                    tick(self.clock())
                except Exception:  # e.g. the database stayed locked: try again next period
                    log.exception("jobs timer %s failed", tick.__name__)
