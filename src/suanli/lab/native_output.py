"""Keep a process's stdout for what it means to print.

HiGHS (scipy.optimize.milp, used by the Sia policy) prints a rare debug line from its C++
code straight to file descriptor 1. Tools whose stdout is machine-read (JSON lines)
send fd 1 to stderr while they solve."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def native_stdout_to_stderr() -> Iterator[None]:
    """While inside, whatever native code writes to fd 1 goes to fd 2."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
