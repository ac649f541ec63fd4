#!/usr/bin/env bash
# Build the Jenkins agent image: wheels of mlci and every dependency are built here on the host
# (pip wheel, with this machine's own index configuration), then the image installs them with
# --no-index. Usage: docker/agent/build.sh [IMAGE]   (default mlci/jenkins-agent:<mlci version>)
# Environment: BASE (default python:3.11-slim; for GPU agents a CUDA image with Python),
#              PYTHON (the Python whose wheels are built; default python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PYTHON=${PYTHON:-python3}
version=$("$PYTHON" -c 'import sys; sys.path.insert(0, sys.argv[1]); import mlci; print(mlci.__version__)' "$repo/python")
IMAGE=${1:-mlci/jenkins-agent:$version}
BASE=${BASE:-python:3.11-slim}
pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ctx=$(mktemp -d /tmp/mlci-agent.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$ctx/wheels" "$repo/python"
cp "$here/Dockerfile" "$here/jenkins-agent.sh" "$ctx/"
docker build --build-arg "BASE=$BASE" --build-arg "PYTHON_VERSION=$pyver" -t "$IMAGE" "$ctx"
docker run --rm --entrypoint mlci "$IMAGE" --version
echo "built $IMAGE on $BASE" >&2
