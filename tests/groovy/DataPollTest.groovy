import org.junit.After
import org.junit.Before
import org.junit.Test

/**
 * The data-change poll (issue 23): mlciDataPoll on its own, and mlciPipeline in the poll job that
 * `mlci jenkins apply` creates with jenkins.data_poll (python/mlci/jenkins/jobs.py).
 */
class DataPollTest {
    static final String NIGHTLY = '/team/breast-cancer-nightly'
    static final String STATUS_TAIL = '--config=mlci.yaml'
    List<StepFixture> fixtures = []
    StepFixture f

    @Before
    void setUp() { f = fixture() }

    @After
    void cleanup() { fixtures*.cleanup() }

    StepFixture fixture() {
        StepFixture fixture = new StepFixture()
        fixture.h.credentials['mlci-s3'] = [username: 'AKIA-SENTINEL', password: 'S3-SENTINEL']
        fixtures.add(fixture)
        return fixture
    }

    /** `mlci data status --json` as the contract describes it. */
    static Map status(boolean changed) {
        [name: 'breast-cancer', changed: changed, since: 'mark', failures: [],
         sources: [train: [source: 's3://data/bc/train/', fingerprint: changed ? 'b2' : 'a1', parts: 12, bytes: 123,
                           changed: changed, changes: changed ? ['date=2026-11-30/part-0.parquet added'] : []]]]
    }

    static StepFixture dataChanged(StepFixture f) {
        f.answers('data status', [[rc: 1, stdout: status(true)], [rc: 0, stdout: status(true)]])
    }

    List<List<String>> argvs(StepFixture fixture = f) { fixture.mlciCalls()*.argv }

    @Test
    void unchangedDataBuildsNothingAndSaysSo() {
        f.answer('data status', [stdout: status(false)])
        Map out = f.h.runStep('mlciDataPoll', [job: NIGHTLY])
        assert f.h.result == 'SUCCESS': "${f.h.errors}"
        assert argvs() == [['data', 'status', STATUS_TAIL, '--exit-code', '--json']]
        assert f.h.callsOf('build').isEmpty()
        assert f.h.currentBuild.description == 'data unchanged'
        assert out.triggered == false && out.sources.train.fingerprint == 'a1'
    }

    @Test
    void changedDataBuildsTheJobWithoutWaitingThenMarksTheData() {
        dataChanged(f)
        Map out = f.h.runStep('mlciDataPoll', [job: NIGHTLY, config: 'models/bc.yaml'])
        assert f.h.result == 'SUCCESS': "${f.h.errors}"
        assert argvs() == [['data', 'status', '--config=models/bc.yaml', '--exit-code', '--json'],
                           ['data', 'status', '--config=models/bc.yaml', '--mark', '--json']]
        assert f.h.callsOf('build')*.args == [[[job: NIGHTLY, wait: false]]]
        // in this order: the mark only once the build is queued
        assert f.h.calls.findAll { it.step in ['sh', 'build'] }.collect { it.step == 'sh' ? it.args[0].label : it.step } ==
            ['mlci (mlciDataPoll)', 'build', 'mlci (mlciDataPoll-mark)']
        assert f.h.currentBuild.description == "data changed: started ${NIGHTLY}"
        assert out.triggered == true && out.sources.train.changes == ['date=2026-11-30/part-0.parquet added']
    }

    @Test
    void aBuildThatCannotBeTriggeredLeavesTheChangeForTheNextPoll() {
        dataChanged(f)
        f.h.existingJobs = ['/team/other'] as Set
        f.h.runStep('mlciDataPoll', [job: NIGHTLY])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == "No item named ${NIGHTLY} found"
        assert argvs() == [['data', 'status', STATUS_TAIL, '--exit-code', '--json']]
    }

    @Test
    void withoutPipelineBuildStepTheChangeIsNotMarked() {
        dataChanged(f)
        f.h.absentPlugins.add('pipeline-build-step')
        f.h.runStep('mlciDataPoll', [job: NIGHTLY])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.startsWith("java.lang.NoSuchMethodError: No such DSL method 'build' found among steps")
        assert argvs().size() == 1
    }

    @Test
    void badInputFailsTheBuildWithTheCliMessageAndBuildsNothing() {
        f.answer('data status', [rc: 2, stderr: 'mlci data status: error: mlci.yaml: data.train: s3://data/bc/train/: no such bucket'])
        f.h.runStep('mlciDataPoll', [job: NIGHTLY])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == 'mlciDataPoll: bad input: mlci data status: error: mlci.yaml: data.train: s3://data/bc/train/: no such bucket'
        assert f.h.callsOf('build').isEmpty()
        assert argvs().size() == 1
    }

    @Test
    void anUnreachableStoreIsAnInfrastructureFailureAndBuildsNothing() {
        f.answer('data status', [rc: 3, stderr: 'mlci data status: error: store s3://models unreachable after 3 attempts: connection refused'])
        f.h.runStep('mlciDataPoll', [job: NIGHTLY])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.startsWith('mlciDataPoll: INFRASTRUCTURE failure (exit 3')
        assert f.h.errorMessage.endsWith('store s3://models unreachable after 3 attempts: connection refused')
        assert f.h.currentBuild.description == 'infrastructure failure in mlciDataPoll'
        assert f.h.callsOf('build').isEmpty()
        assert argvs().size() == 1
    }

    @Test
    void aMarkThatFailsFailsTheBuildAfterTheBuildWasQueued() {
        f.answers('data status', [[rc: 1, stdout: status(true)],
                                  [rc: 3, stderr: 'mlci data status: error: store s3://models unreachable after 3 attempts']])
        f.h.runStep('mlciDataPoll', [job: NIGHTLY])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.startsWith('mlciDataPoll-mark: INFRASTRUCTURE failure (exit 3')
        assert f.h.callsOf('build').size() == 1
    }

    @Test
    void theStoreCredentialsAndEndpointReachBothCallsAsEnvironmentOnly() {
        dataChanged(f)
        f.h.runStep('mlciDataPoll', [job: NIGHTLY, storeCredentialsId: 'mlci-s3', endpoint: 'http://minio.internal:9000'])
        assert f.h.result == 'SUCCESS': "${f.h.errors}"
        f.mlciCalls().each { Map call ->
            assert call.env.AWS_ACCESS_KEY_ID == 'AKIA-SENTINEL' && call.env.AWS_SECRET_ACCESS_KEY == 'S3-SENTINEL'
            assert call.env.AWS_ENDPOINT_URL == 'http://minio.internal:9000'
        }
        assert !f.h.shCalls.any { it.script.contains('S3-SENTINEL') } && !f.h.log.toString().contains('S3-SENTINEL')
    }

    @Test
    void withoutAJobTheStepFailsNamingIt() {
        f.h.runStep('mlciDataPoll', [:])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == 'mlciDataPoll: missing required argument(s) job'
        assert f.mlciCalls().isEmpty()
    }

    /** The poll job as `mlci jenkins apply` renders it (jenkins.data_poll: true, folder team). */
    static JobConfig appliedPollJob() {
        JobConfig job = new JobConfig()
        job.triggers.cron = 'H/15 * * * *'
        job.parameters.add([type: 'string', name: 'MLCI_ON_DATA_CHANGE', defaultValue: NIGHTLY])
        job.properties.buildDiscarder = ['30']
        return job
    }

    static final Map PIPELINE = [approvers: ['ml-leads'], agentLabel: 'linux', storeCredentialsId: 'mlci-s3',
                                 endpoint: 'http://minio.internal:9000', config: 'ci/mlci.yaml']

    @Test
    void thePollJobRunsOnlyThePollAndKeepsItsTimerAcrossBuilds() {
        JobConfig job = appliedPollJob()
        [1, 2, 3].each { int n ->
            StepFixture build = n == 1 ? f : fixture()
            build.h.job = job
            build.h.globalEnv.BUILD_NUMBER = n.toString()
            build.h.globalEnv.remove('BRANCH_NAME')
            if (n == 2) {
                dataChanged(build)
            }
            build.h.runStep('mlciPipeline', PIPELINE)
            assert build.h.result == 'SUCCESS': "build ${n}: ${build.h.errors}"
            // no Declarative pipeline ran: no stages of the build pipeline, no training, no approval
            assert build.h.pipelineDefinition == null && build.h.callsOf('pipeline').isEmpty()
            assert build.h.callsOf('stage')*.args*.getAt(0) == ['Data poll']
            assert build.h.callsOf('input').isEmpty()
            List<String> commands = build.mlciCalls().collect { it.argv.takeWhile { !it.startsWith('-') }.join(' ') }
            assert commands == (n == 2 ? ['doctor', 'data status', 'data status'] : ['doctor', 'data status'])
            assert build.mlciCalls()[1].argv == ['data', 'status', '--config=ci/mlci.yaml', '--exit-code', '--json']
            // on the agent label, in a checkout, set up with the store's credentials and endpoint
            assert build.h.callsOf('checkout')*.node == ['linux']
            assert build.h.callsOf('mlciSetup')*.args == [[[storeCredentialsId: 'mlci-s3', endpoint: 'http://minio.internal:9000']]]
            assert build.h.callsOf('build')*.args == (n == 2 ? [[[job: NIGHTLY, wait: false]]] : [])
            assert build.h.callsOf('build')*.node == (n == 2 ? ['linux'] : [])
            // the job stays as apply configured it
            assert job.triggers == [cron: 'H/15 * * * *'] && job.tracker == null
            assert job.parameters*.name == ['MLCI_ON_DATA_CHANGE']
        }
    }

    @Test
    void aPollThatFailsFailsThePollJobsBuild() {
        f.h.job = appliedPollJob()
        f.answer('data status', [rc: 2, stderr: 'mlci data status: error: no credentials for s3://data/bc/train/'])
        f.h.runStep('mlciPipeline', PIPELINE)
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == 'mlciDataPoll: bad input: mlci data status: error: no credentials for s3://data/bc/train/'
        assert f.h.callsOf('build').isEmpty()
    }

    @Test
    void otherJobsNeverPoll() {
        // the nightly and branch jobs have no MLCI_ON_DATA_CHANGE: the build pipeline runs, no data status
        f.h.groups['alice'] = ['ml-leads']
        f.h.inputAnswers.add(InputAnswer.approve('alice'))
        f.h.overrides['mlciCheck'] = { Map args -> [:] }
        f.answer('publish', [stdout: [name: 'breast-cancer', version: 2]])
        f.h.runStep('mlciPipeline', PIPELINE)
        assert f.h.result == 'SUCCESS': "${f.h.errors}"
        assert f.mlciCalls()*.argv*.getAt(0).containsAll(['train', 'evaluate'])
        assert !f.mlciCalls().any { it.argv[0] == 'data' }
        assert f.h.callsOf('build').isEmpty()
    }

    /** The docs' groovy block that polls (`if (params.MLCI_ON_DATA_CHANGE)`), as a Jenkinsfile of the fixture. */
    static String docsPoll(StepFixture fixture, String doc) {
        String text = new File(StepFixture.ROOT, doc).getText('UTF-8')
        String block = (text =~ /(?s)```groovy\n(.*?)```/).collect { it[1] }.find { it.contains('if (params.MLCI_ON_DATA_CHANGE)') }
        assert block: "${doc}: no groovy block that polls"
        File jenkinsfile = new File(fixture.dir, 'Jenkinsfile.poll')
        jenkinsfile.setText(block, 'UTF-8')
        return jenkinsfile.path
    }

    @Test
    void theDocumentedJenkinsfileOfYourOwnPollsInThePollJobAndBuildsElsewhere() {
        String jenkinsfile = docsPoll(f, 'docs/jenkins.md')
        f.h.job = appliedPollJob()
        dataChanged(f)
        f.h.runJenkinsfile(jenkinsfile)
        assert f.h.result == 'SUCCESS': "${f.h.errors}"
        assert f.h.pipelineDefinition == null && f.h.job.tracker == null
        assert f.h.callsOf('build')*.args == [[[job: NIGHTLY, wait: false]]]
        assert f.mlciCalls()*.argv*.getAt(0) == ['doctor', 'data', 'data']

        StepFixture branch = fixture()
        branch.h.runJenkinsfile(docsPoll(branch, 'docs/jenkins.md'))
        assert branch.h.result == 'SUCCESS': "${branch.h.errors}"
        assert branch.mlciCalls()*.argv*.getAt(0) == ['train']
    }

    @Test
    void theDocumentedCliOnlyPollKeepsTheExitCodes() {
        dataChanged(f)
        f.h.job = appliedPollJob()
        f.h.runJenkinsfile(docsPoll(f, 'docs/operations.md'))
        assert f.h.result == 'SUCCESS': "${f.h.errors}"
        assert argvs() == [['data', 'status', '-c', 'mlci.yaml', '--exit-code'], ['data', 'status', '-c', 'mlci.yaml', '--mark']]
        assert f.h.callsOf('build')*.args == [[[job: NIGHTLY, wait: false]]]

        StepFixture unchanged = fixture()
        unchanged.h.job = appliedPollJob()
        unchanged.h.runJenkinsfile(docsPoll(unchanged, 'docs/operations.md'))
        assert unchanged.h.result == 'SUCCESS' && unchanged.h.currentBuild.description == 'data unchanged'
        assert unchanged.h.callsOf('build').isEmpty()

        StepFixture down = fixture()
        down.h.job = appliedPollJob()
        down.answer('data status', [rc: 3, stderr: 'mlci data status: error: store unreachable'])
        down.h.runJenkinsfile(docsPoll(down, 'docs/operations.md'))
        assert down.h.result == 'FAILURE' && down.h.errorMessage == 'mlci data status failed (exit 3)'
        assert down.h.callsOf('build').isEmpty() && argvs(down).size() == 1
    }
}
