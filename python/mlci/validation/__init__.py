"""Data validation and drift: rules from a schema file, drift against reference statistics.

The API the pipeline calls:
- ``validate_project(config, out_dir)``: the configured validation of an mlci.yaml project;
  writes out_dir/validation.json and out_dir/validation.xml (JUnit) and returns the result
  (``passed``, ``errors``, ``warnings``, ``summary``, ``datasets``).
- ``reference_stats(df_or_path)``: statistics to store with a model (reference_stats.json),
  enough to compute drift later without the reference data.
- ``drift_against_stats(df, stats, settings)``: drift of new data against such statistics.

Modules: schema (rules file), io (reading), rules (the rule engine), duplicates (the unique
rules' keys, spilled to disk beyond a budget), expr (table expressions), drift (statistics),
engine (running), junit (XML), infer (`mlci schema infer`), settings (the `validate:`
section of mlci.yaml). Imports stay light here: pyarrow and numpy are imported when
validation runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the result shapes, declared by their producers
    from mlci.validation.drift import DriftResult
    from mlci.validation.engine import ValidationResult

__all__ = ["validate_project", "run_validation", "reference_stats", "drift_against_stats",
           "write_reference_stats"]


def run_validation(datasets: list[tuple[str, Any]], *, schema: Any = None, settings: Any = None,
                   reference: Any = None, target: str | None = None, chunk_rows: int | None = None,
                   out_dir: Path | None = None, junit: Path | None = None) -> ValidationResult:
    """Validate each (name, path-or-DataFrame) and check its drift against ``reference``.

    ``reference`` is a data path, a reference_stats.json path, a stats dict or None.
    Writes validation.json / validation.xml into ``out_dir`` when given.
    """
    from mlci.validation.engine import combine, load_reference, validate_dataset
    from mlci.validation.schema import Schema, load_schema
    from mlci.validation.settings import Validate

    settings = settings or Validate()
    if isinstance(schema, (str, Path)):
        schema = load_schema(schema)
    elif isinstance(schema, dict):
        from mlci.validation.schema import parse_schema

        schema = parse_schema(schema)
    assert schema is None or isinstance(schema, Schema)
    chunk_rows = chunk_rows or settings.chunk_rows
    ref_stats, ref_label = (None, "")
    if reference is not None and settings.drift.enabled:
        ref_stats, ref_label = load_reference(reference, settings, chunk_rows)
    results = [validate_dataset(src, schema, settings, name=name, target=target, reference=ref_stats,
                                reference_label=ref_label, chunk_rows=chunk_rows)
               for name, src in datasets]
    result = combine(results)
    if out_dir is not None:
        _write_outputs(result, Path(out_dir), junit)
    return result


def _write_outputs(result: Any, out_dir: Path, junit: Path | None = None) -> None:
    """validation.json and validation.xml into ``out_dir`` (and the XML also at ``junit``)."""
    import json

    from mlci.validation.junit import junit_xml

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "validation.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    xml = junit_xml(result)
    (out_dir / "validation.xml").write_text(xml, encoding="utf-8")
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(xml, encoding="utf-8")


def validate_project(config: Any, out_dir: Path, reference_stats: dict[str, Any] | None = None,
                     junit: Path | None = None) -> ValidationResult:
    """The validation configured in mlci.yaml: data.train (and data.test) against data.schema,
    drift against ``reference_stats`` (e.g. the production model's) or data.reference.

    Without a schema the basic rules still run: target present, no column all-null, rows > 0.
    """
    from mlci.sources import open_source

    data = config.data
    datasets: list[tuple[str, Any]] = [("train", open_source(data.train, config.root, "data.train"))]
    if data.test:
        datasets.append(("test", open_source(data.test, config.root, "data.test")))
    schema = config.resolve(data.schema_) if data.schema_ else None
    reference: Any = reference_stats
    if reference is None and data.reference:
        reference = open_source(data.reference, config.root, "data.reference")
    return run_validation(datasets, schema=schema, settings=project_settings(config), reference=reference,
                          target=data.target, out_dir=Path(out_dir), junit=junit)


def project_settings(config: Any) -> Any:
    """The `validate:` section, with the columns data.features excludes (ids) left out of drift."""
    settings = config.validate_
    excluded = [c for c in config.data.features.exclude if c not in settings.drift.exclude]
    if not excluded:
        return settings
    drift = settings.drift.model_copy(update={"exclude": [*settings.drift.exclude, *excluded]})
    return settings.model_copy(update={"drift": drift})


def reference_stats(df_or_path: Any, settings: Any = None, chunk_rows: int | None = None) -> dict[str, Any]:
    """Reference statistics of a DataFrame, Arrow table or data file (JSON-serializable dict)."""
    from mlci.validation.engine import load_reference
    from mlci.validation.settings import Validate

    stats, _ = load_reference(df_or_path, settings or Validate(), chunk_rows)
    return stats


def write_reference_stats(stats: dict[str, Any], path: Path) -> None:
    import json

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(stats, separators=(",", ":")) + "\n", encoding="utf-8")


def drift_against_stats(df: Any, stats: dict[str, Any], settings: Any = None) -> DriftResult:
    """Drift of ``df`` (DataFrame, Arrow table or path) against reference statistics.

    ``settings`` is a ``validate:`` section (Validate), its ``drift`` part (Drift), or None for
    the defaults. Returns the drift dict (columns with every statistic, share, dataset_drift).
    """
    from mlci.validation.engine import validate_dataset
    from mlci.validation.settings import Drift, Validate

    if settings is None:
        settings = Validate()
    elif isinstance(settings, Drift):
        settings = Validate(drift=settings)
    settings = settings.model_copy(update={"drift": settings.drift.model_copy(update={"enabled": True})})
    result = validate_dataset(df, None, settings, name="current", reference=stats)
    return result["drift"]
