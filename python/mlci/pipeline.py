"""`mlci run`: check -> validate -> train -> evaluate -> publish (-> promote), skipping every
stage whose fingerprint matches an earlier successful result."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from mlci.errors import MlciError
from mlci.results import Failure, failure
from mlci.registry import store_run_id
from mlci.runs import Project, Run, read_json, write_json


@dataclass
class StageResult:
    stage: str
    status: str  # ran | up to date | unstable (a non-blocking check failed) | failed | skipped
    exit_code: int = 0
    detail: str = ""
    duration_s: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


def baseline_reference(project: Project) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(reference statistics, baseline record) for drift: the statistics stored with the
    baseline model (production), unless data.reference is set or the data is the very data the
    baseline was trained on."""
    stats, baseline, _ = baseline_statistics(project)
    return stats, baseline


def baseline_statistics(project: Project, data_hashes: list[str] | None = None
                        ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str]:
    """As baseline_reference, for the data with these content hashes (default: data.train),
    plus one line saying why there are no statistics when there are none."""
    cfg = project.config
    if cfg.data.reference:
        return None, None, "data.reference is set"
    from mlci.evaluate import baseline_record

    if not cfg.evaluate.baseline:
        return None, None, "evaluate.baseline names no model to compare with"
    baseline = baseline_record(project)
    if baseline is None:
        return None, None, f"no `{cfg.evaluate.baseline}` version of {cfg.name} in the registry yet"
    label = f"{baseline['name']} v{baseline['version']}"
    trained_on = ((baseline.get("lineage") or {}).get("data") or {}).get("train", {}).get("sha256")
    if trained_on and trained_on in (data_hashes if data_hashes is not None else [project.data_hashes.get("train")]):
        return None, None, f"this is the data {label} was trained on"
    store = project.open_store()
    if "reference_stats.json" not in store.get_manifest(store_run_id(baseline)).get("files", {}):
        return None, None, f"{label} was published without training data statistics"
    dest = project.workspace / "cache" / "models" / baseline["name"] / str(baseline["version"])
    store.download_run(store_run_id(baseline), dest, only=["reference_stats.json"])
    return read_json(dest / "reference_stats.json"), baseline, ""


def validate_stage(project: Project, force: bool) -> tuple[dict[str, Any], bool, Path]:
    """Run validation (cached by fingerprint in the workspace). Returns (result, reused, dir)."""
    from mlci.validation import validate_project

    stats, baseline = baseline_reference(project)
    against = {"version": baseline["version"], "fingerprint": baseline["fingerprint"]} if baseline else None
    fingerprint = project.validate_fingerprint(against)
    cache = project.workspace / "cache" / "validate" / fingerprint[:16]
    result_path = cache / "validation.json"
    if not force and result_path.is_file():
        return read_json(result_path), True, cache
    tmp = cache.with_name(f".tmp-{cache.name}-{time.time_ns()}")
    tmp.mkdir(parents=True)
    try:
        result = validate_project(project.config, tmp, reference_stats=stats)
        if baseline:
            result["drift_reference"] = f"{baseline['name']} v{baseline['version']} (training data statistics)"
            write_json(tmp / "validation.json", {**read_json(tmp / "validation.json"),
                                                 "drift_reference": result["drift_reference"]})
        if cache.exists():
            shutil.rmtree(cache)
        tmp.rename(cache)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result, False, cache


def run_pipeline(project: Project, force: bool = False, promote: bool = False, actor: str | None = None,
                 on_stage: Callable[[StageResult], None] | None = None,
                 on_start: Callable[[str], None] | None = None) -> list[StageResult]:
    from mlci import evaluate as evaluate_mod
    from mlci import publish as publish_mod
    from mlci import train as train_mod

    results: list[StageResult] = []
    notify = on_stage or (lambda _r: None)
    start = on_start or (lambda _s: None)

    def stage(name: str, fn: Callable[[], StageResult]) -> bool:
        start(name)
        t0 = time.perf_counter()
        try:
            res = fn()
        except MlciError as exc:
            res = StageResult(name, "failed", exc.exit_code, str(exc))
        res.duration_s = round(time.perf_counter() - t0, 3)
        results.append(res)
        notify(res)
        return res.exit_code == 0

    validation_dir: list[Path] = []

    def do_validate() -> StageResult:
        result, reused, where = validate_stage(project, force)
        validation_dir.append(where)
        status = "up to date" if reused else "ran"
        if not result.get("passed", False):
            return StageResult("validate", "failed", 1, result.get("summary", "validation failed"), data=result)
        return StageResult("validate", status, 0, result.get("summary", ""), data=result)

    run_box: list[Run] = []

    def do_train() -> StageResult:
        out = train_mod.train(project, force=force)
        run = project.run(out["run_id"])
        run_box.append(run)
        for name in ("validation.json", "validation.xml"):
            src = validation_dir[0] / name if validation_dir else None
            if src is not None and src.is_file():
                shutil.copyfile(src, run.file(name))
        status = "up to date" if out["status"] == "up to date" else "ran"
        detail = f"run {out['run_id']}: {out.get('estimator', '').rsplit('.', 1)[-1]} on {out.get('n_train')} rows"
        if out.get("retrain_reasons"):
            detail += "; retrained: " + "; ".join(out["retrain_reasons"])
        return StageResult("train", status, 0, detail, data=out)

    def do_evaluate() -> StageResult:
        out = evaluate_mod.evaluate(project, run_box[0], force=force)
        status = "up to date" if out["status"] == "up to date" else "ran"
        base = f" vs v{out['baseline_version']}" if out.get("baseline_version") else " (no baseline)"
        if not out["blessed"]:
            return StageResult("evaluate", "failed", 1, "gate not met: " + "; ".join(out["failed"]), data=out)
        names = [n for n in project.config.metric_names if n in out["metrics"]][:3]
        metrics = ", ".join(f"{n}={out['metrics'][n]:.4f}" for n in names)
        return StageResult("evaluate", status, 0, f"blessed{base}: {metrics}", data=out)

    def do_publish() -> StageResult:
        out = publish_mod.publish(project, run_box[0], force=force, actor=actor)
        status = "ran" if out["status"] == "registered" else "up to date"
        detail = f"{project.config.name} v{out['version']} ({out['status']})"
        if out["status"] == "already registered":  # e.g. --force: the same inputs reproduce the same model
            detail = (f"{project.config.name}: nothing new registered, same training inputs as v{out['version']} "
                      "(already registered; a new candidate needs new data, config or code)")
        return StageResult("publish", status, 0, detail, data=out)

    def do_promote() -> StageResult:
        from mlci.registry import Registry, default_actor

        version = read_json(run_box[0].file("publish.json"))["version"]
        registry = Registry(project.open_store(), project.config.name)
        alias = project.config.promote.alias
        current = registry.alias(alias)
        if current and current["version"] == version:
            return StageResult("promote", "up to date", 0, f"{alias} is v{version}")
        registry.promote(version, alias, actor=actor or default_actor(), reason="mlci run --promote")
        return StageResult("promote", "ran", 0, f"{alias} -> v{version}")

    plan: list[tuple[str, Callable[[], StageResult]]] = []
    checks = _checks_stage(project, force)
    if checks is not None:
        plan.append(("check", checks))
    plan += [("validate", do_validate), ("train", do_train), ("evaluate", do_evaluate), ("publish", do_publish)]
    if promote or project.config.promote.auto:
        plan.append(("promote", do_promote))
    for name, fn in plan:
        if not stage(name, fn):
            break
    return results


def _checks_stage(project: Project, force: bool) -> Callable[[], StageResult] | None:
    """The code-checks stage, when the project configures checks and the module exists."""
    if not getattr(project.config, "checks", None):
        return None
    from mlci.checks import runner
    from mlci.checks.settings import checks_fingerprint_inputs

    def do_checks() -> StageResult:
        from mlci import fingerprint as fp

        fingerprint = fp.digest({"checks": checks_fingerprint_inputs(project.config),
                                 "code": project.code["hash"]})
        cache = project.workspace / "cache" / "checks" / fingerprint[:16]
        if not force and (cache / "checks.json").is_file():
            out = read_json(cache / "checks.json")
            if out.get("passed"):
                return StageResult("check", "up to date", 0, out.get("summary", ""), data=out)
        cache.mkdir(parents=True, exist_ok=True)
        out = runner.run_checks(project.config, cache)
        if not out.get("passed"):
            shutil.rmtree(cache, ignore_errors=True)
            return StageResult("check", "failed", 1, out.get("summary", "a blocking check failed"), data=out)
        status = "unstable" if out.get("unstable") else "ran"
        return StageResult("check", status, 0, out.get("summary", ""), data=out)

    return do_checks


def as_dict(results: list[StageResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]


def failures(results: list[StageResult]) -> list[Failure]:
    """The stage that stopped the pipeline, named by its stage (its detail names the gate, rule
    or check; its ``data`` holds that stage's own result with its own ``failures``)."""
    return [failure(r.stage, r.detail) for r in results if r.status == "failed"]


def prepare_report() -> None:
    """Import what write_report needs (mlci.preload runs it while the model fits)."""
    from mlci.report import prepare

    prepare()


def write_report(project: Project, results: list[StageResult]) -> dict[str, Any] | None:
    """The report of the run the pipeline worked on, in <run>/report/ (also after a failing
    stage). Never raises: a report problem must not change the pipeline's outcome."""
    import logging

    try:
        from mlci.report import generate

        train = next((r for r in results if r.stage == "train" and r.data.get("run_id")), None)
        run_id = train.data["run_id"] if train else project.run_id()
        previous = project.runs_dir / run_id / "report" / "report.json"
        if results and all(r.status == "up to date" for r in results) and previous.is_file():
            data = read_json(previous)  # nothing changed: the report of the run stands
            files = {n: str(previous.parent / n) for n in ("report.html", "summary.md", "report.json")
                     if (previous.parent / n).is_file()}
            return {"dir": str(previous.parent), "files": files, "decision": data["status"]["decision"],
                    "headline": data["status"]["headline"], "notes": data.get("notes", []),
                    "status": "up to date"}
        return generate(project, project.run(run_id, must_exist=False), stages=as_dict(results))
    except Exception as exc:  # noqa: BLE001
        logging.getLogger(__name__).warning("report not written: %s: %s", type(exc).__name__, exc)
        return None
