package hudson

/** Stand-in for hudson.AbortException: what `error` and a failed `sh` throw; the build becomes FAILURE. */
class AbortException extends IOException {
    AbortException(String message) { super(message) }
}
