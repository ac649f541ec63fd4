"""JUnit XML for Jenkins: one testsuite per dataset, one testcase per rule and per drift column.

Error-level failures are <failure>s (Jenkins marks the build unstable/failed and the test
trend shows data quality over time). Warn-level failures are <skipped> with a message
starting "warning:", so they are visible without failing the build. Passing rules pass.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: str) -> str:
    """Text safe for XML 1.0 (data values may hold control characters)."""
    return _NOT_XML.sub("\ufffd", text)


def _detail(entry: dict[str, Any]) -> str:
    keep = {k: entry.get(k) for k in ("expected", "observed", "failing", "failing_rows", "stats")
            if k in entry}
    return _x(json.dumps(keep, indent=2, default=str))


def junit_xml(result: dict[str, Any]) -> str:
    root = ET.Element("testsuites", name="mlci validate")
    total = failures = skipped = 0
    for ds in result.get("datasets", []):
        suite = ET.SubElement(root, "testsuite", name=f"validation.{ds['name']}")
        n = f = s = 0
        for rule in ds["rules"]:
            case = ET.SubElement(suite, "testcase", name=rule["id"],
                                 classname=f"validation.{ds['name']}.{rule['column'] or 'table'}")
            n += 1
            if rule["status"] == "failed" and rule["severity"] == "error":
                el = ET.SubElement(case, "failure", message=_x(rule["message"]), type=rule["rule"])
                el.text = _detail(rule)
                f += 1
            elif rule["status"] == "failed":
                ET.SubElement(case, "skipped", message=_x("warning: " + rule["message"]))
                s += 1
            elif rule["status"] == "skipped":
                ET.SubElement(case, "skipped", message="not checked: " + rule["message"])
                s += 1
        drift = ds.get("drift")
        if drift:
            for col in drift["columns"]:
                case = ET.SubElement(suite, "testcase", name=f"drift.{col['column']}",
                                     classname=f"drift.{ds['name']}")
                n += 1
                value = col["statistic"]
                text = (f"{col['method']} = {value:.4f} > {col['threshold']}" if isinstance(value, float)
                        else str(col["stats"].get("reason", "drifted")))
                if col["drifted"] and col.get("severity") == "error":
                    el = ET.SubElement(case, "failure", message=f"drift in {col['column']}: {text}",
                                       type="drift")
                    el.text = _detail(col)
                    f += 1
                elif col["drifted"]:
                    ET.SubElement(case, "skipped", message=f"warning: drift in {col['column']}: {text}")
                    s += 1
            case = ET.SubElement(suite, "testcase", name="drift.dataset", classname=f"drift.{ds['name']}")
            n += 1
            msg = (f"{drift['drifted']} of {drift['compared']} columns drifted "
                   f"(share {drift['share']:.2f}, limit {drift['drift_share']})")
            if drift["dataset_drift"] and drift.get("failed"):
                el = ET.SubElement(case, "failure", message="dataset drift: " + msg, type="drift")
                f += 1
            elif drift["dataset_drift"]:
                ET.SubElement(case, "skipped", message="warning: dataset drift: " + msg)
                s += 1
        suite.set("tests", str(n))
        suite.set("failures", str(f))
        suite.set("errors", "0")
        suite.set("skipped", str(s))
        suite.set("time", str(ds.get("seconds", 0)))
        total, failures, skipped = total + n, failures + f, skipped + s
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    root.set("skipped", str(skipped))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
