import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import hudson.AbortException
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.customizers.ImportCustomizer
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

import java.nio.file.FileSystems
import java.nio.file.Path
import java.nio.file.PathMatcher

/**
 * A Jenkins pipeline without a Jenkins server, in the spirit of JenkinsPipelineUnit: loads the library's
 * real vars/ scripts and src/ classes (and Jenkinsfiles), provides the pipeline steps they call, runs
 * `sh` for real (/bin/sh -xe, as Jenkins does) in a temporary workspace with the build's environment,
 * and records every step call (with its stage path, node label and locks) and every shell command
 * (text, environment, exit code) so a test can assert exactly what a step did.
 *
 * What is real: the Groovy (Jenkins' version, 2.4.21), the library code, the shell, the processes it
 * starts and the files they write. What is modelled: the Jenkins semantics of the steps below
 * (results only get worse; `error` and a failed `sh` fail the build; input submitters; timeout and
 * abort give ABORTED; junit marks UNSTABLE on failures; archiveArtifacts/junit/publishHTML fail on
 * missing files unless allowed; withCredentials binds secrets to variables; stash/unstash copy files).
 * Also modelled, as strictly as Jenkins: the Groovy sandbox (Sandbox), absent plugins (NoSuchMethodError),
 * inline-script jobs without `scm`, SCM variables only from checkout, a workspace per agent and node
 * (@2), concurrent parallel branches, input's permissions and return values, and a job across builds
 * (JobConfig). Not modelled: CPS serialization across restarts (CodeNarc's CPS rules check that
 * statically), the sandbox's checks of instance calls; docs/jenkins.md lists the rest.
 */
class PipelineHarness {
    final File root
    final File workspace
    final File artifacts
    final Map<String, String> globalEnv = new LinkedHashMap<>()
    final Map params = [:]
    final Map<String, Map> credentials = [:]
    final Set<String> secrets = new LinkedHashSet<>()
    final Map<String, List> groups = [:]
    final List<InputAnswer> inputAnswers = []
    final Map<String, Closure> overrides = [:]
    final List<Map> calls = Collections.synchronizedList([])
    final List<Map> shCalls = Collections.synchronizedList([])
    final List<String> causes = []
    final Map<String, List> stashes = Collections.synchronizedMap([:])  // parallel branches stash at once
    final StringBuffer log = new StringBuffer()
    /** Per thread: where the running code is (parallel branches run in threads of their own). */
    private final ThreadLocal<BuildContext> context = new ThreadLocal<BuildContext>()
    private final BuildContext mainContext = new BuildContext()
    /**
     * Agents by label. A label not listed runs on the built-in agent, whose first workspace is
     * `workspace`; a listed label runs on that agent, a machine of its own: its workspaces are under
     * `<workspace>@agents/<agent>/`, and a path there is not found on any other agent (exit 127).
     */
    final Map<String, String> agents = [:]
    /** Per agent, environment variables its sh steps see on top of the build's (e.g. its own PATH). */
    final Map<String, Map<String, String>> agentEnv = [:]
    private final Set<String> busyWorkspaces = Collections.synchronizedSet(new HashSet<String>())
    final List<String> errors = []
    /**
     * What `checkout scm` returns (git's SCM variables). As in Jenkins they are not in the build's
     * environment: only checkout's return value has them, or a Declarative agent's automatic checkout
     * (which puts them in that stage's environment).
     */
    final Map<String, String> scmVars = [GIT_COMMIT: '0123456789abcdef0123456789abcdef01234567', GIT_BRANCH: 'origin/main',
        GIT_URL: 'https://git.example/acme/breast-cancer.git', GIT_PREVIOUS_COMMIT: 'fedcba9876543210fedcba9876543210fedcba98']
    /**
     * An inline-script Pipeline job (what `mlci jenkins apply` renders without jenkins.scm.url): there is
     * no `scm`, so `checkout scm` fails as in Jenkins, and Declarative agents check nothing out.
     */
    boolean inlineJob
    /** The job this build belongs to, when a test models one across builds (Declarative's merge, queueing, milestones). */
    JobConfig job
    /** Why the build stayed in the queue instead of starting (disableConcurrentBuilds), or null. */
    String queued
    /** True while an `input` waits for an answer that has not come (InputAnswer.waitUntilCancelled). */
    volatile boolean waitingForInput
    private int milestoneOrdinal
    Build currentBuild = new Build()
    DeclarativeDsl pipelineDefinition
    Throwable failure
    boolean declarativeFailed
    /** Compiled scripts, shared by every harness of a test run (compiling is the slow part). */
    private static final Map<String, Class> COMPILED = [:]
    private final GroovyClassLoader loader
    private int shCount

    private synchronized int nextShNumber() { ++shCount }

    PipelineHarness(File root, File workspace) {
        this.root = root.canonicalFile
        this.workspace = workspace.canonicalFile
        this.artifacts = new File(this.workspace.path + '@artifacts')
        workspace.mkdirs()
        CompilerConfiguration config = new CompilerConfiguration()
        config.scriptBaseClass = PipelineScript.name
        ImportCustomizer imports = new ImportCustomizer()
        imports.addImports('org.jenkinsci.plugins.workflow.libs.Library', 'com.cloudbees.groovy.cps.NonCPS')
        config.addCompilationCustomizers(imports, new Sandbox())
        loader = sharedLoader(this.root, config)
        Sandbox.enabled = true
        Sandbox.rejections.clear()
        globalEnv.putAll([
            PATH: System.getenv('PATH'), HOME: System.getenv('HOME') ?: '/tmp', LANG: 'C.UTF-8',
            WORKSPACE: this.workspace.path, JOB_NAME: 'models/breast-cancer', BUILD_NUMBER: '1', BUILD_ID: '1',
            BUILD_URL: 'http://jenkins.example/job/models/job/breast-cancer/1/', JENKINS_URL: 'http://jenkins.example/',
            BRANCH_NAME: 'main', NODE_NAME: 'built-in',
        ])
    }

    BuildContext ctx() { context.get() ?: mainContext }

    List<Map> getOverlays() { ctx().overlays }

    List<String> getCwd() { ctx().cwd }

    List<String> getStagePath() { ctx().stagePath }

    List<String> getNodeLabels() { ctx().nodeLabels }

    List<String> getLocks() { ctx().locks }

    /** The workspace of the innermost node (outside any node: `workspace`, a convenience of the harness). */
    File currentWorkspace() { ctx().nodes ? (File) ctx().nodes[-1].workspace : workspace }

    String currentAgent() { ctx().nodes ? ctx().nodes[-1].agent : 'built-in' }

    File agentRoot(String agent) { new File(workspace.path + "@agents/${agent}") }

    // ---- running things -------------------------------------------------------------------------

    /** Runs a global variable (vars/NAME.groovy) as a build would; returns its value, or null when the build failed. */
    Object runStep(String name, Map args = [:]) {
        return runBuild { invokeStep(null, name, [args] as Object[]) }
    }

    /** Runs a Jenkinsfile (a declarative or scripted pipeline; a path relative to the repository, or absolute) with the library loaded. */
    Object runJenkinsfile(String path) {
        File file = new File(path).absolute ? new File(path) : new File(root, path)
        Script script = newScript(compiled(file))
        return runBuild { script.run() }
    }

    /** Runs a closure as a build: an error or interruption ends it with the result Jenkins would give. */
    Object runBuild(Closure body) {
        int number = globalEnv.BUILD_NUMBER as int
        if (job != null) {
            // the build's parameters are the job's at queue time (a timer trigger gives their defaults)
            job.parameters.each { Map p ->
                if (!params.containsKey(p.name)) {
                    params[p.name] = p.defaultValue
                }
            }
            queued = job.start(number)
            if (queued) {
                log.append("Waiting for next available executor: ${queued}\n")
                return null
            }
        }
        try {
            Object value = body.call()
            if (declarativeFailed) {
                return null
            }
            return value
        } catch (Throwable t) {
            recordFailure(t)
            return null
        } finally {
            job?.finish(number)
        }
    }

    void recordFailure(Throwable t) {
        if (failure == null) {
            failure = t
        }
        if (t instanceof FlowInterruptedException) {
            currentBuild.result = ((FlowInterruptedException) t).result
        } else {
            currentBuild.result = 'FAILURE'
        }
        String message = t instanceof AbortException || t instanceof FlowInterruptedException ? t.message : t.toString()
        errors.add(message)
        log.append("ERROR: ${message}\n")
    }

    String getResult() { currentBuild.currentResult }

    /**
     * The sandbox (on unless a test says otherwise): the library is added by `mlci jenkins apply` as a
     * folder library, which Jenkins runs in the Groovy sandbox, so it must run there.
     */
    void setSandbox(boolean on) { Sandbox.enabled = on }

    /** The signatures the sandbox rejected in this build (Jenkins lists them for an administrator's approval). */
    List<String> getRejections() { new ArrayList<String>(Sandbox.rejections) }

    String getErrorMessage() { errors ? errors[0] : null }

    Script newScript(Class type) {
        Script script = (Script) type.newInstance()
        Binding binding = new PipelineBinding(harness: this)
        binding.setVariable('__harness', this)
        binding.setVariable('env', new PipelineEnv(harness: this))
        binding.setVariable('params', params)
        binding.setVariable('currentBuild', currentBuild)
        binding.setVariable('scm', [$class: 'GitSCM', branches: [[name: globalEnv.BRANCH_NAME]]])
        binding.setVariable('_', null)
        script.binding = binding
        return script
    }

    private static GroovyClassLoader shared

    private static synchronized GroovyClassLoader sharedLoader(File root, CompilerConfiguration config) {
        if (shared == null) {
            // The library's classes come from src/ compiled here (with the sandbox), never from the test
            // class path, as Jenkins compiles a library's src/ into the build's own class loader.
            ClassLoader parent = new LibraryClassLoader(PipelineHarness.classLoader)
            shared = new GroovyClassLoader(parent, config)
            Sandbox.scriptLoader = shared
            shared.addClasspath(new File(root, 'src').path)
        }
        return shared
    }

    /** The compiled script of a file (vars/NAME.groovy, a Jenkinsfile); null when the file does not exist. */
    Class compiled(File file) {
        String key = "${file.canonicalPath}@${file.lastModified()}"
        synchronized (COMPILED) {
            if (!COMPILED.containsKey(key)) {
                COMPILED[key] = file.exists() ? loader.parseClass(file.getText('UTF-8'), file.name) : null
            }
            return COMPILED[key]
        }
    }

    Class varClass(String name) { compiled(new File(root, "vars/${name}.groovy")) }

    /** A step or global variable called from a script or closure (PipelineScript.methodMissing). */
    Object invokeStep(Script script, String name, Object[] args) {
        if (overrides.containsKey(name)) {
            record(name, args)
            return overrides[name].call(*args)
        }
        if (BUILTIN.contains(name)) {
            String plugin = PLUGIN_OF[name]
            if (plugin && plugin in absentPlugins) {
                // what CpsScript.invokeMethod throws for a step no installed plugin provides: an Error, not an Exception
                throw new NoSuchMethodError("No such DSL method '${name}' found among steps [${(BUILTIN - stepsOf(absentPlugins)).sort().join(', ')}]")
            }
            record(name, args)
            return this."step_${name}"(*args)
        }
        Class var = varClass(name)
        if (var != null) {
            record(name, args)
            return newScript(var).invokeMethod('call', args)
        }
        throw new MissingMethodException(name, script ? script.getClass() : PipelineHarness, args)
    }

    private void record(String name, Object[] args) {
        calls.add([step: name, args: args.findAll { !(it instanceof Closure) }.collect { copyArg(it) },
                   stage: stagePath.join(' / '), node: nodeLabels ? nodeLabels[-1] : null, locks: new ArrayList(locks)])
    }

    private static Object copyArg(Object value) {
        if (value instanceof Map) {
            return value.collectEntries { k, v -> [(k): copyArg(v)] }
        }
        if (value instanceof List) {
            return value.collect { copyArg(it) }
        }
        return value instanceof GString ? value.toString() : value
    }

    /** Runs a body closure (steps, post, expression) with pipeline steps resolved by its script. */
    Object runBody(Closure body, Script root) {
        Closure copy = (Closure) body.clone()
        copy.delegate = root
        copy.resolveStrategy = Closure.DELEGATE_FIRST
        return copy.call()
    }

    // ---- environment ----------------------------------------------------------------------------

    Map<String, String> effectiveEnv() {
        Map<String, String> result = new LinkedHashMap<>(globalEnv)
        for (Map overlay : overlays) {
            overlay.each { String key, Object value ->
                if (key.contains('+')) {
                    String base = key.substring(0, key.indexOf('+'))
                    result[base] = result[base] ? "${value}:${result[base]}".toString() : value.toString()
                } else if (value == null) {
                    result.remove(key)
                } else {
                    result[key] = value.toString()
                }
            }
        }
        return result
    }

    private Object withOverlay(Map overlay, Closure body) {
        overlays.add(overlay)
        try {
            return body.call()
        } finally {
            overlays.remove(overlays.size() - 1)
        }
    }

    File currentDir() { cwd ? new File(currentWorkspace(), cwd.join('/')) : currentWorkspace() }

    File file(String path) {
        File f = new File(path)
        return f.absolute ? f : new File(currentDir(), path)
    }

    // ---- queries for tests ----------------------------------------------------------------------

    List<Map> callsOf(String step) { calls.findAll { it.step == step } }

    /** The calls recorded by the fake mlci (tests/groovy/fake-bin/mlci): argv, env and cwd, in order. */
    List<Map> mlciCalls() {
        File logDir = new File(globalEnv.FAKE_MLCI_LOG ?: '/nonexistent')
        List<Integer> numbers = (logDir.listFiles() ?: []).findAll { it.directory && it.name ==~ /\d+/ }*.name*.toInteger().sort()
        return numbers.collect { int n ->
            File call = new File(logDir, n.toString())
            Map env = [:]
            nulSeparated(new File(call, 'env')).each { String entry ->
                int eq = entry.indexOf('=')
                env[entry.substring(0, eq)] = entry.substring(eq + 1)
            }
            [argv: nulSeparated(new File(call, 'argv')), env: env, cwd: new File(call, 'cwd').text.trim()]
        }
    }

    private static List<String> nulSeparated(File file) {
        String text = new String(file.bytes, 'UTF-8')
        return text ? (text.split('\u0000', -1) as List).dropRight(1) : []
    }

    // ---- the steps ------------------------------------------------------------------------------

    /** The plugin that provides each step the harness implements (Jenkins core and workflow-cps steps are absent here). */
    static final Map<String, String> PLUGIN_OF = [
        sh: 'workflow-durable-task-step', node: 'workflow-durable-task-step', withCredentials: 'credentials-binding',
        usernamePassword: 'credentials-binding', string: 'credentials-binding', file: 'credentials-binding',
        input: 'pipeline-input-step', milestone: 'pipeline-milestone-step', lock: 'lockable-resources',
        stage: 'pipeline-stage-step', checkout: 'workflow-scm-step', junit: 'junit', publishHTML: 'htmlpublisher',
        readJSON: 'pipeline-utility-steps', writeJSON: 'pipeline-utility-steps', pipeline: 'pipeline-model-definition',
        libraryResource: 'pipeline-groovy-lib', stash: 'workflow-basic-steps', unstash: 'workflow-basic-steps',
        timeout: 'workflow-basic-steps', echo: 'workflow-basic-steps', error: 'workflow-basic-steps',
        unstable: 'workflow-basic-steps', withEnv: 'workflow-basic-steps', catchError: 'workflow-basic-steps',
        readFile: 'workflow-basic-steps', writeFile: 'workflow-basic-steps', fileExists: 'workflow-basic-steps',
        dir: 'workflow-basic-steps', pwd: 'workflow-basic-steps', isUnix: 'workflow-basic-steps',
        deleteDir: 'workflow-basic-steps', retry: 'workflow-basic-steps', sleep: 'workflow-basic-steps',
        archiveArtifacts: 'workflow-basic-steps', booleanParam: 'workflow-job', build: 'pipeline-build-step',
    ]

    /** Plugins the simulated Jenkins lacks: their steps throw NoSuchMethodError, as in Jenkins. */
    final Set<String> absentPlugins = [] as Set

    static Set<String> stepsOf(Set<String> plugins) { PLUGIN_OF.findAll { it.value in plugins }.keySet() }

    static final Set<String> BUILTIN = [
        'sh', 'echo', 'error', 'unstable', 'withEnv', 'withCredentials', 'usernamePassword', 'string', 'file',
        'booleanParam', 'input', 'timeout', 'milestone', 'lock', 'node', 'stage', 'parallel', 'checkout', 'junit',
        'archiveArtifacts', 'publishHTML', 'stash', 'unstash', 'libraryResource', 'readJSON', 'writeJSON',
        'readFile', 'writeFile', 'fileExists', 'dir', 'pwd', 'isUnix', 'script', 'catchError', 'pipeline',
        'deleteDir', 'retry', 'sleep', 'build',
    ] as Set

    Object step_sh(String text) { step_sh([script: text]) }

    Object step_sh(Map args) {
        String text = args.script.toString()
        File tmp = new File(currentWorkspace().path + "@tmp/durable-${nextShNumber()}")
        tmp.mkdirs()
        File scriptFile = new File(tmp, 'script.sh')
        scriptFile.setText(text, 'UTF-8')
        Map<String, String> env = effectiveEnv()
        String foreign = foreignPath(text, env)
        if (foreign != null) {
            // another agent's file system is not there: what sh says for a command that does not exist
            log.append("${foreign}: not found (a path on another agent; this is ${currentAgent()})\n")
            shCalls.add([script: text, env: env, cwd: currentDir().path, rc: 127, output: '', stderr: '', label: args.label,
                         stage: stagePath.join(' / '), node: nodeLabels ? nodeLabels[-1] : null, locks: new ArrayList(locks)])
            if (!args.returnStatus) {
                throw new AbortException('script returned exit code 127')
            }
            return args.returnStatus ? 127 : null
        }
        ProcessBuilder builder = new ProcessBuilder('/bin/sh', '-xe', scriptFile.path).directory(currentDir())
        builder.environment().clear()
        builder.environment().putAll(env)
        builder.redirectErrorStream(!args.returnStdout)
        Process process = builder.start()
        StringBuffer out = new StringBuffer()
        StringBuffer err = new StringBuffer()
        process.outputStream.close()
        process.waitForProcessOutput(out, err)
        int rc = process.waitFor()
        log.append(args.returnStdout ? err : out)
        shCalls.add([script: text, env: env, cwd: currentDir().path, rc: rc, output: out.toString(), stderr: err.toString(),
                     label: args.label, stage: stagePath.join(' / '), node: nodeLabels ? nodeLabels[-1] : null,
                     locks: new ArrayList(locks)])
        if (rc != 0 && !args.returnStatus) {
            throw new AbortException("script returned exit code ${rc}")
        }
        return args.returnStatus ? rc : args.returnStdout ? out.toString() : null
    }

    /** Jobs `build` finds (by the path it was given); null: every job exists. */
    Set<String> existingJobs

    /**
     * pipeline-build-step's `build`: schedules the job (recorded as a step call). Only `wait: false` is modelled
     * (the downstream build is not run); a job that does not exist fails as BuildTriggerStepExecution does.
     */
    Object step_build(Map args) {
        if (existingJobs != null && !(args.job in existingJobs)) {
            throw new AbortException("No item named ${args.job} found")
        }
        if (args.wait != false) {
            throw new UnsupportedOperationException('the harness models build(wait: false) only')
        }
        log.append("Scheduling project: ${args.job}\n")
        return null
    }

    void step_echo(Object message) { log.append("${message}\n") }

    void step_error(Object message) { throw new AbortException(message.toString()) }

    void step_unstable(Object message) {
        log.append("WARNING: ${message instanceof Map ? message.message : message}\n")
        currentBuild.result = 'UNSTABLE'
    }

    Object step_withEnv(List entries, Closure body) {
        Map overlay = [:]
        entries.each { String entry ->
            int eq = entry.indexOf('=')
            overlay[entry.substring(0, eq)] = entry.substring(eq + 1)
        }
        return withOverlay(overlay, body)
    }

    Map step_usernamePassword(Map args) { [binding: 'usernamePassword'] + args }

    Map step_string(Map args) { args.containsKey('credentialsId') ? [binding: 'string'] + args : [type: 'string'] + args }

    Map step_booleanParam(Map args) { [type: 'boolean'] + args }

    Map step_file(Map args) { [binding: 'file'] + args }

    Object step_withCredentials(List bindings, Closure body) {
        Map overlay = [:]
        bindings.each { Map b ->
            Map secret = credentials[b.credentialsId]
            if (secret == null) {
                throw new AbortException("Could not find credentials entry with ID '${b.credentialsId}'")
            }
            if (b.binding == 'usernamePassword') {
                overlay[b.usernameVariable] = secret.username
                overlay[b.passwordVariable] = secret.password
                secrets.add(secret.password.toString())
            } else if (b.binding == 'string') {
                overlay[b.variable] = secret.secret
                secrets.add(secret.secret.toString())
            } else {
                File f = new File(currentWorkspace().path + '@tmp/secretFiles', b.credentialsId.toString())
                f.parentFile.mkdirs()
                f.text = secret.content
                overlay[b.variable] = f.path
                secrets.add(secret.content.toString())
            }
        }
        return withOverlay(overlay, body)
    }

    /** Users with Overall/Administer: they may approve (and abort) any input, whatever its submitter. */
    final Set<String> admins = [] as Set
    /** Users with Job/Cancel on the job: they may abort any input (but approve only as a submitter). */
    final Set<String> jobCancel = [] as Set

    /**
     * The input step (pipeline-input-step): answers are taken from inputAnswers in order. With a
     * `submitter`, only those users (by name or group) and administrators may approve; they, and users
     * with Job/Cancel, may abort. Anyone else is refused and the input keeps waiting. When nobody
     * (allowed) answers, the enclosing timeout ends it: ABORTED. The value is what Jenkins returns: the
     * parameters plus the submitterParameter as a map, the value itself when that map has one entry,
     * null when it is empty (proceedEmpty).
     */
    Object step_input(Map args) {
        List allowed = args.submitter ? args.submitter.toString().split(',').collect { it.trim() } : []
        while (true) {
            if (!inputAnswers) {
                throw new TimeoutSignal("input '${args.id}' was not answered")
            }
            InputAnswer answer = inputAnswers.remove(0)
            if (answer.action == 'wait') {
                waitUntilCancelled(args)
            }
            if (answer.action == 'timeout') {
                throw new TimeoutSignal("input '${args.id}' was not answered")
            }
            boolean submitter = !allowed || answer.user in allowed || (groups[answer.user] ?: []).any { it in allowed } ||
                answer.user in admins
            boolean permitted = answer.action == 'abort' ? submitter || answer.user in jobCancel : submitter
            if (!permitted) {
                log.append(answer.action == 'abort' ?
                    "${answer.user}: You need to be '${args.submitter}' (or have Job/Cancel permissions) to cancel this.\n" :
                    "${answer.user}: You need to be ${args.submitter} to submit this.\n")
                continue
            }
            if (answer.action == 'abort') {
                log.append("Rejected by ${answer.user}\n")
                throw new FlowInterruptedException('ABORTED', "input '${args.id}' rejected by ${answer.user}")
            }
            log.append("Approved by ${answer.user}\n")
            Map values = [:]
            (args.parameters ?: []).each { Map p -> values[p.name] = answer.parameters.containsKey(p.name) ? answer.parameters[p.name] : p.defaultValue }
            if (args.submitterParameter) {
                values[args.submitterParameter] = answer.user
            }
            return values.size() == 1 ? values.values()[0] : values ?: null
        }
    }

    /** Nobody answers: the input waits until a newer build's milestone cancels this build (or 60 s pass: timeout). */
    private void waitUntilCancelled(Map args) {
        waitingForInput = true
        try {
            for (int i = 0; i < 6000; i++) {
                job?.checkCancelled(globalEnv.BUILD_NUMBER as int)
                Thread.sleep(10)
            }
        } finally {
            waitingForInput = false
        }
        throw new TimeoutSignal("input '${args.id}' was not answered")
    }

    Object step_timeout(Map args, Closure body) {
        try {
            return body.call()
        } catch (TimeoutSignal ignored) {
            log.append("Timeout has been exceeded (${args.time} ${args.unit ?: 'MINUTES'})\n")
            throw new FlowInterruptedException('ABORTED', "timeout of ${args.time} ${args.unit ?: 'MINUTES'} exceeded")
        }
    }

    void step_milestone(Object args = null) {
        job?.passMilestone(globalEnv.BUILD_NUMBER as int, milestoneOrdinal++)
    }

    Object step_lock(Object args, Closure body) {
        locks.add(args instanceof Map ? args.resource.toString() : args.toString())
        try {
            return body.call()
        } finally {
            locks.remove(locks.size() - 1)
        }
    }

    Object step_node(Closure body) { step_node('', body) }

    /**
     * A node: the agent of the label (built-in unless `agents` names one) and a workspace there that no
     * other running node holds: `<job>`, else `<job>@2`, `@3`... (a nested node or a concurrent branch on
     * the same agent), with WORKSPACE and NODE_NAME set and the agent's own environment (agentEnv).
     */
    Object step_node(Object label, Closure body) {
        String name = label == null ? '' : label.toString()
        String agent = agents[name] ?: 'built-in'
        File ws = allocateWorkspace(agent == 'built-in' ? workspace : new File(agentRoot(agent), 'workspace/job'))
        nodeLabels.add(name)
        ctx().nodes.add([agent: agent, workspace: ws])
        overlays.add([WORKSPACE: ws.path, NODE_NAME: agent] + (agentEnv[agent] ?: [:]))
        try {
            return body.call()
        } finally {
            overlays.remove(overlays.size() - 1)
            ctx().nodes.remove(ctx().nodes.size() - 1)
            nodeLabels.remove(nodeLabels.size() - 1)
            busyWorkspaces.remove(ws.path)
        }
    }

    private File allocateWorkspace(File base) {
        for (int i = 1; ; i++) {
            File ws = i == 1 ? base : new File("${base.path}@${i}")
            if (busyWorkspaces.add(ws.path)) {
                ws.mkdirs()
                return ws
            }
        }
    }

    /** The repository `checkout` copies into a workspace: by default what the test put into `workspace`. */
    File repository

    /** Copies the repository (without .mlci/) into DIR, as a checkout of the job's SCM would. */
    void checkoutInto(File dir) {
        File source = (repository ?: workspace).canonicalFile
        if (source == dir.canonicalFile) {
            return
        }
        source.eachFileRecurse(groovy.io.FileType.FILES) { File f ->
            String rel = source.toPath().relativize(f.toPath()).toString()
            if (!rel.startsWith('.mlci/') && !rel.startsWith('.mlci')) {
                File target = new File(dir, rel)
                target.parentFile.mkdirs()
                target.bytes = f.bytes
            }
        }
    }

    /** An absolute path on another agent than the current one named in TEXT or ENV, or null. */
    String foreignPath(String text, Map<String, String> env) {
        String prefix = workspace.path + '@agents/'
        String here = currentAgent()
        for (String value : [text] + env.values()) {
            int at = value == null ? -1 : value.indexOf(prefix)
            while (at >= 0) {
                String rest = value.substring(at + prefix.length())
                String agent = rest.takeWhile { it.toString() != '/' }
                if (agent != here) {
                    return value.substring(at).takeWhile { !(it.toString() in [' ', '"', "'", ':', '\n']) }
                }
                at = value.indexOf(prefix, at + 1)
            }
        }
        return null
    }

    Object step_stage(String name, Closure body) {
        stagePath.add(name)
        try {
            return body.call()
        } finally {
            stagePath.remove(stagePath.size() - 1)
        }
    }

    /** Runs the branches at the same time, each in a thread with a copy of the context; the first failure is rethrown. */
    Object step_parallel(Map branches) { concurrently(branches, true) }

    private Map concurrently(Map branches, boolean branchNameInStagePath) {
        Map results = Collections.synchronizedMap([:])
        List<Throwable> failures = Collections.synchronizedList([])
        BuildContext parent = ctx()
        List<Thread> threads = []
        branches.each { String name, Object body ->
            if (name == 'failFast') {
                return
            }
            BuildContext child = parent.copy()
            if (branchNameInStagePath) {
                child.stagePath.add(name)
            }
            threads.add(Thread.start {
                context.set(child)
                try {
                    results[name] = ((Closure) body).call()
                } catch (Throwable t) {
                    failures.add(t)
                } finally {
                    context.remove()
                }
            })
        }
        threads*.join()
        if (failures) {
            throw failures[0]
        }
        return results
    }

    /** Checks out the job's SCM (the workspace already holds the repository) and returns git's SCM variables. */
    Map step_checkout(Object scm) {
        checkoutInto(currentDir())
        return new LinkedHashMap(scmVars)
    }

    void step_script(Closure body) { body.call() }

    void step_sleep(Object time) { }

    Object step_retry(int count, Closure body) {
        Throwable last = null
        for (int i = 0; i < count; i++) {
            try {
                return body.call()
            } catch (FlowInterruptedException e) {
                throw e
            } catch (Throwable t) {
                last = t
            }
        }
        throw last
    }

    Object step_dir(String path, Closure body) {
        cwd.add(path)
        file('.').mkdirs()
        try {
            return body.call()
        } finally {
            cwd.remove(cwd.size() - 1)
        }
    }

    String step_pwd() { currentDir().path }

    boolean step_isUnix() { true }

    void step_deleteDir() { currentDir().deleteDir() }

    Object step_catchError(Map args, Closure body) {
        try {
            return body.call()
        } catch (FlowInterruptedException e) {
            throw e
        } catch (Throwable t) {
            log.append("ERROR: ${t.message}\n")
            currentBuild.result = args.buildResult ?: 'FAILURE'
            return null
        }
    }

    List<File> glob(String patterns, File base) {
        List<File> found = []
        patterns.split(',').collect { it.trim() }.findAll { it }.each { String pattern ->
            List<PathMatcher> matchers = [FileSystems.default.getPathMatcher("glob:${pattern}")]
            if (pattern.startsWith('**/')) {
                matchers.add(FileSystems.default.getPathMatcher("glob:${pattern.substring(3)}"))
            }
            Path basePath = base.toPath()
            if (!base.exists()) {
                return
            }
            base.eachFileRecurse(groovy.io.FileType.FILES) { File f ->
                Path rel = basePath.relativize(f.toPath())
                if (matchers.any { it.matches(rel) } && !found.contains(f)) {
                    found.add(f)
                }
            }
        }
        return found
    }

    Map step_junit(String pattern) { step_junit([testResults: pattern]) }

    Map step_junit(Map args) {
        List<File> files = glob(args.testResults.toString(), currentDir())
        if (!files && !args.allowEmptyResults) {
            throw new AbortException("No test report files were found. Configuration error? (${args.testResults})")
        }
        int total = 0
        int failed = 0
        files.each { File f ->
            def xml = new XmlSlurper().parse(f)
            def suites = xml.name() == 'testsuites' ? xml.testsuite : [xml]
            suites.each { suite ->
                suite.testcase.each { tc ->
                    total++
                    if (tc.failure.size() || tc.error.size()) {
                        failed++
                    }
                }
            }
        }
        if (failed && !args.skipMarkingBuildUnstable) {
            currentBuild.result = 'UNSTABLE'
        }
        return [totalCount: total, failCount: failed, files: files.collect { it.path }]
    }

    List step_archiveArtifacts(String pattern) { step_archiveArtifacts([artifacts: pattern]) }

    List step_archiveArtifacts(Map args) {
        File base = currentWorkspace()
        List<File> files = glob(args.artifacts.toString(), base)
        if (!files && !args.allowEmptyArchive) {
            throw new AbortException("No artifacts found that match the file pattern \"${args.artifacts}\"")
        }
        files.each { File f ->
            File target = new File(artifacts, base.toPath().relativize(f.toPath()).toString())
            target.parentFile.mkdirs()
            target.bytes = f.bytes
        }
        return files
    }

    void step_publishHTML(Map args) {
        Map target = args.target ?: args
        File report = new File(new File(currentWorkspace(), target.reportDir.toString()), target.reportFiles.toString())
        if (!report.exists() && !target.allowMissing) {
            throw new AbortException("Specified HTML directory '${target.reportDir}' does not exist or has no ${target.reportFiles}")
        }
    }

    void step_stash(Map args) {
        List<File> files = glob(args.includes?.toString() ?: '**', currentDir())
        if (!files && !args.allowEmpty) {
            throw new AbortException("No files included in stash \u2018${args.name}\u2019")
        }
        stashes[args.name.toString()] = files.collect { File f -> [path: currentDir().toPath().relativize(f.toPath()).toString(), bytes: f.bytes] }
    }

    void step_unstash(String name) {
        if (!stashes.containsKey(name)) {
            throw new AbortException("No such saved stash \u2018${name}\u2019")
        }
        stashes[name].each { Map entry ->
            File target = file(entry.path.toString())
            target.parentFile.mkdirs()
            target.bytes = (byte[]) entry.bytes
        }
    }

    String step_libraryResource(String path) {
        File f = new File(root, "resources/${path}")
        if (!f.exists()) {
            throw new AbortException("No such library resource ${path} could be found.")
        }
        return f.getText('UTF-8')
    }

    Object step_readJSON(Map args) {
        String text = args.containsKey('text') ? args.text : file(args.file.toString()).getText('UTF-8')
        return new JsonSlurperClassic().parseText(text)
    }

    void step_writeJSON(Map args) {
        File f = file(args.file.toString())
        f.parentFile.mkdirs()
        f.setText(args.pretty ? JsonOutput.prettyPrint(JsonOutput.toJson(args.json)) : JsonOutput.toJson(args.json), 'UTF-8')
    }

    String step_readFile(String path) { step_readFile([file: path]) }

    String step_readFile(Map args) {
        File f = file(args.file.toString())
        if (!f.exists()) {
            throw new AbortException("${f.path} does not exist.")
        }
        return f.getText('UTF-8')
    }

    void step_writeFile(Map args) {
        File f = file(args.file.toString())
        f.parentFile.mkdirs()
        f.setText(args.text.toString(), 'UTF-8')
    }

    boolean step_fileExists(String path) { file(path).exists() }

    // ---- declarative pipelines ------------------------------------------------------------------

    void step_pipeline(Closure body) {
        // the build's parameters are the job's at queue time (runBuild); then Declarative merges what the Jenkinsfile declares
        DeclarativeDsl pipeline = (DeclarativeDsl) DeclarativeDsl.collect(body, new DeclarativeDsl(name: 'pipeline'))
        pipelineDefinition = pipeline
        job?.declare(pipeline.triggers, pipeline.parameters, pipeline.options)
        Script rootScript = rootOf(body)
        pipeline.parameters.each { Map p ->
            if (!params.containsKey(p.name)) {
                params[p.name] = p.defaultValue
            }
        }
        withOverlay(resolveEnvironment(pipeline.environment)) {
            inAgent(pipeline.agent) {
                runStages(pipeline.stages ?: [], rootScript)
            }
            runPost(pipeline.post, rootScript, currentBuild.currentResult)
        }
    }

    static Script rootOf(Closure body) {
        Object owner = body.owner
        while (owner instanceof Closure) {
            owner = ((Closure) owner).owner
        }
        return (Script) owner
    }

    private Map resolveEnvironment(Map values) {
        Map overlay = [:]
        values.each { String name, Object value ->
            if (value instanceof Map && value.credentialsId) {
                Map secret = credentials[value.credentialsId]
                if (secret == null) {
                    throw new AbortException("Could not find credentials entry with ID '${value.credentialsId}'")
                }
                overlay[name] = secret.secret ?: "${secret.username}:${secret.password}"
                secrets.add(overlay[name].toString())
            } else {
                overlay[name] = value?.toString()
            }
        }
        return overlay
    }

    private Object inAgent(Map agent, Closure body) {
        if (agent == null || agent.type == 'none') {
            return body.call()
        }
        return step_node(agent.label ?: '') {
            if (inlineJob) {
                return body.call()
            }
            record('checkout', [[automatic: true]] as Object[])
            checkoutInto(currentWorkspace())
            return withOverlay(new LinkedHashMap(scmVars)) { body.call() }
        }
    }

    private void runStages(List stages, Script rootScript) {
        stages.each { DeclarativeDsl stage -> runStage(stage, rootScript) }
    }

    private void runStage(DeclarativeDsl stage, Script rootScript) {
        stagePath.add(stage.name)
        try {
            if (declarativeFailed) {
                record('stage-skipped', ['earlier failure'] as Object[])
                return
            }
            record('stage', [stage.name] as Object[])
            if (stage.when && stage.when.beforeAgent && !stage.when.evaluate(this, rootScript)) {
                record('stage-skipped', ['when'] as Object[])
                return
            }
            inAgent(stage.agent) {
                if (stage.when && !stage.when.beforeAgent && !stage.when.evaluate(this, rootScript)) {
                    record('stage-skipped', ['when'] as Object[])
                    return
                }
                withOverlay(resolveEnvironment(stage.environment)) {
                    String outcome = null
                    try {
                        if (stage.steps) {
                            runBody(stage.steps, rootScript)
                        } else if (stage.stages) {
                            runStages(stage.stages, rootScript)
                        } else if (stage.parallelStages) {
                            concurrently(stage.parallelStages.collectEntries { DeclarativeDsl branch ->
                                [(branch.name): { runStage(branch, rootScript) }]
                            }, false)
                        }
                    } catch (Throwable t) {
                        recordFailure(t)
                        declarativeFailed = true
                        outcome = t instanceof FlowInterruptedException ? 'ABORTED' : 'FAILURE'
                    }
                    runPost(stage.post, rootScript, outcome ?: (declarativeFailed ? 'FAILURE' : currentBuild.currentResult))
                }
            }
        } finally {
            stagePath.remove(stagePath.size() - 1)
        }
    }

    private void runPost(Map conditions, Script rootScript, String outcome) {
        Map applies = [
            always: true, changed: false, fixed: false, regression: false, aborted: outcome == 'ABORTED',
            failure: outcome == 'FAILURE', success: outcome == 'SUCCESS', unstable: outcome == 'UNSTABLE',
            unsuccessful: outcome != 'SUCCESS', notBuilt: outcome == 'NOT_BUILT', cleanup: true,
        ]
        applies.each { String condition, boolean runIt ->
            if (runIt && conditions[condition]) {
                stagePath.add("post:${condition}")
                try {
                    runBody((Closure) conditions[condition], rootScript)
                } catch (Throwable t) {
                    recordFailure(t)
                } finally {
                    stagePath.remove(stagePath.size() - 1)
                }
            }
        }
    }
}
