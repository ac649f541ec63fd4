"""A Docker host: the model behind a reverse proxy, replaced blue/green without dropping a request.

The environment is an HAProxy container ``<name>-proxy`` on the environment's port and the
model containers ``<name>-blue`` / ``<name>-green`` beside it (deploy/proxy.py). A deploy:

1. pulls the image by digest (unless the daemon has it);
2. starts the new version in the free slot, on a port the daemon picks, and gates it on
   /health and the smoke examples; on failure it is removed (the proxy never sent it a
   request) -> exit 1;
3. with a canary, gives it ``canary.weight`` percent of the requests for ``canary.duration``
   seconds while watching its /metrics (and input drift); out of bounds -> the proxy is
   switched back, the new container removed -> exit 1 (deploy/canary.py);
4. switches the proxy to the new version (reload; the old worker drains), smoke-tests the
   live endpoint through the proxy (failure: switch back, exit 1);
5. stops and removes the old container, which nothing routes to any more.

No request is refused at any step: the proxy's listening socket never closes, and a server
leaves the proxy's list before its container stops.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

from mlci.deploy import core
from mlci.deploy.settings import LOG_MOUNT
from mlci.errors import CheckFailed, InfraError, UsageError
from mlci.retry import retry

log = logging.getLogger(__name__)

LABEL_MODEL = "org.mlci.model"
LABEL_VERSION = "org.mlci.version"
LABEL_ENV = "org.mlci.environment"
LABEL_DIGEST = "org.mlci.digest"
LABEL_ROLE = "org.mlci.role"
LABEL_SLOT = "org.mlci.slot"


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


def prediction_log_dir(cfg: Any, env_name: str, env: Any) -> Path | None:
    """The environment's prediction-log directory on the Docker host, made ready for the image's
    user: created owned by it, or refused (exit 2, before anything changes) when that user could
    not write a record there; without the check every record would be dropped silently. Only
    a local daemon's directories can be checked; on a remote host the directory is taken as is."""
    if not env.prediction_logs:
        return None
    from mlci.image.build import UID

    path = Path(env.prediction_logs).expanduser()
    path = path if path.is_absolute() else cfg.root / path
    address = daemon_address(env)
    if address and not address.startswith("unix://"):
        return path
    where = f"deploy.{env_name}.prediction_logs"
    if not path.exists():
        path.mkdir(parents=True)
        try:
            os.chown(path, UID, UID)
        except PermissionError:
            path.chmod(0o777)  # not root: let the image's user write all the same
    if not path.is_dir():
        raise UsageError(f"{where}: {path} is not a directory")
    st = path.stat()
    mode = st.st_mode
    if not ((st.st_uid == UID and mode & 0o300 == 0o300) or (st.st_gid == UID and mode & 0o030 == 0o030)
            or mode & 0o003 == 0o003):
        raise UsageError(f"{where}: {path} is owned by uid {st.st_uid} (mode {oct(mode & 0o777)}); the model image "
                         f"runs as uid {UID} and could not write a record there: `chown {UID} {path}`, or name a "
                         "directory mlci may create")
    return path


def run_options(cfg: Any, env_name: str, env: Any, rel: core.Release, role: str) -> dict[str, Any]:
    """Keyword arguments for ``containers.create`` (limits, GPUs, labels, env, the log volume)."""
    import docker

    opts: dict[str, Any] = {
        "environment": dict(env.env),
        "labels": {LABEL_MODEL: rel.model, LABEL_VERSION: str(rel.version), LABEL_ENV: env_name,
                   LABEL_DIGEST: rel.digest, LABEL_ROLE: role},
    }
    logs = prediction_log_dir(cfg, env_name, env)
    if logs is not None:
        opts["volumes"] = {str(logs): {"bind": LOG_MOUNT, "mode": "rw"}}
        opts["environment"]["MLCI_LOG_PREDICTIONS"] = LOG_MOUNT
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
        # the new container has its restart policy from the start: a crash shows as restarting
        if container.status in ("exited", "dead", "restarting") or container.attrs.get("RestartCount"):
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


def _labels(model: str, env_name: str, role: str) -> dict[str, str]:
    return {LABEL_MODEL: model, LABEL_ENV: env_name, LABEL_ROLE: role}


def _published(container: Any, host: str, port_key: str) -> str:
    return f"http://{host}:{_published_port(container, port_key)}"


def deploy(cfg: Any, env_name: str, env: Any, rel: core.Release,
           step: Callable[[str], None] = lambda _m: None, canary: Any | None = None,
           audit: Callable[..., None] = lambda _step, **_f: None, drift: Any | None = None) -> dict[str, Any]:
    """Replace what runs in ``env_name`` by ``rel``; CheckFailed leaves the old one serving.

    ``canary`` (settings.Canary) watches the new version on a share of traffic first;
    ``audit(step, **fields)`` records each canary step; ``drift`` builds its drift check
    (canary.drift_check)."""
    from mlci.deploy import proxy

    client = connect(env)
    name = core.resource_name(rel.model, env_name)
    port_key = f"{cfg.image.port}/tcp"
    examples = core.examples(cfg, env)
    tolerance = cfg.image.verify.tolerance
    legacy = find(client, name)
    if legacy is not None:
        made_by_mlci = legacy.labels.get(LABEL_MODEL) == rel.model
        raise UsageError(f"a container named {name} holds the environment's name on the Docker host "
                         + ("(a model container from an mlci deploy without the proxy: remove it with "
                            f"`docker rm -f {name}`, then deploy again; the port is free until then)"
                            if made_by_mlci else f"but was not made by mlci deploy (no {LABEL_MODEL}={rel.model} "
                            "label); remove or rename it first"))
    px = find(client, f"{name}-proxy")
    if px is not None and px.status != "running":
        px = None          # a stopped proxy serves nothing: configured and started like a new one
    live = proxy.servers(px)
    if len(live) > 1:
        live = _end_interrupted_canary(client, px, name, live, cfg, env, step)
    _remove_leftovers(client, name, {s.container for s in live})
    ensure_image(client, rel, step)
    host = endpoint_host(env)
    try:
        net = proxy.network(client, name, _labels(rel.model, env_name, "network"))
        proxy_image = proxy.image(client, cfg, env, step) if px is None else ""
    except _api_errors() as exc:
        raise InfraError(f"Docker daemon: cannot set up the proxy for {name}: {exc}") from None
    restart = {"Name": env.restart} if env.restart != "no" else None

    # 1. the new version in the free slot, gated before the proxy sends it anything
    slot = next(s for s in proxy.SLOTS if s not in {x.slot for x in live})
    step(f"starting {rel.model} v{rel.version} ({rel.digest[:19]}) as {name}-{slot}")
    opts = run_options(cfg, env_name, env, rel, "model")
    opts["labels"][LABEL_SLOT] = slot
    new = None
    try:
        new = client.containers.run(rel.image, detach=True, name=f"{name}-{slot}", network=net.name,
                                    ports={port_key: (env.bind, None)}, restart_policy=restart, **opts)
        direct = _published(new, host, port_key)
        seconds = core.wait_healthy(direct, env.health_timeout, _exited(new))
        step(f"new version healthy after {seconds:.1f}s; {len(examples)} smoke examples")
        core.smoke(direct, examples, tolerance)
    except _api_errors() as exc:
        _remove(new)
        raise InfraError(f"Docker daemon: cannot run {rel.image}: {exc}") from None
    except CheckFailed as exc:
        _remove(new)
        raise CheckFailed(f"{rel.model} v{rel.version} not deployed to {env_name}: {exc} "
                          f"(new container removed{'; the old version keeps serving' if live else ''})") from None
    incoming = proxy.Server(slot, new.name, rel.version, 100)
    outcome: dict[str, Any] = {"container": new.name, "proxy": f"{name}-proxy", "port": env.port,
                               "url": live_url(env)}

    # 2. the canary: a share of the traffic, watched (the first deploy has nothing to share with)
    if canary is not None and live:
        from mlci.deploy import canary as watch

        old_servers = [proxy.Server(s.slot, s.container, s.version, 100 - canary.weight) for s in live]
        stopped = _stop_as_interrupt()   # an aborted Jenkins build (SIGTERM) ends the canary like Ctrl-C
        try:
            proxy.switch(px, name, [*old_servers, proxy.Server(slot, new.name, rel.version, canary.weight)],
                         cfg.image.port, env.proxy)
            outcome["canary"] = watch.watch(canary, direct, step, audit,
                                            drift(new) if drift is not None else None)
        except (CheckFailed, *_api_errors()) as exc:
            back = _switch_back(px, name, live, cfg, env)
            _remove(new)
            why = exc if isinstance(exc, CheckFailed) else f"Docker daemon: {exc}"
            raise CheckFailed(f"{rel.model} v{rel.version} not deployed to {env_name}: {why} ({back})") from None
        except KeyboardInterrupt:
            audit("rolled_back", reason="interrupted (SIGTERM or Ctrl-C)")
            _switch_back(px, name, live, cfg, env)
            _remove(new)
            raise CheckFailed(f"{rel.model} v{rel.version} not deployed to {env_name}: the canary was "
                              "interrupted; the proxy sends everything to the old version again") from None
        finally:
            stopped()

    # 3. the switch: everything to the new version, checked through the proxy
    try:
        if px is None:
            px = _start_proxy(client, name, env_name, env, rel, proxy_image, net, [incoming], cfg, restart)
            outcome["switch_s"] = None
        else:
            outcome["switch_s"] = round(proxy.switch(px, name, [incoming], cfg.image.port, env.proxy), 3)
            step(f"proxy switched to v{rel.version} in {outcome['switch_s']:.2f}s (old connections drained)")
        outcome["smoke"] = core.smoke(live_url(env), examples, tolerance)
    except (CheckFailed, *_api_errors()) as exc:
        back = _switch_back(px, name, live, cfg, env) if live else "nothing was running before"
        _remove(new)
        why = exc if isinstance(exc, CheckFailed) else f"Docker daemon: {exc}"
        raise CheckFailed(f"{rel.model} v{rel.version} not deployed to {env_name}: {why} ({back})") from None

    # 4. the old containers: nothing routes to them any more
    for s in live:
        old = find(client, s.container)
        if old is not None:
            step(f"stopping the old container {s.container} (v{s.version})")
            try:
                old.stop(timeout=env.stop_timeout)
            except _api_errors() as exc:
                log.warning("stopping %s: %s", s.container, exc)
            _remove(old)
    return outcome


def _start_proxy(client: Any, name: str, env_name: str, env: Any, rel: core.Release, image: str, net: Any,
                 servers: list[Any], cfg: Any, restart: dict[str, Any] | None) -> Any:
    """The environment's first deploy: the proxy container, configured before it starts."""
    from mlci.deploy import proxy

    px = find(client, f"{name}-proxy")
    if px is None:
        px = client.containers.create(image, name=f"{name}-proxy", network=net.name,
                                      ports={f"{proxy.PORT}/tcp": (env.bind, env.port)}, restart_policy=restart,
                                      labels=_labels(rel.model, env_name, "proxy"))
    proxy.write(px, name, servers, cfg.image.port, env.proxy)
    px.start()
    core.wait_healthy(live_url(env), env.health_timeout, _exited(px))
    return px


def _switch_back(px: Any, name: str, live: list[Any], cfg: Any, env: Any) -> str:
    from mlci.deploy import proxy

    try:
        proxy.switch(px, name, live, cfg.image.port, env.proxy)
    except Exception as exc:  # noqa: BLE001 - report what could not be restored
        return f"switching the proxy back failed: {exc}"
    versions = ", ".join(f"v{s.version}" for s in live)
    return f"new container removed; the proxy sends everything to {versions} again"


def _stop_as_interrupt() -> Callable[[], None]:
    """SIGTERM raises KeyboardInterrupt until the returned function is called."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _end_interrupted_canary(client: Any, px: Any, name: str, live: list[Any], cfg: Any, env: Any,
                            step: Callable[[str], None]) -> list[Any]:
    """A deploy killed during its canary left two versions in the proxy: the older container
    is what ran before, so it gets everything again and the canary is removed."""
    from mlci.deploy import proxy

    def created(server: Any) -> str:
        c = find(client, server.container)
        return c.attrs.get("Created", "") if c is not None else "~"     # a missing one sorts last

    keep = min(live, key=created)
    step(f"an earlier canary was interrupted: the proxy goes back to {keep.container} (v{keep.version}) alone")
    back = [proxy.Server(keep.slot, keep.container, keep.version, 100)]
    proxy.switch(px, name, back, cfg.image.port, env.proxy)
    return back


def _remove_leftovers(client: Any, name: str, keep: set[str]) -> None:
    """Model containers of an earlier deploy that was killed half-way (not in the proxy's list)."""
    from mlci.deploy.proxy import SLOTS

    for slot in SLOTS:
        c = find(client, f"{name}-{slot}")
        if c is not None and c.name not in keep:
            _remove(c)


def state(env_name: str, env: Any, model: str) -> dict[str, Any]:
    """What the Docker host runs for the environment (never raises for an unreachable host)."""
    from mlci.deploy import proxy
    from mlci.errors import MlciError

    name = core.resource_name(model, env_name)
    try:
        client = connect(env)
        px = find(client, f"{name}-proxy")
    except MlciError as exc:
        return {"state": "unreachable", "detail": str(exc)}
    if px is None:
        return {"state": "absent", "container": f"{name}-proxy"}
    servers = proxy.servers(px) if px.status == "running" else []
    url = live_url(env)
    running = px.status == "running"
    main = max(servers, key=lambda s: s.weight) if servers else None
    return {"state": px.status if not running else ("healthy" if core.healthy(url) else "unhealthy"),
            "container": px.name, "version": str(main.version) if main else None,
            "servers": [{"container": s.container, "version": s.version, "weight": s.weight} for s in servers],
            "url": url}
