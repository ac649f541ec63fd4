"""The one failures shape in every command's ``--json`` result.

``"failures": [{"name": "<gate, rule, check or stage>", "detail": "<one line>"}]`` lists what
made the command say no (exit 1); it is an empty list when nothing failed. The Jenkins steps
(``src/org/mlci/Cli.groovy``) read only this key to name the failure, so each producer builds
it from its own declared result, next to that declaration; warnings and non-blocking failures,
which do not fail the command, are not in it.

A failure that ends a command before it printed its result (a ``CheckFailed`` raised from the
library) is printed by the CLI edge as ``{"error": ..., "failures": [...]}``.

A leaf module: the standard library only.
"""

from __future__ import annotations

from typing import TypedDict


class Failure(TypedDict):
    name: str    # what failed: a gate, rule, check or stage, as the command's output names it
    detail: str  # why, on one line


def failure(name: object, detail: object) -> Failure:
    """A Failure with ``detail`` folded onto one line."""
    return {"name": str(name), "detail": " ".join(str(detail).split())}
