#!/usr/bin/env bash
# A running Docker daemon (Debian's docker.io). Idempotent.
# dockerd runs in its own session so it outlives this script; a stale pid file left by a
# killed daemon is removed first (dockerd refuses to start while it exists).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v dockerd >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi
if docker info >/dev/null 2>&1; then
  exit 0
fi
pid_file=/var/run/docker.pid
if [ -f "$pid_file" ] && ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  rm -f "$pid_file"
fi
if ! [ -f "$pid_file" ]; then
  setsid dockerd >/tmp/dockerd.log 2>&1 < /dev/null &
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not come up; see /tmp/dockerd.log" >&2
tail -20 /tmp/dockerd.log >&2 || true
exit 1
