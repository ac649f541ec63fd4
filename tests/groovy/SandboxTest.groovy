import org.junit.After
import org.junit.Test

/**
 * The library runs in the Groovy sandbox (a folder library, as `mlci jenkins apply` adds it), where
 * script-security rejects every constructor and static call off its whitelist; a rejection is never
 * swallowed into an empty result.
 */
class SandboxTest {
    StepFixture f = new StepFixture()

    @After
    void cleanup() { f.cleanup() }

    private File jenkinsfile(String text) {
        File file = new File(f.dir, 'Jenkinsfile')
        file.setText(text, 'UTF-8')
        return file
    }

    @Test
    void theHarnessRejectsAConstructorOffTheWhitelist() {
        f.h.runJenkinsfile(jenkinsfile("Map m = new LinkedHashMap([a: 1])\necho(m.toString())\n").path)
        assert f.h.result == 'FAILURE'
        assert f.h.errorMessage.contains('Scripts not permitted to use new java.util.LinkedHashMap java.util.Map')
        assert f.h.rejections == ['new java.util.LinkedHashMap java.util.Map']
    }

    @Test
    void theHarnessPermitsWhitelistedCallsAndTrustedMode() {
        f.h.runJenkinsfile(jenkinsfile("List l = new ArrayList([1, 2])\necho(String.valueOf(l.size()))\n").path)
        assert f.h.result == 'SUCCESS' && f.h.log.contains('2')
        StepFixture trusted = new StepFixture()
        try {
            trusted.h.sandbox = false
            trusted.h.runJenkinsfile(jenkinsfile("echo(new LinkedHashMap([a: 1]).toString())\n").path)
            assert trusted.h.result == 'SUCCESS'
        } finally {
            trusted.cleanup()
        }
    }

    @Test
    void aStepReturnsTheCliJsonInTheSandbox() {
        f.answer('publish', [stdout: [name: 'breast-cancer', version: 4, failures: []]])
        Map out = f.h.runStep('mlciPublish')
        assert f.h.rejections == []
        assert f.h.result == 'SUCCESS'
        assert out.version == 4
    }

    @Test
    void anUnknownArgumentFailsCleanlyInTheSandbox() {
        f.h.runStep('mlciTrain', [confg: 'x.yaml'])
        assert f.h.rejections == []
        assert f.h.errorMessage == 'mlciTrain: unknown argument(s) confg; it takes: config, force, device, inContainer, storeCredentialsId, endpoint'
    }

    @Test
    void everyStepRunsWithoutARejection() {
        StepCatalog.steps().each { String step ->
            StepFixture one = new StepFixture()
            try {
                one.h.runStep(step, StepCatalog.minimal(step))
                assert one.h.rejections == []: "${step} was rejected by the sandbox: ${one.h.rejections}"
            } finally {
                one.cleanup()
            }
        }
    }

    @Test
    void noCatchInTheLibrarySwallowsARejection() {
        // a catch of Exception/Throwable (or an untyped catch) must rethrow SecurityException before it,
        // or rethrow what it caught: RejectedAccessException is a SecurityException
        List<File> sources = new File(StepFixture.ROOT, 'vars').listFiles().findAll { it.name.endsWith('.groovy') } +
            new File(StepFixture.ROOT, 'src/org/mlci').listFiles().findAll { it.name.endsWith('.groovy') }
        List<String> offending = []
        sources.each { File file ->
            List<String> lines = file.readLines('UTF-8')
            lines.eachWithIndex { String line, int i ->
                def broad = line =~ /catch \((Exception|Throwable|RuntimeException|def)?\s*(\w+)\)/
                if (!broad || line.trim().startsWith('*') || line.trim().startsWith('//')) {
                    return
                }
                String name = broad[0][2]
                List<String> before = lines.subList(Math.max(0, i - 6), i)
                List<String> after = lines.subList(i + 1, Math.min(lines.size(), i + 4))
                boolean guarded = before.any { it.contains('catch (SecurityException') }
                boolean rethrows = after.any { it.trim() == "throw ${name}".toString() }
                if (!guarded && !rethrows) {
                    offending.add("${file.name}:${i + 1}: ${line.trim()}".toString())
                }
            }
        }
        assert offending == []
    }
}
