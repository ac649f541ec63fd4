"""`mlci site` on a store of MODELS x VERSIONS (default 100 x 500): the first build, an
unchanged rebuild and a rebuild after one new version, with the store requests each makes.

    python3 bench/site/bench_site.py [--models 100] [--versions 500] [--events 3]

The store is written directly in the registry's layout (version records, one alias, register
and promote events), as a long-lived registry would hold them. Run with the project's venv.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def write_store(root: Path, models: int, versions: int) -> None:
    for m in range(models):
        base = root / "models" / f"model-{m:03d}"
        for d in ("versions", "aliases", "events"):
            (base / d).mkdir(parents=True)
        for v in range(1, versions + 1):
            acc = 0.8 + ((m * 7 + v * 13) % 100) / 600
            rec = {"name": f"model-{m:03d}", "version": v, "run_id": f"{m:04d}{v:012d}", "blessed": acc > 0.85,
                   "created": f"2026-{1 + v % 12:02d}-01T00:00:00.000Z", "actor": "jenkins",
                   "metrics": {"accuracy": acc, "f1": acc - 0.02, "roc_auc": acc + 0.03},
                   "gates": [{"metric": "accuracy", "threshold": 0.85, "passed": acc > 0.85}],
                   "build": {"url": f"https://jenkins.example/job/m{m}/{v}/", "job": f"m{m}", "number": str(v)},
                   "lineage": {"data": {"train": {"sha256": f"{v:064x}"}}, "code": {"hash": f"{m:064x}",
                               "git_commit": f"{v:040x}"}, "params": {"n_estimators": 100 + v % 5}}}
            (base / "versions" / f"{v}.json").write_text(json.dumps(rec))
            (base / "events" / f"2026{v:010d}-reg.json").write_text(json.dumps(
                {"event": "register", "version": v, "actor": "jenkins", "time": rec["created"]}))
        (base / "aliases" / "production.json").write_text(json.dumps(
            {"alias": "production", "version": versions - 1, "history": [versions - 2], "actor": "alice"}))
        (base / "events" / "2027-promote.json").write_text(json.dumps(
            {"event": "promote", "alias": "production", "version": versions - 1, "from_version": versions - 2,
             "actor": "alice", "reason": "weekly release", "time": "2027-01-01T00:00:00.000Z"}))


def site(store: Path, out: Path) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "mlci", "site", "-o", str(out), "--store", str(store), "--json"],
                       capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--versions", type=int, default=500)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mlci-bench-site-"))
    try:
        store, out = tmp / "store", tmp / "site"
        write_store(store, args.models, args.versions)
        rows = []
        for label in ("first build", "unchanged rebuild", "after one new version"):
            if label == "after one new version":
                src = store / "models" / "model-000" / "versions" / f"{args.versions}.json"
                rec = json.loads(src.read_text())
                rec["version"] = args.versions + 1
                (src.parent / f"{args.versions + 1}.json").write_text(json.dumps(rec))
            seconds, result = site(store, out)
            rows.append((label, seconds, result["requests"]["list"], result["requests"]["get"],
                         len(result["written"]), result["pages"]))
        # the floor for any rebuild: listing the store's records with their sizes and times
        t0 = time.perf_counter()
        subprocess.run(["find", str(store / "models"), "-type", "f", "-printf", "%s %T@ %p\n"],
                       stdout=subprocess.DEVNULL, check=True)
        floor = time.perf_counter() - t0
        print(f"mlci site, {args.models} models x {args.versions} versions (local store)")
        print(f"{'build':24} {'seconds':>8} {'lists':>6} {'GETs':>7} {'pages written':>14} {'pages':>7}")
        for label, seconds, lists, gets, written, pages in rows:
            print(f"{label:24} {seconds:8.2f} {lists:6d} {gets:7d} {written:14d} {pages:7d}")
        print(f"{'find (list + stat)':24} {floor:8.2f}   (the floor: every rebuild lists the records)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
