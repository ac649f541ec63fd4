import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell
import org.mlci.Warnings

/**
 * `mlci report`: report.html (HTML Publisher), summary.md and JSON archived, the headline in the build
 * description; on a pull-request build (CHANGE_ID) with `comment` set, summary.md posted as the PR's
 * comment (updated in place by later builds). Never fails or changes the build result: a missing report,
 * a missing plugin or a comment that could not be posted is a warning in the log, and each publisher
 * runs whatever happened to the one before. An abort and a sandbox rejection still propagate.
 */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciReport', [config: 'mlci.yaml', output: '.mlci/jenkins/report', reportName: 'mlci report',
        description: true, storeCredentialsId: null, endpoint: null, comment: null], args)
    Map result = [rc: -1, json: [:], message: '']
    Warnings.onFailure(this, 'mlciReport', 'could not run mlci report') {
        result = Credentials.withStore(this, cfg) {
            Cli.run(this, 'mlciReport', Shell.args(['report'], ['--config': cfg.config, '--output': cfg.output]))
        }
    }
    Warnings.onFailure(this, 'mlciReport', 'could not publish the report (HTML Publisher)') {
        publishHTML(target: [reportDir: cfg.output, reportFiles: 'report.html', reportName: cfg.reportName,
            keepAll: true, alwaysLinkToLastBuild: true, allowMissing: true])
    }
    Warnings.onFailure(this, 'mlciReport', 'could not archive the report') {
        archiveArtifacts(artifacts: "${cfg.output}/**,.mlci/jenkins/mlciReport/**", allowEmptyArchive: true)
    }
    Warnings.onFailure(this, 'mlciReport', 'could not publish the report\'s JUnit XML') {
        junit(testResults: "${cfg.output}/*.xml", allowEmptyResults: true, skipMarkingBuildUnstable: true)
    }
    if (cfg.description && result.json.headline && !currentBuild.description) {
        currentBuild.description = result.json.headline.toString()
    }
    if (result.rc != 0) {
        echo("mlciReport: WARNING: no report (exit ${result.rc}): ${result.message ?: 'see the log above'}; " +
            'the build result is unchanged')
    }
    Map out = [written: result.rc == 0] + result.json
    if (cfg.comment && env.CHANGE_ID && result.rc == 0) {
        Warnings.onFailure(this, 'mlciReport', 'the pull-request comment was not posted') {
            out.comment = comment(cfg)
        }
    }
    return out
}

/** `mlci report comment` on this pull request, the forge's token bound from its credential. */
Map comment(Map cfg) {
    Map c = Defaults.merge(this, 'mlciReport comment', [forge: null, repo: null, credentialsId: null, url: null], cfg.comment)
    Defaults.require(this, 'mlciReport comment', c, ['forge', 'repo', 'credentialsId'])
    Map result = withCredentials(Credentials.forgeToken(this, c.credentialsId as String)) {
        Cli.run(this, 'mlciReport-comment', Shell.args(['report', 'comment'], ['--config': cfg.config,
            '--forge': c.forge, '--repo': c.repo, '--pr': env.CHANGE_ID, '--url': c.url,
            '--summary': "${cfg.output}/summary.md"]))
    }
    if (result.rc == 0) {
        return result.json
    }
    echo("mlciReport: WARNING: the pull-request comment was not posted (exit ${result.rc}): " +
        "${result.message ?: 'see the log above'}; the build result is unchanged")
    return [:]
}
