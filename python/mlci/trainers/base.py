"""What mlci.train hands a trainer (``Job``) and what a trainer hands back (``Trained``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass
class Split:
    """The rows a model trains and is tested on (pandas frames and series)."""

    X_train: Any
    X_test: Any
    y_train: Any
    y_test: Any
    info: dict[str, Any]  # {"train_rows", "split": "file" | "random"}


@dataclass
class Job:
    """One training: the project, its split, the signature the model must have, and the
    empty directory the trainer writes the model into (with MLmodel.json and signature.json)."""

    project: Any  # mlci.runs.Project
    run_id: str
    split: Split
    signature: dict[str, Any]
    model_dir: Path
    device: Any = None  # mlci.devices.Device
    step: Callable[[str], None] = lambda _msg: None
    on_output: Callable[[str], None] | None = None


@dataclass
class Trained:
    """What a trainer trained. ``run`` holds fields of run.json that only this trainer has
    (e.g. the command and its own metrics); ``summary`` likewise for the stage summary."""

    estimator: str
    params: dict[str, Any]
    fit_s: float
    run: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
