"""The train stage: one path for every trainer.

``train`` decides whether the run for these inputs is already trained, loads and splits the
data, builds the model signature, hands a ``Job`` to the configured trainer (mlci.trainers),
and ``write_run`` writes everything else a run directory holds, the same for every trainer:

  model/              the trainer's model directory (MLmodel.json, signature.json, files)
  test.parquet        the test rows with the target (evaluate scores every model on them)
  reference_stats.json  statistics of the training data (drift checks against this model)
  run.json            what was trained from what (lineage), timings, device
  stages/train.json   the stage record (fingerprint, summary)

The run appears by one rename of a temporary directory, so a crash never leaves half a run.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from mlci import columns
from mlci import data as data_io
from mlci import fingerprint as fp
from mlci.errors import DataError
from mlci.model import META_FILE
from mlci.model import signature as model_signature
from mlci.runs import Project, Run
from mlci.trainers.base import Job, Split, Trained
from mlci.util import utc_now, write_json


def load_split(project: Project) -> Split:
    """The training and test rows, from data.train/test or the split settings."""
    cfg = project.config
    sources = project.data_sources
    train_src = sources["train"]
    train_df = columns.apply_na_values(data_io.read_source(train_src), cfg.data.na_values)
    X, y = data_io.split_xy(train_df, cfg, train_src.label)
    info: dict[str, Any] = {"train_rows": len(train_df)}
    if "test" in sources:
        test_src = sources["test"]
        test_df = columns.apply_na_values(data_io.read_source(test_src), cfg.data.na_values)
        X_test, y_test = data_io.split_xy(test_df, cfg, test_src.label)
        missing = [c for c in X.columns if c not in X_test.columns]
        if missing:
            raise DataError(f"{test_src.label}: missing feature columns {', '.join(missing)}")
        info["split"] = "file"
        return Split(X, X_test[list(X.columns)], y, y_test, info)
    from sklearn.model_selection import train_test_split

    stratify = None
    if cfg.task == "classification" and cfg.split.stratify:
        counts = y.value_counts()
        if counts.min() < 2:
            raise DataError(f"{train_src.label}: class {counts.idxmin()!r} of `{cfg.data.target}` has a "
                            "single row; stratified splitting needs at least two (set split.stratify: false)")
        stratify = y
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=cfg.split.test_size, random_state=cfg.split.seed, stratify=stratify)
    except ValueError as exc:
        raise DataError(f"{train_src.label}: cannot split {len(X)} rows with test_size="
                        f"{cfg.split.test_size}: {exc}") from None
    info["split"] = "random"
    return Split(X_train, X_test, y_train, y_test, info)


def train(project: Project, force: bool = False,
          on_step: Callable[[str], None] | None = None, device: Any = None,
          on_output: Callable[[str], None] | None = None, in_container: bool | None = None,
          image: str | None = None) -> dict[str, Any]:
    """Train unless the run for these inputs is already trained. Returns a summary.
    ``device`` (mlci.devices.Device) is recorded and handed to the trainer; a command
    trainer's output lines go to ``on_output``. ``in_container`` (default:
    train.in_container) trains inside the agent image instead (mlci.trainers.container)."""
    step = on_step or (lambda _msg: None)
    cfg = project.config
    started = time.time()
    fingerprint = project.train_fingerprint()
    run_id = fingerprint[:16]
    final = project.runs_dir / run_id
    done = Run(run_id, final).up_to_date("train", fingerprint)
    if done and not force and (final / "model" / META_FILE).is_file():
        project.set_latest(run_id)
        return {"run_id": run_id, "status": "up to date", "fingerprint": fingerprint, **done["summary"]}
    reasons = project.retrain_reasons(run_id, force)
    if device is None:
        from mlci.devices import for_training

        device = for_training(cfg.train.device, cfg.model.trainer)
    if (cfg.train.in_container if in_container is None else in_container) and not os.environ.get("MLCI_IN_CONTAINER"):
        from mlci.trainers.container import train_in_container

        return {**train_in_container(project, device, image=image, force=force, on_output=on_output),
                "retrain_reasons": reasons}

    step("loading data")
    t0 = time.perf_counter()
    split = load_split(project)
    t_load = time.perf_counter() - t0
    decision = columns.decide(split.X_train, cfg.data.features, cfg.data.na_values,
                              project.data_sources["train"].label)
    if decision.dropped:
        split.X_train = split.X_train.drop(columns=decision.dropped)
        split.X_test = split.X_test.drop(columns=decision.dropped)
    categorical = [c for c, r in decision.roles.items() if r == columns.CATEGORICAL]
    classes = None
    if cfg.task == "classification":
        import numpy as np

        classes = np.unique(split.y_train)
    signature = model_signature.build(split.X_train, decision.roles, cfg.data.target, cfg.task, classes,
                                      decision.placeholders, cfg.data.na_values)

    project.runs_dir.mkdir(parents=True, exist_ok=True)
    tmp = project.runs_dir / f".tmp-{run_id}-{time.time_ns()}"
    tmp.mkdir()
    try:
        job = Job(project, run_id, split, dict(signature), tmp / "model", device, step, on_output)
        if cfg.model.trainer == "command":
            from mlci.trainers import command as trainer
        else:
            from mlci.trainers import sklearn as trainer  # type: ignore[no-redef]
        trained = trainer.fit(job)
        t0 = time.perf_counter()
        write_run(job, trained, fingerprint, tmp)
        timings = {"load": round(t_load, 3), "fit": round(trained.fit_s, 3), "save": round(time.perf_counter() - t0, 3)}
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary = {"estimator": trained.estimator, "n_train": len(split.X_train), "n_test": len(split.X_test),
               "features": len(split.X_train.columns), "categorical": categorical,
               **({"warnings": decision.warnings} if decision.warnings else {}), **trained.summary}
    return {**finish_run(project, tmp, run_id, fingerprint, started, summary, timings), "retrain_reasons": reasons}


# The reference statistics written last in this process, by what they are computed from (the
# training data and its split, the data settings, code, library versions and signature): a
# sweep's candidates train on the same rows, and each run gets the same file without
# computing it again. (key, the file's bytes)
_last_reference: tuple[str, bytes] | None = None


def write_run(job: Job, trained: Trained, fingerprint: str, tmp: Path) -> None:
    """Everything a run directory holds beside the trainer's model directory, for every
    trainer: the test rows, the training data's reference statistics and run.json (without
    timings: finish_run adds them)."""
    from mlci.validation import reference_stats, write_reference_stats

    project, split, cfg = job.project, job.split, job.project.config
    test = split.X_test.copy()
    test[cfg.data.target] = split.y_test
    test.reset_index(drop=True).to_parquet(tmp / "test.parquet")
    global _last_reference
    inputs = project.train_inputs()
    key = fp.digest({"data": inputs["data"], "config": {k: v for k, v in inputs["config"].items() if k != "model"},
                     "code": project.code["hash"], "versions": inputs["versions"], "signature": job.signature})
    if _last_reference is not None and _last_reference[0] == key:
        (tmp / "reference_stats.json").write_bytes(_last_reference[1])
    else:
        # compact JSON: every distinct value per column makes the file large (and indenting slow)
        # in the column-type contract's types (dates as timestamps), as new data is read for drift
        typed = columns.typed_frame(split.X_train, model_signature.roles(job.signature),  # type: ignore[arg-type]
                                    model_signature.missing_texts(job.signature))  # type: ignore[arg-type]
        write_reference_stats(reference_stats(typed), tmp / "reference_stats.json")
        _last_reference = (key, (tmp / "reference_stats.json").read_bytes())
    categorical = [i["name"] for i in job.signature["inputs"] if i["categorical"]]
    data_summary, data_parts = project.data_lineage()
    if data_parts:  # the files or objects read, with ETags and version ids (mlci reproduce reads these)
        write_json(tmp / "data.json", data_parts)
    write_json(tmp / "run.json", {
        "run_id": job.run_id, "name": cfg.name, "task": cfg.task, "fingerprint": fingerprint,
        "created": utc_now(), "estimator": trained.estimator, "params": trained.params,
        "data": data_summary,
        "split": split.info, "features": list(split.X_train.columns), "categorical": categorical,
        "n_train": len(split.X_train), "n_test": len(split.X_test), "code": project.code,
        "versions": project.versions, "config": cfg.normalized(),
        "device": job.device.as_record() if job.device is not None else None,
        **trained.run,
    })


def finish_run(project: Project, tmp: Path, run_id: str, fingerprint: str, started: float,
               summary: dict[str, Any], timings: dict[str, float]) -> dict[str, Any]:
    """Make a trained run visible: its timings into run.json, then one rename of the temporary
    directory into place (a rerun replaces the old one), the stage record and LATEST."""
    from mlci.util import read_json

    final = project.runs_dir / run_id
    try:
        write_json(tmp / "run.json", {**read_json(tmp / "run.json"), "timings_s": timings})
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    Run(run_id, final).record("train", fingerprint, 0, started, summary, inputs=project.train_inputs())
    project.set_latest(run_id)
    return {"run_id": run_id, "status": "trained", "fingerprint": fingerprint, "fit_s": timings["fit"], **summary}
