#!/usr/bin/env bash
# Build the CUDA agent image (see Dockerfile beside this file):
#   EXTRA_REQUIREMENTS="torch==2.13.0" bash docker/agent-cuda/build.sh [IMAGE] [BASE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
IMAGE=${1:-mlci/agent-cuda:latest}
DOCKERFILE="$here/Dockerfile" exec bash "$here/../agent-cpu/build.sh" "$IMAGE" "${2:-}"
