"""`mlci image push`: tag, log in, push, record the digest.

Only an image whose image-verify.json says it passed is pushed (a failed or missing verify
never pushes). Tags: the model version (v<N>, or run-<id> for an unregistered run), the git
commit (12 characters) and image.tags plus --tag. Credentials come only from the environment
(MLCI_REGISTRY_USER, MLCI_REGISTRY_PASSWORD) and go to the daemon in the API call, never on a
command line or in a log. The digest is recorded on the registered model version
(``images`` in its record, plus an ``image`` event in the audit log) and in image-push.json.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any, Callable

from mlci.errors import CheckFailed, InfraError, IntegrityError, UsageError
from mlci.image import docker as dockerlib
from mlci.image.target import BUILD_FILE, PUSH_FILE, VERIFY_FILE, Target, git_commit
from mlci.image.verify import VerifyResult, verify_failures
from mlci.results import failure
from mlci.retry import retry

log = logging.getLogger(__name__)

TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class _Transient(Exception):
    """A registry/network failure worth retrying."""


def credentials() -> dict[str, str] | None:
    user = os.environ.get("MLCI_REGISTRY_USER")
    password = os.environ.get("MLCI_REGISTRY_PASSWORD")
    if not user and not password:
        return None
    if not (user and password):
        raise UsageError("set both MLCI_REGISTRY_USER and MLCI_REGISTRY_PASSWORD (or neither)")
    return {"username": user, "password": password}


def registry_host(repository: str) -> str | None:
    first = repository.split("/", 1)[0]
    return first if "/" in repository and ("." in first or ":" in first or first == "localhost") else None


def tags_for(cfg: Any, target: Target, extra: list[str]) -> list[str]:
    tags = [target.tag]
    commit = git_commit(cfg.root)
    if commit:
        tags.append(commit[:12])
    for t in [*cfg.image.tags, *extra]:
        if not TAG_RE.match(t):
            raise UsageError(f"image tag {t!r}: expected letters, digits, '_', '.', '-' (at most 128)")
        tags.append(t)
    return list(dict.fromkeys(tags))


def push(cfg: Any, target: Target, extra_tags: list[str], force: bool = False,
         on_step: Callable[[str], None] | None = None) -> dict[str, Any]:
    import docker
    import requests

    step = on_step or (lambda _m: None)
    repo = cfg.image.repository
    if not repo:
        raise UsageError(f"{cfg.path.name}: image.repository is not set; expected e.g. registry:5000/ml/{cfg.name}")
    built = target.read(BUILD_FILE)
    if not built:
        raise UsageError(f"{target.records}: no {BUILD_FILE}; run `mlci image build` first")
    verified: VerifyResult | None = target.read(VERIFY_FILE)
    if not force:
        if not verified or verified.get("image_id") != built["image_id"]:
            why = (f"{built['tag']} has not been verified; run `mlci image verify` first "
                   "(an unverified image is never pushed)")
            raise CheckFailed(why, failures=[failure("image verify", why)])
        if not verified.get("passed"):
            failures = verify_failures(verified["gates"])
            raise CheckFailed(f"{built['tag']} failed verification ({', '.join(f['name'] for f in failures)}); "
                              "not pushing", failures=failures)
    tags = tags_for(cfg, target, extra_tags)
    auth = credentials()
    client = dockerlib.client()
    try:
        image = client.images.get(built["image_id"])
    except docker.errors.ImageNotFound:
        raise UsageError(f"image {built['tag']} is gone from the Docker daemon; build and verify it again") from None
    host = registry_host(repo)
    if auth:
        step(f"logging in to {host or 'the default registry'} as {auth['username']}")
        _login(client, auth, host)
    digest = None
    for tag in tags:
        image.tag(repo, tag)
        step(f"pushing {repo}:{tag}")
        digest = retry(lambda t=tag: _push_one(client, repo, t, auth), what=f"pushing {repo}:{tag}",
                       on=(_Transient, requests.exceptions.ConnectionError))
    result = {"repository": repo, "tags": tags, "digest": digest, "reference": f"{repo}@{digest}",
              "image_id": built["image_id"], "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "model": built["model"], "verify": _verify_summary(verified)}
    recorded = record_on_version(cfg, target, result)
    result["recorded_on"] = recorded
    target.write(PUSH_FILE, result)
    return result


def _verify_summary(verified: dict[str, Any] | None) -> dict[str, Any] | None:
    if not verified:
        return None
    load = verified.get("load") or {}
    return {"passed": verified.get("passed"), "rps": load.get("rps"), "p99_ms": load.get("p99_ms"),
            "verified_at": verified.get("verified_at")}


def _login(client: Any, auth: dict[str, str], host: str | None) -> None:
    import docker
    import requests

    def attempt() -> None:
        try:
            client.login(username=auth["username"], password=auth["password"], registry=host, reauth=True)
        except docker.errors.APIError as exc:
            text = str(exc.explanation or exc)
            if dockerlib.transient(text):
                raise _Transient(text) from None
            raise UsageError(f"login to {host} as {auth['username']} failed: {_redact(text, auth)}") from None

    retry(attempt, what=f"logging in to {host}", on=(_Transient, requests.exceptions.ConnectionError))


def _redact(text: str, auth: dict[str, str] | None) -> str:
    if auth and auth.get("password"):
        text = text.replace(auth["password"], "***")
    return text


def _push_one(client: Any, repo: str, tag: str, auth: dict[str, str] | None) -> str:
    import docker

    digest = None
    try:
        for chunk in client.api.push(repo, tag=tag, stream=True, decode=True, auth_config=auth):
            if "error" in chunk:
                text = _redact(str(chunk["error"]), auth)
                if dockerlib.transient(text):
                    raise _Transient(text)
                if "unauthorized" in text.lower() or "denied" in text.lower():
                    raise UsageError(f"push {repo}:{tag} refused: {text} (check MLCI_REGISTRY_USER/PASSWORD)")
                raise UsageError(f"push {repo}:{tag} failed: {text}")
            aux = chunk.get("aux") or {}
            if aux.get("Digest"):
                digest = aux["Digest"]
    except docker.errors.APIError as exc:
        text = _redact(str(exc.explanation or exc), auth)
        if dockerlib.transient(text):
            raise _Transient(text) from None
        raise UsageError(f"push {repo}:{tag} failed: {text}") from None
    if not digest:
        raise _Transient("the registry returned no digest")
    return digest


def record_on_version(cfg: Any, target: Target, pushed: dict[str, Any]) -> str | None:
    """Add the pushed image to the model version's record (compare-and-swap) and audit it.
    Returns 'name vN' or None when the model is not registered."""
    if target.version is None:
        return None
    from mlci.registry import Registry
    from mlci.runs import Project
    from mlci.store.base import KeyMissing
    from mlci.util import dumps

    registry = Registry(Project(cfg).open_store(), target.name)
    key = f"{registry.prefix}/versions/{target.version}.json"
    entry = {k: pushed[k] for k in ("repository", "digest", "tags", "image_id", "pushed_at", "verify")}

    def update() -> None:
        for _ in range(50):
            try:
                raw, token = registry.store.get_versioned(key)
            except KeyMissing:
                raise UsageError(f"{target.name} v{target.version} is not in the registry at "
                                 f"{registry.store.uri}") from None
            try:
                record = json.loads(raw)
            except ValueError:
                raise IntegrityError(f"registry record {key} is not valid JSON") from None
            images = [i for i in record.get("images", []) if i.get("digest") != entry["digest"]]
            record["images"] = [*images, entry]
            if registry.store.put_if_match(key, dumps(record), token):
                return
        raise IntegrityError(f"{key}: too much contention, gave up")

    try:
        update()
    except (OSError, ConnectionError) as exc:
        raise InfraError(f"recording the image on {target.name} v{target.version}: {exc}") from None
    registry.event("image", version=target.version, repository=pushed["repository"], digest=pushed["digest"],
                   tags=pushed["tags"], actor=_actor())
    return f"{target.name} v{target.version}"


def _actor() -> str:
    from mlci.registry import default_actor

    return default_actor()
