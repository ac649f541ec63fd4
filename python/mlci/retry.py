"""Retries with exponential backoff for infrastructure calls (store, registry, daemons)."""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, TypeVar

from mlci.errors import InfraError

T = TypeVar("T")
log = logging.getLogger(__name__)


def attempts_default() -> int:
    return int(os.environ.get("MLCI_RETRIES", "4"))


def retry(fn: Callable[[], T], *, what: str, on: tuple[type[BaseException], ...],
          attempts: int | None = None, base_delay: float | None = None) -> T:
    """Call ``fn``; on one of ``on`` retry with backoff; after the last try raise InfraError.

    MLCI_RETRIES and MLCI_RETRY_DELAY (seconds) tune this; tests set them low.
    """
    attempts = attempts or attempts_default()
    delay = base_delay if base_delay is not None else float(os.environ.get("MLCI_RETRY_DELAY", "0.5"))
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except on as exc:
            if attempt == attempts:
                raise InfraError(f"{what}: {exc} (gave up after {attempts} attempts)") from None
            log.warning("%s failed (%s); retry %d/%d", what, exc, attempt, attempts - 1)
            time.sleep(delay * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
