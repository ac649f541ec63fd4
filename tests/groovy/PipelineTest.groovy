import org.junit.After
import org.junit.Before
import org.junit.Test

/** mlciPipeline: the declarative standard pipeline, run by the harness with the fake mlci. */
class PipelineTest {
    StepFixture f = new StepFixture()
    Map options = [approvers: ['ml-leads'], storeCredentialsId: 'mlci-s3', registryCredentialsId: 'mlci-registry']

    @Before
    void setUp() {
        f.h.credentials['mlci-s3'] = [username: 'AKIA-SENTINEL', password: 'S3-SENTINEL']
        f.h.credentials['mlci-registry'] = [username: 'robot', password: 'REGISTRY-SENTINEL']
        f.h.groups['alice'] = ['ml-leads']
        f.answer('publish', [stdout: [name: 'breast-cancer', version: 7]])
        if (!f.h.varClass('mlciCheck')) {
            // vars/mlciCheck.groovy comes with the code-checks work; until then a stand-in records the call
            f.h.overrides['mlciCheck'] = { Map args -> [:] }
        }
    }

    @After
    void cleanup() { f.cleanup() }

    List<String> commands() {
        f.mlciCalls().collect { Map c -> c.argv.takeWhile { !it.startsWith('-') }.join(' ') }.findAll { it != 'check' }
    }

    List<String> stagesRun() { f.h.callsOf('stage')*.args*.getAt(0) }

    List<String> stagesSkipped() { f.h.callsOf('stage-skipped')*.stage }

    @Test
    void theDefaultBranchBuildsPublishesShipsTheImageAndPromotesAfterApproval() {
        f.h.inputAnswers.add(InputAnswer.approve('alice', [REASON: 'nightly candidate is better']))
        f.h.runStep('mlciPipeline', options)
        assert f.h.result == 'SUCCESS': "${f.h.errors}\n${f.h.log}"
        assert commands() == ['doctor', 'validate', 'train', 'evaluate', 'publish', 'image build', 'image verify',
                              'image push', 'report', 'promote']
        assert stagesRun() == ['Build', 'Setup', 'Checks', 'Validate', 'Train', 'Train (GPU)', 'Evaluate', 'Publish', 'Image',
                               'Deploy staging', 'Promote', 'Deploy production']
        assert stagesSkipped() == ['Build / Train (GPU)', 'Build / Deploy staging', 'Deploy production']
        assert f.h.callsOf('mlciCheck')[0].args[0] == [config: 'mlci.yaml']
        assert f.mlciCalls().last().argv == ['promote', '--config=mlci.yaml', '--to=production', '--approver=alice',
                                             '--reason=nightly candidate is better', '--json', '--', 'breast-cancer', '7']
        Map input = f.h.callsOf('input')[0]
        assert input.node == null && input.stage == 'Promote'
        assert f.h.callsOf('mlciReport')[0].stage == 'Build / post:always'
    }

    @Test
    void aPullRequestStopsAfterEvaluateAndStillReports() {
        f.h.globalEnv.BRANCH_NAME = 'PR-42'
        f.h.globalEnv.CHANGE_ID = '42'
        f.h.runStep('mlciPipeline', options)
        assert f.h.result == 'SUCCESS'
        assert commands() == ['doctor', 'validate', 'train', 'evaluate', 'report']
        assert stagesSkipped().containsAll(['Build / Publish', 'Build / Image', 'Promote'])
        assert f.h.callsOf('input').isEmpty()
    }

    @Test
    void aPullRequestGetsTheReportSummaryAsItsCommentWhenAsked() {
        f.h.globalEnv.BRANCH_NAME = 'PR-42'
        f.h.globalEnv.CHANGE_ID = '42'
        f.h.credentials['github-token'] = [secret: 'GITHUB-SENTINEL']
        f.h.runStep('mlciPipeline', options + [prComment: [forge: 'github', repo: 'acme/churn', credentialsId: 'github-token']])
        assert f.h.result == 'SUCCESS': "${f.h.errors}\n${f.h.log}"
        assert commands() == ['doctor', 'validate', 'train', 'evaluate', 'report', 'report comment']
        Map comment = f.mlciCalls()[-1]
        assert comment.argv == ['report', 'comment', '--config=mlci.yaml', '--forge=github', '--repo=acme/churn', '--pr=42',
                                '--summary=.mlci/jenkins/report/summary.md', '--json']
        assert comment.env.MLCI_FORGE_TOKEN == 'GITHUB-SENTINEL'
        assert !f.h.shCalls.any { it.script.contains('GITHUB-SENTINEL') } && !f.h.log.toString().contains('GITHUB-SENTINEL')
    }

    @Test
    void aFailedGateStopsThePipelineNamesTheGateAndStillReports() {
        f.answer('evaluate', [rc: 1, stdout: [failures: [[name: 'f1 max_regression',
                                                           detail: 'value 0.88, baseline 0.9: regressed by 0.02 > 0.01']]]])
        f.h.runStep('mlciPipeline', options)
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == 'mlciEvaluate: check failed: f1 max_regression: value 0.88, baseline 0.9: regressed by 0.02 > 0.01'
        assert commands() == ['doctor', 'validate', 'train', 'evaluate', 'report']
        assert stagesSkipped().containsAll(['Build / Publish', 'Build / Image', 'Promote', 'Deploy production'])
    }

    @Test
    void gpuTrainingRunsOnTheGpuLabelAndHandsTheRunBackByStash() {
        f.answer('train', [files: ['.mlci/runs/r1/run.json': '{"run_id": "r1"}']])
        f.h.inputAnswers.add(InputAnswer.approve('alice'))
        f.h.runStep('mlciPipeline', options + [gpuLabel: 'gpu', agentLabel: 'linux'])
        assert f.h.result == 'SUCCESS': f.h.errors
        Map train = f.h.shCalls.find { it.script.contains("'train'") }
        assert train.node == 'gpu' && train.stage == 'Build / Train (GPU)'
        assert f.mlciCalls().find { it.argv[0] == 'train' }.argv == ['train', '--config=mlci.yaml', '--device=cuda', '--json']
        assert f.h.callsOf('mlciSetup')[1].args[0] == [storeCredentialsId: 'mlci-s3', endpoint: null, doctorChecks: ['gpu']]
        assert f.h.callsOf('stash')[0].args[0] == [name: 'mlci-train', includes: '.mlci/runs/**']
        assert f.h.callsOf('unstash')[0].stage == 'Build / Evaluate'
        assert f.h.shCalls.find { it.script.contains("'evaluate'") }.node == 'linux'
    }

    @Test
    void forceRetrainParameterAndNightlyTrigger() {
        f.h.params.FORCE_RETRAIN = true
        f.h.inputAnswers.add(InputAnswer.approve('alice'))
        f.h.runStep('mlciPipeline', options + [nightly: true, cron: 'H 3 * * 1-5', checks: false])
        assert f.mlciCalls().find { it.argv[0] == 'train' }.argv == ['train', '--config=mlci.yaml', '--force', '--json']
        assert f.h.pipelineDefinition.triggers == [[name: 'cron', args: ['H 3 * * 1-5']]]
        assert f.h.pipelineDefinition.parameters == [[type: 'boolean', name: 'FORCE_RETRAIN', defaultValue: false]]
        assert 'Build / Checks' in stagesSkipped()
        assert f.h.callsOf('mlciCheck').isEmpty()
    }

    @Test
    void withoutNightlyTheCronSpecIsEmptySoNoTimerRuns() {
        f.h.inputAnswers.add(InputAnswer.approve('alice'))
        f.h.runStep('mlciPipeline', options)
        assert f.h.pipelineDefinition.triggers == [[name: 'cron', args: ['']]]
        assert f.mlciCalls().find { it.argv[0] == 'train' }.argv == ['train', '--config=mlci.yaml', '--json']
    }

    @Test
    void refusedPromotionAbortsTheBuildAfterEverythingWasPublished() {
        f.h.inputAnswers.add(InputAnswer.approve('bob'))
        f.h.runStep('mlciPipeline', options)
        assert f.h.result == 'ABORTED'
        assert commands().last() == 'report'
        assert 'publish' in commands()
    }

    @Test
    void stagingAndProductionDeploys() {
        f.h.inputAnswers.add(InputAnswer.approve('alice'))
        f.h.runStep('mlciPipeline', options + [stagingEnvironment: 'staging', productionEnvironment: 'production'])
        assert f.h.result == 'SUCCESS': f.h.errors
        List<List> deploys = f.mlciCalls().findAll { it.argv[0] == 'deploy' }*.argv
        assert deploys == [['deploy', '--config=mlci.yaml', '--env=staging', '--json'],
                           ['deploy', '--config=mlci.yaml', '--env=production', '--model=breast-cancer@production', '--json']]
        assert commands().indexOf('promote') < commands().lastIndexOf('deploy')
    }

    @Test
    void promotingWithoutApproversIsAConfigurationError() {
        f.h.runStep('mlciPipeline', [:])
        assert f.h.errorMessage == 'mlciPipeline: missing required argument(s) approvers'
        assert f.mlciCalls().isEmpty()
    }

    @Test
    void eachAgentRunsTheMlciThatItsOwnWorkspaceSetUp() {
        // issue 20, defect 3: the GPU agent is another machine; its mlci is not on the build agent
        f.h.agents.gpu = 'gpu-1'
        File gpuBin = new File(f.h.agentRoot('gpu-1'), 'bin')
        gpuBin.mkdirs()
        File gpuMlci = new File(gpuBin, 'mlci')
        gpuMlci.bytes = new File(StepFixture.FAKE_BIN, 'mlci').bytes
        gpuMlci.setExecutable(true)
        f.h.agentEnv['gpu-1'] = [PATH: "${gpuBin.path}:${f.h.globalEnv.PATH}".toString()]
        f.answer('train', [files: ['.mlci/runs/r1/run.json': '{"run_id": "r1"}']])
        f.h.inputAnswers.add(InputAnswer.approve('alice'))
        f.h.runStep('mlciPipeline', options + [gpuLabel: 'gpu', agentLabel: 'linux'])
        assert f.h.result == 'SUCCESS': "${f.h.errors}"
        Map train = f.h.shCalls.find { it.script.contains("'train'") }
        assert train.node == 'gpu' && train.cwd.startsWith(f.h.agentRoot('gpu-1').path)
        assert train.output.contains("+ ${gpuMlci.path} train") || train.output.contains("${gpuMlci.path}' train") ||
            train.output.contains("${gpuMlci.path} 'train'") || train.output.contains(gpuMlci.path)
        Map evaluate = f.h.shCalls.find { it.script.contains("'evaluate'") }
        assert evaluate.node == 'linux' && evaluate.rc == 0
        assert !evaluate.output.contains(gpuMlci.path)
    }
}
