"""Loading a model trained by `model.trainer: command` through its own predict.py.

Such a model directory holds the script's model files and a ``predict.py`` defining
``load(model_dir)``, ``predict(model, df)`` and optionally ``predict_proba(model, df)`` (the
contract is in mlci.trainers.command). Loading executes predict.py: it is the project's own
code, executed only after every file matched its checksum in MLmodel.json, and only where
the caller allows code (``mlci.model.load_any(allow_code=...)``).
"""

from __future__ import annotations

import hashlib
import types
from pathlib import Path
from typing import Any

from mlci.errors import IntegrityError, UsageError
import mlci.model.signature as sig
from mlci.model.files import META_FILE, verify

ENTRY_POINT = "predict.py"


class CommandModel:
    """A model trained by a command, used through its predict.py; feeds it the signature's
    input columns in order."""

    def __init__(self, directory: Path, module: types.ModuleType, signature: dict[str, Any]):
        self.directory = directory
        self.module = module
        self.signature = signature
        self.inputs = [i["name"] for i in signature.get("inputs", [])]
        if signature.get("classes") is not None:
            self.classes_ = list(signature["classes"])
        try:
            self.model = module.load(str(directory))
        except Exception as exc:  # the project's own code: report, don't crash the caller
            raise UsageError(f"{directory / ENTRY_POINT}: load() failed: {type(exc).__name__}: {exc}") from None
        if callable(getattr(module, "predict_proba", None)):
            self.predict_proba = self._predict_proba

    def _frame(self, X: Any) -> Any:
        missing = [c for c in self.inputs if c not in X.columns]
        if missing:
            raise UsageError(f"input is missing columns {', '.join(missing)}")
        X = X[self.inputs]
        if self.signature.get("inputs") and all("role" in i for i in self.signature["inputs"]):
            # the column-type contract, as the script's training data had it (mlci.trainers.command)
            from mlci.model.prepare import ColumnTypes

            X = ColumnTypes(sig.roles(self.signature), sig.missing_texts(self.signature)).transform(X)  # type: ignore[arg-type]
        return X

    def predict(self, X: Any) -> Any:
        import numpy as np

        out = np.asarray(self.module.predict(self.model, self._frame(X)))
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out

    def _predict_proba(self, X: Any) -> Any:
        import numpy as np

        return np.asarray(self.module.predict_proba(self.model, self._frame(X)), dtype=float)


def load(directory: Path) -> CommandModel:
    """Verify every file of a `command` model, then execute its predict.py (from the bytes that
    were verified; no bytecode is written into the model directory) and load the model."""
    meta = verify(directory)
    entry = meta.get("entry_point", ENTRY_POINT)
    if not isinstance(entry, str) or "/" in entry or entry.startswith("."):
        raise IntegrityError(f"{directory}: entry point {entry!r} must be a file in the model directory")
    path = directory / entry
    source = path.read_bytes()
    expected = meta.get("files", {}).get(entry)
    if expected is None or hashlib.sha256(source).hexdigest() != expected:
        raise IntegrityError(f"{path}: not recorded in {META_FILE} or changed since")
    name = f"mlci_model_{hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:12]}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - the project's own code
    except Exception as exc:
        raise UsageError(f"{path}: failed to import: {type(exc).__name__}: {exc}") from None
    for fn in ("load", "predict"):
        if not callable(getattr(module, fn, None)):
            raise UsageError(f"{path}: defines no `{fn}` function (the contract: load(model_dir), "
                             "predict(model, dataframe), optionally predict_proba(model, dataframe))")
    return CommandModel(directory, module, dict(sig.read(directory)))
