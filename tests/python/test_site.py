"""`mlci site`: the model catalog written from a real store (local directory and S3 over HTTP),
rendered by headless Chromium from a file and under Jenkins' Content-Security-Policy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from browser import assert_same_under_jenkins_csp, pixels, render
from s3_fixtures import dead_endpoint

from mlci.registry import Registry
from mlci.store import open_store


def record(model: int, version: int, accuracy: float) -> dict:
    return {"run_id": f"run-{model}-{version}", "fingerprint": f"fp-{model}-{version}", "task": "classification",
            "estimator": "sklearn.ensemble.RandomForestClassifier", "blessed": accuracy >= 0.85,
            "metrics": {"accuracy": accuracy, "f1": round(accuracy - 0.02, 4)},
            "gates": [{"metric": "accuracy", "threshold": 0.85, "passed": accuracy >= 0.85,
                       "reason": f"accuracy {accuracy:.3f} vs threshold 0.85"}],
            "lineage": {"data": {"train": {"path": "train.csv", "sha256": f"{model}{version}" * 16}},
                        "code": {"hash": f"{version:064x}", "git_commit": f"{version:040x}"},
                        "params": {"n_estimators": 100 + version, "max_depth": 8}, "versions": {"mlci": "0"}}}


ACCURACY = {1: 0.90, 2: 0.80, 3: 0.93}


def populate(store) -> None:
    """churn: v1..v3, production v1 -> v3, rolled back to v1; spam: one unpromoted version."""
    churn = Registry(store, "churn")
    for v, acc in ACCURACY.items():
        churn.register(record(0, v, acc), actor="alice")
    churn.promote(1, "production", actor="bob", reason="first model")
    churn.promote(3, "production", actor="carol", reason="better recall")
    churn.rollback("production", actor="dave", reason="latency regression in canary")
    Registry(store, "spam").register(record(1, 1, 0.88), actor="erin")


def site(mlci, store_uri: str, out: Path) -> dict:
    r = mlci("site", "-o", out, "--store", store_uri, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def text(path: Path) -> str:
    """The page's text with tags removed and whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", path.read_text()))


def check_content(out: Path) -> None:
    index = text(out / "index.html")
    assert re.search(r"churn production v1 v3 blessed rollback of production to v1 by dave", index), index
    assert re.search(r"spam none v1 blessed never", index), index
    page = text(out / "models" / "churn.html")
    for v, acc in ACCURACY.items():
        assert re.search(rf"v{v}\b.*? {acc:.4f} ", page), f"v{v} missing"
    assert "rollback production: v3 → v1 dave latency regression in canary" in page
    assert "promote production: v1 → v3 carol better recall" in page
    assert "not blessed" in page  # v2
    assert (out / "models" / "churn.html").read_text().count("<svg") == 2  # accuracy and f1 trends
    compare = text(out / "models" / "churn" / "v3.html")
    assert "churn v3 against production (v1)" in compare
    assert re.search(r"accuracy 0\.9300 0\.9000 \+0\.0300", compare), compare
    assert re.search(r"n_estimators 103 101", compare)
    assert "run report" not in compare  # published outside Jenkins: no build, no report link


def test_the_catalog_lists_every_model_version_and_the_audit_trail(tmp_path, mlci):
    store = tmp_path / "store"
    populate(open_store(str(store)))
    result = site(mlci, str(store), tmp_path / "site")
    assert (result["models"], result["versions"], result["problems"]) == (2, 4, 0)
    check_content(tmp_path / "site")
    assert (tmp_path / "site" / "mlci.css").is_file()


def test_on_s3_the_same_catalog(tmp_path, mlci, bucket):
    uri = f"s3://{bucket}/models-store"
    populate(open_store(uri))
    result = site(mlci, uri, tmp_path / "site")
    # one listing, then one GET per record: 4 versions, 1 alias, 7 audit events
    assert result["versions"] == 4 and result["requests"] == {"list": 1, "get": 12}
    check_content(tmp_path / "site")


def test_a_rebuild_reads_and_writes_only_what_changed(tmp_path, mlci):
    store_dir = tmp_path / "store"
    store = open_store(str(store_dir))
    populate(store)
    first = site(mlci, str(store_dir), tmp_path / "site")
    assert len(first["written"]) == first["pages"]
    again = site(mlci, str(store_dir), tmp_path / "site")
    assert again["written"] == [] and again["requests"]["get"] == 0
    Registry(store, "spam").register(record(1, 2, 0.95), actor="erin")
    after = site(mlci, str(store_dir), tmp_path / "site")
    assert sorted(after["written"]) == ["index.html", "models/spam.html", "models/spam/v2.html"]
    assert after["requests"]["get"] == 2  # the new version record and its register event


def test_an_empty_store_says_so(tmp_path, mlci):
    result = site(mlci, str(tmp_path / "empty"), tmp_path / "site")
    assert result["models"] == 0
    assert "This store has no registered models yet" in text(tmp_path / "site" / "index.html")


def test_a_corrupt_record_is_shown_as_such_and_the_rest_is_written(tmp_path, mlci):
    store_dir = tmp_path / "store"
    populate(open_store(str(store_dir)))
    (store_dir / "models" / "churn" / "versions" / "2.json").write_text("{ truncated")
    (store_dir / "models" / "spam" / "aliases" ).mkdir(parents=True)
    (store_dir / "models" / "spam" / "aliases" / "production.json").write_text('["not", "an", "alias"]')
    result = site(mlci, str(store_dir), tmp_path / "site")
    assert result["problems"] == 2
    page = text(tmp_path / "site" / "models" / "churn.html")
    assert "versions/2.json: not valid JSON" in page and "v3" in page and "v1" in page
    assert "aliases/production.json: expected a JSON object, got list" in text(tmp_path / "site" / "models" / "spam.html")
    assert "2 unreadable records" not in text(tmp_path / "site" / "index.html")
    assert "1 unreadable record " in text(tmp_path / "site" / "index.html")


def test_a_store_that_cannot_be_read_exits_3(tmp_path, mlci, s3_env, monkeypatch):
    r = mlci("site", "-o", tmp_path / "site", "--store", "s3://nowhere/x",
             env={**s3_env, "AWS_ENDPOINT_URL": dead_endpoint(), "MLCI_RETRIES": "1"})
    assert r.returncode == 3, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_pages_look_the_same_under_jenkins_csp(tmp_path, mlci, csp_server):
    store = tmp_path / "store"
    populate(open_store(str(store)))
    out = tmp_path / "site"
    site(mlci, str(store), out)
    base = csp_server(out)
    for page, plots in (("index.html", 0), ("models/churn.html", 2), ("models/churn/v3.html", 0)):
        served = assert_same_under_jenkins_csp(out, page, base, tmp_path)
        assert served.count("<svg") == plots, page


def test_the_csp_server_really_blocks_inline_styles(tmp_path, csp_server):
    """The check above can fail: a page with an inline <style> looks different under the CSP."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "inline.html").write_text(
        "<!DOCTYPE html><html><head><style>body{background:#0f172a}</style></head><body>x</body></html>")
    console = render(f"{csp_server(tmp_path / 'p')}/inline.html", tmp_path / "served.png", "400,300")
    render((tmp_path / "p" / "inline.html").as_uri(), tmp_path / "file.png", "400,300")
    assert not np.array_equal(pixels(tmp_path / "served.png"), pixels(tmp_path / "file.png"))
    assert any("Content Security Policy" in line for line in console)
