"""The MicroPython unix port: which binary runs firmware on the host (`binary`) and how firmware
code is run under it, one-shot or streaming (`process`). Emulated boards, the firmware tests and
the benchmarks all find and run the interpreter through here."""
