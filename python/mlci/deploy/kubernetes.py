"""Kubernetes: a Deployment and a Service rendered from jinja2 templates, applied with kubectl.

The Deployment names the image by digest, probes /health (readiness and liveness), carries
the model/version/environment labels, asks for ``nvidia.com/gpu`` when the environment wants
GPUs, and rolls out with maxUnavailable 0: the old pods keep serving until new ones are ready.
``kubectl rollout status --timeout`` gates the deploy; when it fails, ``kubectl rollout undo``
returns the Deployment to the previous version and the deploy exits 1.

With ``--render-only DIR`` the manifests are written for a GitOps repository and nothing is
applied.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

from mlci.deploy import core
from mlci.errors import CheckFailed, InfraError, UsageError
from mlci.retry import retry

log = logging.getLogger(__name__)

FILES = ("deployment.yaml", "service.yaml")
# kubectl's messages when the API server cannot be reached (worth a retry, then exit 3)
_UNREACHABLE = ("unable to connect to the server", "the connection to the server", "connection refused",
                "i/o timeout", "no such host",
                "tls handshake timeout", "the server is currently unable", "context deadline exceeded")


def render(cfg: Any, env_name: str, env: Any, rel: core.Release) -> dict[str, str]:
    """{file name: manifest text} for the release in the environment."""
    import jinja2

    name = core.resource_name(rel.model, env_name)
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "mlci",
              "mlci.org/model": rel.model, "mlci.org/environment": env_name, "mlci.org/version": str(rel.version)}
    limits: dict[str, Any] = {}
    requests: dict[str, Any] = {}
    if env.cpus:
        limits["cpu"] = requests["cpu"] = _cpu(env.cpus)
    if env.memory:
        limits["memory"] = requests["memory"] = _memory(env.memory)
    if env.gpus:
        limits["nvidia.com/gpu"] = int(env.gpus)
    loader = jinja2.PackageLoader("mlci", "templates/deploy")
    jenv = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              autoescape=False)  # noqa: S701 - YAML, values go through tojson
    values = {"name": name, "namespace": env.namespace, "labels": labels, "model": rel.model,
              "version": rel.version, "environment": env_name, "digest": rel.digest, "image": rel.image,
              "replicas": env.replicas, "container_port": cfg.image.port, "port": env.port,
              "env": dict(env.env), "limits": limits, "requests": requests, "service_type": env.service_type,
              "image_pull_secret": env.image_pull_secret, "stop_timeout": env.stop_timeout,
              "liveness_delay": int(min(env.health_timeout, 60))}
    return {f: jenv.get_template(f + ".j2").render(**values) for f in FILES}


def _cpu(cores: float) -> str:
    return str(int(cores)) if float(cores).is_integer() else f"{int(round(cores * 1000))}m"


def _memory(size: str) -> str:
    """Docker-style 2g / 512m -> Kubernetes 2Gi / 512Mi; Kubernetes units pass unchanged."""
    unit = size[-1]
    if unit in "kmgtKMGT":
        return size[:-1] + unit.upper() + "i"
    return size


def write(manifests: dict[str, str], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for fname, text in manifests.items():
        path = directory / fname
        path.write_text(text)
        out.append(path)
    return out


def kubectl_base(env: Any) -> list[str]:
    exe = shutil.which("kubectl")
    if not exe:
        raise UsageError("kubectl not found on PATH; install it (with a kubeconfig for the cluster) or use "
                         "`mlci deploy --render-only DIR` and apply the manifests with your GitOps tool")
    cmd = [exe]
    if env.context:
        cmd += ["--context", env.context]
    return cmd + ["--namespace", env.namespace]


class _Unreachable(Exception):
    pass


def kubectl(env: Any, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run kubectl (argument list, never a shell); retry while the API server is unreachable."""
    cmd = [*kubectl_base(env), *args]

    def attempt() -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 and any(s in proc.stderr.lower() for s in _UNREACHABLE):
            raise _Unreachable(proc.stderr.strip().splitlines()[-1])
        return proc

    return retry(attempt, what=f"kubectl {args[0]}", on=(_Unreachable,))


def deploy(cfg: Any, env_name: str, env: Any, rel: core.Release,
           step: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    name = core.resource_name(rel.model, env_name)
    manifests = render(cfg, env_name, env, rel)
    with tempfile.TemporaryDirectory(prefix="mlci-deploy-") as tmp:
        write(manifests, Path(tmp))
        step(f"kubectl apply ({env.namespace}/{name}, {rel.image})")
        applied = kubectl(env, "apply", "-f", tmp)
        if applied.returncode != 0:
            raise UsageError(f"kubectl apply failed: {_last(applied)}")
    step(f"kubectl rollout status deployment/{name} (up to {env.rollout_timeout}s)")
    status = kubectl(env, "rollout", "status", f"deployment/{name}", f"--timeout={env.rollout_timeout}s",
                     timeout=env.rollout_timeout + 60)
    if status.returncode != 0:
        undo = kubectl(env, "rollout", "undo", f"deployment/{name}")
        undone = "rolled back with `kubectl rollout undo`" if undo.returncode == 0 else \
            f"`kubectl rollout undo` failed too: {_last(undo)}"
        raise CheckFailed(f"{rel.model} v{rel.version} not deployed to {env_name}: rollout did not become ready: "
                          f"{_last(status)} ({undone}; the old pods kept serving)")
    result: dict[str, Any] = {"deployment": f"{env.namespace}/{name}", "url": env.url}
    if env.url:
        step(f"smoke test on {env.url}")
        try:
            result["smoke"] = core.smoke(env.url, core.examples(cfg, env), cfg.image.verify.tolerance)
        except CheckFailed as exc:
            kubectl(env, "rollout", "undo", f"deployment/{name}")
            raise CheckFailed(f"{rel.model} v{rel.version} not deployed to {env_name}: {exc} "
                              "(rolled back with `kubectl rollout undo`)") from None
    else:
        result["smoke"] = None
        log.info("no url for %s: post-deploy smoke test skipped (rollout status gated the deploy)", env_name)
    return result


def _last(proc: subprocess.CompletedProcess[str]) -> str:
    text = (proc.stderr or proc.stdout or "").strip()
    return text.splitlines()[-1] if text else f"exit status {proc.returncode}"


def state(env_name: str, env: Any, model: str) -> dict[str, Any]:
    """The Deployment's live state from kubectl (never raises)."""
    import json

    from mlci.errors import MlciError

    name = core.resource_name(model, env_name)
    if not shutil.which("kubectl"):
        return {"state": "unknown", "detail": "kubectl not on PATH", "deployment": f"{env.namespace}/{name}"}
    try:
        proc = kubectl(env, "get", "deployment", name, "-o", "json", timeout=60)
    except (MlciError, InfraError, OSError, subprocess.TimeoutExpired) as exc:
        return {"state": "unreachable", "detail": str(exc)}
    if proc.returncode != 0:
        return {"state": "absent" if "notfound" in proc.stderr.replace(" ", "").lower() else "error",
                "detail": _last(proc), "deployment": f"{env.namespace}/{name}"}
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        return {"state": "error", "detail": "kubectl printed no JSON"}
    st = doc.get("status", {})
    want = doc.get("spec", {}).get("replicas", 0)
    ready = st.get("readyReplicas", 0) or 0
    labels = doc.get("metadata", {}).get("labels", {})
    return {"state": "healthy" if ready >= want else "progressing", "deployment": f"{env.namespace}/{name}",
            "version": labels.get("mlci.org/version"),
            "digest": doc.get("metadata", {}).get("annotations", {}).get("mlci.org/image-digest"),
            "ready": f"{ready}/{want}"}

