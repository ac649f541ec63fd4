"""The ``deploy:`` section of mlci.yaml: named environments and where each one runs.

Kept free of mlci.config imports (config.py imports this module), with the same rules as
``config.Section``: unknown keys are errors.

    deploy:
      staging:
        target: docker
        port: 8501
        memory: 2g
      production:
        target: kubernetes
        namespace: ml
        replicas: 2
        gpus: 1
        canary: {weight: 10, duration: 300, max_error_rate: 0.01, max_p99_ms: 250}
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?([kKmMgGtT]i?|[bB])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Proxy(_Section):
    """docker: the HAProxy container in front of the model containers (blue/green behind it)."""

    image: str | None = Field(
        None, description="proxy image with HAProxy; default: built on the Docker host from `base` with "
                          "Debian's haproxy package (once, tagged mlci-proxy:<recipe hash>); a given image is pulled")
    base: str | None = Field(None, description="Debian-based image the proxy is built from; default: image.base")
    drain_timeout: float = Field(30, gt=0, description="seconds the proxy's old process gets to finish open "
                                 "connections after a switch (then HAProxy's hard-stop-after ends it)")
    timeout: float = Field(60, gt=0, description="seconds a request may take through the proxy")


class Canary(_Section):
    """docker: send a share of requests to the new version and watch it before promoting."""

    weight: int = Field(10, ge=1, le=99, description="percent of requests sent to the new version")
    duration: float = Field(300, gt=0, description="seconds of observation before promotion")
    interval: float = Field(10, gt=0, description="seconds between two looks at the new version's /metrics")
    min_requests: int = Field(20, ge=0, description="requests the new version must answer in the window; "
                              "fewer: rolled back (nothing to judge it by)")
    max_error_rate: float = Field(0.01, ge=0, le=1, description="share of /invocations answered 5xx above "
                                  "which the canary is rolled back")
    max_p99_ms: float | None = Field(None, gt=0, description="p99 latency of /invocations (ms) above which "
                                     "the canary is rolled back")
    drift: bool = Field(True, description="where the server logs predictions (MLCI_LOG_PREDICTIONS in `env`), "
                        "roll back when its inputs drift from the version's reference statistics "
                        "(monitor.drift settings)")


LOG_MOUNT = "/var/log/mlci/predictions"  # where a deployed server logs predictions inside its container


class Environment(_Section):
    target: Literal["docker", "kubernetes"] = Field(description="where the model runs")
    model: str | None = Field(
        None, description="version or alias deployed by default; default: the alias named like the "
                          "environment if it exists, else the latest blessed version")
    port: int = Field(8080, ge=1, le=65535,
                      description="docker: host port; kubernetes: the Service port")
    env: dict[str, str] = Field(default_factory=dict, description="environment variables of the server")
    cpus: float | None = Field(None, gt=0, description="CPU limit (cores)")
    memory: str | None = Field(None, description="memory limit, e.g. 2g (docker) or 2Gi (kubernetes)")
    gpus: int | Literal["all"] | None = Field(
        None, description="GPUs requested: a count, or `all` (docker only); kubernetes: nvidia.com/gpu")
    health_timeout: float = Field(120, gt=0, description="seconds to wait for /health of a new version")
    smoke: bool = Field(True, description="run image.verify.examples against the new and the live endpoint")
    url: str | None = Field(
        None, description="the live endpoint for the post-deploy smoke test; docker default: "
                          "http://<docker host>:<port>; kubernetes: no smoke test without it")
    # docker
    docker_host: str | None = Field(
        None, description="docker: daemon to deploy to (unix://, tcp:// with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, "
                          "ssh://user@host); default: DOCKER_HOST, else the local daemon")
    bind: str = Field("0.0.0.0", description="docker: host address the port is published on")
    restart: Literal["no", "always", "unless-stopped", "on-failure"] = Field(
        "unless-stopped", description="docker: restart policy")
    stop_timeout: int = Field(10, ge=0, description="docker: seconds the old container gets to finish on SIGTERM")
    prediction_logs: str | None = Field(
        None, description="docker: a host directory (relative to mlci.yaml) the server logs predictions into, "
                          "mounted at /var/log/mlci/predictions with MLCI_LOG_PREDICTIONS set; `mlci deploy` "
                          "creates it owned by the image's user (uid 10001) or refuses, before anything changes, "
                          "an existing one that user could not write")
    proxy: Proxy = Field(default_factory=Proxy, description="docker: the reverse proxy on `port`")
    canary: Canary | None = Field(None, description="docker: every deploy is a canary first (`--no-canary` "
                                  "skips it); unset: switch at once after the health gate")
    # kubernetes
    namespace: str = Field("default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                           description="kubernetes: namespace")
    context: str | None = Field(None, description="kubernetes: kubectl context; default: the current one")
    replicas: int = Field(1, ge=0, description="kubernetes: pod replicas")
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        "ClusterIP", description="kubernetes: Service type")
    rollout_timeout: int = Field(300, gt=0, description="kubernetes: seconds for `kubectl rollout status`")
    image_pull_secret: str | None = Field(None, description="kubernetes: imagePullSecrets name")

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and not _MEMORY.match(value):
            raise ValueError(f"memory {value!r}: expected a size like 512m, 2g or 2Gi")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_NAME.match(key):
                raise ValueError(f"env: {key!r} is not a valid variable name")
        return value

    @model_validator(mode="after")
    def _gpus_for_target(self) -> "Environment":
        if self.target == "kubernetes" and self.gpus == "all":
            raise ValueError("gpus: `all` works only for docker; give kubernetes a count")
        if self.target == "kubernetes" and self.canary is not None:
            raise ValueError("canary: works only for docker; on kubernetes use the cluster's progressive "
                             "delivery (docs/deploy.md)")
        return self
