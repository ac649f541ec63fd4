"""Drift statistics against scipy's exact values, reference statistics, and the JUnit writer."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon as scipy_js

from mlci.validation import drift_against_stats, reference_stats, run_validation
from mlci.validation.drift import jensenshannon, psi
from mlci.validation.junit import junit_xml
from mlci.validation.settings import Drift, DriftThresholds, Validate


@pytest.mark.parametrize("kind", ["normal", "discrete", "heavy"])
@pytest.mark.parametrize("shift", [0.0, 0.2])
def test_numeric_statistics_match_scipy(kind, shift):
    rng = np.random.default_rng(7)
    gen = {"normal": lambda n, s: rng.normal(s, 1, n),
           "discrete": lambda n, s: rng.poisson(3 + 3 * s, n).astype(float),
           "heavy": lambda n, s: rng.lognormal(s, 1, n)}[kind]
    ref, cur = gen(50_000, 0.0), gen(20_000, shift)
    stats = reference_stats(pa.table({"x": ref}))
    col = drift_against_stats(pa.table({"x": cur}), stats)["columns"][0]["stats"]
    ks_exact = sps.ks_2samp(ref, cur).statistic
    # documented bound: never above the exact D, below it by at most the reference mass of one bin
    assert ks_exact - 1.5e-3 <= col["ks"] <= ks_exact + 1e-9
    w_exact = sps.wasserstein_distance(ref, cur)
    # within 1%, or 0.002 in normalized units (far below the 0.1 threshold) for near-equal data
    assert col["wasserstein"] == pytest.approx(w_exact, rel=0.01, abs=2e-3 * ref.std())
    assert col["wasserstein_normed"] == pytest.approx(col["wasserstein"] / ref.std(), rel=1e-9)


def test_categorical_statistics_match_definitions():
    p = np.array([0.5, 0.3, 0.2])
    q = np.array([0.4, 0.3, 0.3])
    assert jensenshannon(p, q) == pytest.approx(scipy_js(p, q, base=2))
    assert psi(p, q) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    rng = np.random.default_rng(3)
    ref = pa.table({"c": rng.choice(list("abc"), 10_000, p=p)})
    stats = reference_stats(ref)
    cur = pa.table({"c": rng.choice(list("abcd"), 10_000, p=[0.4, 0.3, 0.2, 0.1])})
    col = drift_against_stats(cur, stats)["columns"][0]
    assert col["drifted"] and col["stats"]["new_categories"] == ["d"]


def test_thresholds_and_methods_are_configurable():
    rng = np.random.default_rng(5)
    stats = reference_stats(pa.table({"x": rng.normal(0, 1, 20_000)}))
    cur = pa.table({"x": rng.normal(0.15, 1, 20_000)})
    default = drift_against_stats(cur, stats)["columns"][0]
    assert default["method"] == "wasserstein" and default["drifted"]
    loose = drift_against_stats(cur, stats, Drift(thresholds=DriftThresholds(wasserstein=0.5)))["columns"][0]
    assert not loose["drifted"]
    ks = drift_against_stats(cur, stats, Drift(numeric_method="ks"))["columns"][0]
    assert ks["method"] == "ks" and ks["statistic"] == pytest.approx(default["stats"]["ks"])


def test_dataset_drift_share_and_fail_on_column():
    rng = np.random.default_rng(11)
    n = 5000
    ref = pa.table({f"c{i}": rng.normal(0, 1, n) for i in range(4)})
    cur = pa.table({"c0": rng.normal(1, 1, n), **{f"c{i}": rng.normal(0, 1, n) for i in range(1, 4)}})
    res = run_validation([("cur", cur)], reference=reference_stats(ref))
    d = res["datasets"][0]["drift"]
    assert d["drifted"] == 1 and d["share"] == 0.25 and not d["dataset_drift"]
    assert res["passed"] and res["warnings"] == 1
    strict = Validate(drift=Drift(fail_on="column"))
    res = run_validation([("cur", cur)], reference=reference_stats(ref), settings=strict)
    assert not res["passed"] and res["errors"] == 1


def test_reference_stats_are_compact_json_and_skip_ids_and_free_text():
    n = 3000
    rng = np.random.default_rng(2)
    table = pa.table({"id": np.arange(n), "text": [f"t{i}" for i in range(n)],
                      "x": rng.normal(0, 1, n), "flag": rng.random(n) < 0.5})
    stats = json.loads(json.dumps(reference_stats(table, Validate(drift=Drift(max_categories=50)))))
    assert stats["format"] == "mlci-reference-stats/1" and stats["rows"] == n
    assert stats["columns"]["flag"]["categories"].keys() == {"true", "false"}
    assert len(stats["columns"]["x"]["edges"]) == 1001
    d = drift_against_stats(table, stats, Drift(max_categories=50))
    assert {s["column"] for s in d["skipped"]} == {"id", "text"}
    assert d["drifted"] == 0


def test_type_change_counts_as_drift():
    stats = reference_stats(pa.table({"x": [1.0, 2.0, 3.0] * 100}))
    d = drift_against_stats(pa.table({"x": ["a", "b", "c"] * 100}), stats)
    assert d["columns"][0]["drifted"] and "type changed" in d["columns"][0]["stats"]["reason"]


def test_junit_xml_round_trip_with_warnings_and_hostile_text():
    table = pa.table({"s": ["ok", "bad\x00\x07value", "ok"], "n": [1, 2, 3]})
    schema = {"columns": {"s": {"allowed": ["ok"]}, "n": {"max": 2, "severity": "warn"}}}
    res = run_validation([("data", table)], schema=schema)
    root = ET.fromstring(junit_xml(res))
    suite = root.find("testsuite")
    assert suite.get("name") == "validation.data"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["s.allowed"].find("failure") is not None
    assert "bad" in cases["s.allowed"].find("failure").get("message")
    assert cases["n.max"].find("skipped").get("message").startswith("warning:")
    assert cases["s.required"].find("failure") is None and cases["s.required"].find("skipped") is None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == (str(len(cases)), "1", "1")
    body = json.loads(cases["s.allowed"].find("failure").text)
    assert body["failing_rows"] == [1]
