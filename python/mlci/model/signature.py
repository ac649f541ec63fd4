"""The model signature: which columns a model takes and what it answers.

Built in one place (``build``) by every trainer and read through one function (``read``) by
the server, evaluation, the report and image verification.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from mlci.errors import IntegrityError
from mlci.model.files import SIGNATURE_FILE


class Input(TypedDict):
    name: str
    dtype: str
    categorical: bool


class Signature(TypedDict):
    inputs: list[Input]
    target: str
    task: str
    classes: NotRequired[list[Any]]


def json_safe(values: Any) -> list[Any]:
    """numpy scalars as plain Python values (class labels in JSON)."""
    return [v.item() if hasattr(v, "item") else v for v in values]


def build(X: Any, categorical: list[str], target: str, task: str, classes: Any = None) -> Signature:
    """The signature of a model trained on the feature frame ``X``."""
    from mlci.data import dtype_name

    sig: Signature = {
        "inputs": [{"name": c, "dtype": dtype_name(X[c]), "categorical": c in categorical} for c in X.columns],
        "target": target, "task": task,
    }
    if classes is not None:
        sig["classes"] = json_safe(classes)
    return sig


def read(directory: Path) -> Signature:
    path = Path(directory) / SIGNATURE_FILE
    try:
        sig = json.loads(path.read_text())
    except FileNotFoundError:
        raise IntegrityError(f"{path}: missing from the model directory") from None
    except ValueError as exc:
        raise IntegrityError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(sig, dict) or not isinstance(sig.get("inputs"), list):
        raise IntegrityError(f"{path}: expected a JSON object with an `inputs` list")
    return sig  # type: ignore[return-value]


def write(directory: Path, sig: Signature) -> None:
    from mlci.util import dumps

    (Path(directory) / SIGNATURE_FILE).write_bytes(dumps(sig))
