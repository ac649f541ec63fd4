"""One run's report: report.html (self-contained, plots inline), summary.md, report.json and
the gates as JUnit XML.

``generate(project, run_id, out_dir)`` never raises for a missing or broken piece of a run:
each becomes a note in the report. Only "there is no run at all" is an error (NotFoundError).
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from mlci.image.target import VERIFY_FILE
from mlci.report import collect
from mlci.report.collect import Notes
from mlci.runs import Project, Run

log = logging.getLogger(__name__)

HTML_FILE = "report.html"
SUMMARY_FILE = "summary.md"
JSON_FILE = "report.json"
JUNIT_FILE = "junit-gates.xml"
MAX_SCATTER = 3000
MAX_CURVE_POINTS = 400
PERMUTATION_BUDGET_S = float(os.environ.get("MLCI_REPORT_PERMUTATION_S", "3"))


def generate(project: Project, run: Run, out_dir: Path | None = None,
             stages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Write the report for ``run`` into ``out_dir`` (default: <run>/report). Returns a summary:
    {dir, files, decision, headline, notes, timings_s}."""
    t_start = time.perf_counter()
    out = Path(out_dir) if out_dir else run.path / "report"
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    data, frames = _collect(project, run, stages, timings)
    plots = _draw(project, run, data, frames, timings)
    from mlci.pages import STYLESHEET, stylesheet
    from mlci.report import render

    t0 = time.perf_counter()
    data["plots"] = {k: {"title": v["title"], "caption": v.get("caption", "")} for k, v in plots.items()}
    files = {}
    for name, text in ((HTML_FILE, lambda: render.html(data, plots)), (STYLESHEET, stylesheet),
                       (SUMMARY_FILE, lambda: render.markdown(data)), (JUNIT_FILE, lambda: render.junit(data))):
        render.write_text(out / name, text())
        files[name] = str(out / name)
    timings["render"] = round(time.perf_counter() - t0, 3)
    timings["total"] = round(time.perf_counter() - t_start, 3)
    data["timings_s"] = timings
    render.write_text(out / JSON_FILE, json.dumps(data, indent=2, default=str) + "\n")
    files[JSON_FILE] = str(out / JSON_FILE)
    return {"dir": str(out), "files": files, "decision": data["status"]["decision"],
            "headline": data["status"]["headline"], "notes": data["notes"], "timings_s": timings,
            "size_bytes": (out / HTML_FILE).stat().st_size}


def _guard(notes: Notes, section: str, what: str, fn: Callable[[], Any]) -> Any:
    """Run one part of the report; an unexpected error becomes a note, never a failure."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the report must not fail the build
        log.debug("report %s failed:\n%s", section, traceback.format_exc())
        notes.add(section, f"{what} failed: {type(exc).__name__}: {exc}")
        return None


def _collect(project: Project, run: Run, stages: list[dict[str, Any]] | None,
             timings: dict[str, float]) -> tuple[dict[str, Any], dict[str, Any]]:
    from mlci import __version__
    from mlci.util import utc_now as now

    cfg = project.config
    notes = Notes()
    t0 = time.perf_counter()
    p = run.path
    info = collect.read_json(p / "run.json", notes, "run", "run.json")
    if info is None:
        notes.add("run", "the run was not trained (no run.json): only the pipeline and validation are shown")
    evaluation = collect.read_json(p / "evaluation.json", notes, "metrics", "evaluation.json")
    if evaluation is None and info is not None:
        notes.add("metrics", "the run was not evaluated (no evaluation.json): no metrics or gates")
    publish = collect.read_json(p / "publish.json", notes, "run", "publish.json")
    validation = collect.read_json(p / "validation.json", notes, "validation", "validation.json")
    stage_list = collect.stages(p, stages)
    if validation is None:
        given = next((s for s in stages or [] if s.get("stage") == "validate" and s.get("data")), None)
        validation = given["data"] if given else None
    if validation is None:
        notes.add("validation", "no validation.json in the run: data validation not shown")
    verify = collect.read_json(p / VERIFY_FILE, notes, "latency", VERIFY_FILE)
    timings["read"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    reg = _guard(notes, "trend", "reading the registry",
                 lambda: collect.registry_view(project, notes, (info or {}).get("fingerprint")))
    reg = reg or {"versions": [], "aliases": {}, "record": None}
    timings["registry"] = round(time.perf_counter() - t0, 3)

    evaluation = evaluation or {}
    baseline = evaluation.get("baseline")
    gates = [collect.gate_label(g) for g in evaluation.get("gates") or []]
    counts = {"passed": sum(g["passed"] is True for g in gates), "failed": sum(g["passed"] is False for g in gates),
              "skipped": sum(g["passed"] is None for g in gates)}
    metrics = collect.metric_rows(evaluation.get("metrics") or {}, baseline, evaluation.get("gates") or [],
                                  cfg.metric_names)
    baseline_note = None
    if evaluation and not baseline:
        alias = cfg.evaluate.baseline
        current = reg["aliases"].get(alias) if alias else None
        mine = (reg["record"] or {}).get("version")
        if not alias:
            baseline_note = "No baseline configured (evaluate.baseline): absolute gates only."
        elif current is not None and current == mine:
            baseline_note = f"This run is {alias} (v{current}) itself: nothing to compare with."
        else:
            baseline_note = f"No {alias} model yet: baseline gates were skipped."

    blessed = evaluation.get("blessed") if evaluation else None
    decision = "not evaluated" if blessed is None else ("blessed" if blessed else "not blessed")
    # a failed evaluate is the decision itself ("not blessed"); other failures get a banner
    failed_stage = next((s for s in stage_list if s["status"] == "failed" and s["stage"] != "evaluate"), None)
    headline_metric = (gates[0]["metric"] if gates else None) or next((m["metric"] for m in metrics), None)
    head_row = next((m for m in metrics if m["metric"] == headline_metric), None)
    headline = decision
    if head_row and head_row["new"] is not None:
        from mlci.report.render import fmt

        headline += f" — {headline_metric} {fmt(head_row['new'])}"
        if head_row["old"] is not None:
            headline += f" (v{baseline['version']}: {fmt(head_row['old'])}, {fmt(head_row['change'], True)})"
    if failed_stage:
        headline = f"pipeline failed at {failed_stage['stage']}" + (f"; {headline}" if blessed is not None else "")

    lin = collect.lineage(info, publish, reg["record"], cfg.root)
    registered = [v["version"] for v in reg["versions"]]
    data = {
        "schema": 1, "mlci": __version__, "generated": now(), "model": cfg.name, "task": cfg.task,
        "run_id": run.run_id, "run_dir": str(p),
        "status": {"decision": decision, "blessed": blessed, "headline": headline,
                   "failed_stage": failed_stage["stage"] if failed_stage else None,
                   "failed_detail": failed_stage["detail"] if failed_stage else None,
                   "headline_metric": headline_metric},
        "pipeline": stage_list, "lineage": lin, "metrics": metrics,
        "baseline": ({"alias": baseline.get("alias"), "version": baseline.get("version")} if baseline else None),
        "baseline_note": baseline_note, "gates": gates, "gate_counts": counts,
        "validation": _guard(notes, "validation", "reading validation.json",
                             lambda: collect.validation_view(validation)),
        "drift": _guard(notes, "drift", "reading validation.json's drift", lambda: collect.drift_view(validation)),
        "verify": _guard(notes, "latency", f"reading {VERIFY_FILE}", lambda: collect.verify_view(verify)),
        "registry": {"versions": reg["versions"], "aliases": reg["aliases"], "registered": registered},
        "importance": None, "notes": notes, "n_test": evaluation.get("n_test"),
    }
    if data["validation"] is not None and data["drift"] is None:
        notes.add("drift", "validation.json has no drift section (no reference data configured, "
                           "or the validation engine did not check drift)")
    if data["verify"] is None:
        notes.add("latency", "no image-verify.json in the run (`mlci image verify` did not run): no latency plot")
    frames = {"info": info, "evaluation": evaluation}
    return data, frames


def _draw(project: Project, run: Run, data: dict[str, Any], frames: dict[str, Any],
          timings: dict[str, float]) -> dict[str, dict[str, Any]]:
    from mlci.report import plots as P

    notes: Notes = data["notes"]
    out: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    P.pyplot()
    timings["import_matplotlib"] = round(time.perf_counter() - t0, 3)

    def add(key: str, title: str, caption: str, make: Callable[[], Any], section: str) -> None:
        def build() -> None:
            fig = make()
            if fig is not None:
                out[key] = {"title": title, "caption": caption, "svg": P.to_inline_svg(fig, f"plot-{key}"),
                            "section": section}
        _guard(notes, section, f"the {title.lower()} plot", build)

    t0 = time.perf_counter()
    preds = None
    pred_path = run.file("predictions.parquet")
    if pred_path.is_file():
        preds = _guard(notes, "performance", "reading predictions.parquet", lambda: _read_parquet(pred_path))
    elif frames["evaluation"]:
        notes.add("performance", "no predictions.parquet in the run: no performance plots")
    if preds is not None:
        if project.config.task == "classification":
            _classification_plots(run, preds, add, notes)
        else:
            _regression_plots(preds, add)
    timings["performance_plots"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    if frames["info"] is not None:
        imp = _guard(notes, "importance", "feature importance",
                     lambda: collect.importance(project, run.path, notes, PERMUTATION_BUDGET_S))
        data["importance"] = imp
        if imp and imp.get("features"):
            label = "importance" if imp["method"].startswith("impurity") else (
                "mean |coefficient|" if imp["method"].startswith("|coef") else "score drop when shuffled")
            add("importance", "Feature importance", f"{imp['method']}; top {len(imp['features'])} of "
                f"{imp.get('n_features')} input columns",
                lambda: P.importance([(f, v) for f, v in imp["features"]], label, imp.get("errors")), "importance")
    timings["importance"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    _trend_plot(project, data, add, notes)
    d = data.get("drift")
    if d and d["columns"]:
        shown = d["columns"][:25]
        add("drift", "Per-column drift", f"{d['n_drifted']} of {d['n_columns']} columns drifted"
            + (f" (top {len(shown)} shown)" if len(shown) < d["n_columns"] else ""),
            lambda: P.drift(shown), "drift")
    v = data.get("verify")
    if v and (v["samples"] or v["percentiles"]):
        add("latency", "Serving latency", f"{v['n_samples'] or 'no'} request samples"
            + (f", {v['rps']:.0f} req/s" if v.get("rps") else ""),
            lambda: P.latency(v["samples"], v["percentiles"], v["max_p99_ms"]), "latency")
        v["samples"] = None  # not repeated in report.json
    elif v:
        notes.add("latency", "image-verify.json has no latency samples or percentiles")
    timings["other_plots"] = round(time.perf_counter() - t0, 3)
    return out


def _read_parquet(path: Path) -> dict[str, Any]:
    """Columns as numpy arrays (pyarrow directly: importing pandas costs more than the plots)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return {name: table.column(name).to_numpy() for name in table.column_names}


def _classes(run: Run, preds: Any) -> list[Any]:
    from mlci.errors import IntegrityError
    from mlci.model import read_signature

    try:
        classes = read_signature(run.file("model")).get("classes")
    except IntegrityError:
        classes = None
    if not classes:
        classes = sorted(set(preds["y_true"].tolist()) | set(preds["y_pred"].tolist()), key=str)
    return list(classes)


def _thin(x: Any, y: Any, n: int = MAX_CURVE_POINTS) -> tuple[list[float], list[float]]:
    import numpy as np

    if len(x) > n:
        idx = np.unique(np.linspace(0, len(x) - 1, n).astype(int))
        x, y = np.asarray(x)[idx], np.asarray(y)[idx]
    return [float(a) for a in x], [float(b) for b in y]


def binary_curves(truth: Any, score: Any) -> dict[str, Any]:
    """ROC and precision-recall points, AUC and average precision (sklearn's definitions),
    computed with numpy so the report does not import scikit-learn."""
    import numpy as np

    order = np.argsort(-score, kind="mergesort")
    s, t = score[order], truth[order].astype(float)
    idx = np.r_[np.where(np.diff(s))[0], len(t) - 1]
    tps = np.cumsum(t)[idx]
    fps = (idx + 1) - tps
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return {"fpr": fpr, "tpr": tpr, "auc": float(np.trapezoid(tpr, fpr)),
            "recall": np.r_[0.0, recall], "precision": np.r_[1.0, precision], "ap": ap}


def confusion(y_true: Any, y_pred: Any, labels: list[Any]) -> list[list[int]]:
    import numpy as np

    index = {lab: i for i, lab in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=int)
    for a, b in zip(y_true.tolist(), y_pred.tolist()):
        i, j = index.get(a), index.get(b)
        if i is not None and j is not None:
            m[i, j] += 1
    return m.tolist()


def _classification_plots(run: Run, preds: Any, add: Callable[..., None], notes: Notes) -> None:
    import numpy as np

    from mlci.report import plots as P

    classes = _classes(run, preds)
    y_true = np.asarray(preds["y_true"])
    y_pred = np.asarray(preds["y_pred"])
    shown = classes
    if len(classes) > 20:
        values, counts = np.unique(y_true, return_counts=True)
        top = set(values[np.argsort(-counts)[:20]].tolist())
        shown = [c for c in classes if c in top]
        notes.add("performance", f"{len(classes)} classes: the confusion matrix shows the 20 most frequent")
    labels = [str(c) for c in shown]
    cm = confusion(y_true, y_pred, shown)
    add("confusion", "Confusion matrix", f"{len(y_true)} test rows; colour is the share of each actual class",
        lambda: P.confusion_matrix(cm, labels), "performance")

    proba_cols = {c: f"proba_{c}" for c in classes if f"proba_{c}" in preds}
    if len(proba_cols) != len(classes) or len(classes) < 2:
        notes.add("performance", "no class probabilities in predictions.parquet (the estimator has no "
                                 "predict_proba): no ROC or precision-recall curves")
        return
    targets = [classes[1]] if len(classes) == 2 else classes[:8]
    if len(classes) > 8:
        notes.add("performance", f"{len(classes)} classes: ROC/PR curves for the first 8 (one-vs-rest)")
    roc, pr = [], []
    for cls in targets:
        truth = (y_true == cls).astype(int)
        if truth.min() == truth.max():
            notes.add("performance", f"class {cls!r}: only one outcome in the test set; no curve")
            continue
        c = binary_curves(truth, np.asarray(preds[proba_cols[cls]], dtype=float))
        fx, fy = _thin(c["fpr"], c["tpr"])
        rx, ry = _thin(c["recall"], c["precision"])
        label = f"class {cls}" if len(classes) > 2 else f"positive = {cls}"
        roc.append({"label": label, "fpr": fx, "tpr": fy, "auc": c["auc"]})
        pr.append({"label": label, "recall": rx, "precision": ry, "ap": c["ap"],
                   "prevalence": float(np.mean(truth))})
    if roc:
        add("roc", "ROC curve", "true vs false positive rate over all thresholds" +
            (" (one-vs-rest)" if len(classes) > 2 else ""), lambda: P.roc_curves(roc), "performance")
        add("pr", "Precision-recall curve", "dotted line: the positive rate (a random model's precision)",
            lambda: P.pr_curves(pr), "performance")


def _regression_plots(preds: Any, add: Callable[..., None]) -> None:
    import numpy as np

    from mlci.report import plots as P

    y_true = np.asarray(preds["y_true"], dtype=float)
    y_pred = np.asarray(preds["y_pred"], dtype=float)
    caption = f"{len(y_true)} test rows"
    if len(y_true) > MAX_SCATTER:
        idx = np.random.default_rng(0).choice(len(y_true), MAX_SCATTER, replace=False)
        y_true, y_pred = y_true[idx], y_pred[idx]
        caption += f" ({MAX_SCATTER} sampled)"
    add("pred_vs_actual", "Predicted vs actual", caption + "; dashed: perfect prediction",
        lambda: P.predicted_vs_actual(y_true, y_pred), "performance")
    add("residuals", "Residuals", caption + "; residual = actual − predicted",
        lambda: P.residuals(y_true, y_pred), "performance")


def _trend_plot(project: Project, data: dict[str, Any], add: Callable[..., None], notes: Notes) -> None:
    from mlci.report import plots as P

    versions = data["registry"]["versions"]
    record = next((v for v in versions if v["run_id"] == data["run_id"]), None)
    candidate = None
    if record is None and data["metrics"]:
        candidate = {m["metric"]: m["new"] for m in data["metrics"]}
    if len(versions) + (1 if candidate else 0) < 2:
        notes.add("trend", "fewer than two registered versions: no metric trend yet")
        return
    names = [m["metric"] for m in data["metrics"]] or list(versions[-1].get("metrics") or {})
    gated = [g["metric"] for g in data["gates"]]
    names = sorted(names, key=lambda n: gated.index(n) if n in gated else len(gated))[:4]
    if not names:
        return
    nums = [v["version"] for v in versions]
    series = {n: [v["metrics"].get(n) for v in versions] for n in names}
    marks: dict[int, str] = {}
    for alias, ver in data["registry"]["aliases"].items():
        marks[ver] = f"{marks[ver]}, {alias}" if ver in marks else alias
    if record is not None:
        marks[record["version"]] = marks.get(record["version"], "") + (" · " if record["version"] in marks else "") + "this run"
    caption = f"{len(versions)} registered version(s), oldest to newest; ✗ not blessed; circled: alias"
    add("trend", "Metric trend", caption,
        lambda: P.trend(nums, series, [v["blessed"] for v in versions], marks, candidate), "trend")
