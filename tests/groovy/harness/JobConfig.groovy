import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * A Pipeline job as Jenkins keeps it between builds, shared by the harnesses of several builds:
 * - its properties, triggers and parameters, and Declarative's merge of what a Jenkinsfile declares into
 *   them (pipeline-model-definition's Utils.updateJobProperties): a trigger or property whose class the
 *   previous build's Jenkinsfile declared is replaced by this build's (or removed); one set outside the
 *   Jenkinsfile (by `mlci jenkins apply`) is kept unless a Jenkinsfile once declared its class, and then only
 *   from the next build on; declared parameters come first, then the job's others that no Jenkinsfile
 *   declared. `tracker` is DeclarativeJobPropertyTrackerAction (what the last build declared).
 * - disableConcurrentBuilds: a build that starts while another runs stays in the queue.
 * - milestones (pipeline-milestone-step): a build passing milestone N cancels every older build that has
 *   not passed N (result NOT_BUILT, "Superseded by #n"); an older build passing N after a newer one is
 *   cancelled itself.
 */
class JobConfig {
    /** trigger symbol (cron, pollSCM) -> its spec */
    final Map<String, Object> triggers = [:]
    /** [name, type, defaultValue, description] in the job's order */
    final List<Map> parameters = []
    /** option symbol (buildDiscarder, disableConcurrentBuilds) -> its arguments */
    final Map<String, Object> properties = [:]
    Map<String, Set<String>> tracker

    private final Set<Integer> running = [] as Set
    private final Map<Integer, Integer> milestones = [:]
    private final Map<Integer, Integer> cancelledBy = [:]

    synchronized void declare(List declaredTriggers, List declaredParameters, List declaredOptions) {
        Map<String, Set<String>> previous = tracker ?: [triggers: [] as Set, parameters: [] as Set, properties: [] as Set]
        merge(triggers, declaredTriggers.collectEntries { [(it.name): it.args ? it.args[0] : null] }, previous.triggers)
        merge(properties, declaredOptions.collectEntries { [(it.name): it.args] }, previous.properties)
        Set<String> declaredNames = declaredParameters*.name as Set
        List<Map> kept = parameters.findAll { !(it.name in declaredNames) && !(it.name in previous.parameters) }
        parameters.clear()
        parameters.addAll(declaredParameters.collect { new LinkedHashMap(it) } + kept)
        tracker = [triggers: declaredTriggers*.name as Set, parameters: declaredNames,
                   properties: declaredOptions*.name as Set]
    }

    /** Existing entries minus the classes the last Jenkinsfile declared, then the declared ones where the class is free. */
    private static void merge(Map<String, Object> existing, Map<String, Object> declared, Set<String> previouslyDeclared) {
        previouslyDeclared.each { existing.remove(it) }
        declared.each { String name, Object value ->
            if (!existing.containsKey(name)) {
                existing[name] = value
            }
        }
    }

    /** Starts build NUMBER, or says why it waits in the queue (null when it starts). */
    synchronized String start(int number) {
        if (properties.containsKey('disableConcurrentBuilds') && running) {
            return "Build #${running.min()} is already in progress".toString()
        }
        running.add(number)
        return null
    }

    synchronized void finish(int number) {
        running.remove(number)
        milestones.remove(number)
    }

    synchronized void passMilestone(int number, int ordinal) {
        Integer newer = milestones.find { it.key > number && it.value != null && it.value >= ordinal }?.key
        if (newer != null) {
            cancelledBy[number] = newer
        } else {
            milestones[number] = ordinal
            milestones.each { Integer build, Integer passed ->
                if (build < number && (passed == null || passed < ordinal)) {
                    cancelledBy[build] = number
                }
            }
        }
        checkCancelled(number)
    }

    /** Throws what the milestone step's cancellation delivers when build NUMBER was superseded. */
    synchronized void checkCancelled(int number) {
        if (cancelledBy.containsKey(number)) {
            throw new FlowInterruptedException('NOT_BUILT', "Superseded by #${cancelledBy[number]}")
        }
    }
}
