#!/usr/bin/env bash
# mlci check vs the plain alternative (the same commands one after another in a shell, as
# consecutive `sh` steps in a Jenkinsfile would run them), on the breast-cancer example's checks.
# Usage: bench/checks/bench.sh [REPEATS]   (needs pyflakes and pytest; prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPEATS="${1:-3}"
PY="${PYTHON:-python3}"
EX="$PWD/examples/breast-cancer"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/mlci.yaml" <<YAML
name: bench
task: classification
data: {train: train.csv, target: y}
checks:
  - {name: lint, cwd: $EX, run: "$PY -m pyflakes features.py tests", blocking: false}
  - {name: unit, cwd: $EX, run: "$PY -m pytest -q -p no:cacheprovider tests --junitxml=$WORK/unit.xml", junit: $WORK/unit.xml}
  - {name: unit-again, cwd: $EX, run: "$PY -m pytest -q -p no:cacheprovider tests"}
YAML
now() { "$PY" -c 'import time; print(time.monotonic())'; }
best() { sort -n | head -1; }
plain=(); par=(); serial=()
for _ in $(seq "$REPEATS"); do
  t0=$(now); (cd "$EX" && $PY -m pyflakes features.py tests && $PY -m pytest -q -p no:cacheprovider tests --junitxml="$WORK/unit.xml" && $PY -m pytest -q -p no:cacheprovider tests) >/dev/null 2>&1; t1=$(now)
  plain+=("$("$PY" -c "print(round($t1-$t0,2))")")
  t0=$(now); PYTHONPATH="$PWD/python" "$PY" -m mlci check -c "$WORK/mlci.yaml" -q --out "$WORK/out" >/dev/null 2>&1; t1=$(now)
  par+=("$("$PY" -c "print(round($t1-$t0,2))")")
  t0=$(now); PYTHONPATH="$PWD/python" "$PY" -m mlci check -c "$WORK/mlci.yaml" -q --jobs 1 --out "$WORK/out" >/dev/null 2>&1; t1=$(now)
  serial+=("$("$PY" -c "print(round($t1-$t0,2))")")
done
echo "| how (3 checks: pyflakes, pytest with JUnit, pytest) | best of $REPEATS, s |"
echo "|---|---|"
echo "| shell, one after another | $(printf '%s\n' "${plain[@]}" | best) |"
echo "| mlci check --jobs 1 | $(printf '%s\n' "${serial[@]}" | best) |"
echo "| mlci check (parallel, $(nproc) CPUs) | $(printf '%s\n' "${par[@]}" | best) |"
