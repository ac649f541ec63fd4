"""Imported into a sweep's fork server only (the last of mlci.sweep's preloaded modules), and
never anywhere else: importing it makes the process end at its first atexit step.

The fork server holds the sweep's stdout and stderr, so whoever reads the sweep's output to its
end (`mlci sweep --json | jq`, a CI step capturing it) waits until the server has exited. It
exits when the sweep's process does, and a normal exit tears down scikit-learn, pandas and scipy
object by object: about 0.5 s on a 2-core machine, after the sweep's work is done. Its workers
already leave with os._exit (multiprocessing); here the server does the same once its exit
begins, with the standard streams flushed. Nothing else needs to run: the server only forks."""

import atexit
import os
import sys


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or replaced streams
            pass
    os._exit(0)


atexit.register(_exit_now)  # registered last, so it runs first (atexit runs in reverse order)
