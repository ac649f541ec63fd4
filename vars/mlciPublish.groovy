import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell

/** `mlci publish`: uploads the run to the store and registers a model version; returns {name, version, ...}. */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciPublish', [config: 'mlci.yaml', run: null, storeCredentialsId: null, endpoint: null], args)
    Map result = Credentials.withStore(this, cfg) {
        Cli.run(this, 'mlciPublish', Shell.args(['publish'], ['--config': cfg.config, '--run': cfg.run]))
    }
    archiveArtifacts(artifacts: '.mlci/jenkins/mlciPublish/**', allowEmptyArchive: true)
    return Cli.finish(this, result)
}
