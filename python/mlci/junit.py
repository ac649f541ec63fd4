"""JUnit XML: the one writer (and reader) of every JUnit file mlci writes.

Callers describe results as :class:`Suite` and :class:`Case`; this module alone turns them
into XML, so every file (validation, code checks, report gates) is cleaned and counted the
same way and is valid for both Jenkins' ``junit`` step and the xUnit plugin's JUnit schema
(``junit-10.xsd``):

- text and attributes carry only characters XML 1.0 allows (control characters and lone
  surrogates in data values or command output become U+FFFD);
- ``<testsuites>`` carries only name, tests, failures, errors and time (the schema has no
  ``skipped`` there); each ``<testsuite>`` carries its own counts, ``skipped`` included;
- times are plain decimals (``1.250``), never exponents, as the schema's time pattern wants.

A leaf module: the standard library only.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

RESULTS = ("passed", "failure", "error", "skipped")

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: object) -> str:
    """``text`` with every character that XML 1.0 cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(text))


@dataclass
class Case:
    """One ``<testcase>``. ``result`` is passed | failure | error | skipped; ``message`` is the
    one-line reason of a non-passed case, ``detail`` the body of its failure/error element."""

    name: str
    classname: str
    result: str = "passed"
    message: str = ""
    type: str | None = None
    detail: str = ""
    time: float = 0.0
    system_out: str = ""
    system_err: str = ""

    def __post_init__(self) -> None:
        if self.result not in RESULTS:
            raise ValueError(f"junit case result {self.result!r}: expected one of {', '.join(RESULTS)}")


@dataclass
class Suite:
    """One ``<testsuite>``; ``time`` defaults to the sum of its cases' times."""

    name: str
    cases: list[Case] = field(default_factory=list)
    time: float | None = None
    timestamp: str | None = None
    properties: dict[str, str] = field(default_factory=dict)

    def count(self, result: str) -> int:
        return sum(1 for c in self.cases if c.result == result)

    @property
    def seconds(self) -> float:
        return self.time if self.time is not None else sum(c.time for c in self.cases)


def _seconds(value: float) -> str:
    value = value if value == value and value > 0 else 0.0  # NaN and negatives: 0
    return f"{value:.3f}"


def to_xml(suites: list[Suite], name: str) -> str:
    """The XML document (with declaration) for ``suites`` under one ``<testsuites name=...>``."""
    root = ET.Element("testsuites", name=xml_text(name))
    for suite in suites:
        el = ET.SubElement(root, "testsuite", name=xml_text(suite.name), tests=str(len(suite.cases)),
                           failures=str(suite.count("failure")), errors=str(suite.count("error")),
                           skipped=str(suite.count("skipped")), time=_seconds(suite.seconds))
        if suite.timestamp:
            el.set("timestamp", xml_text(suite.timestamp))
        if suite.properties:
            props = ET.SubElement(el, "properties")
            for key, value in suite.properties.items():
                ET.SubElement(props, "property", name=xml_text(key), value=xml_text(value))
        for case in suite.cases:
            _case(el, case)
    cases = [c for s in suites for c in s.cases]
    root.set("tests", str(len(cases)))
    root.set("failures", str(sum(1 for c in cases if c.result == "failure")))
    root.set("errors", str(sum(1 for c in cases if c.result == "error")))
    root.set("time", _seconds(sum(s.seconds for s in suites)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _case(parent: ET.Element, case: Case) -> None:
    el = ET.SubElement(parent, "testcase", name=xml_text(case.name), classname=xml_text(case.classname),
                       time=_seconds(case.time))
    if case.result != "passed":
        outcome = ET.SubElement(el, case.result, message=xml_text(case.message))
        if case.type:
            outcome.set("type", xml_text(case.type))
        if case.detail and case.result != "skipped":
            outcome.text = xml_text(case.detail)
    if case.system_out:
        ET.SubElement(el, "system-out").text = xml_text(case.system_out)
    if case.system_err:
        ET.SubElement(el, "system-err").text = xml_text(case.system_err)


def write(path: Path, suites: list[Suite], name: str) -> None:
    """Write the XML to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(to_xml(suites, name), encoding="utf-8")
    os.replace(tmp, path)


def read(path: Path) -> list[Suite]:
    """The suites of a JUnit file another tool wrote (``<testsuites>`` or one ``<testsuite>``).

    Nested suites become suites of their own (named ``outer.inner``); attributes the schema
    does not know are dropped. Raises ``ET.ParseError`` for text that is not XML and
    ``ValueError`` for XML that is not JUnit.
    """
    root = ET.parse(path).getroot()
    if root.tag == "testsuites":
        tops = [s for s in root if s.tag == "testsuite"]
    elif root.tag == "testsuite":
        tops = [root]
    else:
        raise ValueError(f"expected <testsuites> or <testsuite> at the top, got <{root.tag}>")
    suites: list[Suite] = []
    for top in tops:
        _read_suite(top, "", suites)
    return suites


def _read_suite(el: ET.Element, prefix: str, into: list[Suite]) -> None:
    name = el.get("name") or ""
    full = f"{prefix}.{name}" if prefix and name else (prefix or name)
    suite = Suite(full, timestamp=el.get("timestamp"))
    into.append(suite)
    props = el.find("properties")
    if props is not None:
        suite.properties = {p.get("name", ""): p.get("value", "") for p in props.findall("property")}
    for child in el:
        if child.tag == "testcase":
            suite.cases.append(_read_case(child))
        elif child.tag == "testsuite":
            _read_suite(child, full, into)
    own = _float(el.get("time"))
    suite.time = own if own is not None else None


def _read_case(el: ET.Element) -> Case:
    case = Case(el.get("name") or "", el.get("classname") or "", time=_float(el.get("time")) or 0.0)
    for kind in ("failure", "error", "skipped"):
        found = el.find(kind)
        if found is not None:
            case.result = kind
            case.message = found.get("message") or ""
            case.type = found.get("type")
            case.detail = (found.text or "").strip("\n")
            break
    out, err = el.find("system-out"), el.find("system-err")
    case.system_out = (out.text or "") if out is not None else ""
    case.system_err = (err.text or "") if err is not None else ""
    return case


def _float(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None
