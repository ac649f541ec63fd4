package org.mlci

import com.cloudbees.groovy.cps.NonCPS
import hudson.AbortException

/**
 * Step arguments: the user's map over the step's defaults, in one call. An argument the step does
 * not know is an error (AbortException: a clean message, like `error`) that names the step and lists what it takes (a typo never passes silently).
 */
class Defaults implements Serializable {
    private static final long serialVersionUID = 1L

    @NonCPS
    static Map merge(String step, Map defaults, Map userArgs) {
        Map given = userArgs == null ? [:] : userArgs
        List unknown = []
        for (Object key : given.keySet()) {
            if (!defaults.containsKey(key)) {
                unknown.add(key)
            }
        }
        if (!unknown.isEmpty()) {
            throw new AbortException(
                "${step}: unknown argument(s) ${unknown.join(', ')}; it takes: ${defaults.keySet().join(', ')}".toString())
        }
        Map merged = new LinkedHashMap(defaults)
        merged.putAll(given)
        return merged
    }

    /** Approvers as Jenkins' `submitter` wants them: a comma-separated string of users or groups. */
    @NonCPS
    static String submitters(Object approvers) {
        if (approvers instanceof List) {
            return ((List) approvers).join(',')
        }
        return approvers == null ? '' : approvers.toString()
    }

    /** Fails with a message naming the step and the missing argument(s). */
    @NonCPS
    static void require(String step, Map config, List names) {
        List missing = []
        for (Object name : names) {
            Object value = config.get(name)
            if (value == null || value == '' || value == []) {
                missing.add(name)
            }
        }
        if (!missing.isEmpty()) {
            throw new AbortException("${step}: missing required argument(s) ${missing.join(', ')}".toString())
        }
    }
}
