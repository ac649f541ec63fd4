#!/usr/bin/env bash
# Prepare the real parts the tests use. Idempotent; safe on a fresh machine.
# Each tests/setup.d/NN-*.sh prepares one part (Docker daemon, registry, Groovy, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
for part in tests/setup.d/*.sh; do
  [ -e "$part" ] || continue
  echo "== setup: $part" >&2
  bash "$part"
done
