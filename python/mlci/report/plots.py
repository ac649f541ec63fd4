"""Plots for the report, drawn with matplotlib (Agg) and embedded as inline SVG.

Why inline SVG rather than <img src="data:...">: Jenkins serves archived HTML with a strict
Content-Security-Policy by default (``img-src 'self'; style-src 'self'``), which blocks
data: images and inline CSS. Inline <svg> elements are part of the document, not images, so
they still render; and every CSS ``style="..."`` matplotlib writes is turned into SVG
presentation attributes (``fill="..."``), which no CSP governs. Vector output only: no
raster <image> inside the SVG (the confusion matrix uses pcolormesh, not imshow).
"""

from __future__ import annotations

import io
import re
from typing import Any, Sequence

BLUE = "#2563eb"
GREY = "#94a3b8"
GREEN = "#16a34a"
RED = "#dc2626"
AMBER = "#d97706"
INK = "#1e293b"
MUTED = "#64748b"
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"

_plt: Any = None


def pyplot() -> Any:
    """matplotlib.pyplot with the Agg backend and the report's style (imported once)."""
    global _plt
    if _plt is None:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt

        plt.rcParams.update({
            "svg.fonttype": "none", "svg.hashsalt": "mlci-report", "font.size": 9,
            "axes.edgecolor": "#cbd5e1", "axes.labelcolor": INK, "axes.titlesize": 10,
            "axes.titleweight": "bold", "axes.titlecolor": INK, "axes.spines.top": False,
            "axes.spines.right": False, "axes.grid": True, "grid.color": "#e2e8f0",
            "grid.linewidth": 0.6, "xtick.color": MUTED, "ytick.color": MUTED,
            "legend.frameon": False, "legend.fontsize": 8, "figure.dpi": 100,
            "axes.prop_cycle": matplotlib.cycler(color=[BLUE, AMBER, GREEN, RED, "#7c3aed", "#0891b2",
                                                        "#db2777", "#65a30d", "#475569", "#ea580c"]),
        })
        _plt = plt
    return _plt


# --- SVG post-processing --------------------------------------------------------------------
_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
_ID = re.compile(r'\sid="([^"]+)"')


def _presentation(match: re.Match[str]) -> str:
    out = []
    for decl in match.group(1).split(";"):
        if ":" not in decl:
            continue
        key, value = (p.strip() for p in decl.split(":", 1))
        if key == "font-family":
            value = FONT
        elif key == "font":  # "10px 'DejaVu Sans'" (older matplotlib)
            size = value.split()[0]
            out.append(f'font-size="{size}"')
            key, value = "font-family", FONT
        out.append(f'{key}="{value}"')
    return " " + " ".join(out) if out else ""


def to_inline_svg(fig: Any, prefix: str) -> str:
    """The figure as an <svg> element for inlining into HTML (see the module docstring)."""
    plt = pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.08)
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r"<!--.*?-->\s*", "", svg, flags=re.S)
    svg = re.sub(r"<style[^>]*>.*?</style>\s*", "", svg, flags=re.S)
    svg = re.sub(r"<defs>\s*</defs>\s*", "", svg)
    svg = _STYLE_ATTR.sub(_presentation, svg)
    # ids must be unique across the page: prefix them and every reference to them
    ids = set(_ID.findall(svg))
    if ids:
        svg = _ID.sub(lambda m: f' id="{prefix}-{m.group(1)}"', svg)
        svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})"
                     if m.group(1) in ids else m.group(0), svg)
        svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"'
                     if m.group(1) in ids else m.group(0), svg)

    def root(m: re.Match[str]) -> str:
        attrs = m.group(1)
        attrs = re.sub(r'\sxmlns(:\w+)?="[^"]*"', "", attrs)
        attrs = re.sub(r'\sversion="[^"]*"', "", attrs)

        def px(a: re.Match[str]) -> str:
            return f' {a.group(1)}="{round(float(a.group(2)) * 4 / 3)}"'

        attrs = re.sub(r'\s(width|height)="([\d.]+)pt"', px, attrs)
        return (f'<svg{attrs} role="img" stroke-linejoin="round" stroke-linecap="butt" '
                f'font-family="{FONT}">')

    svg = re.sub(r"<svg([^>]*)>", root, svg, count=1)
    # compact: drop indentation and the newlines matplotlib puts inside path data
    svg = re.sub(r"\n\s*", "\n", svg)
    svg = re.sub(r" \n(?=[LMCQz])", " ", svg)
    return svg.strip()


def _fig(w: float = 5.2, h: float = 3.6) -> tuple[Any, Any]:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(w, h))
    return fig, ax


# --- classification ---------------------------------------------------------------------------
def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> Any:
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    n = len(labels)
    size = min(7.0, 2.8 + 0.35 * n)
    fig, ax = _fig(size + 0.3, size)
    totals = m.sum(axis=1, keepdims=True)
    share = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
    ax.pcolormesh(share, cmap="Blues", vmin=0, vmax=1, edgecolors="#ffffff", linewidth=1.5)
    ax.set_xlim(0, n)
    ax.set_ylim(n, 0)
    ax.grid(False)
    ax.set_xticks([i + 0.5 for i in range(n)], labels, rotation=30 if n > 4 else 0,
                  ha="right" if n > 4 else "center")
    ax.set_yticks([i + 0.5 for i in range(n)], labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    if n <= 12:
        for i in range(n):
            for j in range(n):
                color = "#ffffff" if share[i, j] > 0.55 else INK
                ax.text(j + 0.5, i + 0.5, f"{int(m[i, j])}\n{share[i, j]:.0%}", ha="center", va="center",
                        fontsize=8 if n > 6 else 9, color=color)
    ax.set_title("Confusion matrix")
    return fig


def roc_curves(curves: list[dict[str, Any]]) -> Any:
    """curves: [{label, fpr, tpr, auc}]"""
    fig, ax = _fig(3.9, 3.5)
    ax.plot([0, 1], [0, 1], color=GREY, lw=1, ls="--", label="chance")
    for c in curves:
        ax.plot(c["fpr"], c["tpr"], lw=2, label=f"{c['label']} (AUC {c['auc']:.3f})")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve")
    ax.legend(loc="lower right")
    return fig


def pr_curves(curves: list[dict[str, Any]]) -> Any:
    """curves: [{label, recall, precision, ap, prevalence}]"""
    fig, ax = _fig(3.9, 3.5)
    for c in curves:
        line, = ax.plot(c["recall"], c["precision"], lw=2, label=f"{c['label']} (AP {c['ap']:.3f})")
        ax.axhline(c["prevalence"], color=line.get_color(), lw=0.8, ls=":", alpha=0.7)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.03)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall curve")
    ax.legend(loc="lower left")
    return fig


# --- regression -------------------------------------------------------------------------------
def predicted_vs_actual(y_true: Any, y_pred: Any) -> Any:
    fig, ax = _fig(4.6, 4.0)
    lo = float(min(y_true.min(), y_pred.min()))
    hi = float(max(y_true.max(), y_pred.max()))
    pad = (hi - lo) * 0.03 or 1.0
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=GREY, lw=1, ls="--", label="perfect")
    ax.scatter(y_true, y_pred, s=12, alpha=0.6, color=BLUE, edgecolors="none", label="test rows")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title("Predicted vs actual")
    ax.legend(loc="upper left")
    return fig


def residuals(y_true: Any, y_pred: Any) -> Any:
    plt = pyplot()
    fig, (ax, hx) = plt.subplots(1, 2, figsize=(6.4, 4.0), sharey=True,
                                 gridspec_kw={"width_ratios": [3, 1], "wspace": 0.12})
    res = y_true - y_pred
    ax.axhline(0, color=GREY, lw=1, ls="--")
    ax.scatter(y_pred, res, s=12, alpha=0.6, color=BLUE, edgecolors="none")
    ax.set_xlabel("predicted")
    ax.set_ylabel("residual (actual − predicted)")
    ax.set_title("Residuals")
    hx.hist(res, bins=min(30, max(5, len(res) // 8)), orientation="horizontal", color=BLUE, alpha=0.7)
    hx.axhline(0, color=GREY, lw=1, ls="--")
    hx.set_xlabel("rows")
    hx.tick_params(labelleft=False, left=False)
    hx.spines["left"].set_visible(False)
    hx.xaxis.set_major_locator(plt.MaxNLocator(2, integer=True))
    return fig


# --- shared -----------------------------------------------------------------------------------
def importance(features: list[tuple[str, float]], xlabel: str, errors: list[float] | None = None) -> Any:
    n = len(features)
    fig, ax = _fig(5.6, max(2.2, 0.26 * n + 0.9))
    names = [f for f, _ in features][::-1]
    values = [v for _, v in features][::-1]
    err = errors[::-1] if errors else None
    ax.barh(names, values, xerr=err, color=BLUE, alpha=0.85, height=0.65,
            error_kw={"ecolor": MUTED, "elinewidth": 0.8, "capsize": 2})
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(xlabel)
    ax.set_title("Feature importance")
    ax.tick_params(axis="y", length=0)
    return fig


def trend(versions: list[int], series: dict[str, list[float | None]], blessed: list[bool],
          marks: dict[int, str], candidate: dict[str, float] | None) -> Any:
    """Small multiples, one per metric, across registered versions; ``marks`` labels versions
    (aliases, this run); an unregistered candidate is drawn as "new"."""
    plt = pyplot()
    names = list(series)
    ncols = 1 if len(names) == 1 else 2
    nrows = (len(names) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols + 0.4, 2.3 * nrows + 0.3), squeeze=False)
    xs = list(versions) + ([max(versions) + 1] if candidate else [])
    labels = [f"v{v}" for v in versions] + (["new"] if candidate else [])
    for i, ax in enumerate(axes.flat):
        if i >= len(names):
            ax.set_visible(False)
            continue
        name = names[i]
        ys = series[name]
        pts = [(v, y) for v, y in zip(versions, ys) if y is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=BLUE, lw=1.5, marker="o", ms=4, zorder=2)
        for v, y, ok in zip(versions, ys, blessed):
            if y is not None and not ok:
                ax.plot([v], [y], marker="x", color=RED, ms=7, mew=1.8, zorder=3)
        for v, label in marks.items():
            if v in versions:
                y = ys[versions.index(v)]
                if y is not None:
                    ax.plot([v], [y], marker="o", ms=9, mfc="none", mec=GREEN, mew=1.6, zorder=3)
                    ax.annotate(label, (v, y), textcoords="offset points", xytext=(0, 8), ha="center",
                                fontsize=7, color=GREEN)
        if candidate and candidate.get(name) is not None:
            ax.plot([xs[-1]], [candidate[name]], marker="D", ms=6, color=AMBER, zorder=3)
            ax.annotate("this run", (xs[-1], candidate[name]), textcoords="offset points", xytext=(0, 8),
                        ha="center", fontsize=7, color=AMBER)
        ax.set_title(name, fontsize=9)
        ax.margins(x=0.12, y=0.3)
        step = max(1, len(xs) // 8)
        ax.set_xticks(xs[::step], labels[::step])
    fig.tight_layout()
    return fig


def drift(columns: list[dict[str, Any]]) -> Any:
    """Horizontal bars of each column's drift score, its threshold as a tick."""
    n = len(columns)
    fig, ax = _fig(5.6, max(2.2, 0.26 * n + 0.9))
    cols = columns[::-1]
    names = [c["column"] for c in cols]
    scores = [c["score"] if c["score"] is not None else 0.0 for c in cols]
    colors = [RED if c["drifted"] else (GREEN if c["drifted"] is False else GREY) for c in cols]
    ax.barh(names, scores, color=colors, alpha=0.85, height=0.65)
    for i, c in enumerate(cols):
        if c.get("threshold") is not None:
            ax.plot([c["threshold"]] * 2, [i - 0.42, i + 0.42], color=INK, lw=1.2)
    ax.grid(axis="y", visible=False)
    ax.tick_params(axis="y", length=0)
    methods = sorted({c["method"] for c in columns if c.get("method")})
    ax.set_xlabel("drift score" + (f" ({', '.join(methods)})" if methods else "") + "; | threshold")
    ax.set_title("Per-column drift (red: drifted)")
    return fig


def latency(samples: list[float] | None, percentiles: dict[str, float], limit: float | None) -> Any:
    fig, ax = _fig(5.6, 3.2)
    if samples:
        import numpy as np

        data = np.asarray(samples, dtype=float)
        hi = float(np.percentile(data, 99.5))
        ax.hist(np.clip(data, None, hi), bins=40, color=BLUE, alpha=0.8)
        ax.set_ylabel("requests")
        ax.set_xlabel("latency (ms)")
        colors = {"p50": GREEN, "p95": AMBER, "p99": RED}
        for name, value in percentiles.items():
            ax.axvline(value, color=colors.get(name, INK), lw=1.3, ls="--", label=f"{name} {value:.1f} ms")
        if limit is not None and limit <= hi * 1.5:
            ax.axvline(limit, color=INK, lw=1.5, label=f"p99 limit {limit:g} ms")
        elif limit is not None:  # far off to the right: say so instead of squashing the histogram
            ax.plot([], [], color=INK, lw=1.5, label=f"p99 limit {limit:g} ms (off scale)")
        ax.legend(loc="upper right")
    else:
        names = list(percentiles)
        values = [percentiles[n] for n in names]
        ax.bar(names, values, color=BLUE, alpha=0.85, width=0.55)
        for i, v in enumerate(values):
            ax.annotate(f"{v:.1f}", (i, v), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
        if limit is not None:
            ax.axhline(limit, color=RED, lw=1.3, ls="--", label=f"p99 limit {limit:g} ms")
            ax.legend(loc="upper left")
        ax.set_ylabel("latency (ms)")
        ax.grid(axis="x", visible=False)
    ax.set_title("Serving latency (image verify)")
    return fig
