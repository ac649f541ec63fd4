import org.junit.After
import org.junit.Test

class SmokeTest {
    StepFixture f = new StepFixture()

    @After
    void cleanup() { f.cleanup() }

    @Test
    void trainRunsTheCliOnce() {
        f.answer('train', [stdout: [run_id: 'r1']])
        Map out = f.h.runStep('mlciTrain', [config: 'models/a b.yaml'])
        println f.h.log
        println f.h.shCalls[0].script
        assert f.h.result == 'SUCCESS'
        assert out.run_id == 'r1'
        assert f.onlyArgv() == ['train', '--config=models/a b.yaml', '--json']
    }
}
