import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell

/**
 * `mlci report`: report.html (HTML Publisher), summary.md and JSON archived, the headline in the build
 * description. Never fails or changes the build result: a missing report is a warning in the log.
 */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge('mlciReport', [config: 'mlci.yaml', output: '.mlci/jenkins/report', reportName: 'mlci report',
        description: true, storeCredentialsId: null, endpoint: null], args)
    Map result = [rc: -1, json: [:], message: '']
    try {
        result = Credentials.withStore(this, cfg) {
            Cli.run(this, 'mlciReport', Shell.args(['report'], ['--config': cfg.config, '--output': cfg.output]))
        }
        publishHTML(target: [reportDir: cfg.output, reportFiles: 'report.html', reportName: cfg.reportName,
            keepAll: true, alwaysLinkToLastBuild: true, allowMissing: true])
        archiveArtifacts(artifacts: "${cfg.output}/**,.mlci/jenkins/mlciReport/**", allowEmptyArchive: true)
        junit(testResults: "${cfg.output}/*.xml", allowEmptyResults: true, skipMarkingBuildUnstable: true)
        if (cfg.description && result.json.headline && !currentBuild.description) {
            currentBuild.description = result.json.headline.toString()
        }
    } catch (InterruptedException aborted) {
        throw aborted
    } catch (Exception problem) {
        echo("mlciReport: WARNING: could not publish the report: ${problem.message}")
    }
    if (result.rc != 0) {
        echo("mlciReport: WARNING: no report (exit ${result.rc}): ${result.message ?: 'see the log above'}; " +
            'the build result is unchanged')
    }
    return [written: result.rc == 0] + result.json
}
