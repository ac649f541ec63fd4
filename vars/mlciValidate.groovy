import org.mlci.Cli
import org.mlci.Credentials
import org.mlci.Defaults
import org.mlci.Shell

/**
 * `mlci validate`: data rules and drift (against data.reference, else the production model's statistics from
 * the store); JUnit published (one testcase per rule), exit 1 fails the build.
 */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge(this, 'mlciValidate', [config: null, data: null, schema: null, reference: null,
        junit: '.mlci/jenkins/mlciValidate/validation-junit.xml', storeCredentialsId: null, endpoint: null], args)
    Map result = Credentials.withStore(this, cfg) {
        Cli.run(this, 'mlciValidate', Shell.args(['validate'], ['--config': cfg.config,
            '--data': cfg.data, '--schema': cfg.schema, '--reference': cfg.reference, '--junit': cfg.junit]))
    }
    junit(testResults: cfg.junit, allowEmptyResults: true)
    archiveArtifacts(artifacts: '.mlci/jenkins/mlciValidate/**,.mlci/runs/*/validation.json', allowEmptyArchive: true)
    return Cli.finish(this, result)
}
