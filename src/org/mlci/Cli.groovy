package org.mlci

import com.cloudbees.groovy.cps.NonCPS

/**
 * The one executor every step uses: runs `mlci WORDS --json` once through `sh`, keeps stdout (the
 * JSON result) and stderr (streamed to the build log and kept for the error line) under
 * .mlci/jenkins/<id>/, and maps the exit code to the build result:
 * 0 ok, 1 a check said no (the failing gate or rule named), 2 bad input (the CLI's message),
 * 3 infrastructure unreachable (marked as such), anything else an unexpected failure.
 * The shell text holds only fixed words and values quoted by {@link Shell}.
 */
class Cli implements Serializable {
    private static final long serialVersionUID = 1L

    /** Runs `mlci WORDS --json` (each word quoted by Shell) and returns the result; never throws on exit codes. */
    static Map run(Object script, String id, List words) {
        return runText(script, id, Shell.command(words + ['--json']))
    }

    /**
     * Runs `mlci ARGS` where ARGS is shell text made only of fixed words, Shell-quoted values and
     * "$VARIABLE" references to values passed through the environment (withEnv); ARGS asks for --json.
     */
    static Map runText(Object script, String id, String argsText) {
        String dir = ".mlci/jenkins/${id}"
        String q = Shell.quote(dir)
        String text = "mkdir -p ${q}\n" +
            "rc=0\n" +
            "{ \"\${MLCI:-mlci}\" ${argsText} >${q}/result.json || rc=\$?; echo \"\$rc\" >${q}/rc; } 2>&1 | tee ${q}/stderr.log >&2\n" +
            "exit \"\$(cat ${q}/rc)\"\n"
        int rc = script.sh(script: text, returnStatus: true, label: "mlci (${id})")
        String stdout = script.fileExists("${dir}/result.json") ? script.readFile("${dir}/result.json") : ''
        String stderr = script.fileExists("${dir}/stderr.log") ? script.readFile("${dir}/stderr.log") : ''
        return [id: id, rc: rc, json: parseJson(stdout), message: errorLine(stderr), dir: dir]
    }

    /** Maps the exit code to the build result (error() on any failure) and returns the CLI's JSON. */
    static Map finish(Object script, Map result) {
        int rc = result.rc as int
        String id = result.id
        if (rc == 0) {
            return result.json
        }
        if (rc == 1) {
            script.error("${id}: check failed: ${failureDetail(result.json, result.message)}")
        }
        if (rc == 2) {
            script.error("${id}: bad input: ${result.message ?: 'see the log above'}")
        }
        if (rc == 3) {
            script.currentBuild.description = "infrastructure failure in ${id}".toString()
            script.error("${id}: INFRASTRUCTURE failure (exit 3; not a model or data problem, retry when it is back): " +
                "${result.message ?: 'see the log above'}")
        }
        if (rc == 127) {
            script.error("${id}: the mlci command was not found; run mlciSetup first (or set env.MLCI)")
        }
        script.error("${id}: mlci exited with ${rc}: ${result.message ?: 'see the log above'}")
        return result.json
    }

    /** The last `mlci ...: error: ...` line the CLI printed, or ''. */
    @NonCPS
    static String errorLine(String stderr) {
        String found = ''
        for (String line : stderr.readLines()) {
            if (line ==~ /^mlci( [A-Za-z_-]+)*: (internal )?error: .*/) {
                found = line
            }
        }
        return found
    }

    /** JSON text to plain maps and lists (Serializable, unlike JsonSlurper's lazy maps). */
    @NonCPS
    static Map parseJson(String text) {
        if (text == null || text.trim().isEmpty()) {
            return [:]
        }
        Object parsed
        try {
            parsed = new groovy.json.JsonSlurperClassic().parseText(text)
        } catch (Exception ignored) {
            return [:]
        }
        return parsed instanceof Map ? (Map) parsed : [result: parsed]
    }

    /**
     * Names what said no from the CLI's JSON: failed gates (evaluate, image verify), failed rules
     * (validate), failed checks (check), else the CLI's reason or error line.
     */
    @NonCPS
    static String failureDetail(Map json, String message) {
        List failed = []
        for (String key : ['gates', 'rules', 'checks', 'results', 'violations']) {
            Object items = json == null ? null : json.get(key)
            if (items instanceof Map) {
                List asList = []
                for (Map.Entry e : ((Map) items).entrySet()) {
                    asList.add(e.value instanceof Map ? [name: e.key] + (Map) e.value : [name: e.key, passed: e.value])
                }
                items = asList
            }
            if (items instanceof List) {
                for (Object item : (List) items) {
                    if (item instanceof Map && isFailed((Map) item)) {
                        failed.add(describe((Map) item))
                    }
                }
            }
        }
        if (!failed.isEmpty()) {
            return failed.join('; ')
        }
        for (String key : ['reason', 'message', 'error']) {
            if (json != null && json.get(key)) {
                return json.get(key).toString()
            }
        }
        return message ?: 'see the log above'
    }

    @NonCPS
    private static boolean isFailed(Map item) {
        if (item.containsKey('passed')) {
            return item.passed == false
        }
        if (item.containsKey('ok')) {
            return item.ok == false
        }
        return item.status in ['fail', 'failed', 'error']
    }

    @NonCPS
    private static String describe(Map item) {
        String name = (item.name ?: item.gate ?: item.metric ?: item.rule ?: item.check ?: 'unnamed').toString()
        if (item.metric && item.metric != name) {
            name = "${name} (${item.metric})"
        }
        if (item.kind) {
            name = "${name} ${item.kind}"
        }
        List parts = []
        for (String key : ['column', 'observed', 'value', 'bound', 'threshold', 'expected', 'baseline']) {
            if (item.get(key) != null) {
                parts.add("${key} ${item.get(key)}".toString())
            }
        }
        String why = item.reason ?: item.message ?: ''
        String text = parts.isEmpty() ? name : "${name}: ${parts.join(', ')}"
        return why ? "${text} (${why})" : text
    }
}
