import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.Request
import org.junit.runner.Result
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener

/**
 * Runs the Groovy step tests (tests/groovy/*Test.groovy, JUnit 4) and ends with a pytest-like line
 * `N passed, N failed, N skipped`; exits non-zero on any failure. Arguments: test files, optionally
 * `File#method`. A test skips (a JUnit assumption) only for a missing part (Docker, the registry,
 * moto, the test venv), naming it; with MLCI_REQUIRE_SERVICES=1 (`make test`, CI) such a skip is a
 * failure that names the part.
 */
boolean requireServices = System.getenv('MLCI_REQUIRE_SERVICES') == '1'
GroovyClassLoader loader = new GroovyClassLoader(this.class.classLoader)
String here = new File(getClass().protectionDomain.codeSource.location.path).parentFile.parent
[here + '/harness', here + '/stubs', here + '/../../src'].each { loader.addClasspath(new File(it).canonicalPath) }

List<String> selected = args as List
List<File> files = selected ? selected.collect { new File(it.split('#')[0]) } :
    new File(here).listFiles().findAll { it.name.endsWith('Test.groovy') }.sort { it.name }
Map<String, String> onlyMethod = selected.findAll { it.contains('#') }.collectEntries { [(new File(it.split('#')[0]).name): it.split('#')[1]] }

int passed = 0
int failed = 0
int skipped = 0
List<String> failures = []
files.each { File f ->
    Class testClass = loader.parseClass(f)
    Request request = onlyMethod[f.name] ? Request.method(testClass, onlyMethod[f.name]) : Request.aClass(testClass)
    JUnitCore core = new JUnitCore()
    Set<String> failedTests = [] as Set
    Set<String> skippedTests = [] as Set
    Set<String> missingParts = [] as Set
    core.addListener(new RunListener() {
        void testFailure(Failure failure) {
            failedTests.add(failure.description.displayName)
            failures.add("${failure.description.displayName}\n    ${failure.message ?: failure.exception}\n" +
                failure.trace.readLines().findAll { it.contains('Test.groovy') || it.contains('PipelineHarness') }.take(6).join('\n'))
        }

        void testAssumptionFailure(Failure failure) {
            // An assumption not met (a part the test needs is absent): skipped with the reason, as pytest.skip;
            // a failure naming the part when the run requires every part.
            if (requireServices) {
                missingParts.add(failure.description.displayName)
                failures.add("${failure.description.displayName}\n    missing part (MLCI_REQUIRE_SERVICES=1): ${failure.message}")
                println "${testClass.simpleName}::${failure.description.methodName ?: '*'} FAILED (missing part: ${failure.message})"
                return
            }
            skippedTests.add(failure.description.displayName)
            println "${testClass.simpleName}::${failure.description.methodName ?: '*'} SKIPPED (${failure.message})"
        }

        void testFinished(Description d) {
            if (!skippedTests.contains(d.displayName) && !missingParts.contains(d.displayName)) {
                String mark = failedTests.contains(d.displayName) ? 'FAILED' : 'PASSED'
                println "${testClass.simpleName}::${d.methodName} ${mark}"
            }
        }
    })
    Result result = core.run(request)
    int tests = testClass.methods.count { it.isAnnotationPresent(org.junit.Test) } as int
    int skippedRuns = skippedTests.count { it != testClass.name } as int
    int missingRuns = missingParts.count { it != testClass.name } as int
    failed += result.failureCount + (missingParts.contains(testClass.name) ? tests : missingRuns)
    skipped += skippedTests.contains(testClass.name) ? tests : skippedRuns
    passed += Math.max(0, result.runCount - result.failureCount - skippedRuns - missingRuns)
}
if (failures) {
    println '\n=================================== FAILURES ==================================='
    failures.each { println it; println '' }
}
println "groovy tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
System.exit(failed || (passed == 0) ? 1 : 0)
