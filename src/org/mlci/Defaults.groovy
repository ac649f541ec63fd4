package org.mlci

import com.cloudbees.groovy.cps.NonCPS

/**
 * Step arguments: the user's map over the step's defaults, in one call. An argument the step does
 * not know fails the build with `error` (a clean message naming the step and what it takes), so a typo
 * never passes silently. Sandbox-clean: map literals and `+` only, no constructors off script-security's
 * whitelist (the library may run as a folder library, in the sandbox).
 */
class Defaults implements Serializable {
    private static final long serialVersionUID = 1L

    static Map merge(Object script, String step, Map defaults, Map userArgs) {
        Map given = userArgs == null ? [:] : userArgs
        List unknown = unknownKeys(defaults, given)
        if (!unknown.isEmpty()) {
            script.error("${step}: unknown argument(s) ${unknown.join(', ')}; it takes: ${defaults.keySet().join(', ')}")
        }
        return [:] + defaults + given
    }

    @NonCPS
    private static List unknownKeys(Map defaults, Map given) {
        List unknown = []
        for (Object key : given.keySet()) {
            if (!defaults.containsKey(key)) {
                unknown.add(key)
            }
        }
        return unknown
    }

    /** Approvers as Jenkins' `submitter` wants them: a comma-separated string of users or groups. */
    @NonCPS
    static String submitters(Object approvers) {
        if (approvers instanceof List) {
            return ((List) approvers).join(',')
        }
        return approvers == null ? '' : approvers.toString()
    }

    /** Fails the build with a message naming the step and the missing argument(s). */
    static void require(Object script, String step, Map config, List names) {
        List missing = missingKeys(config, names)
        if (!missing.isEmpty()) {
            script.error("${step}: missing required argument(s) ${missing.join(', ')}")
        }
    }

    @NonCPS
    private static List missingKeys(Map config, List names) {
        List missing = []
        for (Object name : names) {
            Object value = config.get(name)
            if (value == null || value == '' || value == []) {
                missing.add(name)
            }
        }
        return missing
    }
}
