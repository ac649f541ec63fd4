import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell

/**
 * `mlci train`: trains the model of mlci.yaml into .mlci/runs/<run-id>/ (skipped when up to date unless force).
 * The store's credentials (storeCredentialsId, endpoint) also read data kept in object storage (s3:// sources).
 */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciTrain', [config: 'mlci.yaml', force: false, device: null, inContainer: false,
        storeCredentialsId: null, endpoint: null], args)
    Map result = Credentials.withStore(this, cfg) {
        Cli.run(this, 'mlciTrain', Shell.args(['train'], ['--config': cfg.config, '--force': cfg.force,
            '--device': cfg.device, '--in-container': cfg.inContainer]))
    }
    archiveArtifacts(artifacts: '.mlci/jenkins/mlciTrain/**,.mlci/runs/*/run.json,.mlci/runs/*/model/signature.json',
        allowEmptyArchive: true)
    return Cli.finish(this, result)
}
