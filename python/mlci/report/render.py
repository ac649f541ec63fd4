"""Writers: report.html (jinja2), summary.md (Markdown for PR comments), the gates as JUnit XML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "report"


def marker(model: str) -> str:
    """The hidden marker that lets `mlci report comment` find its own earlier comment."""
    return f"<!-- mlci-report:{model} -->"


def fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return str(value)
    v = float(value)
    if signed and v == 0:
        return "±0"
    sign = "+" if signed else ""
    if v != 0 and abs(v) < 1e-4:
        return f"{v:{sign}.2e}"
    if abs(v) >= 1000:
        return f"{v:{sign},.1f}"
    if abs(v) >= 100:
        return f"{v:{sign}.2f}"
    return f"{v:{sign}.4f}"


def pct(value: Any) -> str:
    if value is None:
        return "—"
    return "±0%" if value == 0 else f"{value:+.2%}"


def short(value: Any, n: int = 12) -> str:
    return "—" if not value else str(value)[:n]


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --- HTML -------------------------------------------------------------------------------------
def html(data: dict[str, Any], plots: dict[str, dict[str, Any]]) -> str:
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.ChainableUndefined)
    env.filters.update(fmt=fmt, pct=pct, short=short)
    figures = {k: {**v, "svg": Markup(v["svg"])} for k, v in plots.items() if v.get("svg")}
    return env.get_template("report.html.j2").render(r=data, plots=figures)


# --- Markdown ---------------------------------------------------------------------------------
ICON = {True: "✅", False: "❌", None: "➖"}


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(data: dict[str, Any]) -> str:
    name = data["model"]
    status = data["status"]
    lines = [marker(name)]
    verdict = {"blessed": "✅ blessed", "not blessed": "❌ not blessed"}.get(status["decision"], "➖ not evaluated")
    lines.append(f"### {_md_cell(name)}: {verdict}")
    lin = data.get("lineage") or {}
    facts = [f"run `{data.get('run_id')}`"]
    if lin.get("estimator"):
        facts.append(str(lin["estimator"]).rsplit(".", 1)[-1])
    if lin.get("n_train") is not None:
        facts.append(f"{lin['n_train']} train / {lin.get('n_test')} test rows")
    if lin.get("version"):
        facts.append(f"registered as v{lin['version']}")
    commit = (lin.get("code") or {}).get("git_commit") or (lin.get("build") or {}).get("commit")
    if commit:
        facts.append(f"commit `{str(commit)[:10]}`")
    build = lin.get("build") or {}
    if build.get("url"):
        label = f"build #{build['number']}" if build.get("number") else "build"
        facts.append(f"[{label}]({build['url']})")
    lines.append(" · ".join(facts))
    if status.get("failed_stage"):
        lines.append("")
        lines.append(f"**Pipeline stopped at `{status['failed_stage']}`:** {_md_cell(status.get('failed_detail', ''))}")
    rows = data.get("metrics") or []
    base = data.get("baseline")
    lines.append("")
    if rows:
        old_head = f"{base['alias']} v{base['version']}" if base else "production"
        lines.append(f"| metric | {_md_cell(old_head)} | candidate | change | gate |")
        lines.append("|---|---:|---:|---:|---|")
        for m in rows:
            arrow = "" if m["better"] is None else (" ▲" if m["change"] > 0 else " ▼")
            change = fmt(m["change"], signed=True) + arrow if m["change"] is not None else "—"
            if m["better"] is False:
                change = f"**{change}**"
            gates = ", ".join(f"{ICON[g['passed']]} {g['rule']}" for g in m["gates"]) or ""
            lines.append(f"| {m['metric']} | {fmt(m['old'])} | {fmt(m['new'])} | {change} | {_md_cell(gates)} |")
        if not base:
            lines.append("")
            lines.append(f"_{_md_cell(data.get('baseline_note') or 'No production model to compare with yet.')}_")
    else:
        lines.append("_No metrics: the run was not evaluated._")
    gates = data.get("gates") or []
    if gates:
        c = data["gate_counts"]
        lines.append("")
        lines.append(f"**Gates:** {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped.")
        for g in gates:
            if g["passed"] is False:
                lines.append(f"- ❌ {_md_cell(g['reason'])}")
    extras = []
    v = data.get("validation")
    if v:
        extras.append(f"data validation {ICON[v.get('passed')]} {_md_cell(v.get('summary') or '')}".rstrip())
    d = data.get("drift")
    if d and d.get("n_columns"):
        extras.append(f"drift: {d['n_drifted']} of {d['n_columns']} columns drifted")
    lat = data.get("verify")
    if lat and lat.get("percentiles"):
        p = lat["percentiles"]
        extras.append("latency " + ", ".join(f"{k} {p[k]:.1f} ms" for k in p) +
                      (f", {lat['rps']:.0f} req/s" if lat.get("rps") else ""))
    if extras:
        lines.append("")
        lines.append(" · ".join(extras))
    lines.append("")
    where = os.environ.get("MLCI_REPORT_URL")
    tail = f"[full report]({where})" if where else "full report: report.html in the build's artifacts"
    lines.append(f"<sub>mlci {data.get('mlci')} · {tail}</sub>")
    return "\n".join(lines) + "\n"


# --- JUnit ------------------------------------------------------------------------------------
def junit(data: dict[str, Any]) -> str:
    """One testcase per gate bound, so Jenkins' test trend tracks each gate across builds."""
    from mlci.junit import Case, Suite, to_xml

    classname = f"mlci.gates.{data['model']}"
    suite = Suite(classname, timestamp=str(data.get("generated", "")).rstrip("Z"),
                  properties={"run_id": str(data.get("run_id")), "decision": str(data["status"]["decision"])})
    for g in data.get("gates") or []:
        bound = g["bound"] if not isinstance(g["bound"], float) else f"{g['bound']:g}"
        case = Case(f"{g['metric']} {g['kind']} {bound}", classname, system_out=g["reason"])
        if g["passed"] is False:
            case.result, case.message, case.type = "failure", g["reason"], "GateFailed"
            case.detail = (f"value {fmt(g['value'])}, baseline {fmt(g['baseline'])}, "
                           f"rule {g['rule']}\n{g['reason']}")
        elif g["passed"] is None:
            case.result, case.message = "skipped", g["reason"]
        suite.cases.append(case)
    return to_xml([suite], "mlci gates")
