#!/usr/bin/env bash
# The Groovy step tests: Debian's groovy (2.4, Jenkins' own Groovy), JUnit 4, a headless JRE;
# and the CodeNarc lint: the jars shipped in npm's npm-groovy-lint@16, installed into a cache
# outside git ($MLCI_LINT_CACHE, default ~/.cache/mlci-groovy-lint). Idempotent.
set -euo pipefail

missing=()
command -v groovy >/dev/null 2>&1 || missing+=(groovy)
[ -f /usr/share/java/junit4.jar ] || missing+=(junit4)
[ -f /usr/share/java/hamcrest-core.jar ] || missing+=(libhamcrest-java)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
  }
fi

cache="${MLCI_LINT_CACHE:-$HOME/.cache/mlci-groovy-lint}"
if ! ls "$cache"/node_modules/npm-groovy-lint/lib/java/CodeNarc-*.jar >/dev/null 2>&1; then
  echo "setup: installing npm-groovy-lint@16 (CodeNarc jars) into $cache" >&2
  mkdir -p "$cache"
  npm install --no-audit --no-fund --loglevel=error --prefix "$cache" npm-groovy-lint@16 >/dev/null
fi
