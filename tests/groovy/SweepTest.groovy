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
        assert f.mlciCalls()*.argv == [
            ['sweep', '--config=mlci.yaml', '--grid=grids/C values.yaml', '--shard=1/3', '--json'],
            ['sweep', '--config=mlci.yaml', '--grid=grids/C values.yaml', '--shard=2/3', '--json'],
            ['sweep', '--config=mlci.yaml', '--grid=grids/C values.yaml', '--shard=3/3', '--json'],
            ['sweep', 'select', '--config=mlci.yaml', '--grid=grids/C values.yaml', '--json'],
        ]
        List shards = f.h.shCalls.findAll { it.script.contains("'--shard=") }
        assert shards*.node == ['gpu', 'gpu', 'gpu']
        assert shards*.stage == ['shard 1/3', 'shard 2/3', 'shard 3/3']
        assert f.h.callsOf('parallel').size() == 1
        assert f.h.callsOf('checkout').size() == 3
        assert f.h.callsOf('unstash')*.args*.getAt(0) == ['mlci-sweep-1', 'mlci-sweep-2', 'mlci-sweep-3']
    }

    @Test
    void aFailingShardFailsTheSweepBeforeSelection() {
        f.answer('sweep', [rc: 2, stderr: 'mlci sweep: error: grid.yaml: model.params.C: expected a list'])
        f.h.runStep('mlciSweep', [shards: 2, checkout: false, setup: null])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == 'mlciSweep-1: bad input: mlci sweep: error: grid.yaml: model.params.C: expected a list'
        assert !f.mlciCalls().any { it.argv[1] == 'select' }
    }
}
