"""Jobs as code: `mlci jenkins apply` next to Jenkins Job Builder (`jenkins-jobs update`).

Both upsert the same jobs (per project: a branch pipeline job and a nightly job with a cron
trigger and FORCE_RETRAIN) into a folder of the local Jenkins REST fake used by the tests
(tests/python/jenkins/fake_jenkins.py; no real Jenkins can be installed here). Measured per
tool: wall time and HTTP requests for (1) the first run, (2) a second run with nothing changed,
(3) a run after someone edited a job in the Jenkins UI (is the drift noticed and reverted?).

Usage: python3 bench/jenkins/bench_apply.py [--projects 10] [--jjb /path/to/jenkins-jobs]
JJB needs setuptools<81 (pkg_resources): python3 -m venv /tmp/jjb && /tmp/jjb/bin/pip install
"setuptools<81" jenkins-job-builder, then --jjb /tmp/jjb/bin/jenkins-jobs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "python" / "jenkins"))

from fake_jenkins import FakeJenkins  # noqa: E402

USER, TOKEN = "alice", "alice-token-1"


def timed(fake: FakeJenkins, cmd: list[str], env: dict, cwd: Path) -> tuple[float, int, int]:
    fake.requests.clear()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    posts = sum(1 for m, p, _ in fake.requests if m == "POST")
    return elapsed, len(fake.requests), posts


def hand_edit(fake: FakeJenkins, job: str) -> None:
    xml = fake.items[job]["xml"].replace("H 2 * * *", "H 3 * * *")
    fake.store(job, xml.split("\n", 1)[1])


def cron_of(fake: FakeJenkins, job: str) -> str:
    return fake.config_of(job).findtext(".//hudson.triggers.TimerTrigger/spec") or ""


def bench_mlci(fake: FakeJenkins, n: int, work: Path) -> list[tuple[str, float, int, int, str]]:
    env = {**os.environ, "JENKINS_URL": fake.url, "JENKINS_USER": USER, "JENKINS_TOKEN": TOKEN,
           "PYTHONPATH": str(REPO / "python")}
    configs = []
    for i in range(n):
        d = work / f"model-{i}"
        d.mkdir()
        (d / "mlci.yaml").write_text(textwrap.dedent(f"""\
            name: model-{i}
            task: classification
            data: {{train: train.csv, target: y}}
            jenkins: {{folder: bench-mlci}}
            """))
        configs.append(d / "mlci.yaml")

    def run_all() -> tuple[float, int, int]:
        total = [0.0, 0, 0]
        for cfg in configs:
            e, r, p = timed(fake, [sys.executable, "-m", "mlci", "jenkins", "apply", "-c", str(cfg)], env, work)
            total[0] += e; total[1] += r; total[2] += p
        return total[0], total[1], total[2]

    rows = [("first run (create)", *run_all(), "")]
    rows.append(("second run (no change)", *run_all(), ""))
    hand_edit(fake, "bench-mlci/model-0-nightly")
    e, r, p = run_all()
    rows.append(("after a UI edit", e, r, p, "reverted" if cron_of(fake, "bench-mlci/model-0-nightly") == "H 2 * * *"
                 else "NOT reverted"))
    return rows


def bench_jjb(fake: FakeJenkins, n: int, work: Path, jjb: str) -> list[tuple[str, float, int, int, str]]:
    ini = work / "jenkins_jobs.ini"
    ini.write_text(f"[job_builder]\nignore_cache=False\n\n[jenkins]\nurl={fake.url}\nuser={USER}\npassword={TOKEN}\n")
    import yaml

    script = "@Library('mlci') _\nmlciPipeline(config: 'mlci.yaml')\n"
    jobs: list[dict] = [{"job": {"name": "bench-jjb", "project-type": "folder"}}]
    for i in range(n):
        jobs.append({"job": {"name": f"bench-jjb/model-{i}", "project-type": "pipeline", "dsl": script}})
        jobs.append({"job": {"name": f"bench-jjb/model-{i}-nightly", "project-type": "pipeline",
                             "concurrent": False, "triggers": [{"timed": "H 2 * * *"}],
                             "parameters": [{"bool": {"name": "FORCE_RETRAIN", "default": False,
                                                      "description": "retrain even when unchanged"}}],
                             "dsl": script}})
    (work / "jobs.yaml").write_text(yaml.safe_dump(jobs, sort_keys=False))
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache"), "HOME": str(work)}
    cmd = [jjb, "--conf", str(ini), "update", str(work / "jobs.yaml")]
    rows = [("first run (create)", *timed(fake, cmd, env, work), "")]
    rows.append(("second run (no change)", *timed(fake, cmd, env, work), ""))
    hand_edit(fake, "bench-jjb/model-0-nightly")
    e, r, p = timed(fake, cmd, env, work)
    rows.append(("after a UI edit", e, r, p, "reverted" if cron_of(fake, "bench-jjb/model-0-nightly") == "H 2 * * *"
                 else "NOT reverted (local cache)"))
    e, r, p = timed(fake, [jjb, "--conf", str(ini), "--ignore-cache", "update", str(work / "jobs.yaml")],
                    env, work)
    rows.append(("same, with --ignore-cache", e, r, p,
                 "reverted" if cron_of(fake, "bench-jjb/model-0-nightly") == "H 2 * * *" else "NOT reverted"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--projects", type=int, default=10)
    ap.add_argument("--jjb", default=shutil.which("jenkins-jobs"))
    a = ap.parse_args()
    fake = FakeJenkins()
    fake.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "mlci").mkdir()
            results = {"mlci jenkins apply": bench_mlci(fake, a.projects, work / "mlci")}
            if a.jjb:
                (work / "jjb").mkdir()
                results["jenkins-jobs update"] = bench_jjb(fake, a.projects, work / "jjb", a.jjb)
            else:
                print("jenkins-jobs not found: JJB not measured", file=sys.stderr)
    finally:
        fake.stop()
    print(f"{a.projects} projects x 2 jobs (+ folder), local Jenkins REST fake\n")
    print("| tool | run | wall s | HTTP requests | POSTs | UI edit |")
    print("|---|---|---|---|---|---|")
    for tool, rows in results.items():
        for name, e, r, p, note in rows:
            print(f"| {tool} | {name} | {e:.1f} | {r} | {p} | {note} |")


if __name__ == "__main__":
    main()
