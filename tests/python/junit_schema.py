"""Validation of JUnit XML against the xUnit plugin's junit-10.xsd (tests/python/data/), with
libxml2 (lxml): a real XSD validator, as strict about XML 1.0 characters as Jenkins' parsers."""

from __future__ import annotations

from pathlib import Path

XSD = Path(__file__).resolve().parent / "data" / "junit-10.xsd"
_schema = None


def assert_junit_10(xml: str | bytes | Path) -> None:
    """Fail with the validator's messages unless ``xml`` (text or a file) is valid junit-10.xsd."""
    from lxml import etree

    global _schema
    if _schema is None:
        _schema = etree.XMLSchema(etree.parse(str(XSD)))
    data = Path(xml).read_bytes() if isinstance(xml, Path) else xml
    if isinstance(data, str):
        data = data.encode("utf-8")
    doc = etree.fromstring(data, etree.XMLParser(resolve_entities=False))
    if not _schema.validate(doc):
        problems = "\n".join(f"line {e.line}: {e.message}" for e in _schema.error_log)
        raise AssertionError(f"not valid for junit-10.xsd:\n{problems}\n---\n{data.decode('utf-8')[:3000]}")
