"""`model.trainer: command`: train with any framework through a script of the project's own.

mlci splits the data exactly as for a scikit-learn model, writes the two halves as Parquet
files and runs ``model.command`` (split like a shell would, but never run by one) from the
directory of mlci.yaml with this environment:

  MLCI_TRAIN_DATA   Parquet file: training rows, feature columns + the target column
  MLCI_TEST_DATA    Parquet file: test rows, same columns (for early stopping or a report;
                    mlci's own evaluation scores the model on these rows again)
  MLCI_TARGET       name of the target column
  MLCI_FEATURES     JSON list of the feature columns, in order
  MLCI_CATEGORICAL  JSON list of the feature columns that are categorical
  MLCI_CLASSES      JSON list of the classes, sorted (classification only); predict_proba's
                    columns must follow this order
  MLCI_PARAMS       JSON of model.params
  MLCI_OUTPUT_DIR   directory the script writes its model into (empty at the start)
  MLCI_SEED         integer seed (split.seed)
  MLCI_DEVICE       cpu or cuda; the chosen GPU is the only one visible (CUDA_VISIBLE_DEVICES)
  MLCI_TASK         classification or regression
  MLCI_RUN_ID       the run id

The script writes into MLCI_OUTPUT_DIR its model files (in a format that needs no pickle:
e.g. torch state_dict with torch.save + torch.load(weights_only=True), safetensors, JSON,
ONNX, XGBoost's JSON), a ``predict.py`` and optionally ``metrics.json`` (its own numbers,
e.g. the final training loss: recorded in run.json as trainer_metrics). predict.py defines

    def load(model_dir: str) -> object
    def predict(model, df: pandas.DataFrame) -> array-like of predictions (class labels)
    def predict_proba(model, df) -> 2-D array, one column per class in MLCI_CLASSES order  (optional)

predict.py must be self-contained (it may import installed packages, not its neighbours).
mlci checks it right after training by predicting a few test rows, then records every file
with its sha256 in MLmodel.json (format ``command``). Loading such a model executes its
predict.py: it is the project's own code, and it is executed only after every file in the
model directory matched its recorded checksum. Load command models only from stores whose
writers you trust as much as your repository.

Exit codes: the script failing (non-zero exit, killed, timed out) or breaking the output
contract fails training with exit 2, like bad config or data: the project's input is wrong,
the infrastructure is not at fault. The last lines of its output are in the message and
the whole log is kept (.mlci/logs/train-<run-id>.log, and train.log in the run directory).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

import mlci.model.signature as model_signature
from mlci.errors import ConfigError, UsageError
from mlci.model import command as command_model
from mlci.model.command import ENTRY_POINT
from mlci.model.files import META_FILE, SIGNATURE_FILE, write_meta
from mlci.trainers.base import Job, Trained

log = logging.getLogger(__name__)

TRAINER_METRICS = "metrics.json"
RESERVED = (META_FILE, SIGNATURE_FILE)
TAIL_LINES = 20
SMOKE_ROWS = 5


def command_argv(command: str, root: Path) -> list[str]:
    """The argument list of ``model.command``: shell-like splitting, no shell. A leading
    ``python``/``python3`` is the interpreter mlci itself runs under (the same environment)."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"model.command: cannot split {command!r}: {exc}") from None
    if not argv:
        raise ConfigError("model.command: empty command")
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    elif "/" in argv[0]:
        exe = Path(argv[0])
        argv[0] = str(exe if exe.is_absolute() else root / exe)
        if not Path(argv[0]).is_file():
            raise ConfigError(f"model.command: {argv[0]} not found")
    elif shutil.which(argv[0]) is None:
        raise ConfigError(f"model.command: `{argv[0]}` not found on PATH")
    return argv


def contract_env(project: Any, run_id: str, scratch: Path, out_dir: Path, features: list[str],
                 categorical: list[str], classes: list[Any] | None, device: Any,
                 signature: dict[str, Any]) -> dict[str, str]:
    cfg = project.config
    env = {
        "MLCI_TRAIN_DATA": str(scratch / "train.parquet"),
        "MLCI_TEST_DATA": str(scratch / "test.parquet"),
        "MLCI_TARGET": cfg.data.target,
        "MLCI_FEATURES": json.dumps(features),
        "MLCI_CATEGORICAL": json.dumps(categorical),
        "MLCI_ROLES": json.dumps(model_signature.roles(signature)),  # type: ignore[arg-type]
        "MLCI_PARAMS": json.dumps(cfg.model.params, default=str),
        "MLCI_OUTPUT_DIR": str(out_dir),
        "MLCI_SEED": str(cfg.split.seed),
        "MLCI_DEVICE": device.torch_name if device is not None else "cpu",
        "MLCI_TASK": cfg.task,
        "MLCI_RUN_ID": run_id,
        "PYTHONUNBUFFERED": "1",
    }
    if classes is not None:
        env["MLCI_CLASSES"] = json.dumps(classes)
    if device is not None:
        env.update(device.env)
    return env


def run_command(argv: list[str], env: dict[str, str], cwd: Path, log_path: Path, timeout: float | None,
                on_output: Callable[[str], None] | None = None) -> tuple[int | None, list[str], bool]:
    """Run without a shell, streaming each output line to ``on_output`` and the log file.
    Returns (exit code or None when killed by mlci, last lines, timed out)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    emit = on_output or (lambda line: log.info("train: %s", line))
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as exc:
        raise ConfigError(f"model.command: cannot start {argv[0]}: {exc.strerror or exc}") from None

    def pump() -> None:
        with open(log_path, "w", encoding="utf-8") as fh:
            assert proc.stdout is not None
            for raw in iter(proc.stdout.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                fh.write(line + "\n")
                fh.flush()
                tail.append(line)
                emit(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
    finally:
        if proc.poll() is None:  # mlci itself interrupted (Ctrl-C, Jenkins abort)
            _kill_group(proc)
        reader.join(timeout=10)
    return (None if timed_out else proc.returncode), list(tail), timed_out


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """TERM the script's process group, then KILL what is left after 5 seconds."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _failure(argv: list[str], code: int | None, timed_out: bool, timeout: float | None,
             tail: list[str], log_path: Path) -> UsageError:
    cmd = " ".join(shlex.quote(a) for a in argv)
    if timed_out:
        what = f"timed out after {timeout:g}s (train.timeout) and was stopped"
    elif code is not None and code < 0:
        sig = -code
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        hint = " (out of memory?)" if sig == signal.SIGKILL else ""
        what = f"was killed by {name}{hint}"
    else:
        what = f"exited with code {code}"
    last = " | ".join(line.strip() for line in tail[-5:] if line.strip())
    return UsageError(f"model.command `{cmd}` {what}; log: {log_path}" + (f"; last output: {last}" if last else ""))


def finish_model_dir(out_dir: Path, signature: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Check the script's output against the contract and write signature.json + MLmodel.json.
    Returns the script's own metrics (metrics.json), removed from the model directory."""
    for name in RESERVED:
        if (out_dir / name).exists():
            raise UsageError(f"model.command: wrote {name} into MLCI_OUTPUT_DIR; that name is mlci's own")
    if not (out_dir / ENTRY_POINT).is_file():
        found = ", ".join(sorted(p.name for p in out_dir.iterdir())) or "nothing"
        raise UsageError(f"model.command: no {ENTRY_POINT} in MLCI_OUTPUT_DIR ({out_dir}); it wrote: {found}. "
                         f"The contract: model files + {ENTRY_POINT} defining load(model_dir) and "
                         "predict(model, dataframe)")
    trainer_metrics: dict[str, Any] = {}
    mpath = out_dir / TRAINER_METRICS
    if mpath.is_file():
        try:
            trainer_metrics = json.loads(mpath.read_text())
        except ValueError as exc:
            raise UsageError(f"model.command: {TRAINER_METRICS} is not valid JSON ({exc})") from None
        if not isinstance(trainer_metrics, dict):
            raise UsageError(f"model.command: {TRAINER_METRICS} must be a JSON object")
        mpath.unlink()
    for cache in list(out_dir.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    for link in [p for p in out_dir.rglob("*") if p.is_symlink()]:
        raise UsageError(f"model.command: {link.relative_to(out_dir)} is a symbolic link; write real files")
    model_signature.write(out_dir, signature)  # type: ignore[arg-type]
    write_meta(out_dir, {"format": "command", "flavor": "command", "entry_point": ENTRY_POINT, **extra})
    return trainer_metrics


def smoke_test(model_dir: Path, X: Any, task: str, classes: list[Any] | None) -> None:
    """Predict a few rows right after training so a broken predict.py fails the train stage."""
    model = command_model.load(model_dir)
    rows = X.head(SMOKE_ROWS)
    try:
        pred = model.predict(rows)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"{model_dir / ENTRY_POINT}: predict() failed on {len(rows)} test rows: "
                         f"{type(exc).__name__}: {exc}") from None
    if pred.ndim != 1 or len(pred) != len(rows):
        raise UsageError(f"{model_dir / ENTRY_POINT}: predict() returned shape {pred.shape} for "
                         f"{len(rows)} rows; expected ({len(rows)},)")
    if task == "classification" and classes is not None:
        unknown = sorted({str(v) for v in pred.tolist()} - {str(c) for c in classes})
        if unknown:
            raise UsageError(f"{model_dir / ENTRY_POINT}: predict() returned {', '.join(unknown[:3])}, "
                             f"not among the classes {classes}; return class labels")
    if hasattr(model, "predict_proba"):
        try:
            proba = model.predict_proba(rows)
        except Exception as exc:
            raise UsageError(f"{model_dir / ENTRY_POINT}: predict_proba() failed: "
                             f"{type(exc).__name__}: {exc}") from None
        want = (len(rows), len(classes or []))
        if proba.shape != want:
            raise UsageError(f"{model_dir / ENTRY_POINT}: predict_proba() returned shape {proba.shape}; "
                             f"expected {want} (one column per class, in MLCI_CLASSES order)")


# --- the trainer ------------------------------------------------------------------------------

def fit(job: Job) -> Trained:
    """Write the split as Parquet, run model.command on it, check what it wrote."""
    project, split = job.project, job.split
    cfg = project.config
    argv = command_argv(cfg.model.command or "", cfg.root)
    features = list(split.X_train.columns)
    categorical = [i["name"] for i in job.signature["inputs"] if i["categorical"]]
    classes = job.signature.get("classes")
    scratch = job.model_dir.parent / ".data"
    log_path = project.workspace / "logs" / f"train-{job.run_id}.log"
    scratch.mkdir(parents=True)
    job.model_dir.mkdir()
    # the columns in their roles' types (mlci.model.prepare), as the server hands them to predict.py
    from mlci.model.prepare import ColumnTypes

    types = ColumnTypes(model_signature.roles(job.signature),  # type: ignore[arg-type]
                        model_signature.missing_texts(job.signature))  # type: ignore[arg-type]
    for name, X, y in (("train", split.X_train, split.y_train), ("test", split.X_test, split.y_test)):
        frame = types.transform(X)
        frame[cfg.data.target] = y
        frame.reset_index(drop=True).to_parquet(scratch / f"{name}.parquet")
    env = contract_env(project, job.run_id, scratch, job.model_dir, features, categorical, classes, job.device,
                       job.signature)

    job.step(f"running {' '.join(shlex.quote(a) for a in argv)} on {len(split.X_train)} rows"
             + (f" ({job.device.describe()})" if job.device is not None else ""))
    t0 = time.perf_counter()
    code, tail, timed_out = run_command(argv, env, cfg.root, log_path, cfg.train.timeout, job.on_output)
    fit_s = time.perf_counter() - t0
    if timed_out or code != 0:
        raise _failure(argv, code, timed_out, cfg.train.timeout, tail, log_path)

    job.step("checking the model")
    trainer_metrics = finish_model_dir(job.model_dir, job.signature, {"name": cfg.name, "run_id": job.run_id,
                                                                      "estimator": "command", "command": argv[1:]})
    smoke_test(job.model_dir, split.X_test, cfg.task, classes)
    shutil.rmtree(scratch)
    shutil.copyfile(log_path, job.model_dir.parent / "train.log")
    return Trained(estimator="command", params=cfg.model.params, fit_s=fit_s,
                   run={"trainer": "command", "command": argv[1:], "trainer_metrics": trainer_metrics},
                   summary={"device": job.device.kind if job.device is not None else "cpu"})
