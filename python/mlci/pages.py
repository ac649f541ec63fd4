"""What every HTML page mlci writes shares: one stylesheet file beside the page.

Jenkins serves published HTML with a Content-Security-Policy (style-src 'self') that blocks
inline styles, so the run report and the model catalog link this file instead.
"""

from __future__ import annotations

STYLESHEET = "mlci.css"


def stylesheet() -> str:
    from importlib.resources import files

    return (files("mlci") / "templates" / STYLESHEET).read_text(encoding="utf-8")
