"""The workspace (.mlci/ beside mlci.yaml), run directories and stage fingerprints.

A run is identified by its training fingerprint: the same data, config and code always map
to the same run directory, so an unchanged rerun finds every stage's result in place.

  .mlci/runs/<run-id>/            model/, run.json, metrics.json, evaluation.json, ...
  .mlci/runs/<run-id>/stages/<stage>.json   fingerprint, status, exit code, timings
  .mlci/runs/LATEST               the run id of the latest training
  .mlci/cache/                    file hashes, stage results shared across runs, models
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from mlci import fingerprint as fp
from mlci.config import Config
from mlci.errors import NotFoundError
from mlci.util import read_json, write_json, write_text

STAGES = ("check", "validate", "train", "evaluate", "publish")


@dataclass
class Project:
    """A config plus its workspace; computes the fingerprints of each stage."""

    config: Config
    workspace: Path = field(init=False)

    def __post_init__(self) -> None:
        self.workspace = Path(os.environ.get("MLCI_WORKSPACE") or self.config.root / ".mlci")
        self.hashes = fp.HashCache(self.workspace / "cache" / "hashes.json")
        self.pins: dict[str, list[Any]] = {}  # role -> sources.PartRecord list

    # --- inputs ---------------------------------------------------------------------------
    DATA_ROLES = ("train", "test", "reference")

    @cached_property
    def data_sources(self) -> dict[str, Any]:
        """data.train, data.test and data.reference as sources (mlci.sources): local files,
        directories, globs or object storage. ``pins`` (role -> part records) fixes a role to
        exact parts, as `mlci reproduce` does."""
        from mlci.sources import open_source

        out = {}
        for role in self.DATA_ROLES:
            spec = getattr(self.config.data, role)
            if spec:
                out[role] = open_source(spec, self.config.root, f"data.{role}", self.pins.get(role))
        return out

    def data_files(self) -> dict[str, Path]:
        """The local files the data settings name (every file of a local directory or glob,
        by role and name; nothing for object storage) and data.schema."""
        files: dict[str, Path] = {}
        for role, source in self.data_sources.items():
            if source.remote:
                continue
            single = source.single_file
            if single is not None:
                files[role] = single
            else:
                files.update({f"{role}/{p.name}": Path(p.location) for p in source.parts()})
        if self.config.data.schema_:
            files["schema"] = self.config.resolve(self.config.data.schema_)
        return files

    @cached_property
    def data_hashes(self) -> dict[str, str]:
        """role -> fingerprint of its data (a single file's sha256; a listing's digest) and data.schema's sha256."""
        out = {role: source.fingerprint(self.hashes) for role, source in self.data_sources.items()}
        if self.config.data.schema_:
            path = self.config.resolve(self.config.data.schema_)
            if not path.is_file():
                from mlci.errors import ConfigError

                raise ConfigError(f"{self.config.path.name}: data.schema: {path} not found")
            out["schema"] = self.hashes.sha256(path)
        self.hashes.save()
        return out

    def data_lineage(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(run.json's `data`: per role its path and fingerprint, and for several files or objects
        their count and bytes; data.json: per role the parts read, with ETags and version ids)."""
        summary, parts = {}, {}
        for role, source in self.data_sources.items():
            summary[role] = source.summary(self.data_hashes[role])
            if source.single_file is None:
                parts[role] = source.part_records(self.hashes)
        if self.config.data.schema_:
            summary["schema"] = {"path": str(self.config.resolve(self.config.data.schema_)),
                                 "sha256": self.data_hashes["schema"]}
        return summary, parts

    @cached_property
    def _code_version(self) -> dict[str, Any]:
        if os.environ.get("MLCI_CODE_VERSION"):  # computed by the host for `train --in-container`
            return json.loads(os.environ["MLCI_CODE_VERSION"])
        exclude = {self.config.path, *self.data_files().values()}
        patterns = fp.code_patterns(self.config.code, self.config.model.command, self.config.root)
        result = fp.code_version(self.config.root, exclude, self.hashes, patterns)
        self.hashes.save()
        return result

    @property
    def code(self) -> dict[str, Any]:
        """The code version (hash, file count, git commit), without the per-file hashes."""
        return {k: v for k, v in self._code_version.items() if k != "by_file"}

    @cached_property
    def versions(self) -> dict[str, str]:
        return fp.library_versions()

    # --- fingerprints ---------------------------------------------------------------------
    def section(self, *names: str) -> dict[str, Any]:
        norm = self.config.normalized()
        return {n: norm.get(n) for n in names}

    def validate_fingerprint(self, reference: dict[str, Any] | None = None) -> str:
        """Data, rules and validation settings, and the model whose statistics drift is
        measured against (when there is one)."""
        return fp.digest({"data": self.data_hashes, "config": self.section("task", "data", "validate"),
                          "reference": reference, "mlci": self.versions["mlci"]})

    def train_inputs(self) -> fp.TrainInputs:
        """What the training fingerprint is made of, recorded in stages/train.json so the next training
        can say what changed (fingerprint.inputs_changes): data hashes, config, code files (or, inside a
        container given only the code version, its hash) and library versions."""
        cfg = self.section("task", "data", "split", "model")
        cfg["data"] = {k: v for k, v in cfg["data"].items() if k not in ("schema", "reference")}
        data = {k: v for k, v in self.data_hashes.items() if k in ("train", "test")}
        return fp.TrainInputs(data=data, config=cfg, code=self._code_version.get("by_file", self.code["hash"]),
                              versions=self.versions)

    def train_fingerprint(self) -> str:
        inputs = self.train_inputs()
        return fp.digest({**inputs, "code": self.code["hash"]})

    def retrain_reasons(self, run_id: str, force: bool) -> list[str]:
        """Why training runs now: what changed since the last training in this workspace (LATEST)."""
        latest = self.runs_dir / "LATEST"
        previous = latest.read_text().strip() if latest.is_file() else None
        if previous == run_id:
            return ["forced (--force); the inputs are those of the last training"] if force else \
                ["the last training of these inputs did not finish"]
        record = Run(previous, self.runs_dir / previous).stage("train") if previous else None
        if record is None:
            return ["no earlier training in this workspace"]
        if "inputs" not in record:
            return [f"inputs differ from run {previous} (its record does not say what they were)"]
        return fp.inputs_changes(record["inputs"], self.train_inputs()) or [f"inputs differ from run {previous}"]

    def run_id(self) -> str:
        return self.train_fingerprint()[:16]

    # --- runs -----------------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return self.workspace / "runs"

    def run(self, run_id: str | None = None, must_exist: bool = True) -> "Run":
        if run_id in (None, "latest"):
            latest = self.runs_dir / "LATEST"
            if not latest.is_file():
                raise NotFoundError(f"{self.runs_dir}: no run yet; run `mlci train` first")
            run_id = latest.read_text().strip()
        path = self.runs_dir / run_id
        if must_exist and not (path / "run.json").is_file():
            raise NotFoundError(f"{path}: no such run (or it never finished training)")
        return Run(run_id, path)

    def set_latest(self, run_id: str) -> None:
        write_text(self.runs_dir / "LATEST", run_id + "\n")

    def open_store(self) -> Any:
        from mlci.store import open_configured

        return open_configured(config=self.config)


@dataclass
class Run:
    run_id: str
    path: Path

    def file(self, name: str) -> Path:
        return self.path / name

    def stage(self, stage: str) -> dict[str, Any] | None:
        p = self.path / "stages" / f"{stage}.json"
        try:
            return read_json(p)
        except (OSError, ValueError):
            return None

    def up_to_date(self, stage: str, fingerprint: str) -> dict[str, Any] | None:
        """The stage's recorded result if it ran with this fingerprint, else None."""
        rec = self.stage(stage)
        if rec and rec.get("fingerprint") == fingerprint and rec.get("exit_code") in (0, 1):
            return rec
        return None

    def record(self, stage: str, fingerprint: str, exit_code: int, started: float,
               summary: dict[str, Any] | None = None, inputs: fp.TrainInputs | None = None) -> dict[str, Any]:
        rec = {"stage": stage, "fingerprint": fingerprint, "exit_code": exit_code,
               "status": "ok" if exit_code == 0 else "failed",
               "started": started, "duration_s": round(time.time() - started, 3), "summary": summary or {}}
        if inputs is not None:
            rec["inputs"] = inputs
        write_json(self.path / "stages" / f"{stage}.json", rec)
        return rec

    def info(self) -> dict[str, Any]:
        return read_json(self.path / "run.json")
