/** Raised inside a `timeout` body when the time is up (an input nobody answered); the step turns it into ABORTED. */
class TimeoutSignal extends RuntimeException {
    TimeoutSignal(String message) { super(message) }
}
