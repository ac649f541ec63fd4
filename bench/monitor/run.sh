#!/usr/bin/env bash
# Prediction-logging overhead: `mlci serve` throughput with the prediction log on vs off,
# same model, same load, in one run (rounds interleaved so machine noise hits both alike).
#
#   bench/monitor/run.sh [SECONDS] [ROUNDS]     (default 10 s per measurement, 3 rounds)
#
# Model: RandomForestClassifier(n_estimators=100, max_depth=8, random_state=42) on the
# breast-cancer features, trained by `mlci train` (as bench/serve). Server: --workers 2.
# Load: wrk -t2 -c16, single-row JSON requests (dataframe_split), loopback only; without wrk
# (apt-get install wrk) a bounded Python load generator (16 keep-alive connections) is used.
# Configurations per round: logging off; --log-predictions at sample rate 1.0; at 0.1.
set -euo pipefail
SECS=${1:-10}
ROUNDS=${2:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/mlci-bench-monitor.XXXXXX)
export PYTHONPATH="$REPO/python${PYTHONPATH:+:$PYTHONPATH}"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill -TERM -- "-$SERVER" 2>/dev/null || true; }
trap cleanup EXIT
PORT=${PORT:-8941}

MODEL=$(python3 "$REPO/bench/serve/model.py" "$WORK")

load() {  # url seconds -> requests/s on stdout
  if command -v wrk >/dev/null; then
    wrk -t2 -c16 -d"${2}s" -s "$WORK/post.lua" "$1" > "$WORK/last.wrk"
    grep -q "Non-2xx" "$WORK/last.wrk" && { cat "$WORK/last.wrk" >&2; echo "non-2xx answers" >&2; exit 1; }
    awk '/Requests\/sec/ {print $2}' "$WORK/last.wrk"
  else
    python3 "$HERE/load.py" "$1" "$WORK/body.json" "$2"
  fi
}

start() {  # extra args...
  setsid python3 -m mlci serve --model "$MODEL" --port "$PORT" --workers 2 "$@" 2>>"$WORK/server.log" &
  SERVER=$!
  for _ in $(seq 1 400); do
    curl -fs -o /dev/null -X POST -H 'Content-Type: application/json' --data @"$WORK/body.json" \
      "http://127.0.0.1:$PORT/invocations" && return 0
    sleep 0.25
  done
  echo "server did not come up" >&2; exit 1
}

stop() { kill -TERM -- "-$SERVER"; wait "$SERVER" || true; SERVER=""; }

echo "config round requests_per_s cpu_us_per_request" > "$WORK/results.txt"
for round in $(seq 1 "$ROUNDS"); do
  for config in off on-1.0 on-0.1; do
    rm -rf "$WORK/logs"
    case $config in
      off) start ;;
      on-1.0) start --log-predictions "$WORK/logs" --log-sample-rate 1.0 ;;
      on-0.1) start --log-predictions "$WORK/logs" --log-sample-rate 0.1 ;;
    esac
    load "http://127.0.0.1:$PORT/invocations" 2 >/dev/null  # warm-up
    cpu0=$(python3 "$HERE/cpu.py" "$SERVER")
    rps=$(load "http://127.0.0.1:$PORT/invocations" "$SECS")
    sleep 1  # the last flush of the writer threads
    cpu1=$(python3 "$HERE/cpu.py" "$SERVER")
    # server CPU microseconds per request: robust to other load on the machine
    us=$(python3 -c "print(round(($cpu1 - $cpu0) * 1e6 / ($rps * $SECS)))")
    if [ "$config" != off ]; then
      dropped=$(curl -fs "http://127.0.0.1:$PORT/metrics" | awk '/^mlci_prediction_log_dropped_total/ {print $2}')
      logged=$(curl -fs "http://127.0.0.1:$PORT/metrics" | awk '/^mlci_prediction_log_records_total/ {print $2}')
      echo "round $round $config: $rps requests/s, $us us CPU/request (logged $logged, dropped $dropped, $(du -sh "$WORK/logs" | cut -f1) on disk)" >&2
    else
      echo "round $round $config: $rps requests/s, $us us CPU/request" >&2
    fi
    echo "$config $round $rps $us" >> "$WORK/results.txt"
    stop
  done
done

python3 - "$WORK/results.txt" "$SECS" "$ROUNDS" <<'PY'
import shutil, statistics, sys
rows = [l.split() for l in open(sys.argv[1]).read().splitlines()[1:]]
rps, cpu = {}, {}
for config, _round, r, us in rows:
    rps.setdefault(config, []).append(float(r))
    cpu.setdefault(config, []).append(float(us))
base, base_cpu = statistics.median(rps["off"]), statistics.median(cpu["off"])
tool = "wrk -t2 -c16" if shutil.which("wrk") else "load.py, 16 connections"
print(f"| configuration | requests/s (median of {sys.argv[3]}) | per round | vs off | server CPU µs/request | CPU vs off |")
print("|---|---:|---|---:|---:|---:|")
for config, label in (("off", "logging off"), ("on-1.0", "--log-predictions, sample rate 1.0"),
                      ("on-0.1", "--log-predictions, sample rate 0.1")):
    med, c = statistics.median(rps[config]), statistics.median(cpu[config])
    print(f"| {label} | {med:.0f} | {', '.join(f'{v:.0f}' for v in rps[config])} | {med / base:.1%} "
          f"| {c:.0f} | {c / base_cpu:.1%} |")
print(f"\n({tool}, {sys.argv[2]} s per measurement, single-row dataframe_split, mlci serve --workers 2)")
PY
echo "raw results: $WORK" >&2
