"""Named steps where tests make a process die or wait: ``MLCI_TEST_HOOK``. Used only by tests.

``MLCI_TEST_HOOK="publish:manifest=kill"`` SIGKILLs the process right after that step (what a
power cut or an OOM kill does); ``"gc:marked=wait:/tmp/go"`` creates ``/tmp/go.reached`` and
waits (at most 120 s) until ``/tmp/go`` exists, so a test can run another process in between.
Several hooks are separated by commas. Unset (always, outside tests) this costs one lookup.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def step(name: str) -> None:
    spec = os.environ.get("MLCI_TEST_HOOK")
    if not spec:
        return
    for item in spec.split(","):
        where, _, action = item.partition("=")
        if where.strip() != name:
            continue
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action.startswith("wait:"):
            flag = Path(action.removeprefix("wait:"))
            Path(f"{flag}.reached").touch()
            deadline = time.monotonic() + 120
            while not flag.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
