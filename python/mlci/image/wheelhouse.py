"""The dependency wheels for the image, built on the host with `pip wheel` and cached.

The image installs them with ``pip install --no-index``, so `docker build` needs no package
index (builds work air-gapped; images here cannot reach one). The requirement set is what
`mlci serve` needs (numpy, scipy, scikit-learn, skops, pandas, orjson and their dependencies),
each pinned to the version installed on the host, so the image loads the model with exactly the
library versions that trained it. The wheelhouse is cached under
$MLCI_CACHE (default ~/.cache/mlci)/wheelhouse/<hash of requirements and Python>.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from mlci.errors import InfraError, UsageError

log = logging.getLogger(__name__)

# pydantic and pyyaml: `mlci serve` reads mlci.yaml settings (monitor.log) when one is mounted
SERVE_REQUIREMENTS = ("numpy", "scipy", "scikit-learn", "skops", "pandas", "pydantic", "pyyaml", "orjson")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements(extra: list[str] | None = None) -> list[str]:
    """The serving requirements and their dependencies, pinned to the host's versions."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    env = default_environment()
    seen: dict[str, str] = {}
    todo = list(SERVE_REQUIREMENTS)
    while todo:
        name = _canonical(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise UsageError(f"{name} is not installed on this host; the image pins the host's versions") from None
        seen[name] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue
            todo.append(req.name)
    pins = [f"{n}=={v}" for n, v in sorted(seen.items())]
    return pins + list(extra or [])


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def cache_root() -> Path:
    return Path(os.environ.get("MLCI_CACHE") or Path.home() / ".cache" / "mlci")


def ensure(requirements: list[str], prebuilt: Path | None = None) -> Path:
    """A directory of wheels with requirements.txt; built once per requirement set."""
    if prebuilt is not None:
        if not prebuilt.is_dir():
            raise UsageError(f"image.wheelhouse: {prebuilt} is not a directory")
        if not (prebuilt / "requirements.txt").is_file():
            (prebuilt / "requirements.txt").write_text("\n".join(requirements) + "\n")
        return prebuilt
    key = hashlib.sha256(("\n".join(requirements) + f"\npy{python_version()}\n{sys.platform}").encode()).hexdigest()[:16]
    target = cache_root() / "wheelhouse" / key
    if (target / "requirements.txt").is_file():
        return target
    tmp = target.with_name(f".{key}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "requirements.in").write_text("\n".join(requirements) + "\n")
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
           "--wheel-dir", str(tmp), "-r", str(tmp / "requirements.in")]
    log.info("building the wheelhouse: %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise InfraError(f"pip wheel failed (is a package index or image.wheelhouse available?): "
                         f"{' / '.join(tail)}")
    (tmp / "requirements.in").rename(tmp / "requirements.txt")
    try:
        tmp.rename(target)
    except OSError:  # another build made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target
