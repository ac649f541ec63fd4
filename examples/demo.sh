#!/usr/bin/env bash
# The demo: the example pipelines on the embedded local store (examples/*/.mlci/store).
# Usage: examples/demo.sh [VENV_BIN]   (make demo passes .venv/bin)
set -euo pipefail
BIN="${1:-}"
[ -z "$BIN" ] || BIN="$(cd "$BIN" && pwd)"   # absolute: the script changes directory
MLCI="${BIN:+$BIN/}mlci"
PY="${BIN:+$BIN/}python"
[ -n "$BIN" ] || PY=python3
cd "$(dirname "$0")"
"$PY" make_data.py breast-cancer diabetes
for example in breast-cancer diabetes; do
  echo "== mlci run: examples/$example" >&2
  (cd "$example" && "$MLCI" run --promote --actor demo)
done
(cd breast-cancer && "$MLCI" registry list breast-cancer)
echo "Run it again: every stage is up to date. See examples/*/.mlci/ for the runs and the store." >&2
