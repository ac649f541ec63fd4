"""Terminal output: rich on stderr for people, JSON on stdout for machines."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from typing import Any, Callable, Iterable, Iterator


QUIET = False  # -q: the CLI sets it; then only errors reach stderr
PRINTED_JSON = False  # a command printed its result: the CLI edge adds none of its own


# Width of a console that is not a terminal (a Jenkins log, a file): wide enough that no table cell is
# cut or folded (digests, timestamps, reasons arrive whole); a log has no width to fit.
LOG_WIDTH = 1000


def console() -> Any:
    """Rich on stderr. On a terminal it fits the terminal; elsewhere (COLUMNS unset) it is LOG_WIDTH wide."""
    from rich.console import Console

    width = None
    if not os.environ.get("COLUMNS") and not _is_terminal(sys.stderr):
        width = LOG_WIDTH
    return Console(stderr=True, highlight=False, quiet=QUIET, width=width)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def print_json(obj: Any) -> None:
    global PRINTED_JSON
    PRINTED_JSON = True
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console().print(t)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


@contextlib.contextmanager
def byte_progress(description: str = "publish: uploading") -> Iterator[Callable[..., None]]:
    """A bytes bar (size, speed) on stderr; yields ``on_bytes(n, total=None)`` for transfers.
    Safe to call from the transfer threads."""
    from rich.progress import (BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn,
                               TransferSpeedColumn)

    lock = threading.Lock()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=console(), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def on_bytes(n: int, total: int | None = None) -> None:
            with lock:
                if total is not None:
                    bar.update(task, total=total)
                else:
                    bar.advance(task, n)

        yield on_bytes
