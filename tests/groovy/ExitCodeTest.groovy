import org.junit.After
import org.junit.Test

/** The CLI's exit codes become the build results a user sees, with the reason in the error. */
class ExitCodeTest {
    StepFixture f = new StepFixture()

    @After
    void cleanup() { f.cleanup() }

    @Test
    void exitZeroIsSuccessAndTheStepReturnsTheCliJson() {
        f.answer('evaluate', [stdout: [blessed: true, metrics: [roc_auc: 0.99]]])
        Map out = f.h.runStep('mlciEvaluate')
        assert f.h.result == 'SUCCESS'
        assert out == [blessed: true, metrics: [roc_auc: 0.99]]
        assert f.onlyArgv() == ['evaluate', '--config=mlci.yaml', '--json']
    }

    @Test
    void aGateNotMetFailsTheBuildNamingTheGate() {
        // every command's --json result carries what said no as `failures: [{name, detail}]`
        f.answer('evaluate', [rc: 1, stderr: 'mlci evaluate: error: 1 of 2 gates not met', stdout: [blessed: false,
            gates: [[metric: 'roc_auc', kind: 'threshold', bound: 0.95, value: 0.91, passed: false]],
            failures: [[name: 'roc_auc threshold', detail: 'value 0.91 < bound 0.95']]]])
        f.h.runStep('mlciEvaluate')
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == 'mlciEvaluate: check failed: roc_auc threshold: value 0.91 < bound 0.95'
        assert f.h.log.contains('mlci evaluate: error: 1 of 2 gates not met')
    }

    @Test
    void everyFailureIsNamedInOrder() {
        f.answer('evaluate', [rc: 1, stdout: [failures: [[name: 'accuracy threshold', detail: 'value 0.93 < bound 0.95'],
            [name: 'f1 max_regression', detail: '']]]])
        f.h.runStep('mlciEvaluate')
        assert f.h.errorMessage == 'mlciEvaluate: check failed: accuracy threshold: value 0.93 < bound 0.95; f1 max_regression'
    }

    @Test
    void onlyTheFailuresListIsRead() {
        // a failed-looking entry under any other key is not guessed at: the CLI's error line is used
        f.answer('evaluate', [rc: 1, stderr: 'mlci evaluate: error: 1 of 1 gates not met', stdout: [failures: [],
            gates: [[metric: 'accuracy', passed: false]], rules: [[rule: 'x', passed: false]]]])
        f.h.runStep('mlciEvaluate')
        assert f.h.errorMessage == 'mlciEvaluate: check failed: mlci evaluate: error: 1 of 1 gates not met'
    }

    @Test
    void aFailedValidationStillPublishesItsJunitThenFails() {
        String junit = '''<testsuite name="validation" tests="2" failures="1">
  <testcase name="age: min 0"/><testcase name="income: not null"><failure message="12 nulls"/></testcase>
</testsuite>'''
        f.answer('validate', [rc: 1, stdout: [failures: [[name: 'income: not null', detail: 'observed 12 nulls']]],
                              files: ['.mlci/jenkins/mlciValidate/validation-junit.xml': junit]])
        f.h.runStep('mlciValidate', [data: 'new.csv', schema: 'schema.yaml'])
        assert f.onlyArgv() == ['validate', '--data=new.csv', '--schema=schema.yaml',
                                '--junit=.mlci/jenkins/mlciValidate/validation-junit.xml', '--json']
        Map junitCall = f.h.callsOf('junit')[0]
        assert junitCall.args[0].testResults == '.mlci/jenkins/mlciValidate/validation-junit.xml'
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == 'mlciValidate: check failed: income: not null: observed 12 nulls'
    }

    @Test
    void badInputFailsWithTheCliMessage() {
        f.answer('train', [rc: 2, stderr: "mlci train: error: mlci.yaml: model.params: expected a mapping, got a string"])
        f.h.runStep('mlciTrain')
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == 'mlciTrain: bad input: mlci train: error: mlci.yaml: model.params: expected a mapping, got a string'
    }

    @Test
    void infrastructureFailureIsMarkedAsSuch() {
        f.answer('publish', [rc: 3, stderr: 'mlci publish: error: store s3://models unreachable after 3 attempts: connection refused'])
        f.h.runStep('mlciPublish')
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.startsWith('mlciPublish: INFRASTRUCTURE failure (exit 3; not a model or data problem')
        assert f.h.errorMessage.endsWith('store s3://models unreachable after 3 attempts: connection refused')
        assert f.h.currentBuild.description == 'infrastructure failure in mlciPublish'
    }

    @Test
    void aMissingCliSaysToRunSetup() {
        f.h.globalEnv.MLCI = '/nonexistent/bin/mlci'
        f.h.runStep('mlciTrain')
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == 'mlciTrain: the mlci command was not found; run mlciSetup first (or set env.MLCI)'
    }

    @Test
    void anUnexpectedExitCodeIsReportedWithIt() {
        f.answer('train', [rc: 4, stderr: 'mlci train: internal error: KeyError: x (set MLCI_DEBUG=1 for the traceback)'])
        f.h.runStep('mlciTrain')
        assert f.h.errorMessage == 'mlciTrain: mlci exited with 4: mlci train: internal error: KeyError: x (set MLCI_DEBUG=1 for the traceback)'
    }

    @Test
    void imageVerifyFailureNamesTheLoadGate() {
        f.answer('image verify', [rc: 1, stdout: [failures: [[name: 'max_p99_ms', detail: 'observed 180 > 100']]]])
        f.h.runStep('mlciImage', [action: 'verify'])
        assert f.onlyArgv() == ['image', 'verify', '--config=mlci.yaml', '--json']
        assert f.h.errorMessage == 'mlciImage-verify: check failed: max_p99_ms: observed 180 > 100'
    }

    @Test
    void anUnknownImageActionIsRefusedBeforeAnyCall() {
        f.h.runStep('mlciImage', [action: 'publish'])
        assert f.h.errorMessage == "mlciImage: action must be build, verify or push, got 'publish'"
        assert f.mlciCalls().isEmpty()
    }

    @Test
    void aDeployThatStaysUnhealthyFails() {
        f.answer('deploy', [rc: 1, stdout: [failures: [[name: 'health', detail: 'new container failed /health; v2 still serving']]]])
        f.h.runStep('mlciDeploy', [environment: 'staging', model: 'breast-cancer@production'])
        assert f.onlyArgv() == ['deploy', '--config=mlci.yaml', '--env=staging', '--model=breast-cancer@production', '--json']
        assert f.h.errorMessage == 'mlciDeploy: check failed: health: new container failed /health; v2 still serving'
    }

    @Test
    void aDeployCanaryIsAskedForOrRefusedAndOtherwiseLeftToTheConfig() {
        f.h.runStep('mlciDeploy', [environment: 'prod', canary: true])
        f.h.runStep('mlciDeploy', [environment: 'prod', canary: false])
        f.h.runStep('mlciDeploy', [environment: 'prod'])
        assert f.mlciCalls()*.argv == [['deploy', '--config=mlci.yaml', '--env=prod', '--canary', '--json'],
                                       ['deploy', '--config=mlci.yaml', '--env=prod', '--no-canary', '--json'],
                                       ['deploy', '--config=mlci.yaml', '--env=prod', '--json']]
    }

    @Test
    void theReportIsPublishedAndSetsTheDescription() {
        f.answer('report', [stdout: [headline: 'roc_auc 0.991 (+0.004 vs production): blessed'], files: [
            '.mlci/jenkins/report/report.html': '<html>report</html>', '.mlci/jenkins/report/summary.md': '| metric |',
            '.mlci/jenkins/report/gates.xml': '<testsuite><testcase name="g"><failure/></testcase></testsuite>']])
        Map out = f.h.runStep('mlciReport')
        assert f.onlyArgv() == ['report', '--config=mlci.yaml', '--output=.mlci/jenkins/report', '--json']
        assert out.written == true
        assert f.h.result == 'SUCCESS'
        assert f.h.callsOf('publishHTML')[0].args[0].target.reportFiles == 'report.html'
        assert new File(f.h.artifacts, '.mlci/jenkins/report/summary.md').exists()
        assert f.h.currentBuild.description == 'roc_auc 0.991 (+0.004 vs production): blessed'
    }

    @Test
    void aReportNeverFailsTheBuild() {
        [2, 3, 4].each { int rc ->
            StepFixture g = new StepFixture()
            try {
                g.answer('report', [rc: rc, stderr: "mlci report: error: no run to report on"])
                Map out = g.h.runStep('mlciReport')
                assert g.h.result == 'SUCCESS'
                assert out.written == false
                assert g.h.log.contains("mlciReport: WARNING: no report (exit ${rc}): mlci report: error: no run to report on; the build result is unchanged")
            } finally {
                g.cleanup()
            }
        }
    }

    @Test
    void aReportDoesNotChangeAnUnstableOrFailedResult() {
        f.h.currentBuild.result = 'UNSTABLE'
        f.h.runStep('mlciReport')
        assert f.h.result == 'UNSTABLE'
    }

    @Test
    void aReportWithoutHtmlPublisherWarnsAndStillArchivesAndReadsItsJunit() {
        // issue 20, defect 5: a step of an absent plugin throws NoSuchMethodError, an Error
        f.h.absentPlugins.add('htmlpublisher')
        f.answer('report', [stdout: [headline: 'ok', failures: []], files: ['.mlci/jenkins/report/report.html': '<html/>',
            '.mlci/jenkins/report/gates.xml': '<testsuite><testcase name="g"/></testsuite>']])
        Map out = f.h.runStep('mlciReport')
        assert f.h.result == 'SUCCESS'
        assert out.written == true
        assert f.h.log.contains("mlciReport: WARNING: could not publish the report (HTML Publisher): a plugin is not installed " +
            "(No such DSL method 'publishHTML' found among steps")
        assert f.h.callsOf('archiveArtifacts') && f.h.callsOf('junit')
        assert new File(f.h.artifacts, '.mlci/jenkins/report/report.html').exists()
    }

    @Test
    void aReportWithoutTheJunitPluginStillSucceeds() {
        f.h.absentPlugins.add('junit')
        f.h.runStep('mlciReport')
        assert f.h.result == 'SUCCESS'
        assert f.h.log.contains("could not publish the report's JUnit XML: a plugin is not installed")
    }
}
