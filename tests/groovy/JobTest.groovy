import org.junit.After
import org.junit.Test

/**
 * mlciPipeline across builds of one job (JobConfig): Declarative's merge of its triggers, parameters and
 * options into the job that `mlci jenkins apply` configured, disableConcurrentBuilds' queue, and the
 * milestones that let a newer build supersede one waiting for approval.
 */
class JobTest {
    Map options = [approvers: ['ml-leads'], checks: false]
    List<StepFixture> fixtures = []

    @After
    void cleanup() { fixtures*.cleanup() }

    /** Build NUMBER of the job: a fresh workspace and harness, the job shared. */
    StepFixture build(JobConfig job, int number) {
        StepFixture f = new StepFixture()
        fixtures.add(f)
        f.h.job = job
        f.h.globalEnv.BUILD_NUMBER = number.toString()
        f.h.globalEnv.remove('BRANCH_NAME')
        f.h.groups['alice'] = ['ml-leads']
        f.answer('publish', [stdout: [name: 'breast-cancer', version: number, failures: []]])
        return f
    }

    /** The nightly job as `mlci jenkins apply` renders it (python/mlci/templates/jenkins/pipeline-job.xml.j2). */
    JobConfig appliedNightlyJob() {
        JobConfig job = new JobConfig()
        job.triggers.cron = 'H 2 * * *'
        job.parameters.add([type: 'boolean', name: 'FORCE_RETRAIN', defaultValue: false])
        job.parameters.add([type: 'string', name: 'MLCI_NIGHTLY_CRON', defaultValue: 'H 2 * * *'])
        job.properties.buildDiscarder = ['30']
        return job
    }

    @Test
    void theHarnessMergesLikeDeclarative() {
        // a trigger class the Jenkinsfile declares replaces the job's own from the second build on
        JobConfig job = new JobConfig()
        job.triggers.cron = 'H 2 * * *'
        job.parameters.add([type: 'string', name: 'DATA_DATE', defaultValue: ''])
        job.declare([[name: 'cron', args: ['']]], [[type: 'boolean', name: 'FORCE_RETRAIN', defaultValue: false]], [])
        assert job.triggers == [cron: 'H 2 * * *']
        assert job.parameters*.name == ['FORCE_RETRAIN', 'DATA_DATE']
        job.declare([[name: 'cron', args: ['']]], [[type: 'boolean', name: 'FORCE_RETRAIN', defaultValue: false]], [])
        assert job.triggers == [cron: '']
        job.declare([], [], [])
        assert job.triggers == [:] && job.parameters*.name == ['DATA_DATE']
    }

    @Test
    void theNightlyScheduleSurvivesBuildsOfTheRepositorysJenkinsfile() {
        // issue 20, defect 6: the repository's Jenkinsfile says nightly: false (it serves every branch)
        JobConfig job = appliedNightlyJob()
        [1, 2, 3].each { int n ->
            StepFixture f = build(job, n)
            f.h.inputAnswers.add(InputAnswer.approve('alice'))
            f.h.runStep('mlciPipeline', options)
            assert f.h.result == 'SUCCESS': "${f.h.errors}"
            assert job.triggers.cron == 'H 2 * * *': "build ${n} left the timer ${job.triggers}"
        }
        assert job.parameters*.name as Set == ['FORCE_RETRAIN', 'MLCI_NIGHTLY_CRON'] as Set
    }

    @Test
    void aBranchJobWithoutASchedulePlansNoTimer() {
        JobConfig job = new JobConfig()
        StepFixture f = build(job, 1)
        f.h.inputAnswers.add(InputAnswer.approve('alice'))
        f.h.runStep('mlciPipeline', options)
        assert !job.triggers.cron
    }

    @Test
    void aNewerBuildIsNotQueuedBehindOneWaitingForApprovalAndSupersedesIt() {
        // issue 20, defect 4: with disableConcurrentBuilds the second build waits in the queue for as long
        // as the first waits for approval (24 h by default), so milestones never get to supersede it
        JobConfig job = new JobConfig()
        StepFixture first = build(job, 1)
        first.h.inputAnswers.add(InputAnswer.waitUntilCancelled())
        Thread waiting = Thread.start { first.h.runStep('mlciPipeline', options) }
        for (int i = 0; i < 3000 && !first.h.waitingForInput && waiting.alive; i++) {
            Thread.sleep(10)
        }
        assert first.h.waitingForInput: "the first build never reached its input: ${first.h.errors}"
        StepFixture second = build(job, 2)
        second.h.inputAnswers.add(InputAnswer.approve('alice', [REASON: 'newer']))
        second.h.runStep('mlciPipeline', options)
        waiting.join(30000)
        assert second.h.queued == null
        assert second.h.result == 'SUCCESS': "${second.h.errors}"
        assert first.h.result == 'NOT_BUILT'
        assert first.h.errorMessage == 'NOT_BUILT: Superseded by #2'
        assert !first.mlciCalls().find { it.argv[0] == 'promote' }
    }

    @Test
    void theHarnessQueuesABuildOfAJobThatDisablesConcurrentBuilds() {
        JobConfig job = new JobConfig()
        job.properties.disableConcurrentBuilds = []
        assert job.start(1) == null
        assert job.start(2) == 'Build #1 is already in progress'
        job.finish(1)
        assert job.start(2) == null
    }
}
