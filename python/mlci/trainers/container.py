"""`mlci train --in-container`: the same training, inside the agent image.

The project directory is bind-mounted at the same path (so every path in run.json is the one
the host sees), the container runs ``python3 -m mlci train --no-container`` as the calling
user (files in .mlci/ stay the user's), and the chosen GPU is passed through with a Docker
DeviceRequest (the NVIDIA container runtime makes it the container's only GPU). The host
computes the project's code version (git is often absent from training images) and hands it
in, so the run id is the same as a training on the host with the same libraries.

The image needs python3 with mlci (and the trainer's libraries: torch for a PyTorch script);
docker/agent-cpu and docker/agent-cuda are such images. Exit codes are the inner training's.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable

from mlci.errors import CheckFailed, InfraError, MlciError, UsageError
from mlci.trainers.settings import DEFAULT_CPU_IMAGE, DEFAULT_CUDA_IMAGE

log = logging.getLogger(__name__)

FORWARDED_ENV = ("MLCI_RETRIES", "MLCI_RETRY_DELAY", "MLCI_DEBUG")
# data in object storage: the training inside lists and reads it with the agent's endpoint and
# credentials (the AWS conventions), passed in the container's environment, never on a command line
S3_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
          "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
          "AWS_CA_BUNDLE")


def forwarded_env(project: Any) -> dict[str, str]:
    """The agent's variables the training inside needs: mlci's retry settings, and the S3 settings
    when a data source is in object storage."""
    names = list(FORWARDED_ENV)
    if any(source.remote for source in project.data_sources.values()):
        names += S3_ENV
    return {k: os.environ[k] for k in names if k in os.environ}


def inner_error(code: int, tail: list[str], image: str) -> MlciError:
    """The error of the training inside: its own one-line message, its exit code."""
    prefix = "mlci train: error: "
    message = next((t[len(prefix):] for t in reversed(tail) if t.startswith(prefix)), None)
    message = message or f"training in {image} exited with code {code}: " + " | ".join(tail[-3:])
    cls = {1: CheckFailed, 2: UsageError, 3: InfraError}.get(code)
    if cls is not None:
        return cls(message)
    err = MlciError(message)
    err.exit_code = code
    return err


def choose_image(cfg: Any, device: Any, image: str | None) -> str:
    if image:
        return image
    if cfg.train.container.image:
        return cfg.train.container.image
    return DEFAULT_CUDA_IMAGE if device.kind == "cuda" else DEFAULT_CPU_IMAGE


def mounts(project: Any) -> dict[str, dict[str, str]]:
    """Bind mounts: the project, the workspace and data outside the project, extra volumes."""
    cfg = project.config
    root = cfg.root.resolve()
    binds: dict[str, dict[str, str]] = {str(root): {"bind": str(root), "mode": "rw"}}

    def inside(p: Path) -> bool:
        return any(p == b or b in p.parents for b in map(Path, binds))

    ws = project.workspace.resolve()
    if not inside(ws):
        ws.mkdir(parents=True, exist_ok=True)
        binds[str(ws)] = {"bind": str(ws), "mode": "rw"}
    for path in project.data_files().values():
        parent = path.resolve().parent
        if not inside(parent):
            binds[str(parent)] = {"bind": str(parent), "mode": "ro"}
    for i, spec in enumerate(cfg.train.container.volumes):
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1] or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise UsageError(f"train.container.volumes[{i}]: {spec!r}: expected HOST:CONTAINER or HOST:CONTAINER:ro")
        host = Path(parts[0]).expanduser()
        host = host if host.is_absolute() else cfg.root / host
        if not host.exists():
            raise UsageError(f"train.container.volumes[{i}]: {host} does not exist")
        binds[str(host.resolve())] = {"bind": parts[1], "mode": parts[2] if len(parts) == 3 else "rw"}
    return binds


def device_requests(device: Any) -> list[Any]:
    if device.kind != "cuda":
        return []
    import docker

    ids = [str(device.gpu.index)] if device.gpu is not None else None
    return [docker.types.DeviceRequest(device_ids=ids, count=None if ids else -1, capabilities=[["gpu"]])]


def inner_command(project: Any, device: Any, force: bool) -> list[str]:
    argv = ["python3", "-m", "mlci", "train", "-c", str(project.config.path), "--no-container",
            "--device", "cuda" if device.kind == "cuda" else "cpu", "--json"]
    if force:
        argv.append("--force")
    return argv


def train_in_container(project: Any, device: Any, image: str | None = None, force: bool = False,
                       on_output: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the training in a container, streaming its log; return the inner training's summary
    (what `mlci train --json` prints). A failing inner training raises the error type of its
    exit code, with its message."""
    try:
        import docker
        from docker.errors import APIError, DockerException, ImageNotFound
    except ImportError:  # pragma: no cover - docker is a dependency
        raise InfraError("the docker Python package is not installed") from None
    cfg = project.config
    emit = on_output or (lambda line: log.info("container: %s", line))
    image = choose_image(cfg, device, image)
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as exc:
        raise InfraError(f"--in-container: Docker daemon not reachable: {str(exc).splitlines()[0]}") from None
    try:
        client.images.get(image)
    except ImageNotFound:
        try:
            emit(f"pulling {image}")
            client.images.pull(image)
        except DockerException as exc:
            raise UsageError(f"--in-container: image {image} is not on this host and cannot be pulled: "
                             f"{str(exc).splitlines()[0]} (build docker/agent-cpu or docker/agent-cuda, "
                             "or set train.container.image)") from None

    env = {"MLCI_IN_CONTAINER": "1", "HOME": "/tmp", "PYTHONUNBUFFERED": "1",
           "MLCI_CODE_VERSION": json.dumps(project.code), "COLUMNS": os.environ.get("COLUMNS", "120")}
    if os.environ.get("MLCI_WORKSPACE"):
        env["MLCI_WORKSPACE"] = str(project.workspace.resolve())
    env.update(forwarded_env(project))
    env.update(cfg.train.container.env)
    kwargs: dict[str, Any] = {
        "command": inner_command(project, device, force), "environment": env,
        "volumes": mounts(project), "working_dir": str(cfg.root.resolve()),
        "user": f"{os.getuid()}:{os.getgid()}", "detach": True,
        "labels": {"org.mlci.run": "train", "org.mlci.model": cfg.name},
        "device_requests": device_requests(device),
    }
    if cfg.train.container.shm_size:
        kwargs["shm_size"] = cfg.train.container.shm_size
    if cfg.train.container.network:
        kwargs["network_mode"] = cfg.train.container.network
    emit(f"training in {image}" + (f" on {device.describe()}" if device.kind == "cuda" else ""))
    try:
        container = client.containers.run(image, **kwargs)
    except APIError as exc:
        text = str(exc.explanation or exc)
        if "could not select device driver" in text or "nvidia" in text.lower():
            raise InfraError(f"--in-container: Docker cannot pass GPUs through ({text}); install the "
                             "NVIDIA container toolkit on this agent or use --device cpu") from None
        raise InfraError(f"--in-container: cannot start {image}: {text}") from None
    try:
        tail: list[str] = []

        def pump() -> None:
            buf = b""
            for chunk in container.logs(stream=True, follow=True, stdout=False, stderr=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    text = line.decode("utf-8", "replace")
                    tail[:] = [*tail[-19:], text]
                    emit(text)
            if buf:
                emit(buf.decode("utf-8", "replace"))

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timeout = (cfg.train.timeout + 120) if cfg.train.timeout else None
        try:
            result = container.wait(timeout=timeout)
        except Exception as exc:  # requests' ReadTimeout: past the time limit
            container.stop(timeout=10)
            raise UsageError(f"--in-container: training did not finish within {timeout:g}s; stopped "
                             f"({type(exc).__name__})") from None
        reader.join(timeout=10)
        code = int(result.get("StatusCode", 1))
        out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        container.reload()
        if container.attrs.get("State", {}).get("OOMKilled"):
            raise UsageError(f"--in-container: the training was killed: out of memory in {image}")
        if code in (126, 127) or (code == 1 and any("No module named mlci" in t for t in tail)):
            raise UsageError(f"--in-container: {image} cannot run `python3 -m mlci` (exit {code}); "
                             "the image needs python3 with mlci installed")
        if code != 0:
            raise inner_error(code, tail, image)
        try:
            summary = json.loads(out)
        except ValueError:
            raise UsageError(f"--in-container: {image}: the training printed no result "
                             f"(stdout: {out[-200:]!r})") from None
        return {**summary, "container": {"image": image}}
    finally:
        try:
            container.remove(force=True)
        except DockerException:
            pass
