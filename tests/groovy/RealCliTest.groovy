import groovy.json.JsonSlurperClassic
import org.junit.After
import org.junit.Test

/** The steps against the real mlci CLI of this checkout (run by its test venv): the wiring is real end to end. */
class RealCliTest {
    StepFixture f = new StepFixture().realMlci()

    @After
    void cleanup() { f.cleanup() }

    static String version() {
        (new File(StepFixture.ROOT, 'python/mlci/__init__.py').text =~ /__version__ = "([^"]+)"/)[0][1]
    }

    @Test
    void setupFindsTheRealCliOnThePath() {
        Map out = f.h.runStep('mlciSetup', [doctor: false])
        assert f.h.result == 'SUCCESS': f.h.log
        assert out.version == version()
        assert out.mlci == new File(f.dir, 'real-bin/mlci').path
        assert new File(f.h.workspace, '.mlci/jenkins/mlciSetup/mlci-path').text.trim() == out.mlci
        assert f.h.log.contains("mlci setup: using ${out.mlci} (mlci ${version()})")
    }

    @Test
    void setupRefusesAPinnedVersionItCannotFindWithoutAnIndex() {
        f.h.runStep('mlciSetup', [version: '99.0', noIndex: true, findLinks: f.dir.path, venv: "${f.dir}/venv", doctor: false])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.startsWith('mlciSetup: INFRASTRUCTURE failure (exit 3')
        assert f.h.errorMessage.endsWith('mlci setup: error: pip could not install mlci==99.0 (package index or wheelhouse unreachable, or no such version)')
    }

    @Test
    void aRealBadInputBecomesAFailureWithTheCliMessage() {
        f.h.runStep('mlciTrain', [config: 'no such dir/mlci.yaml'])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.startsWith('mlciTrain: bad input: mlci train: error: ')
        assert f.h.errorMessage.contains('no such dir/mlci.yaml')
    }

    /**
     * The breast-cancer example through train, evaluate, publish and an approved promotion, all with the
     * real CLI and a local store: the version is registered, the alias moved, the audit names the approver.
     */
    @Test
    void aPipelineTrainsPublishesAndPromotesForReal() {
        File ws = f.h.workspace
        new File(ws, 'mlci.yaml').text = new File(StepFixture.ROOT, 'examples/breast-cancer/mlci.yaml').text
            .replace('n_estimators: 200', 'n_estimators: 20')
        Process data = [StepFixture.projectPython(), new File(StepFixture.ROOT, 'examples/make_data.py').path, 'breast-cancer'].execute()
        data.waitForProcessOutput(System.out, System.err)
        File made = new File(StepFixture.ROOT, 'examples/breast-cancer/data')
        new File(ws, 'data').mkdirs()
        ['train.csv', 'test.csv'].each { new File(ws, "data/${it}").bytes = new File(made, it).bytes }
        f.h.groups['alice'] = ['ml-leads']
        f.h.inputAnswers.add(InputAnswer.approve('alice', [REASON: 'first model; "reviewed" $(by) the team']))

        f.h.runJenkinsfile('tests/groovy/fixtures/Jenkinsfile.real-cli')

        assert f.h.result == 'SUCCESS': "${f.h.errors}\n${f.h.log}"
        ProcessBuilder history = new ProcessBuilder(StepFixture.projectPython(), '-m', 'mlci', 'registry', 'history', 'breast-cancer', '--json')
        history.directory(ws).environment().PYTHONPATH = "${StepFixture.ROOT}/python".toString()
        Process show = history.start()
        String out = show.inputStream.text
        assert show.waitFor() == 0
        List events = (List) new JsonSlurperClassic().parseText(out)
        assert events*.event.containsAll(['register', 'promote']) || events*.event.contains('promote'): out
        Map promoted = events.find { it.event == 'promote' }
        assert promoted.actor == 'alice'
        assert promoted.reason == 'first model; "reviewed" $(by) the team'
        assert promoted.alias == 'production' && promoted.version == 1
        assert promoted.build.url == f.h.globalEnv.BUILD_URL
    }
}
