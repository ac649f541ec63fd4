"""Benchmark: `mlci report` vs an Evidently report on the breast-cancer example.

  python3 bench/reports/bench_report.py [--evidently-python PATH] [--repeat 3]

Runs the example pipeline once (in a temp copy), then times `mlci report` (wall and CPU of
the child process, cold process each time, i.e. what a Jenkins step pays) and measures the
HTML size. With --evidently-python (a Python that has `evidently` installed, e.g. a venv), it
also builds Evidently's DataDriftPreset + ClassificationPreset report on the same train/test
rows and predictions and measures the same. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

EVIDENTLY_SCRIPT = r"""
import sys, time
t0 = time.perf_counter()
import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.presets import ClassificationPreset, DataDriftPreset
train = pd.read_csv(sys.argv[1]).drop(columns=["patient_id"])
test = pd.read_csv(sys.argv[2]).drop(columns=["patient_id"])
preds = pd.read_parquet(sys.argv[3])
cur = test.assign(prediction=preds["y_pred"].to_numpy())
ref = train.assign(prediction=train["diagnosis"])
definition = DataDefinition(classification=[BinaryClassification(target="diagnosis", prediction_labels="prediction")])
report = Report([DataDriftPreset(), ClassificationPreset()])
snapshot = report.run(current_data=Dataset.from_pandas(cur, data_definition=definition),
                      reference_data=Dataset.from_pandas(ref, data_definition=definition))
snapshot.save_html(sys.argv[4])
print(time.perf_counter() - t0)
"""


def timed(cmd: list[str], **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall, cpu, proc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--evidently-python", help="a python with evidently installed")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    mlci = [sys.executable, "-m", "mlci"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "examples"
        shutil.copytree(REPO / "examples", root, ignore=shutil.ignore_patterns(".mlci", "data"))
        subprocess.run([sys.executable, str(root / "make_data.py"), "breast-cancer"], check=True,
                       capture_output=True)
        project = root / "breast-cancer"
        timed(mlci + ["run", "--promote", "--no-report"], cwd=project, env=env)
        out: dict = {"mlci": {"runs": []}}
        for i in range(args.repeat):
            wall, cpu, proc = timed(mlci + ["report", "-o", str(Path(tmp) / f"r{i}"), "--json"], cwd=project, env=env)
            result = json.loads(proc.stdout)
            out["mlci"]["runs"].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                                        "in_process_s": result["timings_s"]["total"]})
        out["mlci"]["html_bytes"] = (Path(tmp) / "r0" / "report.html").stat().st_size
        out["mlci"]["plots"] = len(json.loads((Path(tmp) / "r0" / "report.json").read_text())["plots"])
        if args.evidently_python:
            run_dir = project / ".mlci" / "runs" / (project / ".mlci" / "runs" / "LATEST").read_text().strip()
            script = Path(tmp) / "ev.py"
            script.write_text(EVIDENTLY_SCRIPT)
            out["evidently"] = {"runs": []}
            for i in range(args.repeat):
                html = Path(tmp) / f"ev{i}.html"
                wall, cpu, proc = timed([args.evidently_python, str(script), str(project / "data" / "train.csv"),
                                         str(project / "data" / "test.csv"), str(run_dir / "predictions.parquet"),
                                         str(html)])
                out["evidently"]["runs"].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)})
            out["evidently"]["html_bytes"] = (Path(tmp) / "ev0.html").stat().st_size
            ext = subprocess.run(["grep", "-c", "-E", "<script[^>]+src=|<link[^>]+href=\"http", str(Path(tmp) / "ev0.html")],
                                 capture_output=True, text=True).stdout.strip()
            out["evidently"]["external_refs_lines"] = int(ext or 0)
    out["load_average"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
