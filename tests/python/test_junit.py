"""Every JUnit file mlci writes (validation, code checks, report gates) is valid for the xUnit
plugin's junit-10.xsd and for Jenkins' junit step, whatever the text in it: control
characters, `]]>`, quotes, markup and non-ASCII in names, messages and output."""

from __future__ import annotations

import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import yaml

from junit_schema import assert_junit_10
from mlci import junit
from mlci.validation import run_validation

HOSTILE = "ctl\x00\x01\x08\x0b\x1b end ]]> <b>&amp;</b> \"double\" 'single' naïve 数据 \U0001f600"
SURROGATE = "\udcff"  # what surrogateescape makes of a stray byte: only Python strings hold it
PY = shlex.quote(sys.executable)


def test_the_writer_cleans_every_text_and_counts_each_suite():
    text = HOSTILE + SURROGATE
    case_kinds = [junit.Case(f"{kind} {text}", f"cls.{text}", result=kind, message=text,
                             type=text, detail=text, time=0.25, system_out=HOSTILE, system_err=HOSTILE)
                  for kind in junit.RESULTS]
    xml = junit.to_xml([junit.Suite(HOSTILE, case_kinds, timestamp=HOSTILE, properties={HOSTILE: HOSTILE}),
                        junit.Suite("empty", [], time=1e-7)], HOSTILE)
    assert_junit_10(xml)
    root = ET.fromstring(xml)
    assert "skipped" not in root.attrib  # junit-10.xsd has no skipped on <testsuites>
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("time")) == ("4", "1", "1", "1.000")
    first, empty = root.findall("testsuite")
    assert (first.get("tests"), first.get("failures"), first.get("errors"), first.get("skipped")) == ("4", "1", "1", "1")
    assert empty.get("time") == "0.000"  # a plain decimal, never 1e-07
    message = first.find("testcase/failure").get("message")
    assert "]]> <b>&amp;</b> \"double\" 'single' naïve 数据 \U0001f600" in message
    assert "\x00" not in message and "\ufffd" in message


def test_validation_junit_is_valid_with_hostile_data(tmp_path):
    table = pa.table({HOSTILE[:12]: ["ok", HOSTILE, "ok"], "n": [1, 2, 3], "s": ["a", "b", HOSTILE]})
    schema = {"columns": {HOSTILE[:12]: {"allowed": ["ok"]}, "n": {"max": 2, "severity": "warn"},
                          "s": {"regex": "^[a-z]$", "max_length": 1}}}
    reference = pa.table({HOSTILE[:12]: ["ok"] * 50, "n": [1.0] * 50, "s": ["a"] * 50})
    res = run_validation([("data", table)], schema=schema, reference=reference, out_dir=tmp_path)
    assert not res["passed"]
    assert_junit_10(tmp_path / "validation.xml")
    root = ET.parse(tmp_path / "validation.xml").getroot()
    assert root.find("testsuite/testcase/failure") is not None
    assert any(c.get("name", "").startswith("drift.") for c in root.iter("testcase"))


def _hostile_junit_script(tmp_path: Path) -> str:
    """A test tool writing JUnit as pytest and Maven do: nested suites, attributes the schema
    lacks (file, line), <skipped> and <error>, times with commas, hostile text."""
    (tmp_path / "tool.py").write_text(
        "import pathlib, sys\n"
        "from xml.sax.saxutils import quoteattr, escape\n"
        f"h = {HOSTILE!r}.replace('\\x00', '').replace('\\x01', '')"
        ".replace('\\x08', '').replace('\\x0b', '').replace('\\x1b', '')\n"
        "pathlib.Path('r').mkdir(exist_ok=True)\n"
        "pathlib.Path('r/j.xml').write_text(f'''<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        "<testsuites name=\"pytest tests\" skipped=\"1\" disabled=\"0\">\n"
        "<testsuite name=\"outer\" tests=\"4\" time=\"1,234.5\" hostname=\"h\" timestamp=\"2026-01-01T00:00:00\">\n"
        "<properties><property name=\"k\" value=\"v\"/></properties>\n"
        "<testcase classname=\"t\" name=\"ok\" file=\"t.py\" line=\"3\" time=\"0.1\"/>\n"
        "<testcase classname=\"t\" name={quoteattr(h)} time=\"0.1\"><failure message={quoteattr(h)}>{escape(h)}</failure>"
        "<system-out>{escape(h)}</system-out></testcase>\n"
        "<testcase classname=\"t\" name=\"skip\"><skipped type=\"pytest.skip\" message=\"no gpu\"/></testcase>\n"
        "<testsuite name=\"inner\" tests=\"1\"><testcase classname=\"t\" name=\"err\"><error message=\"boom\"/>"
        "</testcase></testsuite>\n"
        "</testsuite></testsuites>''', encoding='utf-8')\n"
        "sys.stdout.buffer.write(b'out \\x00\\x07 ]]> <x> \\xff\\xfe caf\\xc3\\xa9\\n')\n"
        "raise SystemExit(1)\n")
    return f"{PY} tool.py"


def test_checks_junit_is_valid_with_hostile_output_and_a_foreign_junit_file(tmp_path):
    from mlci import config as config_mod
    from mlci.checks import output, runner

    data = {"name": "demo", "task": "classification", "data": {"train": "train.csv", "target": "y"},
            "checks": [{"name": "unit", "run": _hostile_junit_script(tmp_path), "junit": "r/j.xml"},
                       {"name": "noisy", "run": f"{PY} -c \"import sys; sys.stdout.buffer.write("
                                                f"b'\\\\x00\\\\x1b[31m ]]> \\\\xe6\\\\x95\\\\xb0'); sys.exit(3)\""},
                       {"name": "after", "run": "true", "needs": ["noisy"]},
                       {"name": "gone", "run": "no-such-tool-xyz", "blocking": False}]}
    (tmp_path / "mlci.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    config = config_mod.load(tmp_path / "mlci.yaml")
    result = runner.run_checks(config, tmp_path / "out", reporter=output.NullReporter())
    assert result["result"] == "failed"
    assert_junit_10(tmp_path / "out" / "junit.xml")
    root = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    suites = [s.get("name") for s in root.findall("testsuite")]
    assert suites == ["unit.outer", "unit.outer.inner", "noisy", "after", "gone"]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("7", "2", "2")


def test_report_gates_junit_is_valid_with_hostile_reasons():
    from mlci.report.render import junit as gates_junit

    gates = [{"metric": "roc_auc", "kind": "threshold", "bound": 0.9, "passed": False, "reason": HOSTILE,
              "rule": "≥ 0.9", "value": 0.5, "baseline": None},
             {"metric": "f1", "kind": "max_regression", "bound": 0.01, "passed": None, "reason": "no baseline",
              "rule": "regression ≤ 0.01", "value": 0.8, "baseline": None},
             {"metric": HOSTILE, "kind": "threshold", "bound": 1, "passed": True, "reason": "ok",
              "rule": "≥ 1", "value": 1.0, "baseline": None}]
    xml = gates_junit({"model": HOSTILE, "run_id": HOSTILE, "generated": "2026-01-01T00:00:00Z",
                       "status": {"decision": "not blessed"}, "gates": gates})
    assert_junit_10(xml)
    suite = ET.fromstring(xml).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
