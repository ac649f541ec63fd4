"""Training devices: GPU discovery through nvidia-smi and the choice of a device.

``--device`` takes ``auto`` (the least-loaded GPU if there is one, else the CPU), ``cpu``,
``cuda`` (the least-loaded GPU; an error without one) or ``cuda:N`` (GPU N as nvidia-smi
numbers it). The chosen GPU is handed to the trainer through CUDA_VISIBLE_DEVICES, so inside
the training process it is always ``cuda:0``.

"Least loaded" is: lowest utilization, then the smallest fraction of memory in use, then the
lowest index. A GPU whose utilization nvidia-smi cannot report ("[N/A]") sorts after those that
report one. When CUDA_VISIBLE_DEVICES is already set to indices (a scheduler or an admin gave
this job some GPUs), only those are candidates.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

from mlci.errors import InfraError, UsageError

log = logging.getLogger(__name__)

QUERY = "index,name,memory.total,memory.used,utilization.gpu"
NVIDIA_SMI_ARGS = [f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"]
SMI_TIMEOUT_S = 15


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_total_mib: float | None
    memory_used_mib: float | None
    utilization_pct: float | None

    @property
    def memory_fraction(self) -> float:
        if not self.memory_total_mib or self.memory_used_mib is None:
            return 1.0
        return self.memory_used_mib / self.memory_total_mib

    def load_key(self) -> tuple[Any, ...]:
        util = self.utilization_pct
        return (util is None, util if util is not None else 0.0, self.memory_fraction, self.index)

    def describe(self) -> str:
        mem = (f"{self.memory_used_mib:.0f}/{self.memory_total_mib:.0f} MiB"
               if self.memory_total_mib is not None and self.memory_used_mib is not None else "memory n/a")
        util = f"{self.utilization_pct:.0f}%" if self.utilization_pct is not None else "n/a"
        return f"GPU {self.index} {self.name} ({mem}, utilization {util})"


@dataclass
class Device:
    """The device a training runs on. ``kind`` is cpu or cuda; ``env`` is what the trainer gets."""

    kind: str
    requested: str
    gpu: Gpu | None = None
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def torch_name(self) -> str:
        """What MLCI_DEVICE says: ``cpu`` or ``cuda`` (the chosen GPU is cuda:0 in the process)."""
        return self.kind

    def describe(self) -> str:
        return self.gpu.describe() if self.gpu else "CPU"

    def as_record(self) -> dict[str, Any]:
        return {"kind": self.kind, "requested": self.requested,
                "gpu": asdict(self.gpu) if self.gpu else None,
                "cuda_visible_devices": self.env.get("CUDA_VISIBLE_DEVICES"), "note": self.note or None}


def _number(text: str) -> float | None:
    text = text.strip()
    if not text or text.startswith("[") or text.upper() in {"N/A", "NA", "NOT SUPPORTED"}:
        return None
    text = text.removesuffix("%").removesuffix("MiB").strip()
    try:
        return float(text)
    except ValueError:
        return None


def parse_gpus(output: str) -> list[Gpu]:
    """Parse ``nvidia-smi --query-gpu=index,name,memory.total,memory.used,utilization.gpu
    --format=csv,noheader,nounits`` output. Tolerates a header line, blank lines, unit
    suffixes, "[N/A]" values and commas inside a GPU's name; skips lines it cannot read."""
    gpus = []
    for line in output.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5 or not parts[0].isdigit():
            continue  # header, warning text, or garbage
        index = int(parts[0])
        total, used, util = (_number(p) for p in parts[-3:])
        name = ", ".join(parts[1:-3]) or "unknown GPU"
        gpus.append(Gpu(index, name, total, used, util))
    return gpus


class GpuQueryFailed(Exception):
    """nvidia-smi exists but did not answer (driver not loaded, hung GPU)."""


def query_gpus() -> list[Gpu]:
    """The GPUs nvidia-smi reports; [] when nvidia-smi is not installed.
    Raises GpuQueryFailed when it is installed but fails."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        r = subprocess.run([exe, *NVIDIA_SMI_ARGS], capture_output=True, text=True, timeout=SMI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise GpuQueryFailed(f"nvidia-smi did not answer within {SMI_TIMEOUT_S}s") from None
    except OSError as exc:
        raise GpuQueryFailed(f"cannot run nvidia-smi: {exc}") from None
    if r.returncode != 0:
        msg = (r.stderr.strip() or r.stdout.strip()).splitlines()
        raise GpuQueryFailed(f"nvidia-smi exited {r.returncode}: {msg[0] if msg else 'no output'}")
    return parse_gpus(r.stdout)


def _visible_filter(gpus: list[Gpu]) -> tuple[list[Gpu], str]:
    """Restrict to CUDA_VISIBLE_DEVICES when it lists indices."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return gpus, ""
    wanted = [v.strip() for v in value.split(",") if v.strip()]
    if not wanted or wanted == ["-1"]:
        return [], f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU"
    if all(w.isdigit() for w in wanted):
        keep = {int(w) for w in wanted}
        return [g for g in gpus if g.index in keep], f"limited to CUDA_VISIBLE_DEVICES={value}"
    return gpus, ""  # UUIDs or MIG ids: left to the CUDA runtime


def least_loaded(gpus: list[Gpu]) -> Gpu:
    return min(gpus, key=Gpu.load_key)


def select(spec: str | None, gpus: list[Gpu] | None = None) -> Device:
    """Resolve ``auto|cpu|cuda|cuda:N`` to a Device. Raises UsageError when a GPU is asked for
    and there is none, InfraError when nvidia-smi is present but broken and cuda was asked for."""
    spec = (spec or "auto").strip().lower()
    if spec == "gpu":
        spec = "cuda"
    if spec == "cpu":
        return Device("cpu", spec, env={"CUDA_VISIBLE_DEVICES": ""})
    index: int | None = None
    if spec.startswith("cuda:"):
        tail = spec.split(":", 1)[1]
        if not tail.isdigit():
            raise UsageError(f"--device {spec}: expected cuda:N with N a GPU index (e.g. cuda:0)")
        index = int(tail)
    elif spec not in ("auto", "cuda"):
        raise UsageError(f"--device {spec}: expected auto, cpu, cuda or cuda:N")

    if gpus is None:
        try:
            gpus = query_gpus()
        except GpuQueryFailed as exc:
            if spec == "auto":
                log.warning("%s; training on the CPU", exc)
                return Device("cpu", spec, env={"CUDA_VISIBLE_DEVICES": ""}, note=str(exc))
            raise InfraError(f"--device {spec}: {exc}") from None
    visible, why = _visible_filter(gpus)
    if not visible:
        if spec == "auto":
            return Device("cpu", spec, env={"CUDA_VISIBLE_DEVICES": ""},
                          note=why or "no GPU found (nvidia-smi not installed or lists none)")
        reason = why or ("nvidia-smi is not installed" if shutil.which("nvidia-smi") is None and not gpus
                         else "nvidia-smi lists no GPU")
        raise UsageError(f"--device {spec}: no GPU available on this machine ({reason}); "
                         "use --device cpu or auto, or run on a GPU agent")
    if index is not None:
        chosen = next((g for g in visible if g.index == index), None)
        if chosen is None:
            have = ", ".join(f"cuda:{g.index}" for g in visible)
            raise UsageError(f"--device {spec}: no GPU {index} here; available: {have}")
    else:
        chosen = least_loaded(visible)
    note = why
    if len(visible) > 1 and index is None:
        note = (note + "; " if note else "") + f"least loaded of {len(visible)} GPUs"
    return Device("cuda", spec, chosen, {"CUDA_VISIBLE_DEVICES": str(chosen.index)}, note)


def spread(device: Device, n: int, gpus: list[Gpu] | None = None) -> list[Device]:
    """``n`` devices for parallel jobs: round-robin over the visible GPUs, least loaded first,
    when ``device`` is a GPU chosen automatically; otherwise ``device`` n times."""
    if device.kind != "cuda" or device.requested.startswith("cuda:"):
        return [device] * n
    try:
        visible, _ = _visible_filter(gpus if gpus is not None else query_gpus())
    except GpuQueryFailed:
        return [device] * n
    ordered = sorted(visible, key=Gpu.load_key) or [device.gpu]
    return [Device("cuda", device.requested, g, {"CUDA_VISIBLE_DEVICES": str(g.index)},
                   f"job {i + 1} of {n} on GPU {g.index}") for i, g in
            ((i, ordered[i % len(ordered)]) for i in range(n))]


def for_training(spec: str | None, trainer: str) -> Device:
    """The device for a training: ``select(spec)``, except that ``auto`` means the CPU for the
    scikit-learn trainer (scikit-learn does not use GPUs, so none is claimed for it)."""
    spec = spec or "auto"
    if trainer == "sklearn" and spec == "auto":
        return Device("cpu", spec, env={"CUDA_VISIBLE_DEVICES": ""}, note="scikit-learn trains on the CPU")
    device = select(spec)
    if trainer == "sklearn" and device.kind == "cuda":
        log.warning("--device %s: scikit-learn trains on the CPU; the GPU is recorded but unused", spec)
        device.note = "scikit-learn trains on the CPU"
    return device
