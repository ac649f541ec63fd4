"""Infrastructure checks before a pipeline runs (`mlci doctor`, the mlciSetup step).

Each check returns a Check: ok, warn (worth a look, never fails), fail, or skip (not set up
here). A check is *required* when its flag was given or the configuration uses it (the store
always; Docker and the container registry when image.repository is set or training runs in a
container; the GPU when train.device asks for cuda). A required check that fails makes doctor
exit 3. Secrets come only from the environment and are never shown (URLs are shown without
their user:password part).
"""

from __future__ import annotations

import platform
import shutil
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

VERSIONED = ("scikit-learn", "pandas", "numpy", "scipy", "skops", "pyarrow", "pydantic", "boto3",
             "docker", "python-jenkins", "torch")
TIMEOUT_S = 5.0


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    required: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_required(self) -> bool:
        return self.required and self.status == "fail"


def redact_url(url: str) -> str:
    """The URL without user:password@."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return url


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


# --- the checks --------------------------------------------------------------------------------

def check_versions() -> Check:
    from mlci import __version__

    versions = {"python": platform.python_version(), "mlci": __version__}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    detail = ", ".join(f"{k} {v}" for k, v in versions.items())
    status = "ok" if sys.version_info >= (3, 11) else "warn"
    return Check("versions", status, detail, data=versions)


def check_disk(paths: dict[str, Path], min_free_gb: float) -> list[Check]:
    out = []
    for what, path in paths.items():
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        usage = shutil.disk_usage(probe)
        free_gb = usage.free / 2**30
        pct = 100 * usage.free / usage.total if usage.total else 0
        data = {"path": str(path), "free_gb": round(free_gb, 2), "total_gb": round(usage.total / 2**30, 2),
                "free_pct": round(pct, 1)}
        low = free_gb < min_free_gb
        detail = f"{path}: {free_gb:.1f} GiB free of {usage.total / 2**30:.1f} GiB ({pct:.0f}%)"
        out.append(Check(f"disk ({what})", "warn" if low else "ok",
                         detail + (f"; below {min_free_gb:g} GiB" if low else ""), data=data))
    return out


def check_config(config_path: Path, explicit: bool) -> tuple[Check, Any]:
    from mlci import config
    from mlci.errors import MlciError

    if not config_path.exists() and not explicit:
        return Check("config", "skip", f"{config_path} not found (pass -c PATH to check a project)"), None
    try:
        cfg = config.load(config_path)
    except MlciError as exc:
        return Check("config", "fail", str(exc), required=True), None
    return Check("config", "ok", f"{config_path}: {cfg.name} ({cfg.task})"), cfg


def check_store(uri: str, root: Path | None, required: bool, addressing: str = "auto") -> Check:
    """Write, read back and delete a probe object through the Store API."""
    from mlci.errors import MlciError
    from mlci.store import open_store

    name = "store"
    t0 = time.perf_counter()
    key = f"_doctor/probe-{uuid.uuid4().hex}"
    payload = f"mlci doctor {time.time()}".encode()
    try:
        store = open_store(uri, root, addressing)
        shown = redact_url(str(getattr(store, "uri", uri)))
        store.put_bytes(key, payload)
        back = store.get_bytes(key)
        store.delete(key)
        small = _small_file_path(store, key, payload)
    except (MlciError, OSError) as exc:
        text = _short(exc)
        shown = redact_url(uri)
        return Check(name, "fail", text if text.startswith(shown) else f"{shown}: {text}", required)
    except Exception as exc:  # botocore and friends raise their own types
        return Check(name, "fail", f"{redact_url(uri)}: {type(exc).__name__}: {_short(exc)}", required)
    if back != payload:
        return Check(name, "fail", f"{shown}: read back different bytes than written", required)
    ms = (time.perf_counter() - t0) * 1000
    return Check(name, "ok", f"{shown}: put/get/delete ok ({ms:.0f} ms){small}", required, {"uri": shown})


def _small_file_path(store: Any, key: str, payload: bytes) -> str:
    """On S3, send and fetch a small file as a publish and a fetch do, and say which requests
    carried the probe: mlci's own (store/s3_direct.py; with botocore loaded for its credentials,
    or not at all) or botocore's, and why."""
    if getattr(store, "direct", None) is None:
        return "; requests: botocore's" if hasattr(store, "direct") else ""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mlci-doctor-") as tmp:
        src, dest = Path(tmp) / "probe", Path(tmp) / "back"
        src.write_bytes(payload)
        store.put_file(key, src)
        store.get_file(key, dest, size=len(payload))
        store.delete(key)
        if dest.read_bytes() != payload:
            raise OSError("a small file read back different bytes than written")
    if store.direct.off:
        return f"; requests: botocore's (mlci's own were refused: {store.direct.why})"
    if store.direct.without_botocore:
        return "; requests: mlci's own, botocore not loaded"
    return "; requests: mlci's own, with botocore's credentials"


def check_docker(required: bool) -> Check:
    try:
        import docker
    except ImportError:
        return Check("docker", "fail" if required else "skip", "the docker Python package is not installed", required)
    try:
        client = docker.from_env(timeout=TIMEOUT_S)
        client.ping()
        v = client.version()
    except Exception as exc:
        status = "fail" if required else "skip"
        return Check("docker", status, f"daemon not reachable: {_short(exc)}", required)
    runtimes = {}
    try:
        runtimes = client.info().get("Runtimes") or {}
    except Exception:
        pass
    gpu = "nvidia" in runtimes
    detail = (f"engine {v.get('Version')} (API {v.get('ApiVersion')}, {v.get('Os')}/{v.get('Arch')})"
              + ("; nvidia runtime present" if gpu else ""))
    return Check("docker", "ok", detail, required, {"version": v.get("Version"), "nvidia_runtime": gpu})


def registry_url(repository: str) -> str | None:
    """https://HOST/v2/ for an image repository HOST/path (http for localhost and 127.x, as
    Docker allows); None when the repository has no registry host (Docker Hub)."""
    first = repository.split("/", 1)[0]
    if "/" not in repository or not ("." in first or ":" in first or first == "localhost"):
        return None
    host = first.split(":")[0]
    plain = host == "localhost" or host.startswith("127.") or host == "[::1]"
    return f"{'http' if plain else 'https'}://{first}/v2/"


def check_registry(repository: str | None, required: bool) -> Check:
    import requests

    if not repository:
        return Check("registry", "fail" if required else "skip",
                     "image.repository is not set in mlci.yaml", required)
    url = registry_url(repository)
    if url is None:
        return Check("registry", "skip", f"{repository}: no registry host (Docker Hub is not checked)", required)
    try:
        r = requests.get(url, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        return Check("registry", "fail", f"{url}: unreachable: {_short(exc)}", required)
    if r.status_code == 200:
        return Check("registry", "ok", f"{url}: registry API v2 answers", required, {"url": url})
    if r.status_code == 401:
        return Check("registry", "ok", f"{url}: registry API v2 answers (login required)", required,
                     {"url": url, "auth": True})
    return Check("registry", "fail", f"{url}: HTTP {r.status_code}, not a registry API v2", required)


def check_jenkins(env: dict[str, str], required: bool) -> Check:
    import requests

    url = env.get("JENKINS_URL")
    if not url:
        return Check("jenkins", "fail" if required else "skip", "JENKINS_URL is not set", required)
    user, token = env.get("JENKINS_USER"), env.get("JENKINS_TOKEN")
    api = url.rstrip("/") + "/api/json"
    shown = redact_url(api)
    auth = (user, token) if user and token else None
    try:
        r = requests.get(api, auth=auth, timeout=TIMEOUT_S, params={"tree": "mode,nodeDescription"})
    except requests.RequestException as exc:
        text = _short(exc).replace(token, "***") if token else _short(exc)
        return Check("jenkins", "fail", f"{shown}: unreachable: {text}", required)
    who = f" as {user}" if auth else " anonymously (JENKINS_USER/JENKINS_TOKEN not set)"
    if r.status_code in (401, 403):
        return Check("jenkins", "fail", f"{shown}: HTTP {r.status_code}{who}: credentials rejected or missing",
                     required)
    if r.status_code != 200:
        return Check("jenkins", "fail", f"{shown}: HTTP {r.status_code}", required)
    version = r.headers.get("X-Jenkins", "unknown")
    return Check("jenkins", "ok", f"{redact_url(url)}: Jenkins {version}, authenticated{who}"
                 if auth else f"{redact_url(url)}: Jenkins {version}{who}", required, {"version": version})


def check_gpu(required: bool) -> Check:
    from mlci import devices

    try:
        gpus = devices.query_gpus()
    except devices.GpuQueryFailed as exc:
        return Check("gpu", "fail", str(exc), required)
    if not gpus:
        why = "nvidia-smi not installed" if shutil.which("nvidia-smi") is None else "nvidia-smi lists no GPU"
        return Check("gpu", "fail" if required else "skip", why, required)
    busy = [g for g in gpus if (g.utilization_pct or 0) >= 90 or g.memory_fraction >= 0.9]
    detail = "; ".join(g.describe() for g in gpus)
    status = "warn" if len(busy) == len(gpus) else "ok"
    if status == "warn":
        detail += " (every GPU is busy)"
    return Check("gpu", status, detail, required, {"gpus": [asdict(g) for g in gpus]})


# --- all together ------------------------------------------------------------------------------

def run_checks(config_path: Path, explicit_config: bool, want: dict[str, Any], env: dict[str, str],
               min_free_gb: float = 2.0) -> list[Check]:
    """``want``: docker/gpu/registry/jenkins (bools) and s3 (True, a URI, or None)."""
    checks = [check_versions()]
    cfg_check, cfg = check_config(config_path, explicit_config)
    checks.append(cfg_check)

    workspace = (Path(env["MLCI_WORKSPACE"]) if env.get("MLCI_WORKSPACE") else
                 (cfg.root / ".mlci" if cfg is not None else Path.cwd()))
    disk_paths = {"workspace": workspace}
    store_uri = cfg.store.uri if cfg is not None else env.get("MLCI_STORE")
    root = cfg.root if cfg is not None else Path.cwd()
    if store_uri and not store_uri.startswith("s3://"):
        p = Path(store_uri).expanduser()
        disk_paths["store"] = p if p.is_absolute() else root / p
    checks += check_disk(disk_paths, min_free_gb)

    s3 = want.get("s3")
    addressing = cfg.store.addressing if cfg is not None else "auto"
    if isinstance(s3, str):
        checks.append(check_store(s3, root, True, addressing))
    elif s3:
        if store_uri and store_uri.startswith("s3://"):
            checks.append(check_store(store_uri, root, True, addressing))
        else:
            checks.append(Check("store", "fail", f"--s3: the configured store is not S3 ({store_uri or 'none'}); "
                                "pass --s3 s3://bucket/prefix", True))
    elif store_uri:
        checks.append(check_store(store_uri, root, True, addressing))

    repository = cfg.image.repository if cfg is not None else None
    if isinstance(want.get("registry"), str):
        repository = want["registry"].rstrip("/") + "/mlci-doctor"
    in_container = bool(cfg is not None and cfg.train.in_container)
    checks.append(check_docker(bool(want.get("docker")) or bool(repository) or in_container))
    checks.append(check_registry(repository, bool(want.get("registry")) or bool(repository)))
    checks.append(check_jenkins(env, bool(want.get("jenkins"))))
    cuda = bool(cfg is not None and cfg.train.device.startswith(("cuda", "gpu")))
    checks.append(check_gpu(bool(want.get("gpu")) or cuda))
    return checks


def exit_code(checks: list[Check]) -> int:
    """3 when required infrastructure failed; 2 when only mlci.yaml is invalid; else 0."""
    if any(c.failed_required for c in checks if c.name != "config"):
        return 3
    return 2 if any(c.failed_required for c in checks) else 0


def as_json(checks: list[Check]) -> dict[str, Any]:
    code = exit_code(checks)
    return {"ok": code == 0, "exit_code": code, "checks": [asdict(c) for c in checks]}
