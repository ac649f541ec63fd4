import org.junit.After
import org.junit.Test

/** mlciCheck: the real `mlci check` on real commands, through the pipeline harness. */
class MlciCheckTest {
    List<StepFixture> fixtures = []

    @After
    void cleanup() { fixtures.each { it.cleanup() } }

    /** A workspace with an mlci.yaml whose `checks:` is the given YAML list, and the real CLI. */
    StepFixture project(String checksYaml, String path = 'mlci.yaml') {
        StepFixture f = new StepFixture().realMlci()
        fixtures.add(f)
        File config = new File(f.h.workspace, path)
        config.parentFile.mkdirs()
        config.setText("name: demo\ntask: classification\ndata: {train: train.csv, target: y}\nchecks:\n${checksYaml}", 'UTF-8')
        return f
    }

    StepFixture fake() {
        StepFixture f = new StepFixture()
        fixtures.add(f)
        return f
    }

    Map junitCall(StepFixture f) { f.h.calls.find { it.step == 'junit' }?.args?.getAt(0) as Map }

    @Test
    void passingChecksSucceedAndPublishTheMergedJunit() {
        StepFixture f = project('''\
  - {name: lint, run: "echo lint clean"}
  - {name: unit, run: "echo 3 passed"}
''')
        Map out = f.h.runStep('mlciCheck')
        assert f.h.result == 'SUCCESS': "${f.h.errorMessage}\n${f.h.log}"
        assert out.result == 'passed' && out.checks*.name == ['lint', 'unit']
        assert junitCall(f) == [testResults: '.mlci/jenkins/mlciCheck/junit.xml', allowEmptyResults: true]
        File merged = new File(f.h.workspace, '.mlci/jenkins/mlciCheck/junit.xml')
        def xml = new XmlSlurper().parse(merged)
        assert xml.@tests.text() == '2' && xml.@failures.text() == '0'
        assert new File(f.h.workspace, '.mlci/jenkins/mlciCheck/checks/checks.json').isFile()
        assert f.h.log.contains('lint | lint clean')
    }

    @Test
    void aFailedBlockingCheckFailsTheBuildNamingIt() {
        StepFixture f = project('''\
  - {name: lint, run: "true"}
  - {name: unit, shell: true, run: "echo 1 failed; exit 3"}
''')
        f.h.runStep('mlciCheck')
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage == 'mlciCheck: blocking check failed: unit (exit code 3)'
        assert junitCall(f) != null  // the results are published before the build fails
    }

    @Test
    void aFailedNonBlockingCheckMarksTheBuildUnstable() {
        StepFixture f = project('''\
  - {name: unit, run: "true"}
  - {name: style, run: "false", blocking: false}
''')
        Map out = f.h.runStep('mlciCheck')
        assert f.h.result == 'UNSTABLE': "${f.h.errorMessage}\n${f.h.log}"
        assert out.unstable == true && out.failed_non_blocking == ['style']
        assert f.h.log.contains('WARNING: mlciCheck: non-blocking check failed (build unstable): style (exit code 1)')
    }

    @Test
    void aTimeoutAndAMissingCommandAreNamed() {
        StepFixture f = project('''\
  - {name: hang, run: "sleep 30", timeout: 1}
  - {name: lint, run: "no-such-linter-xyz"}
''')
        f.h.runStep('mlciCheck')
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.startsWith('mlciCheck: blocking check failed: hang (timed out after 1.')
        assert f.h.errorMessage.contains('lint (command not found: no-such-linter-xyz)')
    }

    @Test
    void aBadConfigIsBadInputWithTheCliMessage() {
        StepFixture f = project('''\
  - {name: lint, run: "true", timout: 5}
''')
        f.h.runStep('mlciCheck')
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.startsWith('mlciCheck: bad input: ')
        assert f.h.errorMessage.contains('checks[0].timout: unknown key `timout` (did you mean `timeout`?)')
    }

    @Test
    void argumentsReachTheCliAsOneWordEach() {
        StepFixture f = fake()
        f.answer('check', [stdout: [passed: true, unstable: false, result: 'passed', checks: []]])
        f.h.runStep('mlciCheck', [config: "models/it's a b.yaml", only: ['lint', 'unit'], jobs: 2, junit: 'out/j.xml'])
        assert f.h.result == 'SUCCESS': "${f.h.errorMessage}\n${f.h.log}"
        assert f.onlyArgv() == ['check', "--config=models/it's a b.yaml", '--only=lint', '--only=unit', '--jobs=2',
                                '--out=.mlci/jenkins/mlciCheck/checks', '--junit=out/j.xml', '--json']
        assert junitCall(f).testResults == 'out/j.xml'
    }

    @Test
    void shellTextNeverInterpretsAValue() {
        String evil = "x'; touch PWNED_a; echo \"\$(touch PWNED_b)\" `touch PWNED_c`"
        StepFixture f = project('''\
  - {name: lint, run: "true"}
''')
        f.h.runStep('mlciCheck', [config: evil, only: evil])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.startsWith('mlciCheck: bad input: ')
        List pwned = []
        f.dir.eachFileRecurse { if (it.name.startsWith('PWNED')) { pwned << it } }
        assert !pwned
    }

    @Test
    void anUnknownArgumentIsRefused() {
        StepFixture f = fake()
        f.h.runStep('mlciCheck', [onyl: ['lint']])
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.contains('mlciCheck: unknown argument(s) onyl; it takes: config, only, jobs, junit')
        assert f.mlciCalls().isEmpty()
    }
}
