package org.jenkinsci.plugins.scriptsecurity.sandbox

/** script-security's rejection of a call outside the sandbox's whitelist (a SecurityException, as in Jenkins). */
class RejectedAccessException extends SecurityException {
    final String signature

    RejectedAccessException(String signature) {
        super("Scripts not permitted to use ${signature}".toString())
        this.signature = signature
    }
}
