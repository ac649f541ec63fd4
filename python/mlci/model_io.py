"""The model directory format: a skops file, its signature, and checksums.

  model/model.skops       the fitted estimator (scikit-learn Pipeline), saved with skops
  model/signature.json    inputs (name, dtype), target, task, classes
  model/MLmodel.json      format, flavor, files with sha256 (checked before loading)

Loading never unpickles: skops only builds types we trust (scikit-learn, numpy, scipy and
the standard containers) plus those named in ``model.trusted_types``. Every file's sha256 is
verified first, so a tampered or truncated model is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlci.errors import IntegrityError, UsageError
from mlci.store.base import dumps, sha256_file

MODEL_FILE = "model.skops"
SIGNATURE_FILE = "signature.json"
META_FILE = "MLmodel.json"

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.", "_operator.", "math.")


def skops_io() -> Any:
    """``skops.io``, imported without its import-time scan of every scikit-learn module.

    skops builds its default list of trusted types by calling
    ``sklearn.utils.all_estimators()``, which imports all of scikit-learn: about 2 s added
    to every command that saves or loads a model. mlci never uses that default list (``load``
    passes its own, checked against TRUSTED_PREFIXES and model.trusted_types), so the scan is
    replaced by an empty list while skops is imported. Saving and loading are unchanged."""
    import sys

    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    import sklearn.utils

    real = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = lambda *args, **kwargs: []
    try:
        import skops.io
    finally:
        sklearn.utils.all_estimators = real
    return skops.io


def save(estimator: Any, directory: Path, signature: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    sio = skops_io()

    directory.mkdir(parents=True, exist_ok=True)
    try:
        _dump_compact(estimator, directory / MODEL_FILE)
    except (ImportError, AttributeError, TypeError):  # skops moved its internals: its own dump
        sio.dump(estimator, directory / MODEL_FILE)
    (directory / SIGNATURE_FILE).write_bytes(dumps(signature))
    meta = {"format": "skops", "flavor": "sklearn", **(extra or {}),
            "files": {name: sha256_file(directory / name) for name in (MODEL_FILE, SIGNATURE_FILE)}}
    (directory / META_FILE).write_bytes(dumps(meta))


def _dump_compact(estimator: Any, path: Path) -> None:
    """skops.io.dump, with schema.json written without indentation. skops indents it, which
    makes json fall back to its pure-Python encoder: a 200-tree forest saves in 0.11 s instead
    of 0.21 s and takes 2.3 MB instead of 4.0 MB. Same format; skops.io.load reads either."""
    from zipfile import ZIP_STORED, ZipFile

    skops_io()
    from skops.io import _persist

    with ZipFile(path, "w", compression=ZIP_STORED) as zip_file:
        context = _persist.SaveContext(zip_file=zip_file)
        state = _persist.get_state(estimator, context)
        context.clear_memo()
        state["protocol"] = context.protocol
        state["_skops_version"] = _persist.skops.__version__
        zip_file.writestr("schema.json", json.dumps(state, separators=(",", ":")))


def read_meta(directory: Path) -> dict[str, Any]:
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise UsageError(f"{directory}: not a model directory (no {META_FILE})")
    try:
        return json.loads(meta_path.read_text())
    except ValueError as exc:
        raise IntegrityError(f"{meta_path}: not valid JSON ({exc})") from None


def verify(directory: Path) -> dict[str, Any]:
    """Check every file's sha256 against MLmodel.json; return the metadata."""
    meta = read_meta(directory)
    for name, expected in meta.get("files", {}).items():
        path = directory / name
        if not path.is_file():
            raise IntegrityError(f"{path}: missing from the model directory")
        actual = sha256_file(path)
        if actual != expected:
            raise IntegrityError(f"{path}: checksum mismatch (expected {expected[:12]}, got {actual[:12]})")
    return meta


def signature(directory: Path) -> dict[str, Any]:
    return json.loads((directory / SIGNATURE_FILE).read_text())


def load(directory: Path, trusted: list[str] | None = None) -> Any:
    """Verify and load a model directory's estimator."""
    sio = skops_io()

    meta = verify(directory)
    if meta.get("format") != "skops":
        raise UsageError(f"{directory}: model format {meta.get('format')!r} is not loadable here")
    path = directory / MODEL_FILE
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises assorted errors on corrupt files
        raise IntegrityError(f"{path}: not a readable skops file ({exc})") from None
    extra = set(trusted or [])
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES) and t not in extra]
    if refused:
        raise IntegrityError(f"{path}: refusing to load untrusted types {', '.join(sorted(refused))} "
                             "(list them in model.trusted_types if you trust them)")
    return sio.load(path, trusted=list(untrusted))


def load_any(directory: Path, trusted: list[str] | None = None, allow_code: bool = True) -> Any:
    """Verify and load a model directory of any format into an object with ``predict(df)``,
    ``predict_proba(df)`` (when the model has it) and ``classes_`` (classification).

    ``skops``: the scikit-learn Pipeline, exactly as ``load``. ``command``: the model trained
    by a `trainer: command` script, loaded through its own predict.py (see
    mlci.trainers.command). That runs the project's own code, after every file's sha256 was
    checked against MLmodel.json; ``allow_code=False`` refuses such models instead.
    """
    meta = read_meta(Path(directory))
    fmt = meta.get("format")
    if fmt == "command":
        if not allow_code:
            raise UsageError(f"{directory}: a `command` model runs its own predict.py; refused here")
        from mlci.trainers.command import load_command_model

        return load_command_model(Path(directory))
    return load(Path(directory), trusted)
