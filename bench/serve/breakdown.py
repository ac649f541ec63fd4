"""Where a request's time goes inside `mlci serve`: each stage of /invocations on its own, for
the 1-row and the 100-row requests of bench/serve/ceiling.py (same model: bench/serve/model.py).

    PYTHONPATH=python python3 bench/serve/breakdown.py

CPU time per call (time.process_time, best of 7 repeats), in microseconds. "request" is the
whole HTTP request handled in process (the protocol's data_received on the raw bytes, no
socket); the stages below it add up to most of it. The forest is walked as mlci.serve.forest
chooses by batch size (1 row: the trees joined into one; 100 rows: the numpy level walk);
timing the same rows again and again lets the CPU's branch predictor learn the trees' branches,
so the walk is also timed on distinct rows like the request's, as real traffic sends. The last two rows are floors, not
stages: the same leaves found by compiled code (scikit-learn's Cython Tree.apply, tree by
tree) on a batch 1,000 times larger, where its per-call overhead vanishes: what a native forest
walk would cost per request, on repeated and on distinct rows.
"""

import csv
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np
import orjson

from mlci.serve import build_app, http, wire

HERE = Path(__file__).resolve().parent
work = Path(tempfile.mkdtemp(prefix="mlci-breakdown-"))
env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent.parent / "python"),
                                                                os.environ.get("PYTHONPATH")]))}
model = subprocess.run([sys.executable, str(HERE / "model.py"), str(work)], check=True, env=env,
                       capture_output=True, text=True).stdout.strip()
with open(work / "project" / "data" / "train.csv", newline="") as f:
    reader = csv.reader(f)
    header = next(reader)
    every_row = list(reader)
rows = every_row[:100]
keep = [i for i, c in enumerate(header) if c != "target"]
bodies = {"1 row": (work / "body.json").read_bytes(),
          "100 rows": json.dumps({"dataframe_split": {"columns": [header[i] for i in keep],
                                                      "data": [[float(r[i]) for i in keep] for r in rows]}}).encode()}
app = build_app(model)
p = app.predictor
forest = p._final
data_set = p._transform(np.array([[float(r[i]) for i in keep] for r in every_row]))


class _Transport:
    def write(self, data):
        pass

    def close(self):
        pass


class _Server:
    app = app
    draining = False
    connections: set = set()


def cost(fn, calls):
    return min(timeit.repeat(fn, number=calls, repeat=7, timer=time.process_time)) / calls * 1e6


print(f"engine {p.engine}; microseconds of CPU per call")
print("| stage | 1 row | 100 rows |")
print("|---|---:|---:|")
table: dict[str, list[float]] = {}
for name, body in bodies.items():
    calls = 2000 if name == "1 row" else 200
    raw = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" \
        % len(body) + body
    conn = http._Connection(_Server())
    conn.connection_made(_Transport())
    doc = orjson.loads(body)
    data = doc["dataframe_split"]["data"]
    X = wire.parse(body, "application/json", p.schema, None, True).rows
    Xt = p._transform(X)
    leaves = forest.leaves(Xt)
    labels = p.predict(X)[0]
    stages = {
        "request (HTTP parsing + everything below)": lambda: conn.data_received(raw),
        "JSON parse (orjson)": lambda: orjson.loads(body),
        "value type check (below 128 values)": lambda: set(map(type, itertools.chain.from_iterable(data))),
        "rows to float array (below 128 values)": lambda: np.array(data, dtype=np.float64),
        "rows to float array by numpy's type finding (from 128 values)": lambda: wire._number_rows(data, len(data[0])),
        "wire.parse in all": lambda: wire.parse(body, "application/json", p.schema, None, True),
        "preprocessing (imputer)": lambda: p._transform(X),
        "forest: leaves": lambda: forest.leaves(Xt),
        "forest: leaf values summed": lambda: forest.value.take(leaves, axis=0).sum(axis=0),
        "predict in all": lambda: p.predict(X),
        "answer JSON": lambda: wire.predictions_body(labels),
        "metrics": lambda: (app.metrics.predictions(labels), app.metrics.request("invocations", 200, 1e-4)),
    }
    for stage, fn in stages.items():
        table.setdefault(stage, []).append(cost(fn, calls))
    # distinct rows in no repeating order (the data set's rows drawn at random, each value scaled
    # by 1 +- up to 5%): what real traffic asks of a tree walk. The request's own rows, repeated,
    # let the CPU's branch predictor learn the trees' branches, which flatters every compiled
    # walk (not numpy's, which has no branches).
    rng = np.random.default_rng(0)
    X32 = np.asarray(Xt, dtype=np.float32)
    drawn = data_set[rng.integers(0, len(data_set), 1000 * len(X32))]
    distinct = (drawn * rng.uniform(0.95, 1.05, drawn.shape)).astype(np.float32)
    batches = [distinct[i:i + len(X32)] for i in range(0, len(distinct), len(X32))][:calls]
    t0 = time.process_time()
    for batch in batches:
        forest.leaves(batch)
    table.setdefault("forest: leaves, distinct rows each call", []).append(
        (time.process_time() - t0) / len(batches) * 1e6)
    # the floor of the forest walk: compiled code (scikit-learn's Cython Tree.apply, tree by tree)
    # over 1,000 times the request's rows, so its per-call overhead vanishes; per request's rows
    for label, many in (("the request's rows repeated", np.ascontiguousarray(np.tile(X32, (1000, 1)))),
                        ("distinct rows", distinct)):
        t0 = time.process_time()
        for est in p._sk_final.estimators_:
            est.tree_.apply(many)
        table.setdefault(f"floor: compiled forest walk, tree by tree on 1,000x the rows ({label})", []).append(
            (time.process_time() - t0) / 1000 * 1e6)
for stage, (one, hundred) in table.items():
    print(f"| {stage} | {one:.1f} | {hundred:.1f} |")
