/** How a person answers an `input` in a test: approve (as a user, with parameters), abort, or nobody (timeout). */
class InputAnswer {
    String action
    String user
    Map parameters = [:]

    static InputAnswer approve(String user, Map parameters = [:]) { new InputAnswer(action: 'approve', user: user, parameters: parameters) }

    static InputAnswer abort(String user) { new InputAnswer(action: 'abort', user: user) }

    static InputAnswer timeout() { new InputAnswer(action: 'timeout') }

    /** Nobody answers while the build waits; it ends when a newer build's milestone supersedes it (JobConfig). */
    static InputAnswer waitUntilCancelled() { new InputAnswer(action: 'wait') }
}
