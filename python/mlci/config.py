"""mlci.yaml: the schema users write, loading, and error messages that name the field.

Paths in the file are relative to the file. Unknown keys are errors. Every error names the
file, the dotted field path and what was expected.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlci import metrics as metric_defs
from mlci.checks.settings import CheckList
from mlci.errors import ConfigError
from mlci.deploy.settings import Environment as DeployEnvironment
from mlci.jenkins.settings import Jenkins as JenkinsSettings
from mlci.validation.settings import Validate
from mlci.monitor.settings import Monitor
from mlci.trainers.settings import Training


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Features(Section):
    include: list[str] | None = Field(None, description="only these columns are features")
    exclude: list[str] = Field(default_factory=list, description="columns never used as features")
    categorical: list[str] | None = Field(
        None, description="columns one-hot encoded whatever their values (the rest keep the automatic role)")
    numeric: list[str] | None = Field(
        None, description="columns used as numbers whatever their values (the rest keep the automatic role)")
    datetime: list[str] | None = Field(
        None, description="columns read as dates or times (ISO 8601 text or seconds since 1970)")


class Data(Section):
    train: str = Field(description="training data: a CSV or Parquet file, a directory or glob of them, "
                                   "or s3://bucket/key, s3://bucket/prefix/ (docs/configuration.md, Data sources)")
    test: str | None = Field(None, description="test data; without it `split` is used")
    target: str = Field(description="the column to predict")
    features: Features = Field(default_factory=Features)
    na_values: list[str] = Field(
        default_factory=list, description="texts that mean a missing value in any column (e.g. '?', '-')")
    schema_: str | None = Field(None, alias="schema", description="rules file for `mlci validate`")
    reference: str | None = Field(
        None, description="reference data for drift; default: the baseline model's training data")


class Split(Section):
    test_size: float = Field(0.2, gt=0, lt=1, description="fraction of rows held out for testing")
    seed: int = Field(42, description="random seed of the split (and of training, if unset)")
    stratify: bool = Field(True, description="keep class proportions (classification only)")


class Model(Section):
    trainer: Literal["sklearn", "command"] = Field("sklearn", description="how the model is trained")
    estimator: str | None = Field(
        None, description="import path of a scikit-learn estimator class; default: random forest")
    params: dict[str, Any] = Field(default_factory=dict, description="estimator parameters")
    command: str | None = Field(None, description="training command for `trainer: command`")
    trusted_types: list[str] = Field(
        default_factory=list, description="extra types trusted when loading the skops file")

    @model_validator(mode="after")
    def _command_needs_command(self) -> "Model":
        if self.trainer == "command" and not self.command:
            raise ValueError("`trainer: command` needs `model.command`")
        return self


class Gate(Section):
    metric: str = Field(description="metric name")
    threshold: float | None = Field(None, description="absolute bound (>= or <= by direction)")
    min_absolute_change: float | None = Field(None, description="candidate - baseline must be at least this")
    min_relative_change: float | None = Field(None, description="(candidate - baseline)/|baseline| at least this")
    max_regression: float | None = Field(None, ge=0, description="candidate may be worse than baseline by at most this")
    greater_is_better: bool | None = Field(None, description="direction; known for built-in metrics")

    @model_validator(mode="after")
    def _one_bound(self) -> "Gate":
        if all(v is None for v in (self.threshold, self.min_absolute_change,
                                   self.min_relative_change, self.max_regression)):
            raise ValueError("a gate needs one of threshold, min_absolute_change, "
                             "min_relative_change, max_regression")
        return self


class Evaluate(Section):
    metrics: list[str] | None = Field(None, description="metrics to compute; default: all for the task")
    baseline: str | None = Field("production", description="alias of the model to compare against; null for none")
    gates: list[Gate] = Field(default_factory=list)


class Store(Section):
    uri: str = Field(".mlci/store", description="a directory, or s3://bucket/prefix")
    keep_data: bool = Field(False, description="also store the training data, for `mlci reproduce`")
    addressing: Literal["auto", "path", "virtual"] = Field("auto", description="S3 addressing style")

    @field_validator("uri")
    @classmethod
    def _scheme(cls, uri: str) -> str:
        if "://" in uri and not uri.startswith("s3://"):
            raise ValueError(f"unsupported scheme in {uri!r}; expected a directory or s3://bucket/prefix")
        return uri


class LoadGate(Section):
    seconds: float = Field(10, gt=0, le=600, description="how long the load test runs")
    concurrency: int = Field(8, ge=1, le=256, description="parallel keep-alive connections")
    min_rps: float | None = Field(None, description="gate: at least this many requests per second")
    max_p99_ms: float | None = Field(None, description="gate: 99th percentile latency at most this (ms)")
    max_requests: int = Field(200_000, ge=1, description="stop after this many requests even if time remains")


class ImageVerify(Section):
    examples: str | None = Field(None, description="JSON file of inputs with expected outputs")
    load: LoadGate = Field(default_factory=LoadGate)
    tolerance: float = Field(1e-6, ge=0, description="allowed difference for numeric expected outputs")
    startup_timeout: float = Field(180, gt=0, description="seconds to wait for /health after start")


class Image(Section):
    repository: str | None = Field(None, description="image repository, e.g. registry:5000/ml/model")
    base: str = Field("python:3.11-slim", description="base image (its Python must match the wheelhouse's)")
    verify: ImageVerify = Field(default_factory=ImageVerify)
    tags: list[str] = Field(default_factory=list, description="extra tags pushed besides version and git sha")
    port: int = Field(8080, ge=1, le=65535, description="port the server listens on inside the image")
    workers: int = Field(2, ge=1, description="server worker processes in the image")
    wheelhouse: str | None = Field(
        None, description="directory of prebuilt wheels (air-gapped hosts); default: built with pip wheel")
    requirements: list[str] = Field(
        default_factory=list, description="extra pip requirements installed in the image (from the wheelhouse)")
    labels: dict[str, str] = Field(default_factory=dict, description="extra image labels")


class Promote(Section):
    alias: str = Field("production", description="alias that promotion moves")
    approvers: list[str] = Field(default_factory=list, description="Jenkins users/groups allowed to approve")
    auto: bool = Field(False, description="`mlci run` promotes a blessed new version itself")


class Config(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="model name in the registry")
    task: Literal["classification", "regression"]
    data: Data
    split: Split = Field(default_factory=Split)
    model: Model = Field(default_factory=Model)
    evaluate: Evaluate = Field(default_factory=Evaluate)
    store: Store = Field(default_factory=Store)
    image: Image = Field(default_factory=Image)
    promote: Promote = Field(default_factory=Promote)
    jenkins: JenkinsSettings = Field(default_factory=JenkinsSettings)
    checks: CheckList = Field(default_factory=list, description="the team's own code checks (`mlci check`)")
    deploy: dict[str, DeployEnvironment] = Field(default_factory=dict, description="deployment environments by name")
    validate_: Validate = Field(default_factory=Validate, alias="validate")
    monitor: Monitor = Field(default_factory=Monitor)
    train: Training = Field(default_factory=Training)
    code: list[str] | None = Field(
        None, description="glob patterns (relative to this file; `**/` spans folders) of the files whose "
                          "content is the code version; default: Python files, requirement files and the "
                          "files model.command names")

    # set by load(); not part of the file
    _path: Path | None = None

    @model_validator(mode="after")
    def _metrics_known(self) -> "Config":
        known = metric_defs.names_for(self.task)
        for i, name in enumerate(self.evaluate.metrics or []):
            if name not in known:
                raise _FieldError(("evaluate", "metrics", i), _unknown(name, known, "metric"))
        for i, gate in enumerate(self.evaluate.gates):
            if gate.metric not in known and gate.greater_is_better is None:
                raise _FieldError(("evaluate", "gates", i, "metric"), _unknown(gate.metric, known, "metric"))
        return self

    @property
    def path(self) -> Path:
        return self._path or Path("mlci.yaml").resolve()

    @property
    def root(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str | os.PathLike[str]) -> Path:
        """A path from the file, relative to the file's directory."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.root / p

    @property
    def metric_names(self) -> list[str]:
        names = list(self.evaluate.metrics or metric_defs.DEFAULT_METRICS[self.task])
        for gate in self.evaluate.gates:
            if gate.metric not in names:
                names.append(gate.metric)
        return names

    def normalized(self) -> dict[str, Any]:
        """The config as plain data with defaults filled in (for fingerprints and lineage)."""
        return self.model_dump(mode="json", by_alias=True)


class _FieldError(ValueError):
    def __init__(self, loc: tuple[Any, ...], message: str):
        super().__init__(message)
        self.loc = loc


def _unknown(value: str, known: list[str], what: str) -> str:
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.5)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"unknown {what} `{value}`{hint}; expected one of: {', '.join(known)}"


_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "a boolean", type(None): "null"}


def _describe(value: Any) -> str:
    for t, name in _TYPE_NAMES.items():
        if type(value) is t:
            return name
    return type(value).__name__


_EXPECTED = {"dict_type": "a mapping", "model_type": "a mapping", "list_type": "a list",
             "string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
             "int_from_float": "an integer", "float_type": "a number", "float_parsing": "a number",
             "bool_type": "true or false", "bool_parsing": "true or false"}


def _model_for(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the field at ``loc`` (for 'did you mean')."""
    model: Any = Config
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            field = next((f for f in model.model_fields.values() if f.alias == part), None)
        if field is None:
            return None
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        candidates = [ann, *(inner or ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def dotted_path(loc: tuple[Any, ...]) -> str:
    """('evaluate', 'gates', 0, 'metric') -> 'evaluate.gates[0].metric'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_error(err: dict[str, Any]) -> tuple[str, str]:
    """(dotted path, message) for one pydantic error."""
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    path = dotted_path(loc)
    if kind == "extra_forbidden":
        parent = _model_for(loc[:-1])
        known = _field_names(parent) if parent else []
        return path, _unknown(str(loc[-1]), known, "key")
    if kind == "missing":
        return path, "required field is missing"
    if kind in _EXPECTED:
        return path, f"expected {_EXPECTED[kind]}, got {_describe(err.get('input'))}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return path, f"expected {expected}, got {err.get('input')!r}"
    if kind == "string_pattern_mismatch":
        return path, f"{err.get('input')!r} is not allowed: use letters, digits, '.', '_' and '-'"
    msg = err.get("msg", "invalid value")
    if kind == "value_error":
        exc = err.get("ctx", {}).get("error")
        if isinstance(exc, _FieldError):
            return dotted_path(exc.loc), str(exc)
        msg = msg.removeprefix("Value error, ")
    return path, msg


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys (PyYAML silently keeps the last)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key `{key}`", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path, what: str = "a mapping") -> Any:
    """Parse a YAML file with clear errors (missing, directory, syntax, duplicate keys)."""
    name = str(path)
    if not path.exists():
        raise ConfigError(f"{name}: file not found")
    if path.is_dir():
        raise ConfigError(f"{name}: is a directory, expected a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        _check_expansion(data, name)
    except RecursionError:
        raise ConfigError(f"{name}: invalid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{name}: {where}invalid YAML: {problem}") from None
    if data is None:
        raise ConfigError(f"{name}: file is empty, expected {what}")
    return data


MAX_YAML_VALUES = 100_000


def _check_expansion(data: Any, name: str) -> None:
    """Refuse YAML whose aliases expand to more than MAX_YAML_VALUES values (a "billion laughs"
    bomb: 1 KB of nested `*a` references that validation and hashing would walk for ever).
    Counted once per distinct object, so this is linear in the parsed size."""
    sizes: dict[int, int] = {}

    def size(node: Any, depth: int = 0) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        if id(node) in sizes:
            if sizes[id(node)] < 0:
                raise ConfigError(f"{name}: invalid YAML: an alias refers to itself")
            return sizes[id(node)]
        if depth > 200:
            raise RecursionError
        sizes[id(node)] = -1
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_YAML_VALUES:
                raise ConfigError(f"{name}: invalid YAML: its aliases expand to more than "
                                  f"{MAX_YAML_VALUES:,} values; write the values out instead")
        sizes[id(node)] = total
        return total

    size(data)


def parse(data: Any, source: str = "mlci.yaml") -> Config:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {_describe(data)}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        path, message = format_error(errors[0])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {path}: {message}{more}") from None


def load(path: str | os.PathLike[str] = "mlci.yaml", overrides: dict[str, Any] | None = None) -> Config:
    """Load and validate mlci.yaml. ``overrides`` maps dotted keys to values (used by sweeps).

    MLCI_STORE in the environment overrides ``store.uri``.
    """
    p = Path(path)
    data = read_yaml(p)
    if isinstance(data, dict):
        for dotted, value in (overrides or {}).items():
            set_dotted(data, dotted, value)
        if os.environ.get("MLCI_STORE"):
            data.setdefault("store", {})
            if isinstance(data["store"], dict):
                data["store"]["uri"] = os.environ["MLCI_STORE"]
    config = parse(data, str(path))
    config._path = p.resolve()
    return config


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = node[part] = {}
        node = nxt
    node[parts[-1]] = value


def json_schema() -> str:
    schema = Config.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlci.yaml"
    return json.dumps(schema, indent=2)
