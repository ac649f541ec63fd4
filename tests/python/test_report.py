"""mlci report: the real pipeline on small generated data, then the report a reviewer opens.

The HTML is parsed (stdlib html.parser) and checked the way a user would: self-contained (no
external references), every plot present as an inline SVG, the metrics table equal to
metrics.json, each gate's decision shown; summary.md and the JUnit XML checked likewise.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from browser import assert_same_under_jenkins_csp

from conftest import run_cli
from junit_schema import assert_junit_10

MAX_BYTES = 2 * 1024 * 1024


# --- a tiny DOM from the stdlib parser ------------------------------------------------------
class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: "Node | None"):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.text_parts: list[str] = []

    def iter(self, tag: str | None = None):
        for c in self.children:
            if tag is None or c.tag == tag:
                yield c
            yield from c.iter(tag)

    def find(self, tag: str | None = None, **attrs: str) -> "Node | None":
        return next((n for n in self.iter(tag) if all(n.attrs.get(k.replace("_", "-")) == v
                                                      for k, v in attrs.items())), None)

    @property
    def text(self) -> str:
        return "".join(self.text_parts) + "".join(c.text for c in self.children)


VOID = {"meta", "br", "img", "link", "input", "hr", "source", "wbr"}


class Dom(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root
        self.all: list[Node] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.cur)
        self.cur.children.append(node)
        self.all.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.cur)
        self.cur.children.append(node)
        self.all.append(node)

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.text_parts.append(data)


# --- projects ---------------------------------------------------------------------------------
def make_classification_project(root: Path) -> Path:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=360, n_features=6, n_informative=4, random_state=3)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    df["region"] = np.where(X[:, 0] > 0, "north", "south")
    df["label"] = np.where(y == 1, "yes", "no")
    (root / "data").mkdir(parents=True)
    df.to_csv(root / "data" / "train.csv", index=False)
    write_config(root, "clf", """
        name: clf
        task: classification
        data: {train: data/train.csv, target: label}
        split: {test_size: 0.3, seed: 1}
        model:
          estimator: sklearn.ensemble.RandomForestClassifier
          params: {n_estimators: 15, max_depth: 4}
        evaluate:
          metrics: [accuracy, f1, roc_auc]
          baseline: production
          gates:
            - {metric: roc_auc, threshold: 0.6}
            - {metric: accuracy, max_regression: 0.5}
        store: {uri: .mlci/store}
        promote: {alias: production}
    """)
    return root / "mlci.yaml"


def make_regression_project(root: Path) -> Path:
    import pandas as pd
    from sklearn.datasets import make_regression

    X, y = make_regression(n_samples=220, n_features=4, noise=8.0, random_state=5)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df["y"] = y
    (root / "data").mkdir(parents=True)
    df.to_parquet(root / "data" / "train.parquet", index=False)
    write_config(root, "reg", """
        name: reg
        task: regression
        data: {train: data/train.parquet, target: y}
        split: {test_size: 0.25, seed: 2}
        model:
          estimator: sklearn.neighbors.KNeighborsRegressor
          params: {n_neighbors: 5}
        evaluate:
          metrics: [rmse, mae, r2]
          gates:
            - {metric: r2, threshold: 0.2}
        store: {uri: .mlci/store}
    """)
    return root / "mlci.yaml"


def write_config(root: Path, name: str, text: str) -> None:
    (root / "mlci.yaml").write_text(textwrap.dedent(text).lstrip())


def set_in_config(cfg: Path, old: str, new: str) -> None:
    text = cfg.read_text()
    assert old in text
    cfg.write_text(text.replace(old, new))


def ok(r) -> None:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def latest_run(cfg: Path) -> Path:
    runs = cfg.parent / ".mlci" / "runs"
    return runs / (runs / "LATEST").read_text().strip()


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    """Two registered versions: v1 (production) and v2 (compared with v1)."""
    root = tmp_path_factory.mktemp("clf")
    cfg = make_classification_project(root)
    ok(run_cli("run", "--promote", "-c", cfg, cwd=root))
    first = latest_run(cfg)
    set_in_config(cfg, "n_estimators: 15", "n_estimators: 25")
    ok(run_cli("run", "-c", cfg, cwd=root))
    second = latest_run(cfg)
    assert first != second
    out = root / "out"
    r = run_cli("report", "-c", cfg, "-o", out, "--json", cwd=root)
    ok(r)
    return {"root": root, "cfg": cfg, "first": first, "run": second, "out": out, "result": json.loads(r.stdout)}


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    root = tmp_path_factory.mktemp("reg")
    cfg = make_regression_project(root)
    ok(run_cli("run", "-c", cfg, cwd=root))
    return {"root": root, "cfg": cfg, "run": latest_run(cfg)}


def parse(html_path: Path) -> Dom:
    return Dom(html_path.read_text(encoding="utf-8"))


def assert_self_contained(html: str, dom: Dom) -> None:
    links = [n for n in dom.all if n.tag == "link"]
    assert [(n.attrs.get("rel"), n.attrs.get("href")) for n in links] == [("stylesheet", "mlci.css")]
    for node in dom.all:
        if node is links[0]:
            continue  # the one stylesheet, beside the page (Jenkins' CSP allows style-src 'self')
        assert node.tag not in ("script", "link", "img", "iframe", "object", "embed"), f"<{node.tag}> in report"
        for key in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
            value = node.attrs.get(key)
            if value is not None:
                assert value.startswith("#"), f"<{node.tag} {key}={value!r}>: external reference"
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", html), "external url() in CSS or SVG"
    assert "@import" not in html and "@font-face" not in html
    assert "<style" not in html and ' style="' not in html, "inline styles are blocked by Jenkins' CSP"


def plots_in(dom: Dom) -> dict[str, Node]:
    out = {}
    for fig in dom.root.iter("figure"):
        svg = fig.find("svg")
        if svg is not None and any(True for _ in svg.iter("path")):
            out[fig.attrs["data-plot"]] = fig
    return out


def table_rows(dom: Dom, table_id: str) -> list[Node]:
    table = dom.root.find("table", id=table_id)
    assert table is not None, f"no table #{table_id}"
    return list(table.find("tbody").iter("tr"))


# --- classification -----------------------------------------------------------------------------
def test_classification_report_is_self_contained_small_and_has_every_plot(clf):
    html_path = clf["out"] / "report.html"
    html = html_path.read_text(encoding="utf-8")
    assert html_path.stat().st_size < MAX_BYTES
    dom = Dom(html)
    assert_self_contained(html, dom)
    plots = plots_in(dom)
    assert {"confusion", "roc", "pr", "importance", "trend"} <= set(plots), sorted(plots)
    assert not {"pred_vs_actual", "residuals"} & set(plots)
    # no style attributes anywhere (SVG uses presentation attributes), no <style> element (the
    # styles are in mlci.css beside the page) and no scripts: Jenkins' default CSP blocks nothing
    assert not [n.tag for n in dom.all if "style" in n.attrs]
    assert [n.tag for n in dom.all if n.tag == "style"] == []
    for section in ("metrics", "gates", "performance", "importance", "trend", "data", "latency", "lineage"):
        assert dom.root.find("section", id=section) is not None, section
    assert (clf["out"] / "summary.md").is_file() and (clf["out"] / "report.json").is_file()


def test_metrics_table_equals_metrics_json_and_baseline(clf):
    metrics = json.loads((clf["run"] / "metrics.json").read_text())
    evaluation = json.loads((clf["run"] / "evaluation.json").read_text())
    assert evaluation["baseline"]["version"] == 1
    base = evaluation["baseline"]["metrics"]
    dom = parse(clf["out"] / "report.html")
    rows = {tr.attrs["data-metric"]: tr for tr in table_rows(dom, "metrics-table")}
    assert set(rows) == set(metrics)
    for name, value in metrics.items():
        cells = {td.attrs.get("data-value"): td.text.strip() for td in rows[name].iter("td")}
        assert float(cells["new"]) == pytest.approx(value, abs=5e-5)
        assert float(cells["old"]) == pytest.approx(base[name], abs=5e-5)
        assert float(cells["change"]) == pytest.approx(value - base[name], abs=1e-4)
    header = dom.root.find("section", id="metrics").find("h2").text
    assert "production (v1)" in header


def test_gate_decisions_are_shown(clf):
    evaluation = json.loads((clf["run"] / "evaluation.json").read_text())
    dom = parse(clf["out"] / "report.html")
    rows = table_rows(dom, "gates-table")
    assert len(rows) == len(evaluation["gates"]) == 2
    for tr, gate in zip(rows, evaluation["gates"]):
        assert tr.attrs["data-gate"] == f"{gate['metric']} {gate['kind']}"
        assert tr.attrs["data-decision"] == {True: "pass", False: "fail", None: "skipped"}[gate["passed"]]
        assert gate["reason"] in tr.text
    assert dom.root.find(id="decision").text.strip().endswith("blessed")


def test_summary_md_table_matches_metrics(clf):
    metrics = json.loads((clf["run"] / "metrics.json").read_text())
    base = json.loads((clf["run"] / "evaluation.json").read_text())["baseline"]["metrics"]
    md = (clf["out"] / "summary.md").read_text()
    assert md.startswith("<!-- mlci-report:clf -->\n")
    assert "| metric | production v1 | candidate | change | gate |" in md
    rows = {}
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in metrics:
            rows[cells[0]] = cells
    assert set(rows) == set(metrics)
    for name, (_, old, new, change, gate) in rows.items():
        assert float(old) == pytest.approx(base[name], abs=5e-5)
        assert float(new) == pytest.approx(metrics[name], abs=5e-5)
        assert float(change.strip("*▲▼ ")) == pytest.approx(metrics[name] - base[name], abs=1e-4)
    assert "✅ ≥ 0.6" in rows["roc_auc"][4]
    assert "**Gates:** 2 passed, 0 failed, 0 skipped." in md


def test_junit_has_one_testcase_per_gate(clf):
    evaluation = json.loads((clf["run"] / "evaluation.json").read_text())
    assert_junit_10(clf["out"] / "junit-gates.xml")
    suites = ET.parse(clf["out"] / "junit-gates.xml").getroot()
    cases = suites.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [f"{g['metric']} {g['kind']} {g['bound']:g}" for g in evaluation["gates"]]
    assert all(c.find("failure") is None and c.get("classname") == "mlci.gates.clf" for c in cases)


def test_trend_and_lineage(clf):
    data = json.loads((clf["out"] / "report.json").read_text())
    assert [v["version"] for v in data["registry"]["versions"]] == [1, 2]
    assert data["registry"]["aliases"] == {"production": 1}
    lin = data["lineage"]
    run_info = json.loads((clf["run"] / "run.json").read_text())
    assert lin["fingerprint"] == run_info["fingerprint"] and lin["version"] == 2
    assert lin["data"][0]["sha256"] == run_info["data"]["train"]["sha256"]
    dom = parse(clf["out"] / "report.html")
    assert run_info["fingerprint"] in dom.root.find("section", id="lineage").text
    # feature importance mapped back to input columns (the one-hot `region` is one feature)
    names = [f for f, _ in data["importance"]["features"]]
    assert "region" in names and not any(n.startswith("region_") for n in names)
    assert data["importance"]["method"].startswith("impurity")


def test_run_writes_the_report_into_the_run_dir(clf):
    for run in (clf["first"], clf["run"]):
        assert (run / "report" / "report.html").is_file()
        assert (run / "report" / "summary.md").is_file()


def test_unblessed_run_still_reports_and_exits_0(clf, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(clf["root"], root, ignore=shutil.ignore_patterns("out"))
    cfg = root / "mlci.yaml"
    set_in_config(cfg, "threshold: 0.6", "threshold: 0.9999")
    set_in_config(cfg, "n_estimators: 25", "n_estimators: 5")
    r = run_cli("run", "-c", cfg, cwd=root)
    assert r.returncode == 1, r.stderr
    run = latest_run(cfg)
    assert (run / "report" / "report.html").is_file()  # written although the gate failed
    r = run_cli("report", "-c", cfg, "-o", tmp_path / "out", cwd=root)
    ok(r)
    assert "not blessed" in r.stderr
    dom = parse(tmp_path / "out" / "report.html")
    assert "not blessed" in dom.root.find(id="decision").text
    failed = [tr for tr in table_rows(dom, "gates-table") if tr.attrs["data-decision"] == "fail"]
    assert [tr.attrs["data-gate"] for tr in failed] == ["roc_auc threshold"]
    cases = ET.parse(tmp_path / "out" / "junit-gates.xml").getroot().findall("./testsuite/testcase")
    assert len(cases) == 2
    assert [c.get("name") for c in cases if c.find("failure") is not None] == ["roc_auc threshold 0.9999"]
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "❌ not blessed" in md and "- ❌ roc_auc" in md


# --- regression -----------------------------------------------------------------------------------
def test_regression_report_plots_and_permutation_importance(reg, mlci, tmp_path):
    r = mlci("report", "-c", reg["cfg"], "-o", tmp_path, cwd=reg["root"])
    ok(r)
    html = (tmp_path / "report.html").read_text()
    dom = Dom(html)
    assert_self_contained(html, dom)
    plots = plots_in(dom)
    assert {"pred_vs_actual", "residuals", "importance"} <= set(plots)
    assert not {"confusion", "roc", "pr", "trend"} & set(plots)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["importance"]["method"].startswith("permutation")  # KNN has no importances
    assert {f for f, _ in data["importance"]["features"]} <= {"a", "b", "c", "d"}
    metrics = json.loads((reg["run"] / "metrics.json").read_text())
    rows = {tr.attrs["data-metric"]: tr for tr in table_rows(dom, "metrics-table")}
    for name, value in metrics.items():
        cell = next(td for td in rows[name].iter("td") if td.attrs.get("data-value") == "new")
        assert float(cell.text) == pytest.approx(value, abs=5e-5)
    notes = " ".join(n["text"] for n in data["notes"])
    assert "image-verify.json" in notes and "fewer than two registered versions" in notes


def test_drift_and_latency_sections_from_validation_and_verify(reg, mlci, tmp_path):
    """validation.json as `mlci validate` writes it (real drift: column `a` shifted) and
    image-verify.json in the shape mlci.image.verify declares: the report shows each column's
    drift statistic, its p-value and the latency."""
    import pandas as pd

    from mlci.image.verify import VerifyResult
    from mlci.validation import run_validation

    run = tmp_path / "run"
    shutil.copytree(reg["run"], run)
    reference = pd.read_parquet(reg["root"] / "data" / "train.parquet")
    current = reference.assign(a=reference["a"] + 3.0)
    schema = {"columns": {"b": {"max": 0.5}}}
    validation = run_validation([("train", current)], schema=schema, reference=reference, out_dir=run)
    drift_a = next(c for c in validation["drift"]["columns"] if c["column"] == "a")
    assert drift_a["drifted"] and drift_a["statistic"] > 1
    verify: VerifyResult = {
        "passed": True, "image_id": "sha256:abc", "tag": "127.0.0.1:5000/ml/reg:run-x", "model": {"name": "reg"},
        "load": {"requests": 800, "errors": 0, "first_error": None, "seconds": 2.0, "concurrency": 4, "rps": 412.5,
                 "p50_ms": 6.1, "p95_ms": 11.9, "p99_ms": 12.6, "max_ms": 20.0, "mean_ms": 7.0,
                 "histogram": {"bounds_ms": [1, 2, 5, 10, 20, 50], "counts": [0, 10, 300, 450, 40, 0, 0]}},
        "gates": [{"gate": "max_p99_ms", "passed": True, "value": 12.6, "threshold": 100}], "failures": []}
    (run / "image-verify.json").write_text(json.dumps(verify))
    runs = reg["cfg"].parent / ".mlci" / "runs"
    target = runs / "drift-test"
    shutil.copytree(run, target)
    try:
        ok(mlci("report", "-c", reg["cfg"], "--run", "drift-test", "-o", tmp_path / "out", cwd=reg["root"]))
    finally:
        shutil.rmtree(target)
    dom = parse(tmp_path / "out" / "report.html")
    plots = plots_in(dom)
    assert {"drift", "latency"} <= set(plots)
    drift_rows = table_rows(dom, "drift-table")
    cells = [td.text.strip() for td in drift_rows[0].iter("td")]
    assert cells[0] == "a" and cells[1] == "wasserstein" and "yes" in cells[5]
    assert cells[2] == f"{drift_a['statistic']:.4f}" and cells[3] == f"{drift_a['threshold']:.4f}"
    assert cells[4] not in ("", "—")  # the KS p-value
    assert len(drift_rows) == validation["drift"]["compared"]
    validation_rows = table_rows(dom, "validation-table")
    failed = next(r for r in validation["rules"] if r["id"] == "b.max")
    assert "fail" in validation_rows[0].text and failed["message"] in validation_rows[0].text
    latency = dom.root.find("section", id="latency").text
    assert "p99 12.6 ms" in latency and "412 req/s" in latency and "127.0.0.1:5000/ml/reg:run-x" in latency
    md = (tmp_path / "out" / "summary.md").read_text()
    n = validation["drift"]["drifted"]
    assert f"drift: {n} of {validation['drift']['compared']} columns drifted" in md and "p99 12.6 ms" in md
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["drift"]["columns"][0]["score"] == pytest.approx(drift_a["statistic"])


# --- robustness ----------------------------------------------------------------------------------
def test_no_run_is_a_usage_error(mlci, tmp_path):
    cfg = make_regression_project(tmp_path)
    r = mlci("report", "-c", cfg, cwd=tmp_path)
    assert r.returncode == 2
    assert "no run yet" in r.stderr and "Traceback" not in r.stderr


def test_pipeline_failing_before_training_still_gets_a_report(mlci, tmp_path):
    cfg = make_regression_project(tmp_path)
    set_in_config(cfg, "target: y", "target: nope")
    r = mlci("run", "-c", cfg, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    reports = list((tmp_path / ".mlci" / "runs").glob("*/report/report.html"))
    assert len(reports) == 1
    dom = parse(reports[0])
    banner = dom.root.find(id="pipeline-failed")
    assert banner is not None and "validate" in banner.text and "nope" in banner.text
    assert "not evaluated" in dom.root.find(id="decision").text


def test_no_report_flag(mlci, reg, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(reg["root"], root)
    shutil.rmtree(latest_run(root / "mlci.yaml") / "report")
    r = mlci("run", "--no-report", "-c", root / "mlci.yaml", cwd=root)
    ok(r)
    assert not (latest_run(root / "mlci.yaml") / "report").exists()


def test_broken_pieces_become_notes(reg, tmp_path):
    """A corrupt evaluation.json and missing predictions: still a report, with notes."""
    from mlci import config
    from mlci.report import generate
    from mlci.runs import Project, Run

    run_dir = tmp_path / "run"
    shutil.copytree(reg["run"], run_dir)
    (run_dir / "evaluation.json").write_text("{not json")
    (run_dir / "predictions.parquet").unlink()
    (run_dir / "image-verify.json").write_text('{"passed": true}')  # not the shape mlci writes
    project = Project(config.load(reg["cfg"]))
    out = generate(project, Run("broken", run_dir), tmp_path / "out")
    assert out["decision"] == "not evaluated"
    texts = " ".join(n["text"] for n in out["notes"])
    assert "evaluation.json" in texts
    assert "reading image-verify.json failed: KeyError" in texts
    assert (tmp_path / "out" / "report.html").stat().st_size > 1000


def test_curves_match_scikit_learn():
    """The report computes ROC/PR with numpy (no scikit-learn import); same numbers."""
    import numpy as np
    from sklearn import metrics as skm

    from mlci.report import binary_curves, confusion

    rng = np.random.default_rng(1)
    for n in (10, 143, 1000):
        truth = rng.integers(0, 2, n)
        truth[:2] = [0, 1]
        score = np.round(rng.random(n) * (0.5 + truth), 2)  # ties included
        c = binary_curves(truth, score)
        assert c["auc"] == pytest.approx(skm.roc_auc_score(truth, score), abs=1e-12)
        assert c["ap"] == pytest.approx(skm.average_precision_score(truth, score), abs=1e-12)
    y, p = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    assert confusion(y, p, [0, 1, 2]) == skm.confusion_matrix(y, p, labels=[0, 1, 2]).tolist()


def test_multiclass_run_gets_one_vs_rest_curves(tmp_path):
    """A hand-made multiclass run directory (string labels, probabilities per class)."""
    import numpy as np
    import pandas as pd

    from mlci import config
    from mlci.report import generate
    from mlci.runs import Project, Run

    root = tmp_path / "proj"
    root.mkdir()
    write_config(root, "mc", """
        name: mc
        task: classification
        data: {train: data.csv, target: kind}
        evaluate:
          metrics: [accuracy]
          gates: [{metric: accuracy, threshold: 0.5}]
        store: {uri: .mlci/store}
    """)
    (root / "data.csv").write_text("a,kind\n1,x\n")
    run_dir = tmp_path / "run"
    (run_dir / "model").mkdir(parents=True)
    classes = ["cat", "dog", "eel"]
    (run_dir / "model" / "signature.json").write_text(json.dumps({"classes": classes}))
    rng = np.random.default_rng(0)
    y = rng.choice(classes, 120)
    proba = rng.dirichlet([1, 1, 1], 120)
    for i, c in enumerate(y):
        proba[i, classes.index(c)] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    preds = pd.DataFrame({"y_true": y, "y_pred": [classes[i] for i in proba.argmax(axis=1)]})
    for i, c in enumerate(classes):
        preds[f"proba_{c}"] = proba[:, i]
    preds.to_parquet(run_dir / "predictions.parquet")
    accuracy = float((preds.y_true == preds.y_pred).mean())
    (run_dir / "evaluation.json").write_text(json.dumps({
        "blessed": True, "metrics": {"accuracy": accuracy}, "baseline": None, "n_test": 120,
        "gates": [{"metric": "accuracy", "kind": "threshold", "bound": 0.5, "value": accuracy, "baseline": None,
                   "passed": True, "reason": "ok"}]}))
    out = generate(Project(config.load(root / "mlci.yaml")), Run("mc", run_dir), tmp_path / "out")
    assert out["decision"] == "blessed"
    dom = parse(tmp_path / "out" / "report.html")
    plots = plots_in(dom)
    assert {"confusion", "roc", "pr"} <= set(plots)
    legend = plots["roc"].find("svg").text
    assert all(f"class {c}" in legend for c in classes)
    assert all(label in plots["confusion"].find("svg").text for label in classes)


def test_the_report_looks_the_same_under_jenkins_csp_with_every_plot(clf, tmp_path, csp_server):
    out = clf["out"]
    assert (out / "mlci.css").is_file()
    served = assert_same_under_jenkins_csp(out, "report.html", csp_server(out), tmp_path)
    assert served.count("<svg") == len(plots_in(parse(out / "report.html"))) > 0
