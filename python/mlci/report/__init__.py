"""The run report (`mlci report`): report.html, summary.md, report.json and the gates as JUnit XML.

Modules: ``build`` (the report of one run: gathering, plots, writing), ``collect`` (reading the
run directory and the registry into plain data), ``plots`` (matplotlib figures as inline SVG),
``render`` (HTML, Markdown, JUnit), ``comment`` (`mlci report comment`).
"""

from __future__ import annotations

from mlci.report.build import binary_curves, confusion, generate

__all__ = ["generate", "binary_curves", "confusion"]
