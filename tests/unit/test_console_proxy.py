"""ConsoleProxy with a plain process in place of the MicroPython port."""

import sys
import threading
import time
from pathlib import Path

from rig.drivers.console_proxy import Child, ConsoleProxy

# Prints without pause: the pty buffer is always full when the process is killed.
CHATTY = [sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('x' * 512)"]


def test_a_killed_process_prints_nothing_after_kill_returns(tmp_path: Path) -> None:
    """A power cut's half-printed line reaches the sinks before whatever the owner does next."""
    received: list[bytes] = []
    lock = threading.Lock()

    def sink(data: bytes) -> None:
        with lock:
            received.append(data)

    def on_exit(child: Child, code: int) -> None:
        raise AssertionError(f"kill() reaps the process itself ({child.pid} exited {code})")

    proxy = ConsoleProxy(None, on_exit, [sink])
    try:
        for _ in range(3):
            child = proxy.spawn(CHATTY, {"PATH": "/usr/bin:/bin"}, tmp_path)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with lock:
                    if sum(map(len, received)) > 4096:
                        break
                time.sleep(0.01)
            proxy.kill(child)
            with lock:
                at_kill = sum(map(len, received))
            time.sleep(0.3)
            with lock:
                assert sum(map(len, received)) == at_kill, "output of a dead process after kill"
                received.clear()
            assert child.drained.is_set()
    finally:
        proxy.close()
