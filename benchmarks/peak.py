"""Run `python -m benchmarks.peak MODULE ARGS…` as `python -m MODULE ARGS…` and print the process's
own peak memory on exit (stderr: ``peak-kb N``).

Why not the ru_maxrss that os.wait4 returns: Linux carries the peak of the process before exec()
over to the program it execs, so a child forked from a large benchmark process reports the
benchmark's memory, not its own. VmHWM (/proc/self/status) belongs to the address space exec()
made, so it is the program's own.
"""

from __future__ import annotations

import atexit
import runpy
import sys
from pathlib import Path

STATUS = Path("/proc/self/status")


def _report() -> None:
    if STATUS.exists():
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                print(f"peak-kb {line.split()[1]}", file=sys.stderr)


if __name__ == "__main__":
    atexit.register(_report)
    module, sys.argv = sys.argv[1], [sys.argv[1], *sys.argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
