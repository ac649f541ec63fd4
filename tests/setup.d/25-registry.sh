#!/usr/bin/env bash
# Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1:5000, storage in a
# temporary directory. Idempotent: does nothing when the registry already answers.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
ADDR=${MLCI_TEST_REGISTRY:-127.0.0.1:5000}
# htpasswd (apache2-utils): the image tests start a second registry with basic auth
if ! command -v htpasswd >/dev/null 2>&1; then
  apt-get install -y -qq apache2-utils >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq apache2-utils >/dev/null; }
fi
if curl -fsS "http://$ADDR/v2/" >/dev/null 2>&1; then
  exit 0
fi
if ! command -v docker-registry >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq docker-registry >/dev/null
fi
dir=$(mktemp -d /tmp/mlci-registry.XXXXXX)
cat > "$dir/config.yml" <<CONF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $dir/data}
  delete: {enabled: true}
http:
  addr: $ADDR
CONF
setsid docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 < /dev/null &
for _ in $(seq 1 30); do
  curl -fsS "http://$ADDR/v2/" >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "docker-registry did not come up; see $dir/registry.log" >&2
exit 1
