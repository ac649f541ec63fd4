"""Gather what the report shows from a run directory, the registry and the workspace.

Every part is optional: a missing or unreadable piece becomes a note in the report, never an
error (the report must not fail the build). Everything returned is plain JSON data; the plots
are drawn from it (and from predictions.parquet) in ``mlci.report.build``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from mlci.gates import GateResult
from mlci.image.verify import Histogram, VerifyResult
from mlci.metrics import METRICS
from mlci.validation.drift import DriftResult
from mlci.validation.engine import ValidationResult

log = logging.getLogger(__name__)

MAX_TREND_VERSIONS = 30
MAX_IMPORTANCE_FEATURES = 20


class Notes(list):
    """Notes shown in the report: what is missing and why."""

    def add(self, section: str, text: str) -> None:
        self.append({"section": section, "text": text})


def read_json(path: Path, notes: Notes, section: str, what: str) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        notes.add(section, f"{what} ({path.name}) could not be read: {exc}")
        return None


def finite(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(float(x)) else None


# --- run summary and lineage ----------------------------------------------------------------
def stages(run_path: Path, given: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The pipeline's stage results: from `mlci run` when given, else stages/*.json."""
    if given:
        return [{"stage": s["stage"], "status": s["status"], "exit_code": s.get("exit_code", 0),
                 "detail": s.get("detail", ""), "duration_s": s.get("duration_s")} for s in given]
    out = []
    order = ["check", "validate", "train", "evaluate", "publish", "image", "promote", "deploy"]
    folder = run_path / "stages"
    recs = []
    for p in folder.glob("*.json") if folder.is_dir() else []:
        try:
            recs.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    recs.sort(key=lambda r: order.index(r.get("stage")) if r.get("stage") in order else 99)
    for r in recs:
        out.append({"stage": r.get("stage"), "status": "ok" if r.get("exit_code") == 0 else "failed",
                    "exit_code": r.get("exit_code"), "detail": _stage_detail(r),
                    "duration_s": r.get("duration_s")})
    return out


def _stage_detail(rec: dict[str, Any]) -> str:
    s = rec.get("summary") or {}
    if rec.get("stage") == "train":
        est = str(s.get("estimator", "")).rsplit(".", 1)[-1]
        return f"{est} on {s.get('n_train')} rows, {s.get('features')} features" if est else ""
    if rec.get("stage") == "evaluate":
        return "blessed" if s.get("blessed") else "not blessed: " + "; ".join(s.get("failed") or [])
    if rec.get("stage") == "publish":
        return f"v{s.get('version')}" if s.get("version") else ""
    return str(s.get("summary", "")) if isinstance(s, dict) else ""


def build_env() -> dict[str, str]:
    env = os.environ
    keys = {"url": "BUILD_URL", "job": "JOB_NAME", "number": "BUILD_NUMBER", "node": "NODE_NAME",
            "commit": "GIT_COMMIT", "branch": "BRANCH_NAME", "change": "CHANGE_ID"}
    return {k: env[v] for k, v in keys.items() if env.get(v)}


def lineage(info: dict[str, Any] | None, publish: dict[str, Any] | None,
            version_record: dict[str, Any] | None, root: Path) -> dict[str, Any]:
    info = info or {}
    data = []
    for role, d in (info.get("data") or {}).items():
        path = str(d.get("path", ""))
        try:
            path = os.path.relpath(path, root) if os.path.isabs(path) else path
        except ValueError:
            pass
        data.append({"role": role, "path": path, "sha256": d.get("sha256")})
    code = info.get("code") or {}
    build = dict((version_record or {}).get("build") or {})
    build.update(build_env())
    params = (info.get("config") or {}).get("model", {}).get("params") or {}
    return {
        "run_id": info.get("run_id"), "fingerprint": info.get("fingerprint"), "created": info.get("created"),
        "estimator": info.get("estimator"), "params": params, "data": data,
        "code": {"git_commit": code.get("git_commit"), "git_dirty": code.get("git_dirty"),
                 "hash": code.get("hash"), "files": code.get("files")},
        "build": build, "versions": info.get("versions") or {},
        "n_train": info.get("n_train"), "n_test": info.get("n_test"),
        "features": len(info.get("features") or []), "categorical": info.get("categorical") or [],
        "split": (info.get("split") or {}).get("split"),
        "timings_s": info.get("timings_s") or {},
        "version": (publish or {}).get("version"), "store": (publish or {}).get("store"),
    }


# --- metrics and gates ------------------------------------------------------------------------
def metric_rows(metrics: dict[str, Any], baseline: dict[str, Any] | None, gates: list[GateResult],
                order: list[str]) -> list[dict[str, Any]]:
    base = (baseline or {}).get("metrics") or {}
    names = [n for n in order if n in metrics] + [n for n in metrics if n not in order]
    rows = []
    for name in names:
        new = finite(metrics.get(name))
        old = finite(base.get(name))
        gib = METRICS[name].greater_is_better if name in METRICS else True
        change = new - old if new is not None and old is not None else None
        better = None
        if change is not None and abs(change) > 1e-12:
            better = (change > 0) == gib
        rel = change / abs(old) if change is not None and old else None
        g = [gate_label(x) for x in gates if x.get("metric") == name]
        rows.append({"metric": name, "new": new, "old": old, "change": change, "relative": rel,
                     "better": better, "greater_is_better": gib, "gates": g,
                     "passed": None if not g else (False if any(x["passed"] is False for x in g) else
                                                    True if any(x["passed"] for x in g) else None)})
    return rows


KIND_SHORT = {"threshold": "threshold", "min_absolute_change": "min change",
              "min_relative_change": "min rel. change", "max_regression": "max regression"}


def gate_label(g: GateResult) -> dict[str, Any]:
    kind = g.get("kind", "")
    bound = g.get("bound")
    gib = METRICS[g["metric"]].greater_is_better if g.get("metric") in METRICS else True
    if kind == "threshold":
        rule = f"{'≥' if gib else '≤'} {bound:g}" if isinstance(bound, (int, float)) else str(bound)
    elif kind == "min_relative_change":
        rule = f"change ≥ {bound:+.1%}" if isinstance(bound, (int, float)) else str(bound)
    elif kind == "min_absolute_change":
        rule = f"change ≥ {bound:+g}" if isinstance(bound, (int, float)) else str(bound)
    elif kind == "max_regression":
        rule = f"regression ≤ {bound:g}" if isinstance(bound, (int, float)) else str(bound)
    else:
        rule = f"{kind} {bound}"
    decision = {True: "pass", False: "fail", None: "skipped"}[g.get("passed")]
    return {"metric": g.get("metric"), "kind": kind, "rule": rule, "passed": g.get("passed"),
            "decision": decision, "reason": g.get("reason", ""), "bound": bound,
            "value": finite(g.get("value")), "baseline": finite(g.get("baseline"))}


# --- registry ---------------------------------------------------------------------------------
def registry_view(project: Any, notes: Notes, run_fingerprint: str | None) -> dict[str, Any]:
    """Versions (for the trend), aliases, and the version record of this run if registered."""
    from mlci.errors import MlciError

    cfg = project.config
    try:
        from mlci.registry import Registry

        registry = Registry(project.open_store(), cfg.name)
        numbers = registry.version_numbers()[-MAX_TREND_VERSIONS:]
        versions = [registry.get(n) for n in numbers]
        aliases = registry.aliases() if numbers else {}
    except MlciError as exc:
        notes.add("trend", f"registry not readable ({exc}); no metric trend")
        return {"versions": [], "aliases": {}, "record": None}
    except Exception as exc:  # a store backend error we did not foresee: still no failure
        notes.add("trend", f"registry not readable ({type(exc).__name__}: {exc}); no metric trend")
        return {"versions": [], "aliases": {}, "record": None}
    record = next((v for v in versions if run_fingerprint and v.get("fingerprint") == run_fingerprint), None)
    slim = [{"version": v["version"], "created": v.get("created"), "blessed": bool(v.get("blessed")),
             "run_id": v.get("run_id"), "metrics": {k: finite(x) for k, x in (v.get("metrics") or {}).items()}}
            for v in versions]
    return {"versions": slim, "aliases": aliases, "record": record}


# --- validation and drift ---------------------------------------------------------------------
def validation_view(validation: ValidationResult | None) -> dict[str, Any] | None:
    """validation.json (the shape mlci.validation.engine declares) as the report shows it."""
    if not isinstance(validation, dict):
        return None
    rules = [{"rule": r["rule"], "column": r["column"], "passed": r["passed"], "severity": r["severity"],
              "detail": r["message"]} for r in validation.get("rules") or []]
    rules.sort(key=lambda r: (r["passed"] is not False, r["severity"] != "error", r["rule"]))
    return {"passed": validation.get("passed"), "errors": validation.get("errors"),
            "warnings": validation.get("warnings"), "summary": validation.get("summary", ""),
            "rules": rules[:60], "rules_total": len(rules)}


def drift_view(validation: ValidationResult | None) -> dict[str, Any] | None:
    """The drift section of validation.json (mlci.validation.drift's DriftResult):
    {columns:[{column, method, score, threshold, drifted, p_value}], drifted, share, summary}."""
    if not isinstance(validation, dict) or not isinstance(validation.get("drift"), dict):
        return None
    d: DriftResult = validation["drift"]
    columns = [{"column": c["column"], "method": c["method"], "score": finite(c["statistic"]),
                "threshold": finite(c["threshold"]), "p_value": finite(c["stats"].get("ks_pvalue")),
                "drifted": c["drifted"]} for c in d["columns"]]
    columns.sort(key=lambda c: (c["drifted"] is not True,
                                -((c["score"] or 0) / c["threshold"] if c["threshold"] else (c["score"] or 0))))
    skipped = len(d.get("skipped") or [])
    return {"columns": columns, "n_columns": len(columns), "n_drifted": d["drifted"], "share": finite(d["share"]),
            "drifted": d["dataset_drift"],
            "summary": f"{skipped} column{'s' if skipped != 1 else ''} not compared." if skipped else "",
            "reference": validation.get("drift_reference") or d["reference"]}


# --- image verify -------------------------------------------------------------------------------
def _from_histogram(hist: Histogram, cap: int = 5000) -> list[float] | None:
    """Approximate latency samples (bin midpoints) from `mlci image verify`'s histogram."""
    bounds = [float(b) for b in hist["bounds_ms"]]
    counts = [int(c) for c in hist["counts"]]
    total = sum(counts)
    if not total or len(counts) != len(bounds) + 1:
        return None
    edges = [0.0, *bounds, bounds[-1] * 1.5]
    scale = min(1.0, cap / total)
    out: list[float] = []
    for i, c in enumerate(counts):
        out += [(edges[i] + edges[i + 1]) / 2] * int(round(c * scale))
    return out or None


def verify_view(verify: VerifyResult | None) -> dict[str, Any] | None:
    """image-verify.json (mlci.image.verify's VerifyResult): latency samples (ms) from the load
    test's histogram, its percentiles and throughput, the p99 gate, pass/fail."""
    if not isinstance(verify, dict):
        return None
    load = verify.get("load")
    samples = _from_histogram(load["histogram"]) if load else None
    pct = {name: float(load[f"{name}_ms"]) for name in ("p50", "p95", "p99")
           if load and finite(load[f"{name}_ms"]) is not None}
    limit = next((g.get("threshold") for g in verify["gates"] if g["gate"] == "max_p99_ms"), None)
    failed = [f"{f['name']}: {f['detail']}" for f in verify.get("failures") or []]
    return {"samples": samples, "n_samples": len(samples) if samples else None, "percentiles": pct,
            "rps": finite(load["rps"]) if load else None, "max_p99_ms": finite(limit),
            "passed": verify["passed"], "image": verify["tag"],
            "summary": "; ".join(failed)}


# --- feature importance -------------------------------------------------------------------------
def importance(project: Any, run_path: Path, notes: Notes, budget_s: float) -> dict[str, Any] | None:
    """The model's own importances (feature_importances_ or |coef_|) mapped to input columns,
    else permutation importance on test.parquet within ``budget_s`` seconds. Cached per model."""
    model_dir = run_path / "model"
    meta_path = model_dir / "MLmodel.json"
    if not meta_path.is_file():
        notes.add("importance", "no model in the run directory; no feature importance")
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        notes.add("importance", "model/MLmodel.json unreadable; no feature importance")
        return None
    key = (meta.get("files") or {}).get("model.skops", "")[:16]
    cache = project.workspace / "cache" / "report" / f"importance-{key}.json" if key else None
    if cache is not None and cache.is_file():
        try:
            return json.loads(cache.read_text())
        except (OSError, ValueError):
            pass
    from mlci.model import load_any
    from mlci.errors import MlciError

    try:
        model = load_any(model_dir, project.config.model.trusted_types)
    except MlciError as exc:
        notes.add("importance", f"model not loadable ({exc}); no feature importance")
        return None
    result = native_importance(model)
    if result is None:
        result = permutation(model, run_path / "test.parquet", project.config, notes, budget_s)
    if result is not None and cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(result))
        except OSError:
            pass
    return result


def _final_estimator(model: Any) -> tuple[Any, Any]:
    steps = getattr(model, "steps", None)
    if steps:
        from sklearn.pipeline import Pipeline

        return steps[-1][1], (Pipeline(steps[:-1]) if len(steps) > 1 else None)
    return model, None


def input_map(pre: Any, inputs: list[str]) -> dict[str, str]:
    """Output feature name of the preprocessing -> input column it came from."""
    try:
        outs = [str(x) for x in pre.get_feature_names_out()] if pre is not None else list(inputs)
    except Exception:
        return {}
    mapping = {}
    by_len = sorted(inputs, key=len, reverse=True)
    for o in outs:
        if o in inputs:
            mapping[o] = o
            continue
        bare = o.split("__", 1)[-1]
        src = next((c for c in by_len if bare == c or bare.startswith(f"{c}_")), None)
        mapping[o] = src or bare
    return mapping


def native_importance(model: Any) -> dict[str, Any] | None:
    import numpy as np

    est, pre = _final_estimator(model)
    values = getattr(est, "feature_importances_", None)
    method = "impurity (feature_importances_)"
    if values is None and getattr(est, "coef_", None) is not None:
        coef = np.asarray(est.coef_, dtype=float)
        values = np.abs(coef).mean(axis=0) if coef.ndim == 2 else np.abs(coef)
        method = "|coefficient| (coef_, on the preprocessed features)"
    if values is None:
        return None
    inputs = [str(c) for c in getattr(model, "feature_names_in_", [])]
    mapping = input_map(pre, inputs)
    try:
        outs = [str(x) for x in pre.get_feature_names_out()] if pre is not None else inputs
    except Exception:
        outs = []
    values = np.asarray(values, dtype=float).ravel()
    if len(outs) != len(values):
        outs = [f"feature {i}" for i in range(len(values))]
    totals: dict[str, float] = {}
    for name, v in zip(outs, values):
        src = mapping.get(name, name)
        totals[src] = totals.get(src, 0.0) + float(v)
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    return {"method": method, "features": [[k, v] for k, v in ranked[:MAX_IMPORTANCE_FEATURES]],
            "n_features": len(ranked), "errors": None}


def permutation(model: Any, test_path: Path, cfg: Any, notes: Notes, budget_s: float) -> dict[str, Any] | None:
    """Drop in the model's own score when one column is shuffled, within a time budget."""
    import numpy as np
    import pandas as pd

    if not test_path.is_file():
        notes.add("importance", "no test.parquet in the run; no permutation importance")
        return None
    test = pd.read_parquet(test_path)
    target = cfg.data.target
    if target not in test.columns:
        notes.add("importance", f"test.parquet has no target column `{target}`")
        return None
    y = test.pop(target)
    if len(test) > 2000:
        idx = np.random.default_rng(0).choice(len(test), 2000, replace=False)
        test, y = test.iloc[idx].reset_index(drop=True), y.iloc[idx].reset_index(drop=True)
    rng = np.random.default_rng(0)
    deadline = time.perf_counter() + budget_s
    try:
        base = float(model.score(test, y))
    except Exception as exc:
        notes.add("importance", f"model.score failed on test.parquet ({exc}); no permutation importance")
        return None
    drops: dict[str, list[float]] = {}
    done = True
    for repeat in range(5):
        for col in test.columns:
            if time.perf_counter() > deadline:
                done = False
                break
            shuffled = test.copy()
            shuffled[col] = rng.permutation(shuffled[col].to_numpy())
            drops.setdefault(col, []).append(base - float(model.score(shuffled, y)))
        if not done:
            break
    measured = {c: v for c, v in drops.items() if len(v) >= 1}
    if not measured:
        notes.add("importance", f"permutation importance did not finish within {budget_s:g}s")
        return None
    if not done:
        notes.add("importance", f"permutation importance stopped at its {budget_s:g}s budget "
                                f"({len(measured)} of {len(test.columns)} columns, "
                                f"{min(len(v) for v in measured.values())}+ repeats)")
    ranked = sorted(measured.items(), key=lambda kv: -float(np.mean(kv[1])))[:MAX_IMPORTANCE_FEATURES]
    score_name = "accuracy" if cfg.task == "classification" else "R²"
    return {"method": f"permutation (drop in {score_name} on {len(test)} test rows)",
            "features": [[k, float(np.mean(v))] for k, v in ranked],
            "errors": [float(np.std(v)) for _, v in ranked], "n_features": len(test.columns)}
