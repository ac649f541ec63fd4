import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell

/** `mlci image build|verify|push`: one action per call; push logs in with the bound registry credentials. */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciImage', [config: 'mlci.yaml', action: 'build', tags: [], registryCredentialsId: null,
        storeCredentialsId: null, endpoint: null], args)
    if (!(cfg.action in ['build', 'verify', 'push'])) {
        error("mlciImage: action must be build, verify or push, got '${cfg.action}'")
    }
    String id = "mlciImage-${cfg.action}"
    Map result = Credentials.withStore(this, cfg, Credentials.registry(this, cfg.registryCredentialsId)) {
        Cli.run(this, id, Shell.args(['image', cfg.action], ['--config': cfg.config, '--tag': cfg.tags]))
    }
    archiveArtifacts(artifacts: ".mlci/jenkins/${id}/**,.mlci/runs/*/image-*.json", allowEmptyArchive: true)
    return Cli.finish(this, result)
}
