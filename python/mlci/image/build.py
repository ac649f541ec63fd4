"""`mlci image build`: render the Dockerfile, assemble the context, build with the docker SDK.

The context holds: wheels/ (the wheelhouse), app/ (the mlci package itself, copied from
wherever it is imported), model/ (the model directory) and the rendered Dockerfile, which is
also kept beside image.json for people to read.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from mlci.errors import InfraError, UsageError
from mlci.image import docker as dockerlib
from mlci.image import wheelhouse
from mlci.image.target import BUILD_FILE, Target, git_commit, git_remote

log = logging.getLogger(__name__)

UID = 10001
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
PYTHON = "python3"


def _dq(value: Any) -> str:
    """A double-quoted Dockerfile word: no variable expansion, quotes escaped, one line."""
    text = str(value if value is not None else "")
    if "\n" in text or "\r" in text:
        raise UsageError(f"image label/env value {text[:40]!r}... contains a line break")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def render(**values: Any) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("mlci", "templates/image"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.filters["dq"] = _dq
    return env.get_template("Dockerfile.j2").render(**values)


def image_name(cfg: Any) -> str:
    return cfg.image.repository or f"mlci/{cfg.name.lower()}"


def labels_for(cfg: Any, target: Target, created: str) -> dict[str, str]:
    from mlci import __version__

    commit = git_commit(cfg.root)
    labels = {
        "org.opencontainers.image.title": target.name,
        "org.opencontainers.image.description": f"mlci model server for {target.name}",
        "org.opencontainers.image.version": target.tag,
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.base.name": cfg.image.base,
        "org.mlci.model.name": target.name,
        "org.mlci.model.version": "" if target.version is None else str(target.version),
        "org.mlci.model.fingerprint": target.fingerprint or "",
        "org.mlci.model.run-id": target.run_id or "",
        "org.mlci.version": __version__,
    }
    if commit:
        labels["org.opencontainers.image.revision"] = commit
    remote = git_remote(cfg.root)
    if remote:
        labels["org.opencontainers.image.source"] = remote
    labels.update(cfg.image.labels)
    return labels


FIXED_MTIME = 946684800  # 2000-01-01: layers from the same files are byte-identical, cache or not


def _copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))
    for path in sorted(dest.rglob("*"), reverse=True):
        if not path.is_symlink():
            # readable by the image's non-root user whatever the source's mode (store
            # downloads are private to their owner)
            path.chmod(0o755 if path.is_dir() else 0o644)
        os.utime(path, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)
    dest.chmod(0o755)
    os.utime(dest, (FIXED_MTIME, FIXED_MTIME))


def _link_or_copy(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file():
            try:
                (dest / f.name).hardlink_to(f)
            except OSError:
                shutil.copy2(f, dest / f.name)


def build(cfg: Any, target: Target, on_line: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the image; returns (and writes to image.json) what was built."""
    import mlci

    started = time.monotonic()
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    client = dockerlib.client()
    _ensure_base(client, cfg.image.base)
    prebuilt = cfg.resolve(cfg.image.wheelhouse) if cfg.image.wheelhouse else None
    requirements = wheelhouse.pinned_requirements(cfg.image.requirements)
    wheels = wheelhouse.ensure(requirements, prebuilt)
    labels = labels_for(cfg, target, created)
    dockerfile = render(
        mlci_version=mlci.__version__, base=cfg.image.base, python=PYTHON,
        python_version=wheelhouse.python_version(), uid=UID, port=cfg.image.port, workers=cfg.image.workers,
        trusted=",".join(cfg.model.trusted_types), model_name=target.name,
        model_version="" if target.version is None else str(target.version),
        model_fingerprint=target.fingerprint or "", labels=labels)
    repo = image_name(cfg)
    tag = f"{repo}:{target.tag}"
    with tempfile.TemporaryDirectory(prefix="mlci-image-") as tmp:
        ctx = Path(tmp)
        _link_or_copy(wheels, ctx / "wheels")
        _copy_tree(Path(mlci.__file__).parent, ctx / "app" / "mlci")
        _copy_tree(target.model_dir, ctx / "model")
        (ctx / "Dockerfile").write_text(dockerfile)
        log_lines, image_id = _docker_build(client, ctx, tag, cfg.image.base, on_line)
    cached = sum(1 for line in log_lines if "Using cache" in line)
    image = client.images.get(image_id)
    layers = image.attrs.get("RootFS", {}).get("Layers", [])
    result = {
        "image_id": image_id, "tag": tag, "repository": repo, "base": cfg.image.base,
        "model": {"name": target.name, "version": target.version, "run_id": target.run_id,
                  "fingerprint": target.fingerprint},
        "labels": labels, "layers": layers, "size_bytes": image.attrs.get("Size"),
        "cached_steps": cached, "created": created, "port": cfg.image.port,
        "build_seconds": round(time.monotonic() - started, 2), "requirements": requirements,
    }
    target.records.mkdir(parents=True, exist_ok=True)
    (target.records / "Dockerfile").write_text(dockerfile)
    target.write(BUILD_FILE, result)
    return result


def _ensure_base(client: Any, base: str) -> None:
    """The base image must be on the daemon or pullable; say so clearly before building."""
    import docker

    try:
        client.images.get(base)
        return
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise InfraError(f"Docker daemon: {exc}") from None
    try:
        client.images.pull(base)
    except docker.errors.APIError as exc:
        detail = str(getattr(exc, "explanation", None) or exc).splitlines()[0]
        raise UsageError(f"image.base {base!r}: not available to the Docker daemon and cannot be pulled "
                         f"({detail}); load or build it first (see docker/base-image/)") from None


def _docker_build(client: Any, ctx: Path, tag: str, base: str,
                  on_line: Callable[[str], None] | None) -> tuple[list[str], str]:
    import docker
    import requests

    lines: list[str] = []
    image_id = None
    try:
        stream = client.api.build(path=str(ctx), tag=tag, rm=True, forcerm=True, pull=False, decode=True,
                                  labels=None)
        for chunk in stream:
            if "error" in chunk:
                _raise_build_error(str(chunk["error"]).strip(), base, lines)
            text = chunk.get("stream")
            if text:
                text = _ANSI.sub("", text)
                for line in text.rstrip("\n").splitlines():
                    if line.strip():
                        lines.append(line)
                        log.info("docker: %s", line)
                        if on_line:
                            on_line(line)
            aux = chunk.get("aux") or {}
            if "ID" in aux:
                image_id = aux["ID"]
    except (docker.errors.APIError, docker.errors.BuildError) as exc:
        _raise_build_error(str(exc), base, lines)
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
        raise InfraError(f"Docker daemon: {exc}") from None
    if image_id is None:
        m = next((re.search(r"Successfully built ([0-9a-f]+)", line) for line in reversed(lines)
                  if "Successfully built" in line), None)
        if not m:
            raise InfraError("docker build finished without an image id; see the log above")
        image_id = client.images.get(m.group(1)).id
    return lines, image_id


def _raise_build_error(message: str, base: str, lines: list[str]) -> None:
    low = message.lower()
    mismatch = [line for line in [*lines, message]
                if line.startswith("the base image") and "has Python" in line and "wheelhouse" in line]
    if mismatch:  # the Dockerfile's own check of the base image's Python
        raise UsageError(mismatch[-1].strip())
    if "pull access denied" in low or "manifest unknown" in low:
        raise UsageError(f"image.base {base!r}: not available to the Docker daemon and cannot be pulled "
                         f"({message.splitlines()[0]}); load or build it first (see docker/base-image/)")
    tail = " / ".join(lines[-3:])
    raise UsageError(f"docker build failed: {message}" + (f" (last output: {tail})" if tail else ""))
