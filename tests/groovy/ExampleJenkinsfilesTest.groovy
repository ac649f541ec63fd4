import org.junit.After
import org.junit.Before
import org.junit.Test

/** Jenkinsfile.example and the nightly example in docs run in the harness as Jenkins would run them. */
class ExampleJenkinsfilesTest {
    StepFixture f = new StepFixture()

    @Before
    void setUp() {
        f.h.credentials['mlci-s3'] = [username: 'AKIA-SENTINEL', password: 'S3-SENTINEL']
        f.h.credentials['mlci-registry'] = [username: 'robot', password: 'REGISTRY-SENTINEL']
        f.h.groups['alice'] = ['ml-leads']
        f.answer('publish', [stdout: [name: 'breast-cancer', version: 5, status: 'registered']])
        if (!f.h.varClass('mlciCheck')) {
            f.h.overrides['mlciCheck'] = { Map args -> [:] }
        }
    }

    @After
    void cleanup() { f.cleanup() }

    List<String> commands() {
        f.mlciCalls().collect { Map c -> c.argv.takeWhile { !it.startsWith('-') }.join(' ') }.findAll { it != 'check' }
    }

    @Test
    void theExampleShipsAndPromotesOnMain() {
        f.h.inputAnswers.add(InputAnswer.approve('alice', [REASON: 'weekly review']))
        f.h.runJenkinsfile('Jenkinsfile.example')
        assert f.h.result == 'SUCCESS': "${f.h.errors}\n${f.h.log}"
        assert commands() == ['doctor', 'validate', 'train', 'evaluate', 'publish', 'image build', 'image verify', 'image push',
                              'report', 'promote']
        assert f.mlciCalls().last().argv == ['promote', '--config=mlci.yaml', '--to=production', '--approver=alice',
                                             '--reason=weekly review', '--json', '--', 'breast-cancer', '5']
        assert f.h.callsOf('timeout')[0].args[0] == [time: 3, unit: 'DAYS']
        assert f.h.callsOf('input')[0].node == null
    }

    @Test
    void theExampleOnAPullRequestBuildsAndReportsOnly() {
        f.h.globalEnv.BRANCH_NAME = 'PR-9'
        f.h.globalEnv.CHANGE_ID = '9'
        f.h.runJenkinsfile('Jenkinsfile.example')
        assert f.h.result == 'SUCCESS'
        assert commands() == ['doctor', 'validate', 'train', 'evaluate', 'report']
    }

    @Test
    void theNightlyJobRetrainsOnTheGpuComparesAndWaitsForApproval() {
        f.answer('train', [stdout: [run_id: 'r2', status: 'trained'], files: ['.mlci/runs/r2/run.json': '{}']])
        f.h.inputAnswers.add(InputAnswer.approve('alice'))
        f.h.runJenkinsfile('docs/examples/Jenkinsfile.nightly')
        assert f.h.result == 'SUCCESS': "${f.h.errors}\n${f.h.log}"
        assert f.h.pipelineDefinition.triggers == [[name: 'cron', args: ['H 2 * * *']]]
        assert commands() == ['doctor', 'validate', 'doctor', 'train', 'evaluate', 'publish', 'report', 'promote']
        assert f.h.shCalls.find { it.script.contains("'train'") }.node == 'gpu'
        assert f.mlciCalls().find { it.argv[0] == 'train' }.argv == ['train', '--config=mlci.yaml', '--device=cuda', '--json']
    }

    @Test
    void theNightlyJobWithNothingChangedNeitherPublishesNorAsks() {
        f.answer('train', [stdout: [run_id: 'r1', status: 'up to date'], files: ['.mlci/runs/r1/run.json': '{}']])
        f.h.runJenkinsfile('docs/examples/Jenkinsfile.nightly')
        assert f.h.result == 'SUCCESS': "${f.h.errors}\n${f.h.log}"
        assert !('publish' in commands())
        assert f.h.callsOf('input').isEmpty()
    }

    @Test
    void forceRetrainOnTheNightlyJobPassesForce() {
        f.h.params.FORCE_RETRAIN = true
        f.answer('train', [stdout: [run_id: 'r1', status: 'trained'], files: ['.mlci/runs/r1/run.json': '{}']])
        f.h.inputAnswers.add(InputAnswer.approve('alice'))
        f.h.runJenkinsfile('docs/examples/Jenkinsfile.nightly')
        assert f.mlciCalls().find { it.argv[0] == 'train' }.argv == ['train', '--config=mlci.yaml', '--force', '--device=cuda', '--json']
    }
}
