"""Small inline SVG charts for the catalog: drawn as text (no matplotlib: a catalog of many
models renders in milliseconds), presentation attributes only (no CSS), so Jenkins'
Content-Security-Policy does not touch them."""

from __future__ import annotations

from html import escape
from typing import Sequence

INK, MUTED, LINE, BLUE, RED, GREEN = "#1e293b", "#64748b", "#e2e8f0", "#2563eb", "#dc2626", "#16a34a"


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def trend(title: str, versions: Sequence[int], values: Sequence[float | None], blessed: Sequence[bool],
          marks: dict[int, str], width: int = 420, height: int = 190) -> str:
    """A metric across versions: a line through the values, unblessed versions as red
    crosses, versions holding an alias circled and labelled."""
    left, right, top, bottom = 50, 16, 40, 26
    pts = [(v, y) for v, y in zip(versions, values) if y is not None]
    out = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
           f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="10">',
           f"<title>{escape(title)} by version</title>",
           f'<text x="{left}" y="14" fill="{INK}" font-weight="bold" font-size="11">{escape(title)}</text>']
    if not pts:
        out.append(f'<text x="{width / 2}" y="{height / 2}" fill="{MUTED}" text-anchor="middle">no values</text></svg>')
        return "".join(out)
    lo, hi = min(y for _, y in pts), max(y for _, y in pts)
    if hi == lo:
        lo, hi = lo - (abs(lo) * 0.05 or 0.5), hi + (abs(hi) * 0.05 or 0.5)
    vmin, vmax = min(versions), max(versions)
    span = max(vmax - vmin, 1)

    def x(v: float) -> float:
        return round(left + (v - vmin) / span * (width - left - right), 1) if vmax > vmin else (left + width - right) / 2

    def y(val: float) -> float:
        return round(top + (hi - val) / (hi - lo) * (height - top - bottom), 1)

    for val in (lo, (lo + hi) / 2, hi):
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(val)}" y2="{y(val)}" stroke="{LINE}"/>'
                   f'<text x="{left - 4}" y="{y(val) + 3}" fill="{MUTED}" text-anchor="end">{_fmt(val)}</text>')
    step = max(1, len(versions) // 8)
    for v in list(versions)[::step]:
        out.append(f'<text x="{x(v)}" y="{height - 8}" fill="{MUTED}" text-anchor="middle">v{v}</text>')
    out.append(f'<polyline fill="none" stroke="{BLUE}" stroke-width="1.5" points="'
               + " ".join(f"{x(v)},{y(val)}" for v, val in pts) + '"/>')
    for v, val, ok in zip(versions, values, blessed):
        if val is None:
            continue
        if ok:
            out.append(f'<circle cx="{x(v)}" cy="{y(val)}" r="2.5" fill="{BLUE}"/>')
        else:
            out.append(f'<path d="M{x(v) - 3},{y(val) - 3}l6,6m0,-6l-6,6" stroke="{RED}" stroke-width="1.6"/>')
    for v, label in marks.items():
        val = dict(zip(versions, values)).get(v)
        if val is not None:
            out.append(f'<circle cx="{x(v)}" cy="{y(val)}" r="5" fill="none" stroke="{GREEN}" stroke-width="1.5"/>'
                       f'<text x="{x(v)}" y="{y(val) - 8}" fill="{GREEN}" text-anchor="middle">{escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)
