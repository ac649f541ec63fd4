import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell

/**
 * `mlci site`: the model catalog of the store (every model, version, alias and audit event), published
 * with HTML Publisher. Run it after publishing or promotion. Never fails or changes the build result:
 * a catalog that cannot be written is a warning in the log.
 */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge('mlciSite', [config: 'mlci.yaml', output: '.mlci/jenkins/site', reportName: 'mlci models',
        store: null, storeCredentialsId: null, endpoint: null], args)
    Map result = [rc: -1, json: [:], message: '']
    try {
        result = Credentials.withStore(this, cfg) {
            Cli.run(this, 'mlciSite', Shell.args(['site'], ['--config': cfg.config, '--output': cfg.output,
                '--store': cfg.store]))
        }
        if (result.rc == 0) {
            publishHTML(target: [reportDir: cfg.output, reportFiles: 'index.html', reportName: cfg.reportName,
                keepAll: false, alwaysLinkToLastBuild: true, allowMissing: false])
        }
    } catch (InterruptedException aborted) {
        throw aborted
    } catch (Exception problem) {
        echo("mlciSite: WARNING: could not publish the model catalog: ${problem.message}")
    }
    if (result.rc != 0) {
        echo("mlciSite: WARNING: no model catalog (exit ${result.rc}): ${result.message ?: 'see the log above'}; " +
            'the build result is unchanged')
    }
    return [written: result.rc == 0] + result.json
}
