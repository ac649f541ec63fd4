import org.mlci.Cli
import org.mlci.Defaults
import org.mlci.Shell

/** `mlci validate`: data rules and drift; JUnit published (one testcase per rule), exit 1 fails the build. */
Map call(Map args = [:]) {
    Map cfg = Defaults.merge('mlciValidate', [config: null, data: null, schema: null, reference: null,
        junit: '.mlci/jenkins/mlciValidate/validation-junit.xml'], args)
    Map result = Cli.run(this, 'mlciValidate', Shell.args(['validate'], ['--config': cfg.config,
        '--data': cfg.data, '--schema': cfg.schema, '--reference': cfg.reference, '--junit': cfg.junit]))
    junit(testResults: cfg.junit, allowEmptyResults: true)
    archiveArtifacts(artifacts: '.mlci/jenkins/mlciValidate/**,.mlci/runs/*/validation.json', allowEmptyArchive: true)
    return Cli.finish(this, result)
}
