"""Parameter sweeps: a grid of config overrides, each combination a normal train + evaluate run.

grid.yaml maps dotted mlci.yaml keys to lists of values:

    model.params.n_estimators: [50, 100, 200]
    model.params.max_depth: [4, 8]

Every combination is validated (config.load with the overrides, and for the scikit-learn
trainer the estimator's parameters) before anything runs. Each combination is its own run with
its own fingerprint, so a rerun skips what is unchanged. The best candidate is chosen by the
first gate's metric (by evaluate.metrics' first entry without gates), in the metric's
direction, blessed candidates first. Sharding (``--shard I/N``) runs every N-th combination
so a Jenkins `parallel` can fan the grid out across agents; ``select`` merges the shards.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable

from mlci import fingerprint as fp
from mlci.errors import ConfigError, MlciError, NotFoundError, UsageError
from mlci.results import Failure, failure

log = logging.getLogger(__name__)

SHARD_FILE = "sweep-shard-{i}-of-{n}.json"
SWEEP_FILE = "sweep.json"


# --- the grid --------------------------------------------------------------------------------

def read_grid(path: Path) -> dict[str, list[Any]]:
    from mlci.config import read_yaml

    data = read_yaml(path, "a mapping of dotted config keys to lists of values")
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: expected a mapping of dotted config keys to lists of values "
                          "(e.g. `model.params.n_estimators: [50, 100]`)")
    grid: dict[str, list[Any]] = {}
    for key, values in data.items():
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise ConfigError(f"{path}: {key!r}: expected a dotted config key such as model.params.C")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: {key}: expected a non-empty list of values, got {values!r}")
        grid[key] = values
    return grid


def combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination, in a fixed order (the last key varies fastest)."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text}: expected I/N, e.g. 1/4") from None
    if not (n >= 1 and 1 <= i <= n):
        raise UsageError(f"--shard {text}: expected 1 <= I <= N")
    return i, n


def in_shard(index: int, shard: tuple[int, int] | None) -> bool:
    return shard is None or index % shard[1] == shard[0] - 1


def label(overrides: dict[str, Any]) -> str:
    return " ".join(f"{k.rsplit('.', 1)[-1] if k.startswith('model.params.') else k}={v}"
                    for k, v in overrides.items())


def validate(config_path: Path, combos: list[dict[str, Any]], grid_path: Path,
             estimators: bool = True) -> list[Any]:
    """Load the config with each combination's overrides; a bad key or value is a ConfigError
    naming the grid file, the key and the combination. With ``estimators``, also each
    combination's estimator parameters (check_estimators). Returns the loaded configs."""
    from mlci import config

    base = config.read_yaml(config_path)
    configs = []
    for combo in combos:
        for key in combo:
            _check_key(base, key, grid_path)
        try:
            configs.append(config.load(config_path, overrides=combo))
        except ConfigError as exc:
            raise ConfigError(f"{grid_path}: combination {label(combo)}: {exc}") from None
    if estimators:
        check_estimators(configs, combos, grid_path)
    return configs


def check_estimators(configs: list[Any], combos: list[dict[str, Any]], grid_path: Path) -> None:
    """For the scikit-learn trainer: the estimator exists and takes each combination's
    parameters (imports scikit-learn, so a rerun with every run up to date skips it)."""
    from mlci.trainers.sklearn import DEFAULT_ESTIMATORS, make_estimator, resolve_estimator

    for cfg, combo in zip(configs, combos):
        if cfg.model.trainer != "sklearn":
            continue
        try:
            cls = resolve_estimator(cfg.model.estimator or DEFAULT_ESTIMATORS[cfg.task], cfg.task)
            make_estimator(cls, cfg.model.params, cfg.split.seed)
        except ConfigError as exc:
            raise ConfigError(f"{grid_path}: combination {label(combo)}: {exc}") from None


def _check_key(base: Any, key: str, grid_path: Path) -> None:
    """A key must name a field of the schema; under model.params any name is allowed (the
    estimator checks them), elsewhere an unknown key is an error with a suggestion."""
    from pydantic import BaseModel

    from mlci.config import Config, _unknown

    model: Any = Config
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return  # a free mapping (model.params, train.container.env): anything goes
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        if part not in fields:
            where = ".".join(parts[:depth]) or "the top level"
            raise ConfigError(f"{grid_path}: {key}: {_unknown(part, sorted(fields), f'key under {where}')}")
        ann = fields[part].annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None and depth < len(parts) - 1 and not _is_mapping(ann):
            raise ConfigError(f"{grid_path}: {key}: `{'.'.join(parts[:depth + 1])}` is not a mapping")


def _is_mapping(ann: Any) -> bool:
    origin = getattr(ann, "__origin__", None)
    return ann is dict or origin is dict or any(_is_mapping(a) for a in getattr(ann, "__args__", ()) or ())


# --- choosing ---------------------------------------------------------------------------------

def objective(cfg: Any) -> tuple[str, bool]:
    """(metric, greater_is_better) that ranks candidates."""
    from mlci import gates
    from mlci.metrics import METRICS

    if cfg.evaluate.gates:
        gate = cfg.evaluate.gates[0]
        return gate.metric, gates.direction(gate)
    name = cfg.metric_names[0]
    return name, METRICS[name].greater_is_better


def best_of(candidates: list[dict[str, Any]], metric: str, greater: bool) -> dict[str, Any] | None:
    """Blessed candidates first, then by the metric in its direction, then grid order."""
    def usable(c: dict[str, Any]) -> bool:
        v = (c.get("metrics") or {}).get(metric)
        return c.get("status") == "ok" and isinstance(v, (int, float)) and not math.isnan(v)

    pool = [c for c in candidates if usable(c)]
    if not pool:
        return None
    return min(pool, key=lambda c: (not c.get("blessed"),
                                    -c["metrics"][metric] if greater else c["metrics"][metric],
                                    c["index"]))


# --- running ----------------------------------------------------------------------------------

def _run_group(config_path: str, combos: list[tuple[int, dict[str, Any]]], force: bool,
               device: Any) -> list[dict[str, Any]]:
    """In a worker process: train + evaluate each combination (they share one run id, or are
    forests of one family, largest first: see mlci.trainers.sklearn.forest_family)."""
    from mlci import config
    from mlci.evaluate import evaluate
    from mlci.runs import Project
    from mlci.train import train
    from mlci.trainers import sklearn as sklearn_trainer

    out = []
    try:
        for index, overrides in combos:
            t0 = time.perf_counter()
            rec: dict[str, Any] = {"index": index, "overrides": overrides, "label": label(overrides)}
            try:
                project = Project(config.load(config_path, overrides=overrides))
                dev = device
                if dev is None:
                    from mlci.devices import for_training

                    dev = for_training(project.config.train.device, project.config.model.trainer)
                with sklearn_trainer.forest_family(forest_key(project)):
                    t = train(project, force=force, device=dev)
                run = project.run(t["run_id"])
                e = evaluate(project, run, force=force)
                rec.update(status="ok", exit_code=0 if e["blessed"] else 1, run_id=t["run_id"],
                           trained=t["status"], blessed=e["blessed"], metrics=e["metrics"],
                           failed=e.get("failed", []), device=dev.describe())
                if t.get("trees_from"):
                    rec["trees_from"] = t["trees_from"]
            except MlciError as exc:
                rec.update(status="failed", exit_code=exc.exit_code, error=str(exc))
            except Exception as exc:  # a bug or a crash in one job must not lose the others
                rec.update(status="failed", exit_code=4, error=f"{type(exc).__name__}: {exc}")
            rec["duration_s"] = round(time.perf_counter() - t0, 3)
            out.append(rec)
    finally:
        sklearn_trainer.forget_forests()
    return out


FORESTS = {f"sklearn.ensemble.{kind}{task}" for kind in ("RandomForest", "ExtraTrees")
           for task in ("Classifier", "Regressor")}


def forest_key(project: Any) -> str | None:
    """For a scikit-learn forest trained in this process, without warm_start and oob_score:
    the training fingerprint without model.params.n_estimators. Candidates of one family
    differ only in their number of trees, and the smaller take the first trees of the
    largest's fit (mlci.trainers.sklearn.forest_family). Else None."""
    from mlci.trainers.sklearn import DEFAULT_ESTIMATORS

    cfg = project.config
    params = cfg.model.params
    if (cfg.model.trainer != "sklearn" or cfg.train.in_container
            or (cfg.model.estimator or DEFAULT_ESTIMATORS[cfg.task]) not in FORESTS
            or params.get("warm_start") or params.get("oob_score")):
        return None
    inputs = project.train_inputs()
    inputs["config"]["model"]["params"].pop("n_estimators", None)
    return fp.digest({**inputs, "code": project.code["hash"], "forest_family": True})


def _n_trees(cfg: Any) -> Any:
    n = cfg.model.params.get("n_estimators", 100)  # scikit-learn's default
    return n if isinstance(n, int) else 0


def _check_combinations(config_path: str, combos: list[dict[str, Any]], grid_path: Path) -> None:
    """In a worker process: check_estimators for these combinations."""
    validate(Path(config_path), combos, grid_path)


# What every worker imports; the fork server imports it once, and every worker forks from it.
PRELOAD = ["mlci.train", "mlci.evaluate", "sklearn.pipeline", "sklearn.compose", "sklearn.impute",
           "sklearn.preprocessing", "sklearn.metrics", "pandas", "pyarrow.parquet",
           "mlci.model.skops_loaded"]  # skops.io, without its scan of all of scikit-learn
# Preloaded after all the others: the fork server then exits without tearing them down.
PRELOAD_LAST = "mlci.forkserver_exit"


def _start_workers_early(estimators: list[Any]) -> None:
    """Start multiprocessing's fork server now, preloading the training libraries (and the
    modules of the estimators' import paths, None for the default forests), so each worker
    forks from it ready to train: no per-worker imports, no fork of this process, and this
    process never imports scikit-learn (a worker checks the estimators). A module that does
    not import is skipped there (validation reports it)."""
    import multiprocessing.forkserver

    paths = {e or "sklearn.ensemble.RandomForestClassifier" for e in estimators if e is None or isinstance(e, str)}
    modules = PRELOAD + sorted({path.rsplit(".", 1)[0] for path in paths if "." in path}) + [PRELOAD_LAST]
    multiprocessing.forkserver.set_forkserver_preload(modules)
    multiprocessing.forkserver.ensure_running()


def _first_run(config_path: Path, grid_path: Path, jobs: int, shard: tuple[int, int] | None,
               out_dir: Path | None) -> bool:
    """Start the workers now, before the grid is validated (even before the config schema is
    imported), when this looks like the sweep's first run: parallel jobs and no sweep file of
    this config and grid yet. A rerun (usually with everything up to date, which needs no
    worker) starts them once a training is known to be needed. The files are read as plain
    YAML here; validation reports what is wrong with them."""
    import yaml

    try:
        text = config_path.read_text()
        grid = yaml.safe_load(Path(grid_path).read_text())
        n = math.prod(len(values) for values in grid.values())
        model = yaml.safe_load(text).get("model") or {}
        estimators = [] if model.get("trainer") == "command" else grid.get("model.estimator") or [model.get("estimator")]
    except (OSError, ValueError, yaml.YAMLError, AttributeError, TypeError):
        return False
    if jobs < 2 or sum(in_shard(i, shard) for i in range(n)) < 2:
        return False
    sweep_id = fp.digest({"config": text, "grid": grid})[:12]
    workspace = Path(os.environ.get("MLCI_WORKSPACE") or config_path.parent / ".mlci")  # as Project's
    name = SHARD_FILE.format(i=shard[0], n=shard[1]) if shard else SWEEP_FILE
    if ((Path(out_dir) if out_dir else workspace / "sweeps" / sweep_id) / name).is_file():
        return False
    _start_workers_early(estimators)
    return True


def run_sweep(config_path: Path, grid_path: Path, jobs: int = 1, shard: tuple[int, int] | None = None,
              force: bool = False, device: Any = None, out_dir: Path | None = None,
              on_result: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Validate the whole grid, run this shard's combinations in ``jobs`` processes, write
    the sweep file and return it."""
    import multiprocessing

    config_path = Path(config_path).resolve()
    started = _first_run(config_path, grid_path, jobs, shard, out_dir)  # its imports overlap what follows
    from mlci.runs import Project, Run, write_json

    grid = read_grid(grid_path)
    combos = combinations(grid)
    configs = validate(config_path, combos, grid_path, estimators=False)
    metric, greater = objective(configs[0])
    sweep_id = fp.digest({"config": config_path.read_text(), "grid": grid})[:12]
    project = Project(configs[0])
    out_dir = Path(out_dir) if out_dir else project.workspace / "sweeps" / sweep_id

    mine = [(i, c, cfg) for i, (c, cfg) in enumerate(zip(combos, configs)) if in_shard(i, shard)]
    # One group per run id: combinations that train the same model run one after the other;
    # forests that differ only in n_estimators likewise, largest first (one fit for them all).
    # Computing the ids here also fills the file-hash cache before the workers start.
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    to_train, trained = set(), set()
    for i, combo, cfg in sorted(mine, key=lambda m: -_n_trees(m[2])):
        p = Project(cfg)
        fingerprint = p.train_fingerprint()
        run_id = fingerprint[:16]
        group = forest_key(p) or run_id
        groups.setdefault(group, []).append((i, combo))
        if force or not Run(run_id, p.runs_dir / run_id).up_to_date("train", fingerprint):
            to_train.add(group)
        else:
            trained.add(i)
    # worker processes pay off only for trainings; a rerun with everything trained runs here
    jobs = max(1, min(jobs, len(to_train)))
    if jobs > 1 and not started:  # its imports overlap what this process does until it is needed
        _start_workers_early([cfg.model.estimator for cfg in configs if cfg.model.trainer == "sklearn"])
    in_workers = to_train and (jobs > 1 or started)
    # Every combination is checked before anything runs, except runs already trained as they are.
    unchecked = [i for i in range(len(combos)) if i not in trained]
    from mlci.devices import spread

    devices_ = spread(device, len(groups)) if device is not None else [None] * len(groups)
    results: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    if not in_workers:
        check_estimators([configs[i] for i in unchecked], [combos[i] for i in unchecked], grid_path)
        for (_, group), dev in zip(groups.items(), devices_):
            for rec in _run_group(str(config_path), group, force, dev):
                results.append(rec)
                (on_result or (lambda r: None))(rec)
    else:
        ctx = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            # checked by a worker, which has scikit-learn imported (this process need not import it)
            pool.submit(_check_combinations, str(config_path), [combos[i] for i in unchecked], grid_path).result()
            futures = [pool.submit(_run_group, str(config_path), group, force, dev)
                       for (_, group), dev in zip(groups.items(), devices_)]
            for fut in as_completed(futures):
                for rec in fut.result():
                    results.append(rec)
                    (on_result or (lambda r: None))(rec)
    results.sort(key=lambda r: r["index"])
    best = best_of(results, metric, greater)
    sweep = {"sweep_id": sweep_id, "name": configs[0].name, "config": str(config_path),
             "grid_file": str(Path(grid_path).resolve()), "grid": grid, "combinations": len(combos),
             "shard": f"{shard[0]}/{shard[1]}" if shard else None, "metric": metric,
             "greater_is_better": greater, "jobs": jobs, "elapsed_s": round(time.perf_counter() - t0, 3),
             "candidates": results, "best": best}
    name = SHARD_FILE.format(i=shard[0], n=shard[1]) if shard else SWEEP_FILE
    if shard and best is not None:  # the best run travels with the shard file (Jenkins stash)
        src = project.runs_dir / best["run_id"]
        dest = out_dir / "runs" / best["run_id"]
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(src, dest)
    write_json(out_dir / name, sweep)
    if best is not None:
        project.set_latest(best["run_id"])
    sweep["file"] = str(out_dir / name)
    return sweep


def exit_code(sweep: dict[str, Any]) -> int:
    """0: the best candidate is blessed; else the worst error of a failed job (2, 3, 4), else 1.
    A shard only does work, `select` decides: 0 when any of its candidates ran, else the worst
    error."""
    if sweep.get("shard"):
        if any(c.get("status") == "ok" for c in sweep["candidates"]) or not sweep["candidates"]:
            return 0
        return max(c["exit_code"] for c in sweep["candidates"])
    best = sweep.get("best")
    if best is not None and best.get("blessed"):
        return 0
    errors = [c["exit_code"] for c in sweep["candidates"] if c.get("status") == "failed"]
    return max(errors) if errors else 1


def failures(sweep: dict[str, Any], code: int) -> list[Failure]:
    """What made the sweep exit non-zero: each candidate that failed or was not blessed."""
    if code == 0:
        return []
    out = []
    for c in sweep["candidates"]:
        if c.get("status") == "ok" and not c.get("blessed"):
            out.append(failure(c["label"], "not blessed: " + ("; ".join(c.get("failed") or []) or "gate not met")))
        elif c.get("status") != "ok":
            out.append(failure(c["label"], c.get("error") or c.get("status")))
    return out


# --- merging shards ---------------------------------------------------------------------------

def _sweep_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(p.rglob("sweep-shard-*.json")) + sorted(p.rglob(SWEEP_FILE))
        elif p.is_file():
            files.append(p)
        else:
            raise NotFoundError(f"{p}: no such file or directory")
    if not files:
        raise NotFoundError(f"no sweep files under {', '.join(map(str, paths))} "
                            "(expected sweep-shard-I-of-N.json or sweep.json)")
    return files


def select(paths: list[Path]) -> dict[str, Any]:
    """Merge shard files (or sweep.json files) of one sweep and pick the best candidate.
    Every shard 1..N must be present."""
    sweeps = []
    for f in _sweep_files(paths):
        try:
            data = json.loads(f.read_text())
        except ValueError as exc:
            raise UsageError(f"{f}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or "candidates" not in data or "sweep_id" not in data:
            raise UsageError(f"{f}: not a sweep file (no sweep_id/candidates)")
        data["_file"] = f
        sweeps.append(data)
    ids = {s["sweep_id"] for s in sweeps}
    if len(ids) > 1:
        raise UsageError(f"the files belong to different sweeps ({', '.join(sorted(ids))}): "
                         "same mlci.yaml and grid expected")
    shards = {s["shard"] for s in sweeps}
    if None not in shards:
        n = int(next(iter(shards)).split("/")[1])
        missing = [f"{i}/{n}" for i in range(1, n + 1) if f"{i}/{n}" not in shards]
        if missing:
            raise UsageError(f"shard {', '.join(missing)} missing; got {', '.join(sorted(shards))}")
    candidates: dict[int, dict[str, Any]] = {}
    for s in sweeps:
        for c in s["candidates"]:
            candidates[c["index"]] = {**c, "shard": s["shard"], "sweep_file": str(s["_file"])}
    merged = [candidates[i] for i in sorted(candidates)]
    first = sweeps[0]
    best = best_of(merged, first["metric"], first["greater_is_better"])
    return {"sweep_id": first["sweep_id"], "name": first.get("name"), "grid": first["grid"],
            "combinations": first["combinations"], "metric": first["metric"],
            "greater_is_better": first["greater_is_better"], "shards": sorted(s for s in shards if s),
            "candidates": merged, "best": best}


def select_from_workspace(config_path: Path, grid_path: Path) -> dict[str, Any]:
    """Rank the grid's candidates from the runs in this workspace (after the shards' runs were
    unstashed into it): each combination's run id is its training fingerprint, so nothing needs
    to travel but the run directories. A combination without a run directory (its training
    failed, or its shard's runs did not come back) is listed as missing."""
    from mlci.runs import Project, Run, read_json

    config_path = Path(config_path).resolve()
    grid = read_grid(grid_path)
    combos = combinations(grid)
    configs = validate(config_path, combos, grid_path)
    metric, greater = objective(configs[0])
    candidates = []
    for index, (combo, cfg) in enumerate(zip(combos, configs)):
        project = Project(cfg)
        run_id = project.run_id()
        run = Run(run_id, project.runs_dir / run_id)
        rec: dict[str, Any] = {"index": index, "overrides": combo, "label": label(combo), "run_id": run_id}
        if not run.file("evaluation.json").is_file():
            rec.update(status="missing", exit_code=2,
                       error=f"no evaluated run {run_id} in {project.runs_dir} (training failed, or its "
                             "shard's runs were not brought back)")
        else:
            evaluation = read_json(run.file("evaluation.json"))
            rec.update(status="ok", exit_code=0 if evaluation["blessed"] else 1, blessed=evaluation["blessed"],
                       metrics=evaluation["metrics"], failed=evaluation.get("failed", []))
        candidates.append(rec)
    if all(c["status"] == "missing" for c in candidates):
        raise NotFoundError(f"none of the {len(candidates)} combinations of {grid_path} has an evaluated run in "
                            f"{Project(configs[0]).runs_dir}; run `mlci sweep --grid {grid_path}` (or unstash "
                            "the shards' .mlci/runs) first")
    sweep_id = fp.digest({"config": config_path.read_text(), "grid": grid})[:12]
    best = best_of(candidates, metric, greater)
    return {"sweep_id": sweep_id, "name": configs[0].name, "grid": grid, "combinations": len(combos),
            "metric": metric, "greater_is_better": greater, "shards": [], "candidates": candidates,
            "best": best, "source": "workspace"}


def import_best_run(project: Any, best: dict[str, Any]) -> Any:
    """The best run in this workspace: already here, or copied from beside its shard file."""
    run_id = best["run_id"]
    dest = project.runs_dir / run_id
    if not (dest / "run.json").is_file():
        src = Path(best.get("sweep_file", "")).parent / "runs" / run_id
        if not (src / "run.json").is_file():
            raise NotFoundError(f"run {run_id} is neither in {project.runs_dir} nor in {src.parent} "
                                "(stash the shard's output directory with its runs/)")
        tmp = project.runs_dir / f".tmp-import-{run_id}-{os.getpid()}"
        shutil.copytree(src, tmp)
        os.replace(tmp, dest) if not dest.exists() else shutil.rmtree(tmp)
    project.set_latest(run_id)
    return project.run(run_id)


def publish_best(config_path: Path, best: dict[str, Any], actor: str | None = None) -> dict[str, Any]:
    from mlci import config
    from mlci.publish import publish
    from mlci.runs import Project

    project = Project(config.load(config_path, overrides=best["overrides"]))
    run = import_best_run(project, best)
    return publish(project, run, actor=actor)
