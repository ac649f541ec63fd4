import org.junit.After
import org.junit.Test

/** mlciSweep: shards fanned out with parallel on agents by label, runs stashed back, the CLI selects. */
class SweepTest {
    StepFixture f = new StepFixture()

    @After
    void cleanup() { f.cleanup() }

    @Test
    void eachShardRunsOnTheLabelAndTheCliPicksTheBest() {
        f.answer('sweep', [files: ['.mlci/runs/shard/run.json': '{}']])
        f.answer('sweep select', [stdout: [best: [run_id: 'r3', params: ['model.params.C': 10], roc_auc: 0.993]]])
        Map best = f.h.runStep('mlciSweep', [grid: 'grids/C values.yaml', shards: 3, label: 'gpu', setup: null])
        assert f.h.result == 'SUCCESS': f.h.log
        assert best.best.run_id == 'r3'
        List argvs = f.mlciCalls()*.argv
        // the shards run at the same time, in any order; selection after all of them
        assert argvs.take(3) as Set == [
            ['sweep', '--config=mlci.yaml', '--grid=grids/C values.yaml', '--shard=1/3', '--json'],
            ['sweep', '--config=mlci.yaml', '--grid=grids/C values.yaml', '--shard=2/3', '--json'],
            ['sweep', '--config=mlci.yaml', '--grid=grids/C values.yaml', '--shard=3/3', '--json'],
        ] as Set
        assert argvs[3] == ['sweep', 'select', '--config=mlci.yaml', '--grid=grids/C values.yaml', '--json']
        List shards = f.h.shCalls.findAll { it.script.contains("'--shard=") }
        assert shards*.node == ['gpu', 'gpu', 'gpu']
        assert shards*.stage as Set == ['shard 1/3', 'shard 2/3', 'shard 3/3'] as Set
        // three nodes on one agent at once: three workspaces (job, job@2, job@3)
        assert shards*.cwd as Set == [f.h.workspace.path, "${f.h.workspace.path}@2", "${f.h.workspace.path}@3"]*.toString() as Set
        assert f.h.callsOf('parallel').size() == 1
        assert f.h.callsOf('checkout').size() == 3
        assert f.h.callsOf('unstash')*.args*.getAt(0) == ['mlci-sweep-1', 'mlci-sweep-2', 'mlci-sweep-3']
    }

    @Test
    void aFailingShardFailsTheSweepBeforeSelection() {
        f.answer('sweep', [rc: 2, stderr: 'mlci sweep: error: grid.yaml: model.params.C: expected a list'])
        f.h.runStep('mlciSweep', [shards: 2, checkout: false, setup: null])
        assert f.h.result == 'FAILURE'
        // the branches run at the same time: whichever failed first fails the build (as Jenkins' parallel does)
        assert f.h.errorMessage ==~ /mlciSweep-[12]: bad input: mlci sweep: error: grid.yaml: model.params.C: expected a list/
        assert !f.mlciCalls().any { it.argv[1] == 'select' }
    }
}
