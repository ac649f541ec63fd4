#!/usr/bin/env bash
# Debian's Chromium, headless, for the browser tests of the report and the model catalog.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
chromium --version
