#!/usr/bin/env bash
# Build an agent image offline: wheels are made on this host (pip uses the host's own index
# configuration), copied into a small build context, and installed with --no-index.
#   bash docker/agent-cpu/build.sh [IMAGE] [BASE]
#   EXTRA_REQUIREMENTS="torch==2.13.0" bash docker/agent-cpu/build.sh mlci/agent-cpu:torch
# docker/agent-cuda/build.sh calls this with its own Dockerfile.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
DOCKERFILE=${DOCKERFILE:-$here/Dockerfile}
IMAGE=${1:-mlci/agent-cpu:latest}
BASE=${2:-}
EXTRA_REQUIREMENTS=${EXTRA_REQUIREMENTS:-}
PYTHON=${PYTHON:-python3}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/wheels"
# shellcheck disable=SC2086  # EXTRA_REQUIREMENTS is a list of requirement specifiers
"$PYTHON" -m pip wheel --quiet --wheel-dir "$ctx/wheels" "$repo/python" $EXTRA_REQUIREMENTS
cp "$DOCKERFILE" "$ctx/Dockerfile"
args=(--tag "$IMAGE" --build-arg "EXTRA_REQUIREMENTS=$EXTRA_REQUIREMENTS")
[ -n "$BASE" ] && args+=(--build-arg "BASE=$BASE")
docker build "${args[@]}" "$ctx"
echo "built $IMAGE" >&2
