/**
 * One `pipeline { }` or `stage('name') { }` block of a declarative pipeline, as written: the harness
 * collects the directives here, then runs them (PipelineHarness.runDeclarative) with Jenkins' semantics
 * for the subset mlci uses: agent, options, triggers, parameters, environment, stages, stage, steps,
 * when, parallel, post, failFast.
 */
class DeclarativeDsl {
    String name
    Map agent
    List options = []
    List triggers = []
    List parameters = []
    Map environment = [:]
    List stages
    List parallelStages
    Closure steps
    WhenDsl when
    Map post = [:]
    boolean failFast

    static Object collect(Closure body, Object delegate) {
        Closure copy = (Closure) body.clone()
        copy.delegate = delegate
        copy.resolveStrategy = Closure.DELEGATE_FIRST
        copy.call()
        return delegate
    }

    Map getNone() { [type: 'none'] }

    Map getAny() { [type: 'any'] }

    void agent(Map spec) { agent = spec }

    void agent(Closure body) { agent = ((AgentDsl) collect(body, new AgentDsl())).spec }

    void options(Closure body) { options = ((RecorderDsl) collect(body, new RecorderDsl())).calls }

    void triggers(Closure body) { triggers = ((RecorderDsl) collect(body, new RecorderDsl())).calls }

    void tools(Closure body) { collect(body, new RecorderDsl()) }

    void parameters(Closure body) { parameters = ((ParametersDsl) collect(body, new ParametersDsl())).definitions }

    void environment(Closure body) { environment = ((EnvironmentDsl) collect(body, new EnvironmentDsl())).values }

    void stages(Closure body) { stages = ((StagesDsl) collect(body, new StagesDsl())).stages }

    void parallel(Closure body) { parallelStages = ((StagesDsl) collect(body, new StagesDsl())).stages }

    void steps(Closure body) { steps = body }

    void when(Closure body) { when = (WhenDsl) collect(body, new WhenDsl()) }

    void post(Closure body) { post = ((PostDsl) collect(body, new PostDsl())).conditions }

    void failFast(boolean value) { failFast = value }
}

/** The `stages { }` and `parallel { }` blocks: a list of stages. */
class StagesDsl {
    List stages = []

    void stage(String name, Closure body) {
        DeclarativeDsl stage = new DeclarativeDsl(name: name)
        DeclarativeDsl.collect(body, stage)
        stages.add(stage)
    }
}

/** `agent { label 'x' }`, `agent { node { label 'x' } }`, `agent { docker { image 'x' } }`. */
class AgentDsl {
    Map spec = [type: 'any']

    void label(String value) { spec = [type: 'label', label: value ?: ''] }

    void node(Closure body) {
        AgentDsl inner = (AgentDsl) DeclarativeDsl.collect(body, new AgentDsl())
        spec = inner.spec + [type: 'label']
    }

    void docker(Object body) {
        spec = [type: 'docker', docker: body instanceof Closure ? ((RecorderDsl) DeclarativeDsl.collect(body, new RecorderDsl())).calls : body]
    }

    void customWorkspace(String value) { spec = spec + [customWorkspace: value] }
}

/** options { } and triggers { }: every call recorded as [name, args]. */
class RecorderDsl {
    List calls = []

    def methodMissing(String name, Object args) {
        Map call = [name: name, args: (args as List)]
        calls.add(call)
        return call
    }
}

/** parameters { booleanParam(...); string(...); choice(...) }. */
class ParametersDsl {
    List definitions = []

    void booleanParam(Map args) { definitions.add([type: 'boolean', name: args.name, defaultValue: args.defaultValue ?: false]) }

    void string(Map args) { definitions.add([type: 'string', name: args.name, defaultValue: args.defaultValue ?: '']) }

    void text(Map args) { definitions.add([type: 'text', name: args.name, defaultValue: args.defaultValue ?: '']) }

    void choice(Map args) {
        List choices = args.choices instanceof List ? args.choices : args.choices.toString().readLines()
        definitions.add([type: 'choice', name: args.name, defaultValue: choices ? choices[0] : ''])
    }
}

/** environment { NAME = 'value'; KEY = credentials('id') }. */
class EnvironmentDsl {
    Map values = [:]

    Map credentials(String id) { [credentialsId: id] }

    def propertyMissing(String name, Object value) { values[name] = value }

    def propertyMissing(String name) {
        if (values.containsKey(name)) {
            return values[name]
        }
        throw new MissingPropertyException(name, EnvironmentDsl)
    }
}

/** post { always { } failure { } ... }. */
class PostDsl {
    Map conditions = [:]

    def methodMissing(String name, Object args) {
        List known = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure', 'success', 'unstable',
                      'unsuccessful', 'notBuilt', 'cleanup']
        if (!(name in known) || !(args[0] instanceof Closure)) {
            throw new IllegalArgumentException("post: unknown condition ${name}")
        }
        conditions[name] = args[0]
        return null
    }
}
