/** The script binding: `scm` exists only in jobs whose Pipeline comes from an SCM (multibranch, "Pipeline script from SCM"). */
class PipelineBinding extends Binding {
    PipelineHarness harness

    @Override
    Object getVariable(String name) {
        if (name == 'scm' && harness.inlineJob) {
            // workflow-multibranch's SCMVar, in a job with an inline script
            throw new IllegalStateException('\'checkout scm\' is only available when using "Multibranch Pipeline" or "Pipeline script from SCM"')
        }
        return super.getVariable(name)
    }
}
