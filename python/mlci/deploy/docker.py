"""A Docker host: the model image as the named container ``mlci-<model>-<env>``.

Health-gated replacement (the old container keeps serving until the new image has proven
itself):

1. pull the image by digest (unless the daemon has it);
2. start a *candidate* container from it on a port the daemon picks; wait for /health and run
   the smoke examples against it; on failure remove it (the old one never noticed) -> exit 1;
3. remove the candidate, then hand over the port: rename the old container to
   ``<name>-retired-<id>``, create the new one as ``<name>`` on the environment's port, stop
   the old one (SIGTERM, ``stop_timeout`` seconds to finish in-flight requests), start the new
   one and wait for its /health;
4. smoke-test the live endpoint; if the new one fails here, it is removed and the old one is
   renamed back and started again (it was only stopped) -> exit 1;
5. remove the old container.

A Docker host port belongs to one container at a time, so step 3 has a gap: from the moment
the old container stops until the new one answers /health (the new server's start-up time,
typically about a second). Connections during that gap are refused, not answered wrongly.
A zero-gap switch needs a proxy in front (or Kubernetes); see docs/deploy.md.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.parse
import uuid
from typing import Any, Callable

from mlci.deploy import core
from mlci.errors import CheckFailed, InfraError, UsageError
from mlci.retry import retry

log = logging.getLogger(__name__)

LABEL_MODEL = "org.mlci.model"
LABEL_VERSION = "org.mlci.version"
LABEL_ENV = "org.mlci.environment"
LABEL_DIGEST = "org.mlci.digest"
LABEL_ROLE = "org.mlci.role"


def daemon_address(env: Any) -> str | None:
    return env.docker_host or os.environ.get("DOCKER_HOST") or None


def connect(env: Any) -> Any:
    """A docker client for the environment's daemon; InfraError (exit 3) after retries."""
    import docker
    import requests

    address = daemon_address(env)
    environment = dict(os.environ)
    if env.docker_host:
        environment["DOCKER_HOST"] = env.docker_host
    use_ssh = bool(address and address.startswith("ssh://"))

    def attempt() -> Any:
        c = docker.from_env(environment=environment, use_ssh_client=use_ssh, timeout=120)
        c.ping()
        return c

    return retry(attempt, what=f"connecting to the Docker daemon at {address or 'the local socket'}",
                 on=(docker.errors.DockerException, requests.exceptions.RequestException, OSError))


def endpoint_host(env: Any) -> str:
    """Where the published ports are reachable from here: the daemon's host, else localhost."""
    address = daemon_address(env)
    if address and address.split("://", 1)[0] in ("tcp", "ssh", "http", "https"):
        host = urllib.parse.urlsplit(address).hostname
        if host:
            return host
    return env.bind if env.bind not in ("0.0.0.0", "::", "") else "127.0.0.1"


def live_url(env: Any) -> str:
    return (env.url or f"http://{endpoint_host(env)}:{env.port}").rstrip("/")


def run_options(cfg: Any, env_name: str, env: Any, rel: core.Release, role: str) -> dict[str, Any]:
    """Keyword arguments for ``containers.create`` (limits, GPUs, labels, env)."""
    import docker

    opts: dict[str, Any] = {
        "environment": dict(env.env),
        "labels": {LABEL_MODEL: rel.model, LABEL_VERSION: str(rel.version), LABEL_ENV: env_name,
                   LABEL_DIGEST: rel.digest, LABEL_ROLE: role},
    }
    if env.cpus:
        opts["nano_cpus"] = int(env.cpus * 1e9)
    if env.memory:
        opts["mem_limit"] = env.memory.lower().removesuffix("i")
    if env.gpus:
        count = -1 if env.gpus == "all" else int(env.gpus)
        opts["device_requests"] = [docker.types.DeviceRequest(count=count, capabilities=[["gpu"]])]
    return opts


def _api_errors() -> tuple[type[BaseException], ...]:
    import docker
    import requests

    return (docker.errors.APIError, requests.exceptions.RequestException)


def ensure_image(client: Any, rel: core.Release, step: Callable[[str], None]) -> None:
    import docker

    try:
        client.images.get(rel.image)
        return
    except docker.errors.ImageNotFound:
        pass
    step(f"pulling {rel.image}")

    def pull() -> None:
        try:
            client.images.pull(rel.repository, tag=rel.digest)
        except docker.errors.NotFound as exc:
            raise UsageError(f"image {rel.image} not found in its registry: {exc.explanation}") from None

    retry(pull, what=f"pulling {rel.image}", on=_api_errors())


def find(client: Any, name: str) -> Any | None:
    import docker

    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


def _published_port(container: Any, port_key: str, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while True:
        container.reload()
        bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(port_key)
        if bindings:
            return int(bindings[0]["HostPort"])
        if container.status in ("exited", "dead") or time.monotonic() > deadline:
            raise CheckFailed(f"health check failed: container {container.name} did not start "
                              f"(status {container.status}){_logs(container)}")
        time.sleep(0.1)


def _logs(container: Any, lines: int = 5) -> str:
    try:
        text = container.logs(tail=lines).decode(errors="replace").strip()
    except Exception:  # noqa: BLE001 - only for the message
        return ""
    return f"; last output: {text.splitlines()[-1]}" if text else ""


def _exited(container: Any) -> Callable[[], str | None]:
    def check() -> str | None:
        try:
            container.reload()
        except Exception as exc:  # noqa: BLE001
            return f"container {container.name} vanished ({exc})"
        if container.status in ("exited", "dead"):
            code = container.attrs.get("State", {}).get("ExitCode")
            return f"container exited with status {code}{_logs(container)}"
        return None

    return check


def _remove(container: Any | None) -> None:
    if container is None:
        return
    try:
        container.remove(force=True)
    except Exception as exc:  # noqa: BLE001 - best effort on the way out
        log.warning("could not remove container %s: %s", getattr(container, "name", "?"), exc)


def deploy(cfg: Any, env_name: str, env: Any, rel: core.Release,
           step: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Replace what runs in ``env_name`` by ``rel``; CheckFailed leaves the old one serving."""
    client = connect(env)
    name = core.resource_name(rel.model, env_name)
    port_key = f"{cfg.image.port}/tcp"
    examples = core.examples(cfg, env)
    tolerance = cfg.image.verify.tolerance
    old = find(client, name)
    if old is not None and old.labels.get(LABEL_MODEL) != rel.model:
        raise UsageError(f"a container named {name} exists on the Docker host but was not made by mlci "
                         f"deploy (no {LABEL_MODEL}={rel.model} label); remove or rename it first")
    _remove_leftovers(client, name)
    ensure_image(client, rel, step)
    host = endpoint_host(env)

    # 1. the candidate, on a port the daemon picks
    step(f"starting candidate {rel.model} v{rel.version} ({rel.digest[:19]})")
    candidate = None
    try:
        candidate = client.containers.run(
            rel.image, detach=True, name=f"{name}-candidate-{uuid.uuid4().hex[:6]}",
            ports={port_key: (env.bind, None)}, **run_options(cfg, env_name, env, rel, "candidate"))
        port = _published_port(candidate, port_key)
        seconds = core.wait_healthy(f"http://{host}:{port}", env.health_timeout, _exited(candidate))
        step(f"candidate healthy after {seconds:.1f}s; {len(examples)} smoke examples")
        core.smoke(f"http://{host}:{port}", examples, tolerance)
    except _api_errors() as exc:
        _remove(candidate)
        raise InfraError(f"Docker daemon: cannot run {rel.image}: {exc}") from None
    except CheckFailed as exc:
        raise CheckFailed(f"{rel.model} v{rel.version} not deployed to {env_name}: {exc} "
                          f"(candidate removed{'; the old version keeps serving' if old else ''})") from None
    finally:
        _remove(candidate)

    # 2. hand over the port
    retired_name = f"{name}-retired-{uuid.uuid4().hex[:6]}"
    if old is not None:
        old.rename(retired_name)
    new = None
    gap_started = None
    try:
        new = client.containers.create(
            rel.image, name=name, ports={port_key: (env.bind, env.port)},
            restart_policy={"Name": env.restart} if env.restart != "no" else None,
            **run_options(cfg, env_name, env, rel, "serving"))
        if old is not None:
            step(f"stopping the old container (v{old.labels.get(LABEL_VERSION)})")
            gap_started = time.monotonic()
            old.stop(timeout=env.stop_timeout)
        else:
            gap_started = time.monotonic()
        new.start()
        core.wait_healthy(f"http://{host}:{env.port}", env.health_timeout, _exited(new))
        gap = time.monotonic() - gap_started
        step(f"serving on port {env.port} ({gap:.2f}s without a server); smoke test on {live_url(env)}")
        live = core.smoke(live_url(env), examples, tolerance)
    except (CheckFailed, *_api_errors()) as exc:
        _remove(new)
        restored = _restore(old, name)
        why = exc if isinstance(exc, CheckFailed) else f"Docker daemon: {exc}"
        raise CheckFailed(f"{rel.model} v{rel.version} not deployed to {env_name}: {why} "
                          f"({restored})") from None
    _remove(old)
    return {"container": name, "id": new.id[:12], "port": env.port, "url": live_url(env),
            "switch_gap_s": round(gap, 3) if old is not None else None, "smoke": live}


def _restore(old: Any | None, name: str) -> str:
    if old is None:
        return "nothing was running before"
    try:
        old.rename(name)
        old.start()
        return f"the old version v{old.labels.get(LABEL_VERSION)} was restarted and serves again"
    except Exception as exc:  # noqa: BLE001 - report what could not be restored
        return f"restoring the old container {old.name} failed: {exc}"


def _remove_leftovers(client: Any, name: str) -> None:
    """Candidates and retired containers of an earlier deploy that was killed half-way."""
    for c in client.containers.list(all=True, filters={"name": f"{name}-"}):
        if c.name.startswith((f"{name}-candidate-", f"{name}-retired-")) and c.status != "running":
            _remove(c)
        elif c.name.startswith(f"{name}-candidate-"):
            _remove(c)


def state(env_name: str, env: Any, model: str) -> dict[str, Any]:
    """What the Docker host runs for the environment (never raises for an unreachable host)."""
    from mlci.errors import MlciError

    name = core.resource_name(model, env_name)
    try:
        client = connect(env)
        c = find(client, name)
    except MlciError as exc:
        return {"state": "unreachable", "detail": str(exc)}
    if c is None:
        return {"state": "absent", "container": name}
    url = live_url(env)
    running = c.status == "running"
    return {"state": c.status if not running else ("healthy" if core.healthy(url) else "unhealthy"),
            "container": name, "version": c.labels.get(LABEL_VERSION), "digest": c.labels.get(LABEL_DIGEST),
            "url": url}
