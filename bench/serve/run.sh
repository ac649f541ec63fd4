#!/usr/bin/env bash
# Serving benchmark: `mlci serve` vs `mlflow models serve`, same model, same load, one run.
#
#   bench/serve/run.sh [SECONDS]        (default 20 s per server)
#
# Model: RandomForestClassifier(n_estimators=100, max_depth=8, random_state=42) on scikit-learn's
# breast-cancer features, trained by `mlci train` (the pipeline mlci builds: median imputer +
# forest). MLflow gets the very same fitted pipeline, saved with mlflow.sklearn.save_model.
# Load: wrk -t2 -c16, single-row JSON requests (dataframe_split), 2 workers per server.
# MLflow is installed in its own venv (MLFLOW_VENV, default /tmp/mlflow-bench), never into
# the project: python3 -m venv /tmp/mlflow-bench && /tmp/mlflow-bench/bin/pip install mlflow skops
# scikit-learn==<the host's version>. Needs wrk (apt-get install wrk).
# Without MLflow: bench/serve/ceiling.py measures mlci serve against the HTTP ceiling (an asyncio
# server answering a fixed body) and 100-row against 1-row requests.
set -euo pipefail
SECONDS_PER_RUN=${1:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MLFLOW_VENV=${MLFLOW_VENV:-/tmp/mlflow-bench}
WORK=$(mktemp -d /tmp/mlci-bench-serve.XXXXXX)
export PYTHONPATH="$REPO/python${PYTHONPATH:+:$PYTHONPATH}"
PIDS=()  # each server runs in its own session: stopping its process group stops its workers too
cleanup() { for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -x "$MLFLOW_VENV/bin/mlflow" ] || { echo "no MLflow venv at $MLFLOW_VENV (see the header)" >&2; exit 2; }

# --- the model, trained by mlci -------------------------------------------------------------
MODEL=$(python3 "$HERE/model.py" "$WORK")

# --- the same fitted pipeline as an MLflow model ---------------------------------------------
"$MLFLOW_VENV/bin/python" - "$MODEL" "$WORK" <<'PY'
import sys, warnings
from pathlib import Path
import pandas as pd, skops.io as sio, mlflow.sklearn
warnings.filterwarnings("ignore")
model, work = Path(sys.argv[1]), Path(sys.argv[2])
pipeline = sio.load(model / "model.skops", trusted=sio.get_untrusted_types(file=model / "model.skops"))
test = pd.read_parquet(model.parent / "test.parquet").drop(columns=["target"])
mlflow.sklearn.save_model(pipeline, str(work / "mlflow-model"), input_example=test.iloc[:1],
                          serialization_format="cloudpickle")
PY

wait_ready() {  # url, seconds
  for _ in $(seq 1 "$((${2} * 4))"); do
    curl -fs -o /dev/null -X POST -H 'Content-Type: application/json' --data @"$WORK/body.json" "$1" && return 0
    sleep 0.25
  done
  echo "server at $1 did not come up" >&2; return 1
}

bench() {  # name url
  echo "== $1: wrk -t2 -c16 -d${SECONDS_PER_RUN}s --latency" >&2
  wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/post.lua" "$2" | tee "$WORK/$1.wrk" >&2
}

# --- mlci serve ----------------------------------------------------------------------------
setsid python3 -m mlci serve --model "$MODEL" --port 8931 --workers 2 2>"$WORK/mlci.log" &
PIDS+=($!)
wait_ready http://127.0.0.1:8931/invocations 180
bench mlci http://127.0.0.1:8931/invocations
kill -TERM -- "-${PIDS[-1]}"; wait "${PIDS[-1]}" || true

# --- mlflow models serve (no conda/virtualenv: the venv it runs from) -------------------------
# it starts uvicorn from PATH, so the venv's bin goes first
PATH="$MLFLOW_VENV/bin:$PATH" setsid "$MLFLOW_VENV/bin/mlflow" models serve -m "$WORK/mlflow-model" \
  --env-manager local -p 8932 -w 2 >"$WORK/mlflow.log" 2>&1 &
PIDS+=($!)
wait_ready http://127.0.0.1:8932/invocations 300
bench mlflow http://127.0.0.1:8932/invocations
kill -TERM -- "-${PIDS[-1]}"; wait "${PIDS[-1]}" || true

# --- summary -------------------------------------------------------------------------------
python3 - "$WORK" "$SECONDS_PER_RUN" <<'PY'
import re, sys
from pathlib import Path
work, secs = Path(sys.argv[1]), sys.argv[2]
def parse(name):
    text = (work / f"{name}.wrk").read_text()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    def ms(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    timeouts = re.search(r"timeout (\d+)", text)
    return {"rps": rps, "p50": ms(50), "p90": ms(90), "p99": ms(99),
            "errors": int(errors.group(1)) if errors else 0, "timeouts": int(timeouts.group(1)) if timeouts else 0}
m, f = parse("mlci"), parse("mlflow")
print(f"| server | requests/s | p50 ms | p90 ms | p99 ms | non-2xx | timeouts |")
print(f"|---|---:|---:|---:|---:|---:|---:|")
for name, r in (("mlci serve --workers 2", m), ("mlflow models serve -w 2", f)):
    print(f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p90']:.2f} | {r['p99']:.2f} | {r['errors']} | {r['timeouts']} |")
print(f"\nthroughput ratio mlci/mlflow: {m['rps'] / f['rps']:.1f}x; p99 {m['p99']:.1f} ms vs {f['p99']:.1f} ms "
      f"(wrk -t2 -c16 -d{secs}s, single-row dataframe_split)")
PY
echo "logs and raw wrk output: $WORK" >&2
