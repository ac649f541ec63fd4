"""The model directory format, owned here: save, verify, load, the signature.

  model/MLmodel.json      format, flavor, run and model name, types, every file's sha256
  model/signature.json    inputs (name, dtype, categorical), target, task, classes
  model/model.skops       format ``skops``: the fitted scikit-learn Pipeline (mlci.model.skops)
  model/predict.py + ...  format ``command``: a `trainer: command` model (mlci.model.command)

Every file's sha256 is verified before anything is loaded; a skops file is loaded only with
an explicit allow-list of types; a command model's code runs only where the caller allows it.
This package imports neither training nor the registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlci.errors import UsageError
from mlci.model.files import META_FILE, SIGNATURE_FILE, read_meta, verify, write_meta
from mlci.model.signature import Signature
from mlci.model.signature import read as read_signature
from mlci.model.skops import MODEL_FILE, load, save, skops_io

__all__ = ["META_FILE", "MODEL_FILE", "SIGNATURE_FILE", "Signature", "load", "load_any", "read_meta",
           "read_signature", "save", "skops_io", "verify", "write_meta"]


def load_any(directory: Path, trusted: list[str] | None = None, allow_code: bool = True) -> Any:
    """Verify and load a model directory of any format into an object with ``predict(df)``,
    ``predict_proba(df)`` (when the model has it) and ``classes_`` (classification).

    ``skops``: the scikit-learn Pipeline, exactly as ``load``. ``command``: loaded through its
    own predict.py (mlci.model.command), after every file's sha256 was checked;
    ``allow_code=False`` refuses such models instead."""
    directory = Path(directory)
    meta = read_meta(directory)
    if meta.get("format") == "command":
        if not allow_code:
            raise UsageError(f"{directory}: a `command` model runs its own predict.py; refused here")
        from mlci.model import command

        return command.load(directory)
    return load(directory, trusted)
