#!/bin/sh
# mlci agent bootstrap (run by the mlciSetup step): find or install the mlci CLI.
# Inputs (environment, all optional; values are data, never evaluated):
#   MLCI_BIN                   an mlci executable to use as is (the agent image's)
#   MLCI_VERSION               the version wanted (mlci==VERSION); an mlci found with another version is not used
#   MLCI_REQUIREMENT           a pip requirement instead (a wheel path, "mlci[s3]==1.2"); implies installing
#   MLCI_REQUIREMENTS_FILE     a requirements file pinning mlci (and its dependencies) with --hash=sha256:...
#   MLCI_INDEX_URL             package index for pip (else the agent's pip configuration)
#   MLCI_FIND_LINKS            a wheelhouse directory (air-gapped agents); MLCI_NO_INDEX=1 to use only it
#
# Supply chain: a package named `mlci` on a public index is not ours, and an agent would install and
# run it. So nothing is installed by name from an index unless its content is pinned by hash. Installing
# is allowed only from: a wheelhouse alone (MLCI_FIND_LINKS with MLCI_NO_INDEX=1), a wheel file
# (MLCI_REQUIREMENT naming an existing file), or MLCI_REQUIREMENTS_FILE with hashes (pip's hash-checking
# mode, from the team's index in MLCI_INDEX_URL or the agent's pip configuration). Otherwise, with no
# mlci on the agent (the agent image, docker/agent, has one), it fails (exit 2) and says what to set.
#   MLCI_VENV                  where to create the virtual environment (default .mlci/venv)
#   MLCI_SYSTEM_SITE_PACKAGES  1: the venv sees the agent's site-packages (preinstalled numpy, sklearn, ...)
#   MLCI_SETUP_DIR             where to write mlci-path, mlci-version and, on failure, error
# Exit codes as the CLI's: 0 ok, 2 bad input, 3 infrastructure (the index could not be reached).
set -eu
out="${MLCI_SETUP_DIR:-.mlci/jenkins/mlciSetup}"
venv="${MLCI_VENV:-.mlci/venv}"
mkdir -p "$out"
rm -f "$out/error" "$out/mlci-path" "$out/mlci-version"

fail() {  # fail CODE MESSAGE
  printf 'mlci setup: error: %s\n' "$2" | tee "$out/error" >&2
  exit "$1"
}

version_of() {  # the version an mlci executable reports, or nothing
  "$1" --version 2>/dev/null | sed -n 's/^mlci //p' | head -n 1
}

acceptable() {  # an executable whose version is the wanted one (or any, when none is pinned)
  [ -x "$1" ] || return 1
  found="$(version_of "$1")"
  [ -n "$found" ] || return 1
  [ -z "${MLCI_VERSION:-}" ] || [ "$found" = "$MLCI_VERSION" ]
}

use() {
  found="$(version_of "$1")"
  printf '%s\n' "$1" >"$out/mlci-path"
  printf '%s\n' "$found" >"$out/mlci-version"
  echo "mlci setup: using $1 (mlci $found)" >&2
  exit 0
}

if [ -n "${MLCI_BIN:-}" ]; then
  acceptable "$MLCI_BIN" && use "$MLCI_BIN"
  fail 2 "MLCI_BIN=$MLCI_BIN is not an mlci executable${MLCI_VERSION:+ of version $MLCI_VERSION}"
fi

if [ -z "${MLCI_REQUIREMENT:-}" ]; then
  on_path="$(command -v mlci || true)"
  if [ -n "$on_path" ] && acceptable "$on_path"; then
    use "$on_path"
  fi
  if acceptable "$venv/bin/mlci"; then
    use "$(cd "$venv/bin" && pwd)/mlci"
  fi
fi

requirement="${MLCI_REQUIREMENT:-mlci${MLCI_VERSION:+==$MLCI_VERSION}}"
if [ -n "${MLCI_REQUIREMENTS_FILE:-}" ]; then
  [ -f "$MLCI_REQUIREMENTS_FILE" ] || fail 2 "requirementsFile $MLCI_REQUIREMENTS_FILE: no such file"
  grep -q -- '--hash=sha256:' "$MLCI_REQUIREMENTS_FILE" \
    || fail 2 "requirementsFile $MLCI_REQUIREMENTS_FILE has no --hash=sha256: pins; pin mlci==VERSION with its hashes (pip hash-checking mode)"
  requirement="-r $MLCI_REQUIREMENTS_FILE"
elif [ -n "${MLCI_REQUIREMENT:-}" ] && [ -f "$MLCI_REQUIREMENT" ]; then
  :  # a wheel file: its content is what was built, not a name looked up in an index
elif [ -n "${MLCI_FIND_LINKS:-}" ] && [ "${MLCI_NO_INDEX:-}" = 1 ]; then
  :  # a wheelhouse alone: nothing comes from an index
else
  why="installing \`$requirement\` by name from a package index is refused"
  [ -z "${MLCI_FIND_LINKS:-}" ] || why="$why (findLinks without noIndex: true still consults the index)"
  fail 2 "no mlci on this agent, and $why: a package of that name on a public index is not ours. Use the agent image with mlci inside (docker/agent), or mlciSetup(findLinks: WHEELHOUSE, noIndex: true), or mlciSetup(requirementsFile: FILE) with mlci==VERSION --hash=sha256:... (and indexUrl: your own index), or mlciSetup(requirement: PATH-TO-WHEEL)"
fi
python="$(command -v python3 || true)"
[ -n "$python" ] || fail 3 "python3 is not installed on this agent (needed to install mlci)"

if [ ! -x "$venv/bin/python" ]; then
  if [ "${MLCI_SYSTEM_SITE_PACKAGES:-}" = 1 ]; then
    "$python" -m venv --system-site-packages "$venv" || fail 3 "could not create a virtual environment in $venv"
  else
    "$python" -m venv "$venv" || fail 3 "could not create a virtual environment in $venv"
  fi
fi

set -- install --quiet --disable-pip-version-check
[ -z "${MLCI_INDEX_URL:-}" ] || set -- "$@" --index-url "$MLCI_INDEX_URL"
[ -z "${MLCI_FIND_LINKS:-}" ] || set -- "$@" --find-links "$MLCI_FIND_LINKS"
[ "${MLCI_NO_INDEX:-}" != 1 ] || set -- "$@" --no-index
if [ -n "${MLCI_REQUIREMENTS_FILE:-}" ]; then
  set -- "$@" --require-hashes -r "$MLCI_REQUIREMENTS_FILE"
else
  set -- "$@" "$requirement"
fi
echo "mlci setup: installing $requirement into $venv" >&2
"$venv/bin/python" -m pip "$@" >&2 \
  || fail 3 "pip could not install $requirement (package index or wheelhouse unreachable, or no such version)"

acceptable "$venv/bin/mlci" || fail 2 "installed $requirement but $venv/bin/mlci is not mlci${MLCI_VERSION:+ $MLCI_VERSION}"
use "$(cd "$venv/bin" && pwd)/mlci"
