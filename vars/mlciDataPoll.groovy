import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell

/**
 * The data-change poll: `mlci data status --exit-code` (the data fingerprint against the mark in the store);
 * changed (exit 1): builds `job` without waiting, then records the data as seen (`mlci data status --mark`);
 * unchanged (exit 0): the build says 'data unchanged' and ends. Any other exit fails the build with the CLI's
 * message. Runs on a node with the project checked out and mlciSetup done.
 */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciDataPoll', [config: 'mlci.yaml', job: null, storeCredentialsId: null, endpoint: null], args)
    Defaults.require(this, 'mlciDataPoll', cfg, ['job'])
    Map status = Credentials.withStore(this, cfg) {
        Cli.run(this, 'mlciDataPoll', Shell.args(['data', 'status'], ['--config': cfg.config, '--exit-code': true]))
    }
    if (status.rc == 0) {
        currentBuild.description = 'data unchanged'
        return status.json + [triggered: false]
    }
    if (status.rc != 1) {
        Cli.finish(this, status)
    }
    // marked only once the build is queued: a failed trigger leaves the change for the next poll
    build(job: cfg.job, wait: false)
    Map marked = Credentials.withStore(this, cfg) {
        Cli.run(this, 'mlciDataPoll-mark', Shell.args(['data', 'status'], ['--config': cfg.config, '--mark': true]))
    }
    Cli.finish(this, marked)
    currentBuild.description = "data changed: started ${cfg.job}".toString()
    return status.json + [triggered: true]
}
