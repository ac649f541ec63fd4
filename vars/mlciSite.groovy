import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell
import org.mlci.Warnings

/**
 * `mlci site`: the model catalog of the store (every model, version, alias and audit event), published
 * with HTML Publisher. Run it after publishing or promotion. Never fails or changes the build result:
 * a catalog that cannot be written, or HTML Publisher missing, is a warning in the log. An abort and a
 * sandbox rejection still propagate.
 */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciSite', [config: 'mlci.yaml', output: '.mlci/jenkins/site', reportName: 'mlci models',
        store: null, storeCredentialsId: null, endpoint: null], args)
    Map result = [rc: -1, json: [:], message: '']
    Warnings.onFailure(this, 'mlciSite', 'could not run mlci site') {
        result = Credentials.withStore(this, cfg) {
            Cli.run(this, 'mlciSite', Shell.args(['site'], ['--config': cfg.config, '--output': cfg.output,
                '--store': cfg.store]))
        }
    }
    if (result.rc == 0) {
        Warnings.onFailure(this, 'mlciSite', 'could not publish the model catalog (HTML Publisher)') {
            publishHTML(target: [reportDir: cfg.output, reportFiles: 'index.html', reportName: cfg.reportName,
                keepAll: false, alwaysLinkToLastBuild: true, allowMissing: false])
        }
    } else {
        echo("mlciSite: WARNING: no model catalog (exit ${result.rc}): ${result.message ?: 'see the log above'}; " +
            'the build result is unchanged')
    }
    return [written: result.rc == 0] + result.json
}
