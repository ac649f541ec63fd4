/**
 * Base class of every script the harness loads (vars/*.groovy and Jenkinsfiles), as CpsScript is in
 * Jenkins: a call that is not a method of the script itself is a pipeline step or a global variable
 * (vars/<name>.groovy), dispatched to the harness.
 */
abstract class PipelineScript extends Script {
    def methodMissing(String name, Object args) {
        PipelineHarness harness = (PipelineHarness) binding.getVariable('__harness')
        return harness.invokeStep(this, name, args as Object[])
    }
}
