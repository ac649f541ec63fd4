"""What every deployment target shares: the environment, the version and its image, the
audit-log events, the rollback target and the smoke test.

A deploy event (``Registry.event("deploy", ...)``) is written for every attempt:
  {environment, version, digest, image, target, status: succeeded|failed, reason?,
   previous?: {version, digest}, rollback: bool, actor, build}
"Now running in ENV" is the version of the last succeeded event for ENV; the rollback target
is found by replaying those events as a stack (a rollback pops the current version).
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mlci.errors import CheckFailed, ConfigError, NotFoundError, UsageError

log = logging.getLogger(__name__)

ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass
class Release:
    """One model version with the image that will run it."""

    model: str
    version: int
    image: str            # repository@sha256:...
    repository: str
    digest: str
    record: dict[str, Any] = field(repr=False, default_factory=dict)


def environment(cfg: Any, name: str) -> Any:
    envs = cfg.deploy
    if not envs:
        raise ConfigError(f"{cfg.path.name}: no `deploy:` environments; add e.g. "
                          "`deploy: {staging: {target: docker, port: 8080}}`")
    if name not in envs:
        import difflib

        close = difflib.get_close_matches(name, list(envs), n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        raise UsageError(f"unknown environment `{name}`{hint}; {cfg.path.name} defines: {', '.join(sorted(envs))}")
    if not ENV_NAME.match(name):
        raise ConfigError(f"{cfg.path.name}: deploy.{name}: environment names are letters, digits, '-' and '_'")
    return envs[name]


def resource_name(model: str, env: str) -> str:
    """mlci-<model>-<env> as a DNS-1123 label (container and Kubernetes object name)."""
    raw = f"mlci-{model}-{env}".lower()
    name = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")
    return name[:63].rstrip("-")


def default_ref(registry: Any, env_name: str, env: Any) -> str:
    """The version an environment gets when none is asked for."""
    if env.model:
        return env.model
    if registry.alias(env_name) is not None:
        return env_name
    blessed = [r for r in registry.versions() if r.get("blessed")]
    if not blessed:
        raise NotFoundError(f"model `{registry.name}` has no alias `{env_name}` and no blessed version; "
                            f"pass --model {registry.name}@VERSION")
    return str(blessed[-1]["version"])


def release(registry: Any, ref: str) -> Release:
    """The version ``ref`` names, with its most recently pushed image (by digest)."""
    record = registry.resolve(ref)
    images = [i for i in record.get("images") or [] if i.get("digest") and i.get("repository")]
    if not images:
        raise UsageError(f"{registry.name} v{record['version']} has no pushed image; run "
                         f"`mlci image build/verify/push --model {registry.name}@{record['version']}` first")
    image = images[-1]
    return Release(registry.name, int(record["version"]), f"{image['repository']}@{image['digest']}",
                   image["repository"], image["digest"], record)


# --- the audit log ----------------------------------------------------------------------------

def deploy_events(registry: Any, env_name: str | None = None) -> list[dict[str, Any]]:
    events = [e for e in registry.history() if e.get("event") == "deploy"]
    return [e for e in events if env_name is None or e.get("environment") == env_name]


def deployed_stack(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The succeeded deploys of one environment, replayed: a rollback pops the current one."""
    stack: list[dict[str, Any]] = []
    for e in events:
        if e.get("status") != "succeeded":
            continue
        if e.get("rollback") and stack:
            stack.pop()
            if stack and stack[-1].get("version") == e.get("version"):
                stack[-1] = e
                continue
        if stack and stack[-1].get("version") == e.get("version"):
            stack[-1] = e
        else:
            stack.append(e)
    return stack


def current(registry: Any, env_name: str) -> dict[str, Any] | None:
    stack = deployed_stack(deploy_events(registry, env_name))
    return stack[-1] if stack else None


def rollback_target(registry: Any, env_name: str) -> dict[str, Any]:
    stack = deployed_stack(deploy_events(registry, env_name))
    if len(stack) < 2:
        what = f"only v{stack[-1]['version']} was deployed" if stack else "nothing was deployed"
        raise UsageError(f"{registry.name} in {env_name}: no previous deployment to roll back to ({what})")
    return stack[-2]


def record(registry: Any, env_name: str, env: Any, rel: Release, *, status: str, actor: str,
           reason: str | None = None, previous: dict[str, Any] | None = None, rollback: bool = False,
           extra: dict[str, Any] | None = None) -> dict[str, Any]:
    prev = {"version": previous.get("version"), "digest": previous.get("digest")} if previous else None
    fields = {"environment": env_name, "version": rel.version, "digest": rel.digest, "image": rel.image,
              "target": env.target, "status": status, "actor": actor, "rollback": rollback,
              "previous": prev, **({"reason": reason} if reason else {}), **(extra or {})}
    return registry.event("deploy", **fields)


# --- smoke test -------------------------------------------------------------------------------

def _request(url: str, method: str = "GET", body: bytes | None = None, content_type: str | None = None,
             timeout: float = 10) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(parts.hostname, parts.port, timeout=timeout)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        conn.request(method, parts.path or "/", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def healthy(base_url: str) -> bool:
    try:
        status, _ = _request(base_url.rstrip("/") + "/health", timeout=3)
        return status == 200
    except (OSError, http.client.HTTPException):
        return False


def wait_healthy(base_url: str, timeout: float, alive: Callable[[], str | None] | None = None) -> float:
    """Poll /health until 200; CheckFailed after ``timeout`` or when ``alive()`` says why not."""
    started = time.monotonic()
    while True:
        if healthy(base_url):
            return time.monotonic() - started
        problem = alive() if alive else None
        if problem:
            raise CheckFailed(f"health check failed: {problem}")
        if time.monotonic() - started > timeout:
            raise CheckFailed(f"health check failed: {base_url}/health did not answer 200 within {timeout:g}s")
        time.sleep(0.25)


def examples(cfg: Any, env: Any) -> list[dict[str, Any]]:
    if not env.smoke or not cfg.image.verify.examples:
        return []
    from mlci.image.verify import load_examples

    return load_examples(cfg.resolve(cfg.image.verify.examples))


def smoke(base_url: str, exs: list[dict[str, Any]], tolerance: float) -> dict[str, Any]:
    """/health and every example against ``base_url``; CheckFailed naming the first failure."""
    from mlci.image.verify import check_answer

    if not healthy(base_url):
        raise CheckFailed(f"smoke test failed: {base_url}/health does not answer 200")
    for ex in exs:
        req = ex["request"]
        body = req.encode() if isinstance(req, str) else json.dumps(req).encode()
        try:
            status, data = _request(base_url.rstrip("/") + "/invocations", "POST", body,
                                    ex.get("content_type", "application/json"), timeout=30)
        except (OSError, http.client.HTTPException) as exc:
            raise CheckFailed(f"smoke test failed: {ex['name']}: {exc}") from None
        problem = check_answer(ex, status, data, tolerance)
        if problem:
            raise CheckFailed(f"smoke test failed: {ex['name']}: {problem}")
    return {"url": base_url, "examples": len(exs), "passed": True}


def write_result(path: Path | None, result: dict[str, Any]) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
