#!/usr/bin/env bash
# Install the tools mlci is compared with into bench/.venv-tools (not project dependencies).
# Usage: bench/tools.sh PACKAGE...   (pip uses the machine's own index configuration)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-tools"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet "$@"
echo "$venv/bin"
