import org.junit.After
import org.junit.Test

/** Conventions every step keeps (Piper-style: one test over all steps). */
class StepConventionsTest {
    /**
     * Values that break naive shell text: quotes of both kinds, command substitution, backticks,
     * separators, a newline, globs, a leading dash, variables, backslashes, and non-ASCII.
     * Each would create a PWNED file if a shell ever interpreted it.
     */
    static final List<String> CORPUS = [
        "it's \"quoted\" \$(touch PWNED_subst) `touch PWNED_tick`",
        "a; touch PWNED_semi && touch PWNED_and || touch PWNED_or | cat",
        "line one\nline two; touch PWNED_newline",
        "-rf --help",
        "* ?.groovy [a-z]* ~ \$HOME \${PATH} \\\\ back\\slash",
        "'; touch PWNED_single; echo '",
        "\"; touch PWNED_double; echo \"  naïve 模型\ttab",
    ]

    List<StepFixture> fixtures = []

    @After
    void cleanup() { fixtures.each { it.cleanup() } }

    StepFixture fixture() {
        StepFixture f = new StepFixture()
        f.h.credentials['store'] = [username: 'AKIA-SENTINEL', password: 'store-secret-SENTINEL']
        f.h.credentials['registry'] = [username: 'robot', password: 'registry-secret-SENTINEL']
        f.answer('publish', [stdout: [name: 'breast-cancer', version: 3]])
        f.h.inputAnswers.add(InputAnswer.approve('alice', [REASON: 'ok']))
        f.h.inputAnswers.add(InputAnswer.approve('alice', [REASON: 'ok']))
        if (!f.h.varClass('mlciCheck')) {
            f.h.overrides['mlciCheck'] = { Map args -> [:] }
        }
        fixtures.add(f)
        return f
    }

    @Test
    void everyStepHasHelpThatNamesEachArgument() {
        List<String> steps = StepCatalog.steps()
        assert steps.containsAll(['mlciPipeline', 'mlciSetup', 'mlciValidate', 'mlciTrain', 'mlciEvaluate', 'mlciPublish',
                                  'mlciImage', 'mlciPromote', 'mlciReport', 'mlciSweep', 'mlciDeploy'])
        steps.each { String step ->
            File help = StepCatalog.help(step)
            assert help.exists(): "vars/${step}.txt is missing (Jenkins shows it in the Global Variable Reference)"
            String text = help.getText('UTF-8')
            StepCatalog.defaults(step).keySet().each { String arg ->
                assert text.contains("<code>${arg}</code>"): "vars/${step}.txt does not document argument ${arg}"
            }
        }
    }

    @Test
    void everyStepTakesAMapAndReturnsAMap() {
        StepCatalog.steps().findAll { it != 'mlciPipeline' }.each { String step ->
            StepFixture f = fixture()
            Object value = f.h.runStep(step, StepCatalog.minimal(step))
            assert f.h.result == 'SUCCESS': "${step}: ${f.h.errorMessage}\n${f.h.log}"
            assert value instanceof Map: "${step} returned ${value?.getClass()}"
        }
    }

    @Test
    void anUnknownArgumentFailsTheBuildNamingTheStepAndWhatItTakes() {
        StepCatalog.steps().each { String step ->
            StepFixture f = fixture()
            f.h.runStep(step, StepCatalog.minimal(step) + [confg: 'typo.yaml'])
            assert f.h.result == 'FAILURE'
            assert f.h.errorMessage.contains("${step}: unknown argument(s) confg; it takes: ")
            assert f.mlciCalls().isEmpty()
        }
    }

    @Test
    void everyStepCallsTheCliThroughTheOneExecutor() {
        StepCatalog.steps().findAll { it != 'mlciPipeline' }.each { String step ->
            String text = StepCatalog.source(step)
            assert !(text =~ /\bsh\s*[('"]/) || step == 'mlciSetup': "${step} calls sh itself; use org.mlci.Cli"
            assert text.contains('Cli.run'): "${step} does not run the CLI through org.mlci.Cli"
        }
    }

    /** Arguments that change the flow (a lookup that fails, a refused approver), so they get a run of their own. */
    static final List<String> SOLO = ['storeCredentialsId', 'registryCredentialsId', 'approvers', 'action', 'approvalUnit',
                                      'mlci', 'version']

    /**
     * Every string argument of every step, set to each corpus value (all at once, the flow-changing
     * ones alone): the build ends normally (succeeds, or fails with a message), no PWNED file
     * appears, every shell text holds the value only inside a Shell-quoted word (or not at all:
     * passed by environment), and wherever the value reaches mlci it arrives intact as one argument
     * (or one `--flag=value` word).
     */
    @Test
    void noUserValueIsEverInterpretedByAShell() {
        int checked = 0
        StepCatalog.steps().each { String step ->
            Map defaults = StepCatalog.defaults(step)
            List<String> stringArgs = defaults.findAll { k, v -> v == null || v instanceof String }.keySet() as List
            // not run with the corpus: they make pip try to install (SetupTest checks how they travel)
            if (step == 'mlciSetup') {
                stringArgs -= ['requirement', 'indexUrl', 'findLinks']
            }
            List<String> solo = stringArgs.findAll { it in SOLO }
            List<String> together = stringArgs - solo
            List<String> corpus = step == 'mlciPipeline' ? [CORPUS[0] + CORPUS[5], CORPUS[3]] : CORPUS
            corpus.each { String value ->
                List<Map> runs = [together.collectEntries { [(it): value] }] + solo.collect { [(it): value] }
                runs.findAll { it }.each { Map values ->
                    StepFixture f = fixture()
                    f.h.runStep(step, StepCatalog.minimal(step) + values)
                    assertLiteral(f, "${step}(${values.keySet().join(', ')}: ${value.inspect()})", value)
                    checked += values.size()
                }
            }
        }
        assert checked > 250
    }

    private static void assertLiteral(StepFixture f, String where, String value) {
        assert f.h.errors.every { !it.startsWith('groovy.lang') && !it.startsWith('java.') }: "${where}: ${f.h.errors}"
        List pwned = []
        f.dir.eachFileRecurse { if (it.name.startsWith('PWNED')) { pwned << it } }
        assert !pwned: "${where}: a shell interpreted the value: ${pwned}"
        List<Map> calls = f.mlciCalls()
        List<String> words = calls.collectMany { it.argv }
        f.h.shCalls.each { Map sh ->
            String rest = sh.script
            words.each { String word -> rest = rest.replace(org.mlci.Shell.quote(word), '') }
            assert !rest.contains(value): "${where}: the value is in shell text outside a quoted word:\n${sh.script}"
        }
        words.findAll { it.contains(value.take(6)) }.each { String word ->
            assert word == value || word.endsWith("=${value}"): "${where}: reached mlci split or altered: ${word.inspect()}"
        }
    }
}
