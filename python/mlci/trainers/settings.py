"""The `train:` section of mlci.yaml: device, time limit of a command trainer, container.

None of it is part of the run's fingerprint: where and on what a model trains does not change
which inputs it was trained from (retrain on another device with --force).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_CPU_IMAGE = "mlci/agent-cpu:latest"
DEFAULT_CUDA_IMAGE = "mlci/agent-cuda:latest"


class Section(BaseModel):
    """Same rules as mlci.config.Section; defined here because config.py imports this module."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Container(Section):
    image: str | None = Field(
        None, description=f"image for `--in-container`; default {DEFAULT_CUDA_IMAGE} on a GPU, "
                          f"{DEFAULT_CPU_IMAGE} otherwise")
    volumes: list[str] = Field(
        default_factory=list, description="extra bind mounts, HOST:CONTAINER[:ro] (datasets, caches)")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables in the container")
    network: str | None = Field(None, description="docker network mode (default: docker's default)")
    shm_size: str | None = Field("1g", description="/dev/shm size (PyTorch data loaders need more than 64m)")


class Training(Section):
    device: str = Field("auto", pattern=r"^(auto|cpu|gpu|cuda(:[0-9]+)?)$",
                        description="auto | cpu | cuda | cuda:N (the --device default)")
    timeout: float | None = Field(None, gt=0, description="seconds a `trainer: command` may run; none: no limit")
    in_container: bool = Field(False, description="train inside the agent image (the --in-container default)")
    container: Container = Field(default_factory=Container)
