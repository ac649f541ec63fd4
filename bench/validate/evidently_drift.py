"""Evidently's DataDriftPreset on the benchmark's 8 comparable columns, end to end.

Run with a Python where evidently imports (see README: evidently 0.7 needs pandas < 3)."""

import sys
import time

t0 = time.perf_counter()
import pandas as pd  # noqa: E402

COLUMNS = ["age", "qty", "visits", "income", "score", "ratio", "plan", "region"]
ref = pd.read_parquet(sys.argv[1], columns=COLUMNS)
cur = pd.read_parquet(sys.argv[2], columns=COLUMNS)
try:  # evidently >= 0.7
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    result = snapshot.dict()
    drifted = next((m["value"] for m in result["metrics"] if "DriftedColumnsCount" in m.get("metric_name", "")), None)
except ImportError:  # evidently < 0.7
    from evidently.metric_preset import DataDriftPreset
    from evidently.report import Report

    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=ref, current_data=cur)
    drifted = report.as_dict()["metrics"][0]["result"]["number_of_drifted_columns"]
print(f"evidently drifted={drifted} seconds={time.perf_counter() - t0:.3f}")
