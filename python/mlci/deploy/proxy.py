"""The reverse proxy in front of an environment's model containers on a Docker host.

One HAProxy container ``<name>-proxy`` publishes the environment's port; the model containers
``<name>-blue`` and ``<name>-green`` sit beside it on the network ``<name>``. The proxy's
configuration (rendered from templates/deploy/haproxy.cfg.j2) lists the servers that get
traffic and their weights; it is the deployment's state, kept in the container (with the same
list as JSON beside it), so a restarted proxy comes back serving what it served.

A switch is: write the new configuration into the container, check it with ``haproxy -c``,
signal the master process (SIGUSR2), and wait until every old worker process has exited. The
new worker takes the listening socket over (no connection is refused), and the old one
finishes what it has open (idle keep-alive connections get one more answer, with
``Connection: close``). Only after that may a server that left the list be stopped: nothing
can route a request to it any more.

The proxy image is built on the Docker host from a Debian-based image with Debian's haproxy
package (templates/deploy/proxy.Dockerfile.j2), once; ``proxy.image`` names a ready one instead.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from mlci.errors import CheckFailed, InfraError, UsageError

log = logging.getLogger(__name__)

PORT = 8080                      # HAProxy's port inside its container
CONFIG_DIR = "/etc/haproxy"
CONFIG = f"{CONFIG_DIR}/haproxy.cfg"
STATE = f"{CONFIG_DIR}/mlci.json"
SLOTS = ("blue", "green")


@dataclass
class Server:
    slot: str          # blue | green: the container <name>-<slot>
    container: str
    version: int
    weight: int        # share of requests, in percent


def _template(name: str) -> Any:
    import jinja2

    loader = jinja2.PackageLoader("mlci", "templates/deploy")
    env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    return env.get_template(name)


def render(name: str, servers: list[Server], model_port: int, settings: Any) -> str:
    return _template("haproxy.cfg.j2").render(
        name=name, servers=[s for s in servers if s.weight > 0], model_port=model_port, port=PORT,
        drain_timeout=int(settings.drain_timeout), timeout=int(settings.timeout))


def dockerfile(base: str) -> str:
    return _template("proxy.Dockerfile.j2").render(base=base, port=PORT)


def image(client: Any, cfg: Any, env: Any, step: Callable[[str], None]) -> str:
    """The proxy image on the daemon: the configured one (pulled when absent), else mlci's own
    (built when absent, tagged by a hash of its recipe)."""
    import docker

    if env.proxy.image:
        try:
            client.images.get(env.proxy.image)
        except docker.errors.ImageNotFound:
            step(f"pulling the proxy image {env.proxy.image}")
            try:
                client.images.pull(env.proxy.image)
            except docker.errors.APIError as exc:
                raise UsageError(f"proxy.image {env.proxy.image}: cannot pull it: {exc.explanation}") from None
        return env.proxy.image
    text = dockerfile(env.proxy.base or cfg.image.base)
    tag = f"mlci-proxy:{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    step(f"building the proxy image {tag} (HAProxy from Debian's packages, once per Docker host)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add(tar, "Dockerfile", text.encode())
    buf.seek(0)
    try:
        client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True, forcerm=True)
    except docker.errors.BuildError as exc:
        tail = " ".join(str(c.get("stream") or c.get("error") or "").strip() for c in list(exc.build_log)[-3:])
        raise InfraError(f"building the proxy image from {env.proxy.base or cfg.image.base} failed: "
                         f"{exc.msg} {tail}".strip()) from None
    return tag


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def network(client: Any, name: str, labels: dict[str, str]) -> Any:
    """The environment's own bridge network (created once): the proxy reaches the model
    containers by name through Docker's DNS."""
    import docker

    try:
        return client.networks.get(name)
    except docker.errors.NotFound:
        return client.networks.create(name, driver="bridge", labels=labels)


def servers(container: Any | None) -> list[Server]:
    """What the proxy sends traffic to now (empty when there is no proxy yet)."""
    if container is None:
        return []
    import docker

    try:
        stream, _ = container.get_archive(STATE)
    except docker.errors.NotFound:
        return []
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile(tar.getmembers()[0])
        doc = json.loads(member.read()) if member else {"servers": []}
    return [Server(**s) for s in doc["servers"]]


def write(container: Any, name: str, new: list[Server], model_port: int, settings: Any) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add(tar, "haproxy.cfg", render(name, new, model_port, settings).encode())
        _add(tar, "mlci.json", json.dumps({"servers": [asdict(s) for s in new]}, indent=1).encode())
    if not container.put_archive(CONFIG_DIR, buf.getvalue()):
        raise InfraError(f"could not write the proxy configuration into {container.name}")


def _workers(container: Any) -> set[str]:
    """PIDs of HAProxy's worker processes (the master is the one whose parent is no HAProxy)."""
    top = container.top()
    titles = top["Titles"]
    pid, ppid, cmd = titles.index("PID"), titles.index("PPID"), titles.index("CMD")
    procs = [(p[pid], p[ppid]) for p in top["Processes"] if "haproxy" in p[cmd]]
    pids = {p for p, _ in procs}
    return {p for p, parent in procs if parent in pids}


def switch(container: Any, name: str, new: list[Server], model_port: int, settings: Any) -> float:
    """Reload the running proxy onto ``new`` and wait until the old workers have drained.
    Returns the seconds it took."""
    started = time.monotonic()
    write(container, name, new, model_port, settings)
    code, out = container.exec_run(["haproxy", "-c", "-q", "-f", CONFIG])
    if code != 0:
        raise InfraError(f"the rendered proxy configuration is invalid (a bug in mlci): {out.decode()[-300:]}")
    old = _workers(container)
    container.kill(signal="SIGUSR2")
    deadline = started + settings.drain_timeout + 15
    while True:
        now = _workers(container)
        if now and not now & old:
            return time.monotonic() - started
        if time.monotonic() > deadline:
            raise CheckFailed(f"the proxy {container.name} did not finish its reload within "
                              f"{settings.drain_timeout + 15:g}s (workers: old {sorted(old)}, now {sorted(now)})")
        time.sleep(0.1)
