"""JUnit XML for Jenkins: one testsuite per dataset, one testcase per rule and per drift column.

Error-level failures are <failure>s (Jenkins marks the build unstable/failed and the test
trend shows data quality over time). Warn-level failures are <skipped> with a message
starting "warning:", so they are visible without failing the build. Passing rules pass.
"""

from __future__ import annotations

import json
from typing import Any

from mlci.junit import Case, Suite, to_xml
from mlci.validation.drift import dataset_drift_text, drift_text
from mlci.validation.engine import DatasetResult, ValidationResult


def _detail(entry: dict[str, Any]) -> str:
    keep = {k: entry.get(k) for k in ("expected", "observed", "failing", "failing_rows", "stats")
            if k in entry}
    return json.dumps(keep, indent=2, default=str)


def junit_xml(result: ValidationResult) -> str:
    return to_xml([_suite(ds) for ds in result.get("datasets", [])], "mlci validate")


def _suite(ds: DatasetResult) -> Suite:
    suite = Suite(f"validation.{ds['name']}", time=ds.get("seconds", 0))
    for rule in ds["rules"]:
        case = Case(rule["id"], f"validation.{ds['name']}.{rule['column'] or 'table'}")
        if rule["status"] == "failed" and rule["severity"] == "error":
            case.result, case.message, case.type = "failure", rule["message"], rule["rule"]
            case.detail = _detail(rule)
        elif rule["status"] == "failed":
            case.result, case.message = "skipped", "warning: " + rule["message"]
        elif rule["status"] == "skipped":
            case.result, case.message = "skipped", "not checked: " + rule["message"]
        suite.cases.append(case)
    drift = ds.get("drift")
    if drift:
        for col in drift["columns"]:
            case = Case(f"drift.{col['column']}", f"drift.{ds['name']}")
            text = drift_text(col)
            if col["drifted"] and col.get("severity") == "error":
                case.result, case.message, case.type = "failure", f"drift in {col['column']}: {text}", "drift"
                case.detail = _detail(col)
            elif col["drifted"]:
                case.result, case.message = "skipped", f"warning: drift in {col['column']}: {text}"
            suite.cases.append(case)
        case = Case("drift.dataset", f"drift.{ds['name']}")
        msg = dataset_drift_text(drift)
        if drift["dataset_drift"] and drift.get("failed"):
            case.result, case.message, case.type = "failure", "dataset drift: " + msg, "drift"
        elif drift["dataset_drift"]:
            case.result, case.message = "skipped", "warning: dataset drift: " + msg
        suite.cases.append(case)
    return suite
