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

    /** Where mlciSetup records the CLI it found or installed, in the workspace of the node it ran on. */
    static final String PATH_FILE = '.mlci/jenkins/mlciSetup/mlci-path'

    /**
     * Which mlci runs, decided by the shell on the agent, per workspace: $MLCI when the user set it, else
     * the one mlciSetup recorded in this workspace, else `mlci` on the PATH. Never a build-global
     * variable: a path on one agent (or in workspace job@2) does not exist on another.
     */
    static final String RESOLVE = 'mlci="${MLCI:-}"; [ -n "$mlci" ] || [ ! -s ' + PATH_FILE + ' ] || mlci="$(cat ' + PATH_FILE +
        ')"; mlci="${mlci:-mlci}"'

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
            "${RESOLVE}\n" +
            "{ \"\$mlci\" ${argsText} >${q}/result.json || rc=\$?; echo \"\$rc\" >${q}/rc; } 2>&1 | tee ${q}/stderr.log >&2\n" +
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

    /**
     * JSON text to plain maps and lists (Serializable, unlike JsonSlurper's lazy maps). JsonSlurper is on
     * script-security's whitelist (JsonSlurperClassic is not). Only malformed JSON gives [:]; anything
     * else, a sandbox rejection above all, propagates.
     */
    @NonCPS
    static Map parseJson(String text) {
        if (text == null || text.trim().isEmpty()) {
            return [:]
        }
        Object parsed
        try {
            parsed = new groovy.json.JsonSlurper().parseText(text)
        } catch (groovy.json.JsonException ignored) {
            return [:]
        }
        Object plain = plainCopy(parsed)
        return plain instanceof Map ? (Map) plain : [result: plain]
    }

    @NonCPS
    private static Object plainCopy(Object value) {
        if (value instanceof Map) {
            Map copy = [:]
            for (Map.Entry entry : ((Map) value).entrySet()) {
                copy.put(entry.key, plainCopy(entry.value))
            }
            return copy
        }
        if (value instanceof List) {
            List copy = []
            for (Object item : (List) value) {
                copy.add(plainCopy(item))
            }
            return copy
        }
        return value
    }

    /**
     * Names what said no, from the one shape every command's `--json` result carries:
     * `failures: [{name, detail}]` (gates, rules, checks alike); else the CLI's error line.
     */
    @NonCPS
    static String failureDetail(Map json, String message) {
        List named = []
        Object failures = json == null ? null : json.get('failures')
        if (failures instanceof List) {
            for (Object failure : (List) failures) {
                if (failure instanceof Map) {
                    Map item = (Map) failure
                    named.add(item.detail ? "${item.name}: ${item.detail}".toString() : String.valueOf(item.name))
                }
            }
        }
        if (!named.isEmpty()) {
            return named.join('; ')
        }
        return message ?: 'see the log above'
    }
}
