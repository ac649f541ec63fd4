package org.jenkinsci.plugins.workflow.steps

/**
 * Stand-in for Jenkins' FlowInterruptedException: an input aborted by a user, or a timeout,
 * interrupts the build with a result (ABORTED) and a cause.
 */
class FlowInterruptedException extends InterruptedException {
    final String result
    final String reason

    FlowInterruptedException(String result, String cause) {
        super("${result}: ${cause}".toString())
        this.result = result
        this.reason = cause
    }
}
