"""Which model an image is for, and where its records are kept.

  --run RUN_ID|DIR           a training run (default: the latest run); records in the run dir
  --model NAME@VERSION|ALIAS a registered version, fetched from the store into the cache;
                             records in .mlci/images/<name>-v<version>/

Records: image.json (build), image-verify.json (verify), image-push.json (push).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.errors import NotFoundError, UsageError

BUILD_FILE = "image.json"
VERIFY_FILE = "image-verify.json"
PUSH_FILE = "image-push.json"


@dataclass
class Target:
    name: str
    model_dir: Path
    records: Path
    version: int | None = None
    run_id: str | None = None
    fingerprint: str | None = None
    registry_record: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def tag(self) -> str:
        """The image tag for this model: v<version> when registered, else the run id."""
        if self.version is not None:
            return f"v{self.version}"
        return f"run-{(self.run_id or 'local')[:16]}"

    def read(self, name: str) -> dict[str, Any] | None:
        path = self.records / name
        if not path.is_file():
            return None
        return json.loads(path.read_text())

    def write(self, name: str, data: dict[str, Any]) -> Path:
        from mlci.runs import write_json

        path = self.records / name
        write_json(path, data)
        return path


def select(cfg: Any, model: str | None, run: str | None) -> Target:
    from mlci.model import META_FILE, read_meta
    from mlci.runs import Project

    if model and run:
        raise UsageError("give --model or --run, not both")
    project = Project(cfg)
    if model:
        from mlci.serve.resolve import resolve_model

        if "@" not in model and Path(model).exists():
            raise UsageError(f"--model {model}: expected NAME@VERSION or NAME@ALIAS; use --run for a run directory")
        model_dir, _, info = resolve_model(model, str(cfg.path), None)
        from mlci.registry import Registry

        record = Registry(project.open_store(), info["name"]).get(int(info["version"]))
        records = project.workspace / "images" / f"{info['name']}-v{info['version']}"
        return Target(info["name"], model_dir, records, int(info["version"]), record.get("run_id"),
                      record.get("fingerprint"), record)
    if run and (Path(run).is_dir() or "/" in run):
        run_dir = Path(run)
        if not run_dir.is_dir():
            raise NotFoundError(f"--run {run}: no such directory")
        run_id = run_dir.name
    else:
        r = project.run(run or "latest")
        run_dir, run_id = r.path, r.run_id
    model_dir = run_dir / "model"
    if not (model_dir / META_FILE).is_file():
        raise NotFoundError(f"{run_dir}: no trained model (model/{META_FILE}); run `mlci train` first")
    meta = read_meta(model_dir)
    version = None
    fingerprint = None
    record = None
    publish = run_dir / "publish.json"
    if publish.is_file():
        version = json.loads(publish.read_text()).get("version")
    info_path = run_dir / "run.json"
    if info_path.is_file():
        fingerprint = json.loads(info_path.read_text()).get("fingerprint")
    if version is not None:
        try:
            from mlci.registry import Registry

            record = Registry(project.open_store(), cfg.name).get(int(version))
        except Exception:  # the store may be elsewhere; the run's own record still names the version
            record = None
    return Target(str(meta.get("name") or cfg.name), model_dir, run_dir, version, run_id, fingerprint, record)


def git_commit(root: Path) -> str | None:
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def git_remote(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    url = out.stdout.strip()
    if out.returncode != 0 or not url or "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        return None  # never put credentials embedded in a remote URL into a label
    return url
