import org.mlci.Cli
import org.mlci.Defaults
import org.mlci.Shell

/**
 * `mlci check`: the team's own code checks (lint, unit tests) from mlci.yaml `checks:`, run by the
 * CLI (in parallel, output prefixed with each check's name). Publishes the merged JUnit XML; a failed
 * blocking check fails the build naming it, a failed non-blocking check marks the build UNSTABLE.
 * Returns checks.json as a map (passed, unstable, result, summary, checks).
 */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciCheck', [config: null, only: null, jobs: null, junit: '.mlci/jenkins/mlciCheck/junit.xml'], args)
    Map result = Cli.run(this, 'mlciCheck', Shell.args(['check'], ['--config': cfg.config, '--only': cfg.only,
        '--jobs': cfg.jobs, '--out': '.mlci/jenkins/mlciCheck/checks', '--junit': cfg.junit]))
    junit(testResults: cfg.junit, allowEmptyResults: true)
    archiveArtifacts(artifacts: '.mlci/jenkins/mlciCheck/**', allowEmptyArchive: true)
    if (result.rc == 1 && result.json.summary) {
        error("mlciCheck: ${result.json.summary}")
    }
    Map checks = Cli.finish(this, result)
    if (checks.unstable) {
        unstable("mlciCheck: ${checks.summary}")
    }
    return checks
}
