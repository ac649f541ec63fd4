"""Device choice: nvidia-smi's output parsed, the least-loaded GPU picked, CUDA_VISIBLE_DEVICES
handed to the trainer. A fake `nvidia-smi` on PATH prints output in nvidia-smi's exact CSV
format (`--format=csv,noheader,nounits`), including a busy GPU; no GPU exists on this machine."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from mlci import devices
from mlci.errors import InfraError, UsageError

# index, name, memory.total [MiB], memory.used [MiB], utilization.gpu [%]
FOUR_A100_ONE_BUSY = """\
0, NVIDIA A100-SXM4-80GB, 81920, 78012, 97
1, NVIDIA A100-SXM4-80GB, 81920, 40311, 35
2, NVIDIA A100-SXM4-80GB, 81920, 4, 0
3, NVIDIA A100-SXM4-80GB, 81920, 1210, 0
"""
TWO_T4 = "0, Tesla T4, 15360, 0, 0\n1, Tesla T4, 15360, 14800, 100\n"
MIG_NA = "0, NVIDIA H100 80GB HBM3, 81559, [N/A], [N/A]\n1, NVIDIA H100 80GB HBM3, 81559, 12, 3\n"


def fake_smi(tmp_path: Path, output: str = "", exit_code: int = 0, stderr: str = "") -> Path:
    """A directory holding an executable `nvidia-smi` that prints ``output`` for the query
    mlci sends, and fails on any other arguments."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "smi-output.txt").write_text(output)
    script = bin_dir / "nvidia-smi"
    script.write_text(f"""#!/bin/sh
case "$*" in
  "--query-gpu=index,name,memory.total,memory.used,utilization.gpu --format=csv,noheader,nounits") ;;
  *) echo "fake nvidia-smi: unexpected arguments: $*" >&2; exit 64 ;;
esac
if [ {exit_code} -ne 0 ]; then echo "{stderr}" >&2; exit {exit_code}; fi
cat "{bin_dir / 'smi-output.txt'}"
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir


@pytest.fixture
def smi_path(tmp_path, monkeypatch):
    def install(output: str = "", exit_code: int = 0, stderr: str = "") -> Path:
        bin_dir = fake_smi(tmp_path, output, exit_code, stderr)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        return bin_dir
    return install


def test_parse_reads_every_gpu_and_tolerates_headers_na_and_commas():
    text = ("index, name, memory.total [MiB], memory.used [MiB], utilization.gpu [%]\n\n"
            + MIG_NA + "2, Weird, Name, With Commas, 1000 MiB, 10 MiB, 5 %\nnot a gpu line\n")
    gpus = devices.parse_gpus(text)
    assert [g.index for g in gpus] == [0, 1, 2]
    assert gpus[0].name == "NVIDIA H100 80GB HBM3"
    assert gpus[0].memory_used_mib is None and gpus[0].utilization_pct is None
    assert gpus[2].name == "Weird, Name, With Commas"
    assert (gpus[2].memory_total_mib, gpus[2].memory_used_mib, gpus[2].utilization_pct) == (1000, 10, 5)


def test_auto_picks_the_least_loaded_gpu(smi_path):
    smi_path(FOUR_A100_ONE_BUSY)
    device = devices.select("auto")
    assert device.kind == "cuda" and device.gpu.index == 2
    assert device.env == {"CUDA_VISIBLE_DEVICES": "2"}
    assert "least loaded of 4 GPUs" in device.note
    assert devices.select("cuda").gpu.index == 2
    assert devices.select("cuda:0").gpu.index == 0  # asked for by number: honoured, busy or not


def test_busy_t4_is_avoided_and_na_utilization_sorts_last(smi_path):
    smi_path(TWO_T4)
    assert devices.select("cuda").gpu.index == 0
    assert devices.least_loaded(devices.parse_gpus(MIG_NA)).index == 1


def test_cuda_visible_devices_limits_the_candidates(smi_path, monkeypatch):
    smi_path(FOUR_A100_ONE_BUSY)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert devices.select("auto").gpu.index == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert devices.select("auto").kind == "cpu"
    with pytest.raises(UsageError, match="hides every GPU"):
        devices.select("cuda")


def test_no_nvidia_smi_means_cpu_for_auto_and_an_error_for_cuda(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    assert devices.select("auto").kind == "cpu"
    with pytest.raises(UsageError, match=r"--device cuda: no GPU available on this machine \(nvidia-smi is not installed\)"):
        devices.select("cuda")


def test_missing_index_and_bad_spec_are_usage_errors(smi_path):
    smi_path(TWO_T4)
    with pytest.raises(UsageError, match="no GPU 7 here; available: cuda:0, cuda:1"):
        devices.select("cuda:7")
    with pytest.raises(UsageError, match="expected auto, cpu, cuda or cuda:N"):
        devices.select("tpu")


def test_broken_driver_is_infrastructure_for_cuda_and_cpu_for_auto(smi_path):
    smi_path(exit_code=9, stderr="NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")
    with pytest.raises(InfraError, match="nvidia-smi exited 9: NVIDIA-SMI has failed"):
        devices.select("cuda")
    device = devices.select("auto")
    assert device.kind == "cpu" and "couldn't communicate" in device.note


def test_parallel_jobs_are_spread_over_the_gpus(smi_path):
    smi_path(FOUR_A100_ONE_BUSY)
    spread = devices.spread(devices.select("auto"), 5)
    assert [d.env["CUDA_VISIBLE_DEVICES"] for d in spread] == ["2", "3", "1", "0", "2"]
    assert {d.env["CUDA_VISIBLE_DEVICES"] for d in devices.spread(devices.select("cuda:1"), 3)} == {"1"}


def test_train_hands_the_chosen_gpu_to_the_script_and_records_it(tmp_path, mlci):
    from test_trainers import make_project

    cfg = make_project(tmp_path / "p")
    bin_dir = fake_smi(tmp_path, FOUR_A100_ONE_BUSY)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    r = mlci("train", "-c", cfg, "--device", "cuda", env=env)
    assert r.returncode == 0, r.stderr
    assert "device=cuda seed=3 task=classification visible='2'" in r.stderr
    assert "on GPU 2 NVIDIA A100-SXM4-80GB (4/81920 MiB, utilization 0%)" in r.stderr
    run_dir = next(p for p in (tmp_path / "p" / ".mlci" / "runs").iterdir() if p.is_dir())
    device = json.loads((run_dir / "run.json").read_text())["device"]
    assert device["kind"] == "cuda" and device["gpu"]["index"] == 2
    assert device["gpu"]["name"] == "NVIDIA A100-SXM4-80GB" and device["cuda_visible_devices"] == "2"


def test_train_asking_for_cuda_without_a_gpu_exits_2(tmp_path, mlci):
    from test_trainers import make_project

    cfg = make_project(tmp_path / "p")
    r = mlci("train", "-c", cfg, "--device", "cuda", env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "mlci train: error: --device cuda: no GPU available on this machine (nvidia-smi is not installed); "
        "use --device cpu or auto, or run on a GPU agent")
