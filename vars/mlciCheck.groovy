/*
 * mlciCheck: the team's own code checks (lint, unit tests) from mlci.yaml `checks:`.
 *
 * A thin wrapper over `mlci check`: the values travel in the environment and the shell
 * text is a constant, so nothing a user passes is ever spliced into a shell line.
 * Publishes the merged JUnit XML; FAILURE when a blocking check failed, UNSTABLE when only
 * non-blocking checks failed. Returns the content of checks.json (empty map if none).
 */
Map call(Map args = [:]) {
    Map config = [config: 'mlci.yaml', out: '.mlci/checks', junit: null, only: []] << args
    String junitPath = config.junit ?: "${config.out}/junit.xml"
    String only = [config.only].flatten().findAll { name -> name }.join(',')
    String script = 'mlci check -c "$MLCI_CONFIG" --json --junit "$MLCI_CHECK_JUNIT" --out "$MLCI_CHECK_OUT"'
    if (only) {
        script += ' --only "$MLCI_CHECK_ONLY"'
    }
    int status = -1
    withEnv(["MLCI_CONFIG=${config.config}", "MLCI_CHECK_OUT=${config.out}",
             "MLCI_CHECK_JUNIT=${junitPath}", "MLCI_CHECK_ONLY=${only}"]) {
        status = sh(script: script, returnStatus: true, label: 'mlci check')
    }
    String resultsFile = "${config.out}/checks.json"
    Map results = fileExists(resultsFile) ? readJSON(file: resultsFile) : [:]
    junit(testResults: junitPath, allowEmptyResults: true)
    if (status == 1) {
        error("mlciCheck: ${results.summary ?: 'a blocking check failed'}")
    }
    if (status == 127) {
        error('mlciCheck: `mlci` is not on the PATH of this agent (install it, e.g. with mlciSetup)')
    }
    if (status != 0) {
        error("mlciCheck: `mlci check` exited ${status} (2: bad config or arguments, " +
              '3: infrastructure unreachable); see its message above')
    }
    if (results.unstable) {
        unstable("mlciCheck: ${results.summary}")
    }
    return results
}
