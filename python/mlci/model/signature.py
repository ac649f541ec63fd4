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
    dtype: str  # the training data's type (int64, float64, bool, datetime, string)
    role: str  # numeric | categorical | boolean | datetime (mlci.columns); older models lack it
    categorical: bool  # role == categorical (kept for readers of older signatures)
    na_values: NotRequired[list[str]]  # texts read as missing in this column (placeholders)


class Signature(TypedDict):
    inputs: list[Input]
    target: str
    task: str
    classes: NotRequired[list[Any]]
    na_values: NotRequired[list[str]]  # data.na_values: missing in every column


def json_safe(values: Any) -> list[Any]:
    """numpy scalars as plain Python values (class labels in JSON)."""
    return [v.item() if hasattr(v, "item") else v for v in values]


def build(X: Any, roles: dict[str, str], target: str, task: str, classes: Any = None,
          placeholders: dict[str, list[str]] | None = None, na_values: list[str] | None = None) -> Signature:
    """The signature of a model trained on the feature frame ``X``, whose columns have the
    ``roles`` mlci.columns.decide gave them."""
    from mlci.data import dtype_name

    inputs: list[Input] = []
    for c in X.columns:
        item: Input = {"name": c, "dtype": dtype_name(X[c]), "role": roles[c],
                       "categorical": roles[c] == "categorical"}
        if placeholders and placeholders.get(c):
            item["na_values"] = list(placeholders[c])
        inputs.append(item)
    sig: Signature = {"inputs": inputs, "target": target, "task": task}
    if na_values:
        sig["na_values"] = list(na_values)
    if classes is not None:
        sig["classes"] = json_safe(classes)
    return sig


def roles(sig: Signature) -> dict[str, str]:
    """Each input's role; older signatures: categorical, else by dtype."""
    out = {}
    for i in sig.get("inputs", []):
        role = i.get("role")
        if role is None:
            dtype = str(i.get("dtype", "")).lower()
            role = ("categorical" if i.get("categorical") else "boolean" if dtype.startswith("bool")
                    else "numeric" if dtype.startswith(("int", "uint", "float")) else "categorical")
        out[str(i["name"])] = role
    return out


def missing_texts(sig: Signature) -> dict[str, list[str]]:
    """Texts read as missing: per column, and data.na_values under "*"."""
    out = {str(i["name"]): list(i["na_values"]) for i in sig.get("inputs", []) if i.get("na_values")}
    if sig.get("na_values"):
        out["*"] = list(sig["na_values"])
    return out


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
