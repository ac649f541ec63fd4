"""scikit-learn models as skops files, loaded with an explicit allow-list of types.

skops builds objects from a JSON schema of type names; loading never unpickles. Which types it
may build is mlci's decision, by exact name, never by prefix (a prefix such as ``sklearn.``
admits functions like ``sklearn.utils._testing.check_output`` that run commands):

- skops' own default list (Python primitives and containers, numpy dtypes and ufuncs,
  scipy.special ufuncs, numpy bit generators), which skops always applies;
- scikit-learn estimator classes: the name must resolve, by importing a ``sklearn`` module,
  to a class derived from ``sklearn.base.BaseEstimator`` (objects are rebuilt from their
  attributes; their ``__init__`` is not called);
- a short fixed list of inert helper types that fitted estimators hold (``INERT_TYPES``);
- the exact names in ``model.trusted_types`` of mlci.yaml (e.g. an XGBoost estimator).

The types a model needs are derived from the fitted estimator when it is saved (the file is
refused then, at training time, if one is not allowed) and recorded in MLmodel.json.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from mlci.errors import ConfigError, IntegrityError, UsageError
from mlci.model.files import read_meta, verify, write_meta

MODEL_FILE = "model.skops"

# Inert types that fitted estimators hold and skops does not list by default. Each is data
# with no callable state. TreePredictor (HistGradientBoosting's trees): skops leaves it out
# because a crafted node array can crash the process at prediction; mlci allows it, since a
# crash is not code execution and every file's checksum was verified before loading.
INERT_TYPES = frozenset({
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.random.mtrand.RandomState",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.link.HalfLogitLink", "sklearn._loss.link.IdentityLink", "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink", "sklearn._loss.link.LogLink", "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.AbsoluteError", "sklearn._loss.loss.ExponentialLoss",
    "sklearn._loss.loss.HalfBinomialLoss", "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfMultinomialLoss", "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfSquaredError", "sklearn._loss.loss.HuberLoss", "sklearn._loss.loss.PinballLoss",
    # mlci's own first pipeline step (the column-type contract): column names and roles only
    "mlci.model.prepare.ColumnTypes",
})


def skops_io() -> Any:
    """``skops.io``, imported without its import-time scan of every scikit-learn module.

    skops builds its default list of trusted estimators by calling
    ``sklearn.utils.all_estimators()``, which imports all of scikit-learn: about 2 s added to
    every command that saves or loads a model. mlci never relies on that list (estimators are
    checked by ``allowed``), so the scan is replaced by an empty list while skops is imported."""
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


def _is_estimator_class(name: str) -> bool:
    """``name`` resolves, within scikit-learn, to a BaseEstimator subclass, or to one of the
    data structures fitted estimators hold: neighbour search trees (KDTree, BallTree) and
    distance metrics. Only ``sklearn`` modules are imported (importing them runs no code of the
    file's choosing)."""
    module_name, _, attr = name.rpartition(".")
    if not (module_name == "sklearn" or module_name.startswith("sklearn.")):
        return False
    if not all(part.isidentifier() for part in name.split(".")):
        return False
    try:
        obj = getattr(importlib.import_module(module_name), attr, None)
    except ImportError:
        return False
    from sklearn.base import BaseEstimator
    from sklearn.metrics import DistanceMetric
    from sklearn.neighbors import BallTree, KDTree

    trees = tuple(c for c in (*KDTree.__mro__, *BallTree.__mro__) if c is not object)  # and their 32/64-bit bases
    return isinstance(obj, type) and issubclass(obj, (BaseEstimator, DistanceMetric, *trees))


def refused_types(types: Iterable[str], trusted: Iterable[str] = ()) -> list[str]:
    """The names in ``types`` that are not allowed (see the module docstring)."""
    extra = set(trusted)
    return sorted(t for t in set(types) if t not in INERT_TYPES and t not in extra and not _is_estimator_class(t))


def save(estimator: Any, directory: Path, signature: dict[str, Any], extra: dict[str, Any] | None = None,
         trusted: Iterable[str] = ()) -> dict[str, Any]:
    """Write ``model.skops``, the signature and MLmodel.json into ``directory``; return the
    metadata. Refuses (ConfigError) an estimator that needs a type loading would refuse."""
    import mlci.model.signature as sig

    global _saved
    sio = skops_io()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MODEL_FILE
    try:
        _dump_compact(estimator, path)
    except (ImportError, AttributeError, TypeError):  # skops moved its internals: its own dump
        sio.dump(estimator, path)
    data = path.read_bytes()
    types, build = _parse(data)
    refused = refused_types(types, trusted)
    if refused:
        path.unlink()
        raise ConfigError(f"model.trusted_types: the model holds {', '.join(refused)}, which mlci does not "
                          "load unless listed there (only list types you know to be inert)")
    sig.write(directory, signature)  # type: ignore[arg-type]
    meta = write_meta(directory, {"format": "skops", "flavor": "sklearn", **(extra or {}), "types": types})
    _saved = (hashlib.sha256(data).hexdigest(), types, build)
    return meta


def _dump_compact(estimator: Any, path: Path) -> None:
    """skops.io.dump, with schema.json written without indentation, and the same bytes for the
    same model. skops indents the schema, which makes json fall back to its pure-Python
    encoder: a 200-tree forest saves in 0.11 s instead of 0.21 s and takes 2.3 MB instead of
    4.0 MB. skops numbers objects (``__id__``, the arrays' file names) by memory address and
    the zip stamps each file with the time; here objects are numbered in the order they are
    saved and every file carries one fixed time, so a retrain of the same inputs gives the same
    sha256. Same format; skops.io.load reads either."""
    from zipfile import ZIP_STORED, ZipFile, ZipInfo

    skops_io()
    from skops.io import _persist

    class Numbered(_persist.SaveContext):
        def memoize(self, obj: Any) -> int:
            # the same object gets the same number (skops' memo keeps it alive meanwhile)
            entry = self.memo.get(id(obj))
            if entry is None:
                entry = self.memo[id(obj)] = (len(self.memo) + 1, obj)
            return entry[0]

    class FixedTime(ZipFile):
        def writestr(self, name: Any, data: Any, *args: Any, **kwargs: Any) -> None:
            if isinstance(name, str):
                name = ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                name.compress_type = self.compression
                name.external_attr = 0o644 << 16
            super().writestr(name, data, *args, **kwargs)

    with FixedTime(path, "w", compression=ZIP_STORED) as zip_file:
        context = Numbered(zip_file=zip_file)
        state = _persist.get_state(estimator, context)
        context.clear_memo()
        state["protocol"] = context.protocol
        state["_skops_version"] = _persist.skops.__version__
        zip_file.writestr("schema.json", json.dumps(state, separators=(",", ":")))


# Each parse of a skops file builds skops' whole tree of nodes (0.1 s for a 100-tree forest).
# A model is parsed when it is saved (its types are checked then); evaluate, which loads it next
# in the same process, builds it from that parse when the file's sha256 is the one parsed.
# The model loaded last is kept by its path, verified metadata (every file's sha256) and the
# trusted types it was checked with: `mlci run` loads each new model twice (evaluate, then the report).
_saved: tuple[str, list[str], Callable[[], Any]] | None = None
_last_loaded: tuple[tuple[str, str, tuple[str, ...]], Any] | None = None


def load(directory: Path, trusted: list[str] | None = None) -> Any:
    """Verify a model directory's checksums, check every type its skops file names against the
    allow-list, and only then load the estimator (the same object again when the same files
    were loaded last, with the same trusted types)."""
    global _saved, _last_loaded
    directory = Path(directory)
    meta = verify(directory)
    if meta.get("format") != "skops":
        raise UsageError(f"{directory}: model format {meta.get('format')!r} is not loadable here")
    path = directory / MODEL_FILE
    key = (str(path.resolve()), json.dumps(meta, sort_keys=True), tuple(sorted(trusted or [])))
    digest = (meta.get("files") or {}).get(MODEL_FILE)
    if _last_loaded is not None and _last_loaded[0] == key and digest:
        return _last_loaded[1]
    saved, _saved = _saved, None
    if saved is not None and digest and saved[0] == digest:
        types, build = saved[1], saved[2]  # parsed from these very bytes when saved
    else:
        try:
            types, build = _parse(path.read_bytes())
        except Exception as exc:  # skops raises assorted errors on corrupt files
            raise IntegrityError(f"{path}: not a readable skops file ({type(exc).__name__}: {exc})") from None
    refused = refused_types(types, trusted or [])
    if refused:
        raise IntegrityError(f"{path}: refusing to load types {', '.join(refused)}: not on mlci's allow-list "
                             "(list them in model.trusted_types only if you know them to be inert)")
    recorded = meta.get("types")
    if isinstance(recorded, list) and set(types) - set(recorded):
        unexpected = ", ".join(sorted(set(types) - set(recorded)))
        raise IntegrityError(f"{path}: holds types not recorded in MLmodel.json when it was saved: {unexpected}")
    try:
        model = build()
    except Exception as exc:  # a crafted schema that names allowed types with bad state
        raise IntegrityError(f"{path}: cannot be loaded ({type(exc).__name__}: {str(exc)[:200]})") from None
    _last_loaded = (key, model)
    return model


def _parse(data: bytes) -> tuple[list[str], Callable[[], Any]]:
    """The types of a skops file that skops does not trust by default
    (``skops.io.get_untrusted_types``) and a function that builds its object as
    ``skops.io.load(file, trusted=types)`` does, once, from a single parse of the file (skops'
    two calls parse it twice)."""
    sio = skops_io()
    try:
        from skops.io._audit import audit_tree, get_tree
        from skops.io._utils import read_schema
    except ImportError:  # skops moved its internals: its own two calls
        types = sorted(sio.get_untrusted_types(data=data))
        return types, lambda: sio.loads(data, trusted=types)
    from zipfile import ZipFile

    schema, context = read_schema(ZipFile(io.BytesIO(data), "r"))  # stays open: arrays are read from it
    tree = get_tree(schema, load_context=context, trusted=None)
    types = sorted(tree.get_unsafe_set())

    def build() -> Any:
        audit_tree(tree, trusted=types)  # skops' own check, as in skops.io.load
        return tree.construct()
    return types, build


def types_of(directory: Path) -> list[str]:
    """The types recorded for a saved model (for `mlci registry show` and audits)."""
    return list(read_meta(directory).get("types") or [])
