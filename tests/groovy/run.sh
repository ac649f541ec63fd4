#!/usr/bin/env bash
# Groovy step tests (the pipeline harness) and the CodeNarc lint of vars/ and src/.
# Usage: tests/groovy/run.sh [TEST_FILE[#method] ...]   (no arguments: every test and the lint)
# Ends with `N passed, N failed, N skipped`; exits non-zero on any failure. A test skips only for a
# missing part (Docker, registry, moto, the test venv); MLCI_REQUIRE_SERVICES=1 makes that a failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
[ -x "$JAVA_HOME/bin/java" ] || export JAVA_HOME=/usr/lib/jvm/default-java
export MLCI_REPO_ROOT="$PWD"
# C1 only and the serial GC: these short runs spend most of their CPU in the JIT otherwise.
export JAVA_OPTS="${JAVA_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1}"
cp="tests/groovy/harness:tests/groovy/stubs:src:/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar"

lint_passed=0
lint_failed=0
if [ $# -eq 0 ]; then
  if bash tests/groovy/lint.sh; then lint_passed=1; else lint_failed=1; fi
fi

out="$(mktemp)"
groovy -cp "$cp" tests/groovy/harness/RunTests.groovy "$@" | tee "$out"
status=${PIPESTATUS[0]}
summary="$(tail -n 1 "$out")"; rm -f "$out"
passed=$(( $(sed -n 's/^groovy tests: \([0-9]*\) passed.*/\1/p' <<<"$summary") + lint_passed ))
failed=$(( $(sed -n 's/.*passed, \([0-9]*\) failed.*/\1/p' <<<"$summary") + lint_failed ))
skipped=$(( $(sed -n 's/.* \([0-9]*\) skipped$/\1/p' <<<"$summary") + 0 ))
if [ $# -eq 0 ]; then
  echo "(including the CodeNarc lint as one check: $([ $lint_failed -eq 0 ] && echo passed || echo FAILED))"
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
