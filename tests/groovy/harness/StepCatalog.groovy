/**
 * What the library's steps are, read from vars/: each step's name, its help file and its defaults
 * (the literal map of its one-line `Defaults.merge(this, 'step', [...], args)`), plus the smallest valid
 * arguments for a call. The conventions test runs every step from here, so a new step is covered
 * the moment its file exists (mlciCheck too, once the code-checks work lands it).
 */
class StepCatalog {
    /** The smallest valid arguments per step. */
    static final Map<String, Map> REQUIRED = [
        mlciDataPoll: [job: '/models/breast-cancer-nightly'],
        mlciDeploy  : [environment: 'staging'],
        mlciPromote : [model: 'breast-cancer', version: '3', approvers: 'alice'],
        mlciPipeline: [approvers: 'alice'],
        mlciSweep   : [shards: 2],
    ]

    static List<String> steps() {
        new File(StepFixture.ROOT, 'vars').listFiles()
            .findAll { it.name.endsWith('.groovy') }
            .collect { it.name - '.groovy' }
            .sort()
    }

    static String source(String step) { new File(StepFixture.ROOT, "vars/${step}.groovy").getText('UTF-8') }

    static File help(String step) { new File(StepFixture.ROOT, "vars/${step}.txt") }

    /** The defaults map literal of the step's single Defaults.merge call, evaluated. */
    static Map defaults(String step) {
        String text = source(step)
        String start = "Defaults.merge(this, '${step}', "
        int from = text.indexOf(start)
        assert from >= 0: "${step}: no one-line `Defaults.merge(this, '${step}', [...], args)`"
        int to = text.indexOf('], args)', from)
        assert text.indexOf(start, from + 1) < 0: "${step}: merges defaults more than once"
        return (Map) new GroovyShell().evaluate(text.substring(from + start.length(), to + 1))
    }

    static Map minimal(String step) { REQUIRED[step] ?: [:] }
}
