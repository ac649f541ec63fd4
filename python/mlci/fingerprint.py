"""Fingerprints: what a stage's result depends on, hashed, so unchanged work is skipped.

A stage's fingerprint covers the data files' content hashes, the parts of the normalized
config the stage reads, the code version of the project directory (the files that define
training: Python files, requirement files, the trainer command's files, or mlci.yaml's `code:`
list) and the versions of mlci and the key libraries. Content hashes of large files are cached by (size, mtime) so an
unchanged rerun does not re-read the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, TypedDict


from mlci.util import HashCache, glob_regex  # HashCache lives in util since the store uses it too

# never part of the code version: mlci's own workspace and tool caches (they change by running)
IGNORED_PARTS = {".mlci", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".ipynb_checkpoints",
                 ".git", ".venv"}

KEY_LIBRARIES = ("scikit-learn", "numpy", "pandas", "scipy", "skops", "pyarrow")


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def library_versions() -> dict[str, str]:
    from mlci import __version__

    out = {"mlci": __version__}
    for name in KEY_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _git(root: Path, *args: str) -> str | None:
    try:
        r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


# What counts as code when mlci.yaml has no `code:` list: the files that change what training does.
# Logs, READMEs, notebooks' outputs, archived reports and other files next to mlci.yaml do not.
DEFAULT_CODE = (
    "**/*.py",
    "**/requirements*.txt", "**/requirements/*.txt", "**/constraints*.txt",
    "**/pyproject.toml", "**/setup.py", "**/setup.cfg",
    "**/Pipfile", "**/Pipfile.lock", "**/poetry.lock", "**/uv.lock",
    "**/environment.yml", "**/environment.yaml", "**/conda.yml", "**/conda.yaml",
)


def command_files(command: str | None, root: Path) -> list[str]:
    """The files a `trainer: command` names (e.g. `Rscript train.R --fast` -> train.R), relative to root."""
    if not command:
        return []
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    found = []
    for word in words:
        path = (root / word) if not os.path.isabs(word) else Path(word)
        try:
            if path.is_file() and path.resolve().is_relative_to(root.resolve()):
                found.append(path.resolve().relative_to(root.resolve()).as_posix())
        except (OSError, ValueError):
            continue
    return found


def code_patterns(code: list[str] | None, command: str | None, root: Path) -> list[str]:
    """mlci.yaml's `code:` list when it has one (exactly those files), else DEFAULT_CODE plus the
    trainer command's files."""
    if code is not None:
        return list(code)
    return [*DEFAULT_CODE, *command_files(command, root)]


def code_version(root: Path, exclude: set[Path], cache: HashCache, patterns: list[str]) -> dict[str, Any]:
    """The project's code: the files under ``root`` that git would track (tracked or untracked,
    not ignored; outside git every file but .mlci/ and tool caches) and that match ``patterns``
    (see code_patterns), hashed by content, minus ``exclude`` (the config and data files, which
    are fingerprinted on their own)."""
    matchers = [glob_regex(p) for p in patterns]
    listing = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ".")
    if listing is not None:
        files = [root / p for p in listing.split("\0") if p]
        commit = (_git(root, "rev-parse", "HEAD") or "").strip() or None
    else:
        files = []
        for dirpath, dirnames, names in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in IGNORED_PARTS]
            files += [Path(dirpath, n) for n in names]
        commit = None
    files = [f for f in files if not IGNORED_PARTS.intersection(f.relative_to(root).parts)
             and f.suffix not in {".pyc", ".pyo"}]
    excluded = {p.resolve() for p in exclude}
    entries = []
    for f in sorted(files):
        rel = f.relative_to(root).as_posix()
        if not f.is_file() or f.resolve() in excluded or not any(m.match(rel) for m in matchers):
            continue
        entries.append((rel, cache.sha256(f)))
    dirty = None
    if commit:
        dirty = bool((_git(root, "status", "--porcelain", "--", ".") or "").strip())
    return {"hash": digest(entries), "files": len(entries), "git_commit": commit, "git_dirty": dirty,
            "by_file": dict(entries)}


class TrainInputs(TypedDict):
    """What a training fingerprint is made of (runs.Project.train_inputs writes it into stages/train.json;
    inputs_changes reads two of them)."""

    data: dict[str, str]  # role (train, test) -> sha256
    config: dict[str, Any]  # the config sections training reads (task, data, split, model)
    code: dict[str, str] | str  # relative path -> sha256; the code version's hash where only that is known
    versions: dict[str, str]  # mlci and the key libraries


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict) and obj:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: obj}


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def _code_hash(code: Any) -> Any:
    """The code version's hash from either form a record holds (per-file hashes, or the hash itself)."""
    return digest(sorted([path, sha] for path, sha in code.items())) if isinstance(code, dict) else code


def _entry_changes(template: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """`<name> added|removed|changed` for each entry of two name -> hash maps that differs."""
    out = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            out.append(template.format(name, "added"))
        elif name not in new:
            out.append(template.format(name, "removed"))
        elif old[name] != new[name]:
            out.append(template.format(name, "changed"))
    return out


def inputs_changes(before: TrainInputs, after: TrainInputs) -> list[str]:
    """What changed between two records of a training's inputs ({data, config, code, versions}), as
    `dvc status` names it: data files, config fields (dotted, old -> new), code files, library versions."""
    changes = _entry_changes("data.{} {}", before.get("data") or {}, after.get("data") or {})
    old_cfg, new_cfg = _flat(before.get("config") or {}), _flat(after.get("config") or {})
    for key in sorted(set(old_cfg) | set(new_cfg)):
        if old_cfg.get(key) != new_cfg.get(key):
            changes.append(f"config {key}: {_short(old_cfg.get(key))} -> {_short(new_cfg.get(key))}")
    old_code, new_code = before.get("code"), after.get("code")
    if isinstance(old_code, dict) and isinstance(new_code, dict):
        changes += _entry_changes("code {} {}", old_code, new_code)
    elif _code_hash(old_code) != _code_hash(new_code):
        changes.append("code changed")
    old_v, new_v = before.get("versions") or {}, after.get("versions") or {}
    for name in sorted(set(old_v) | set(new_v)):
        if old_v.get(name) != new_v.get(name):
            changes.append(f"{name} {old_v.get(name) or 'absent'} -> {new_v.get(name) or 'absent'}")
    return changes
