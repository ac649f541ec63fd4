"""Where a running check's output goes: a reporter receives every line and each result."""

from __future__ import annotations

import shlex
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

from mlci.checks.settings import Check


class Reporter(Protocol):
    def started(self, check: Check, argv: list[str], cwd: Path) -> None: ...
    def line(self, name: str, text: str) -> None: ...
    def finished(self, record: dict[str, Any]) -> None: ...


class StreamReporter:
    """Writes each output line as ``name | text`` to a stream (stderr), one whole line at a time."""

    def __init__(self, names: list[str] | None = None, stream: Any = None, quiet: bool = False):
        self.width = max((len(n) for n in names or []), default=0)
        self.stream = stream
        self.quiet = quiet
        self._lock = threading.Lock()

    def _write(self, name: str, text: str) -> None:
        stream = self.stream or sys.stderr
        with self._lock:
            stream.write(f"{name.ljust(self.width)} | {text}\n")
            stream.flush()

    def started(self, check: Check, argv: list[str], cwd: Path) -> None:
        if not self.quiet:
            shown = check.run if check.shell else shlex.join(argv)
            self._write(check.name, f"$ {shown}")

    def line(self, name: str, text: str) -> None:
        if not self.quiet:
            self._write(name, text)

    def finished(self, record: dict[str, Any]) -> None:
        if not self.quiet:
            self._write(record["name"], f"==> {describe(record)}")


class NullReporter:
    def started(self, check: Check, argv: list[str], cwd: Path) -> None:
        pass

    def line(self, name: str, text: str) -> None:
        pass

    def finished(self, record: dict[str, Any]) -> None:
        pass


def describe(record: dict[str, Any]) -> str:
    """'passed in 1.2 s', 'failed in 0.3 s: exit code 1', ..."""
    text = f"{record['status']} in {record['duration_s']:.1f} s"
    if record["status"] in ("missing", "skipped", "timeout"):
        text = record["status"]
    if record.get("message"):
        text += f": {record['message']}"
    if record["status"] != "passed" and not record["blocking"]:
        text += " (non-blocking)"
    return text
