import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell

/** `mlci deploy --env ENV`: health-gated deployment (canary on request); unhealthy fails the build and the old version keeps serving. */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciDeploy', [config: 'mlci.yaml', environment: null, model: null,
        canary: null, storeCredentialsId: null, registryCredentialsId: null, endpoint: null], args)
    Defaults.require(this, 'mlciDeploy', cfg, ['environment'])
    Map result = Credentials.withStore(this, cfg, Credentials.registry(this, cfg.registryCredentialsId)) {
        Cli.run(this, 'mlciDeploy', Shell.args(['deploy'], ['--config': cfg.config, '--env': cfg.environment,
            '--model': cfg.model, '--canary': cfg.canary == true, '--no-canary': cfg.canary == false]))
    }
    archiveArtifacts(artifacts: '.mlci/jenkins/mlciDeploy/**', allowEmptyArchive: true)
    return Cli.finish(this, result)
}
