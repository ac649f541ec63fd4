"""The run report (`mlci report`): report.html, summary.md, report.json and the gates as JUnit XML.

Modules: ``build`` (the report of one run: gathering, plots, writing), ``collect`` (reading the
run directory and the registry into plain data), ``plots`` (matplotlib figures as inline SVG),
``render`` (HTML, Markdown, JUnit), ``comment`` (`mlci report comment`).
"""

from __future__ import annotations

from mlci.report.build import binary_curves, confusion, generate

__all__ = ["generate", "binary_curves", "confusion", "prepare"]


def prepare() -> None:
    """Import what writing a report needs: matplotlib in the report's style and the HTML
    templates (`mlci run` has mlci.preload do this while the model fits)."""
    import importlib

    from mlci.report import plots

    for name in ("jinja2", "mlci.report.render"):
        importlib.import_module(name)
    plots.pyplot()
