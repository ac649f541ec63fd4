"""Imports that later steps will need, done on a second thread while this one waits.

A model fit spends seconds in compiled code that releases the GIL, with one core of the
machine idle. Importing what comes after it (skops to save the model, matplotlib and the
report) in that time takes those imports off the pipeline's path.

The work starts when the wait starts and is joined before the wait returns, so it never
overlaps the calling thread's own imports outside the wait (two threads importing inside one
package can deadlock on Python's per-module import locks). A step that fails here is logged and
dropped: the code that needs the module imports it again and reports the error there.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)

_later: list[Callable[[], Any]] = []


def later(step: Callable[[], Any]) -> None:
    """Run ``step`` (an import) during the next ``while_waiting`` block of this process."""
    _later.append(step)


@contextmanager
def while_waiting(*steps: Callable[[], Any]) -> Iterator[None]:
    """Run ``steps`` and those registered with ``later`` on a second thread while the block runs;
    joined when it ends."""
    todo = [*steps, *_later]
    _later.clear()
    if not todo:
        yield
        return
    thread = threading.Thread(target=_run, args=(todo,), name="mlci-preload", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _run(steps: list[Callable[[], Any]]) -> None:
    for step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - the step's real caller reports it
            log.debug("preload %s failed: %s: %s", getattr(step, "__name__", step), type(exc).__name__, exc)
