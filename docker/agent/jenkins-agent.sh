#!/bin/sh
# Connect to Jenkins as an inbound (WebSocket) agent. Needs JENKINS_URL, JENKINS_AGENT_NAME and
# JENKINS_SECRET (from the agent's page in Jenkins). agent.jar comes from the controller itself,
# so agent and controller versions always match. The secret is passed as @file, never in argv.
# (Jenkins' `agent { docker { image ... } }` overrides this command; then it is not used.)
set -eu
: "${JENKINS_URL:?set JENKINS_URL}" "${JENKINS_AGENT_NAME:?set JENKINS_AGENT_NAME}" "${JENKINS_SECRET:?set JENKINS_SECRET}"
dir=$(mktemp -d)
umask 077
printf '%s' "$JENKINS_SECRET" > "$dir/secret"
unset JENKINS_SECRET
curl -fsSL --retry 5 --retry-connrefused -o "$dir/agent.jar" "${JENKINS_URL%/}/jnlpJars/agent.jar"
exec java ${JAVA_OPTS:-} -jar "$dir/agent.jar" -url "$JENKINS_URL" -name "$JENKINS_AGENT_NAME" \
  -secret "@$dir/secret" -workDir "$JENKINS_AGENT_WORKDIR" -webSocket
