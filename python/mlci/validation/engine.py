"""Run the rules and the drift check over one dataset, then over a set of datasets."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from mlci.errors import DataError
from mlci.results import Failure, failure
from mlci.validation.drift import DriftResult, drift_failures
from mlci.validation.io import Retype, iter_source
from mlci.validation.rules import RuleEntry, RuleResult, build_rules, type_name
from mlci.validation.schema import Schema

log = logging.getLogger("mlci.validation")

FORMAT = "mlci-validation/1"


class DatasetResult(TypedDict):
    """One dataset's validation (``datasets[]`` in validation.json)."""

    name: str                  # train, test, or the file's stem
    path: str
    rows: int
    batches: int
    columns: list[str]
    mixed_type_columns: list[str]
    rules: list[RuleEntry]
    drift: DriftResult | None
    seconds: float
    errors: int                # error-level failures (rules and drift)
    warnings: int
    passed: bool


class ValidationResult(TypedDict):
    """validation.json, the result of `mlci validate` (also its --json output) and of the
    pipeline's validate stage."""

    format: str                # FORMAT
    passed: bool
    errors: int
    warnings: int
    summary: str
    datasets: list[DatasetResult]
    rules: list[RuleEntry]     # every dataset's rules, each with its ``dataset`` name
    drift: DriftResult | None  # the first dataset's drift that has one (data.train in a project)
    failures: list[Failure]    # what failed the validation: the <failure>s of validation.xml
    drift_reference: NotRequired[str]     # set when drift was measured against a baseline model
    outputs: NotRequired[dict[str, str]]  # set by `mlci validate`: {json, junit}


def validate_dataset(source: Any, schema: Schema | None, settings: Any, *, name: str = "data",
                     target: str | None = None, reference: dict[str, Any] | None = None,
                     reference_label: str = "", chunk_rows: int | None = None) -> DatasetResult:
    """Rules and drift for one dataset (a path, Arrow table or DataFrame) -> result dict."""
    from mlci.validation.drift import DriftRule

    label, src = iter_source(source, chunk_rows)
    started = time.perf_counter()
    for _attempt in range(10_000):
        try:
            rules = fixed = None
            drift = DriftRule(reference, settings.drift, reference_label) if (
                reference is not None and settings.drift.enabled) else None
            rows = 0
            names: list[str] = []
            batches = 0
            for table in src.batches():
                table = _as_table(table)
                if rules is None:
                    names = list(table.schema.names)
                    if target is not None and target not in names:
                        # the config names a column the data lacks: bad input, as in `mlci train`
                        import difflib

                        close = difflib.get_close_matches(target, names, n=1)
                        hint = f" (did you mean `{close[0]}`?)" if close else ""
                        raise DataError(f"{label}: target column `{target}` not found{hint}; "
                                        f"columns: {', '.join(names[:20])}")
                    types = {f.name: type_name(f.type) for f in table.schema}
                    rules, fixed = build_rules(schema, names, types, default_severity=settings.severity,
                                                 # a unique rule holds at most a batch's keys
                                                 sample=settings.sample_rows, target=target, keys_held=chunk_rows)
                _run_parallel(rules, drift, table, rows)
                rows += table.num_rows
                batches += 1
            break
        except Retype as exc:
            log.info("%s: column %s has mixed types; reading it as text", label, exc.column)
            continue
    assert rules is not None and fixed is not None
    for rule in rules:
        finish = getattr(rule, "finish", None)
        if finish:
            finish()
    results: list[RuleResult] = list(fixed) + [c.result() for c in rules]
    text_columns = sorted(getattr(src, "text_columns", set()))
    out: DatasetResult = {  # type: ignore[typeddict-item]  # errors/warnings/passed: _count
        "name": name, "path": label, "rows": rows, "batches": batches, "columns": names,
        "mixed_type_columns": text_columns,
        "rules": [r.as_dict() for r in results],
        "drift": drift.result() if drift is not None else None,
        "seconds": round(time.perf_counter() - started, 3),
    }
    _count(out, settings)
    return out


def _run_parallel(rules: list[Any], drift: Any, table: Any, offset: int) -> None:
    """Update every rule (and the drift counters) with one batch.

    Rules of different columns are independent, so the columns run on a thread pool; each
    rule is updated by one thread only, and batches arrive in order.
    """
    from mlci.validation.threads import run_jobs

    groups: dict[Any, list[Any]] = {}
    for rule in rules:
        groups.setdefault(rule.column, []).append(rule)
    jobs = [lambda g=g: [c.safe_update(table, offset) for c in g] for g in groups.values()]
    if drift is not None:
        jobs += drift.jobs(table)
    run_jobs(jobs, table.num_rows)


def _as_table(batch: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):  # categoricals from pandas: rules see plain values
            table = table.set_column(i, f.name, pc.cast(table.column(i), f.type.value_type))
    return table


def _count(ds: dict[str, Any], settings: Any) -> None:
    errors = sum(1 for r in ds["rules"] if r["status"] == "failed" and r["severity"] == "error")
    warnings = sum(1 for r in ds["rules"] if r["status"] == "failed" and r["severity"] == "warn")
    drift = ds.get("drift")
    if drift:
        hard = settings.drift.severity == "error"
        drifted = [c for c in drift["columns"] if c["drifted"]]
        for c in drift["columns"]:
            c["severity"] = "error" if hard and settings.drift.fail_on == "column" else "warn"
        if hard and settings.drift.fail_on == "dataset":
            errors += int(drift["dataset_drift"])
            warnings += len(drifted)
        elif hard:
            errors += len(drifted)
        else:
            warnings += len(drifted) + int(drift["dataset_drift"])
        drift["failed"] = bool(hard and (drift["dataset_drift"] if settings.drift.fail_on == "dataset"
                                         else drifted))
    ds["errors"], ds["warnings"] = errors, warnings
    ds["passed"] = errors == 0


def load_reference(reference: Any, settings: Any, chunk_rows: int | None = None) -> tuple[dict[str, Any], str]:
    """(reference statistics, label) from a data path, a stats JSON path, a dict or a DataFrame."""
    from mlci.validation.drift import build_reference_stats, check_stats

    if isinstance(reference, dict):
        return check_stats(reference), reference.get("source", "(statistics)")
    if isinstance(reference, (str, Path)) and str(reference).endswith(".json"):
        return read_stats(Path(reference)), str(reference)
    label, src = iter_source(reference, chunk_rows)
    for _attempt in range(10_000):
        try:
            stats = build_reference_stats((_as_table(b) for b in src.batches()),
                                          settings.drift.max_categories, label)
            return stats, label
        except Retype:
            continue
    raise DataError(f"{label}: cannot read")  # pragma: no cover


def read_stats(p: Path) -> dict[str, Any]:
    """reference_stats.json, checked."""
    from mlci.validation.drift import check_stats

    if not p.is_file():
        raise DataError(f"{p}: reference statistics file not found")
    try:
        stats = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{p}: not valid JSON reference statistics: {exc}") from None
    stats = check_stats(stats, str(p))
    stats.setdefault("source", str(p))
    return stats


def combine(datasets: list[DatasetResult]) -> ValidationResult:
    errors = sum(d["errors"] for d in datasets)
    warnings = sum(d["warnings"] for d in datasets)
    parts = []
    for d in datasets:
        failed = [r["id"] for r in d["rules"] if r["status"] == "failed"]
        text = f"{d['name']}: {d['rows']} rows, {len(d['rules'])} rules, {len(failed)} failed"
        if failed:
            text += " (" + ", ".join(failed[:5]) + (", ..." if len(failed) > 5 else "") + ")"
        if d.get("drift"):
            dr = d["drift"]
            text += (f", drift in {dr['drifted']}/{dr['compared']} columns (share {dr['share']:.2f}, "
                     f"limit {dr['drift_share']})")
        parts.append(text)
    verdict = "passed" if errors == 0 else "FAILED"
    summary = f"validation {verdict}: {errors} errors, {warnings} warnings; " + "; ".join(parts)
    # flat views for readers that want one list (reports): every rule with its dataset, and
    # the drift of the first dataset that has one (data.train in a project)
    rules = [{**r, "dataset": d["name"]} for d in datasets for r in d["rules"]]
    drift = next((d["drift"] for d in datasets if d.get("drift")), None)
    return {"passed": errors == 0, "errors": errors, "warnings": warnings, "summary": summary,
            "datasets": datasets, "rules": rules, "drift": drift, "format": FORMAT,
            "failures": failures(datasets)}


def failures(datasets: list[DatasetResult]) -> list[Failure]:
    """What failed the validation, named as validation.xml names its test cases: error-level
    rules by id (``age.min``), drifted columns as ``drift.<column>``, dataset drift as
    ``drift.dataset``; each detail starts with the dataset's name."""
    out: list[Failure] = []
    for ds in datasets:
        for r in ds["rules"]:
            if r["status"] == "failed" and r["severity"] == "error":
                out.append(failure(r["id"], f"{ds['name']}: {r['message']}"))
        if ds.get("drift"):
            out += drift_failures(ds["drift"], f"{ds['name']}: ")
    return out
