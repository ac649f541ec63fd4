#!/usr/bin/env bash
# CodeNarc over the Jenkins library (vars/, src/) and the example Jenkinsfiles, with the jenkins
# ruleset (CPS safety) applied to *.groovy and Jenkinsfile* plus basic, imports, unused and exceptions
# rules (tests/groovy/codenarc-ruleset.groovy). CodeNarc and its Groovy come from the jars shipped in
# npm's npm-groovy-lint@16, installed by tests/setup.d/30-groovy.sh into a cache outside git.
# Harness stubs (NonCPS, AbortException, Library) and src/ are on the classpath so the compile-phase
# rules see the types. Any violation of any priority fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${MLCI_LINT_CACHE:-$HOME/.cache/mlci-groovy-lint}"
jars="$cache/node_modules/npm-groovy-lint/lib/java"
if [ ! -d "$jars" ]; then
  echo "lint: npm-groovy-lint's jars are not in $jars; run tests/setup.d/30-groovy.sh" >&2
  exit 1
fi
java="${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}/bin/java"
cp="$(ls "$jars"/CodeNarc-*.jar "$jars"/GMetrics-*.jar "$jars"/slf4j-api-*.jar "$jars"/logback-*.jar | tr '\n' ':')$jars/groovy/lib/*:src:tests/groovy/stubs"
report="$(mktemp)"
tree="$(mktemp -d)"
trap 'rm -rf "$report" "$report.err" "$tree"' EXIT
# What CodeNarc reads: the library as is; Jenkinsfiles with Jenkins' implicit import of @Library made
# explicit on their first line (so the compile-phase rules can compile them; line numbers unchanged).
mkdir -p "$tree/docs/examples"
cp -R vars src "$tree/"
for jf in Jenkinsfile.example docs/examples/Jenkinsfile*; do
  if grep -q '@Library' "$jf"; then
    { printf 'import org.jenkinsci.plugins.workflow.libs.Library; '; cat "$jf"; } >"$tree/$jf"
  else  # a Jenkinsfile that uses only the CLI (docs/examples/Jenkinsfile.nightly-cli)
    cp "$jf" "$tree/$jf"
  fi
done
cp="${cp/:src:/:$tree/src:}"
"$java" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlogback.configurationFile="$jars/logback.xml" -cp "$cp" org.codenarc.CodeNarc \
  -basedir="$tree" -includes='vars/*.groovy,src/**/*.groovy,Jenkinsfile.example,docs/examples/Jenkinsfile*' \
  -rulesetfiles="file:tests/groovy/codenarc-ruleset.groovy" -failOnError=true \
  -maxPriority1Violations=0 -maxPriority2Violations=0 -maxPriority3Violations=0 \
  -report="text:$report" >/dev/null 2>"$report.err" || { cat "$report" >&2; grep -v ' INFO ' "$report.err" >&2; echo "lint: CodeNarc FAILED" >&2; exit 1; }
if grep -q 'Compilation failed' "$report.err"; then
  grep -A6 'Compilation failed' "$report.err" >&2
  echo "lint: CodeNarc could not compile a file, so its CPS rules did not run: FAILED" >&2
  exit 1
fi
grep -E '^(Summary|File:|    Violation)' "$report" >&2
echo "lint: CodeNarc (jenkins, basic, imports, unused, exceptions rules): no violations" >&2
