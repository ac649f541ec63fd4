#!/usr/bin/env bash
# The offline base image the image tests build on: Debian bookworm (minbase) with python3 and
# python3-venv, made with debootstrap and `docker import` (no image can be pulled here).
# Bookworm's python is 3.11, the same minor version as the host python, so wheels built on the
# host install in it. Built once; skipped when the image exists. Same recipe: docker/base-image/.
set -euo pipefail
IMAGE=${MLCI_TEST_BASE_IMAGE:-mlci-test/python:3.11-slim}
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
exec bash "$here/../../docker/base-image/build.sh" "$IMAGE"
