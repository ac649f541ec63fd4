import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell

/**
 * `mlci evaluate`: metrics and gates (vs the baseline alias, read from the store); a gate not met fails the
 * build and is named.
 */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciEvaluate', [config: 'mlci.yaml', run: null, storeCredentialsId: null, endpoint: null], args)
    Map result = Credentials.withStore(this, cfg) {
        Cli.run(this, 'mlciEvaluate', Shell.args(['evaluate'], ['--config': cfg.config, '--run': cfg.run]))
    }
    archiveArtifacts(artifacts: '.mlci/jenkins/mlciEvaluate/**,.mlci/runs/*/metrics.json,.mlci/runs/*/evaluation.json',
        allowEmptyArchive: true)
    return Cli.finish(this, result)
}
