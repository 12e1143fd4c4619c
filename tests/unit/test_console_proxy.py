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


def _spawn_and_interrupt(tmp_path: Path, program: str, after: bytes) -> tuple[bytes, list[int]]:
    """Start `program`, send Ctrl-C on the USB side once it printed `after` (b"" = at once);
    return what it printed and its exit codes."""
    received: list[bytes] = []
    codes: list[int] = []
    ended = threading.Event()

    def on_exit(_child: Child, code: int) -> None:
        codes.append(code)
        ended.set()

    proxy = ConsoleProxy(None, on_exit, [received.append])
    try:
        proxy.spawn([sys.executable, "-c", program], {"PATH": "/usr/bin:/bin"}, tmp_path)
        deadline = time.monotonic() + 10
        while after not in b"".join(received) and time.monotonic() < deadline:
            time.sleep(0.01)
        with open(proxy.port_name, "wb", buffering=0) as usb:
            usb.write(b"\x03")
        ended.wait(10)
        return b"".join(received), codes
    finally:
        proxy.close()


def test_a_ctrl_c_while_the_board_process_starts_does_not_kill_it(tmp_path: Path) -> None:
    """The unix port runs inside CPython: a Ctrl-C before MicroPython's own SIGINT handler is
    set (mpremote sends one at once) must not end the process, as it does not end a chip's boot."""
    out, codes = _spawn_and_interrupt(
        tmp_path, "import time; time.sleep(0.5); print('booted', flush=True)", b""
    )
    assert b"booted" in out and codes == [0], (out, codes)


def test_a_ctrl_c_still_interrupts_a_program_that_set_its_handler(tmp_path: Path) -> None:
    program = (
        "import signal, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # as MicroPython running code\n"
        "print('running', flush=True)\n"
        "time.sleep(10)\n"
    )
    out, codes = _spawn_and_interrupt(tmp_path, program, b"running")
    assert b"KeyboardInterrupt" in out and codes and codes[0] != 0, (out, codes)
