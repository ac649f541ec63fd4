#!/usr/bin/env bash
# Build a minimal Python base image offline: debootstrap Debian bookworm (minbase) with
# python3 + python3-venv from the Debian mirror this machine's apt already uses, then
# `docker import` it. Usage: build.sh [IMAGE]   (default mlci-base/python:3.11-slim)
# No registry or mirror host is written here: the mirror is read from /etc/apt.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
IMAGE=${1:-mlci-base/python:3.11-slim}
SUITE=${SUITE:-bookworm}

if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq debootstrap >/dev/null
fi

# The first Debian (not security) URI in the machine's apt sources, deb822 or one-line format.
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  mirror=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' "$f")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ]; then
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    mirror=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {if ($i !~ /security/) {print $i; exit} else break}}' "$f")
    [ -n "$mirror" ] && break
  done
fi
if [ -z "$mirror" ]; then
  echo "no Debian mirror found in /etc/apt/sources.list{,.d}" >&2
  exit 2
fi

root=$(mktemp -d /tmp/mlci-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "$SUITE" "$root" "$mirror" >/tmp/mlci-debootstrap.log 2>&1 || {
  tail -30 /tmp/mlci-debootstrap.log >&2; exit 1; }
# Slim it: no apt lists, caches, docs or man pages in the image.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$IMAGE" >/dev/null
echo "built $IMAGE" >&2
